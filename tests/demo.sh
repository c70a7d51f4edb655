#!/usr/bin/env bash
# The README's quick start: build the hubauth CLI, start a local server that
# speaks the JuliaHub/PkgAuthentication protocol (it approves logins at once),
# then log in, show what is stored and print a token. Everything happens in a
# temporary Julia depot, so your own ~/.julia is not touched.
#
# The build goes where cargo puts it (CARGO_TARGET_DIR, a cargo config's
# build.target-dir, or ./target): cargo itself is asked, so a shared target
# directory works. Every wait is bounded, so the demo ends with a message
# instead of hanging when something is wrong.
#
# Environment:
#   HUBAUTH_DEMO_PROFILE  release (default) or dev (a debug build: a quicker
#                         first build, and the one the tests already made)
#   HUBAUTH_DEMO_WAIT_S   how long the test server may take to start (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'demo: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

profile=${HUBAUTH_DEMO_PROFILE:-release}
case $profile in
  release) profile_dir=release ;;
  dev) profile_dir=debug ;;
  *) fail "HUBAUTH_DEMO_PROFILE is release or dev, not \"$profile\"" ;;
esac
wait_s=${HUBAUTH_DEMO_WAIT_S:-10}

# cargo's own answer, so CARGO_TARGET_DIR and cargo configs are honoured
# without re-implementing their precedence here.
target_dir=$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target_dir" ] || fail "cargo metadata did not say where the build goes"

say "building hubauth and the test server ($profile profile, into $target_dir);"
say "the first build compiles every dependency and takes several minutes"
# No --quiet: a first build is long, and cargo's progress shows it is alive.
cargo build --profile "$profile" -p hubauth-cli --bin hubauth \
  -p hubauth-testkit --bin hubauth-test-server
hubauth=$target_dir/$profile_dir/hubauth
server=$target_dir/$profile_dir/hubauth-test-server
for built in "$hubauth" "$server"; do
  [ -x "$built" ] || fail "the build finished, but there is no $built"
done

work=$(mktemp -d)
mkfifo "$work/server-stdin"
"$server" juliahub --auto-approve <"$work/server-stdin" >"$work/server-out" 2>"$work/server-err" &
server_pid=$!
exec 3>"$work/server-stdin"   # the server runs until this is closed
cleanup() {
  exec 3>&-
  # Closing its stdin ends a working server; a stuck one is stopped.
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

deadline=$((SECONDS + wait_s))
until grep -q '^URL=' "$work/server-out"; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    say "the test server ($server) exited before it gave its URL; its output:"
    cat "$work/server-out" "$work/server-err" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    say "the test server ($server) did not give its URL within $wait_s s"
    fail "(HUBAUTH_DEMO_WAIT_S sets how long to wait); its output so far:
$(cat "$work/server-out" "$work/server-err")"
  fi
  sleep 0.05
done

export JULIA_PKG_SERVER=$(sed -n 's/^URL=//p' "$work/server-out")
export JULIA_DEPOT_PATH="$work/depot"

# Shows each command as it is run (`hubauth` standing for "$hubauth").
run() {
  printf '\n$ hubauth %s\n' "$*"
  "$hubauth" "$@"
}

printf 'hubauth is %s; the server is %s\n' "$hubauth" "$JULIA_PKG_SERVER"
run login --no-browser --timeout 30 -o poll_interval_ms=200
run status
run token
printf '\nNext: %s --help, or put hubauth on your PATH with\n' "$hubauth"
printf '    cargo install --locked --path .\n'
