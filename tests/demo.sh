#!/usr/bin/env bash
# The README's quick start: build the hubauth CLI, start a local server that
# speaks the JuliaHub/PkgAuthentication protocol (it approves logins at once),
# then log in, show what is stored and print a token. Everything happens in a
# temporary Julia depot, so your own ~/.julia is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p hubauth --bin hubauth -p hubauth-test-servers --bin hubauth-test-server
hubauth=target/release/hubauth

work=$(mktemp -d)
mkfifo "$work/server-stdin"
target/release/hubauth-test-server juliahub --auto-approve <"$work/server-stdin" >"$work/server-out" &
server_pid=$!
exec 3>"$work/server-stdin"   # the server runs until this is closed
cleanup() { exec 3>&-; wait "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
until grep -q '^URL=' "$work/server-out"; do sleep 0.05; done

export JULIA_PKG_SERVER=$(sed -n 's/^URL=//p' "$work/server-out")
export JULIA_DEPOT_PATH="$work/depot"

echo "\$ hubauth login --no-browser"
"$hubauth" login --no-browser -o poll_interval_ms=200
echo
echo "\$ hubauth status"
"$hubauth" status
echo
echo "\$ hubauth token"
"$hubauth" token
