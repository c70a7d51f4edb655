#!/bin/sh
# Runs an example binary against the JuliaHub test server, the way a user
# would: first run logs in (device flow, approved by the server's
# --auto-approve), second run reuses the stored token without a login.
#
# usage: run_example.sh EXAMPLE TEST_SERVER EXPECTED_VERSION
set -eu

example=$1
server_bin=$2
expected_version=$3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hubauth-example.XXXXXX")
server_pid=
cleanup() {
    # Closing the server's stdin stops it; then reap it.
    exec 3>&-
    if [ -n "$server_pid" ]; then wait "$server_pid" || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "run_example: FAIL: $*" >&2
    for f in "$tmp"/run*.out "$tmp"/run*.err; do
        [ -f "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" >&2
    done
    exit 1
}

mkfifo "$tmp/server-stdin"
"$server_bin" juliahub --auto-approve <"$tmp/server-stdin" >"$tmp/server-stdout" &
server_pid=$!
exec 3>"$tmp/server-stdin"   # the server serves while this stays open

tries=0
until grep -q '^URL=' "$tmp/server-stdout"; do
    tries=$((tries + 1))
    [ "$tries" -le 100 ] || fail "the test server printed no URL"
    sleep 0.1
done
url=$(sed -n 's/^URL=//p' "$tmp/server-stdout")
port=${url##*:}

# Keep away from the user's ~/.julia and desktop.
mkdir -p "$tmp/depot" "$tmp/home"
run() {
    env -u DISPLAY -u WAYLAND_DISPLAY -u JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE \
        HOME="$tmp/home" JULIA_DEPOT_PATH="$tmp/depot" "$@"
}

# 1: the server from JULIA_PKG_SERVER; no token yet, so a login.
run JULIA_PKG_SERVER="$url" "$example" >"$tmp/run1.out" 2>"$tmp/run1.err" || fail "first run exited $?"
grep -q "^hubauth $expected_version\$" "$tmp/run1.out" || fail "version is not $expected_version"
grep -q "^server: $url\$" "$tmp/run1.out" || fail "no server line"
grep -q '^user: alice$' "$tmp/run1.out" || fail "no user line"
grep -q '^token expires: 20' "$tmp/run1.out" || fail "no expiry line"
grep -q 'token is valid$' "$tmp/run1.out" || fail "the token was not valid"
grep -q "^  $url/auth/device?user_code=" "$tmp/run1.err" || fail "the hook did not show the login URL"
token_file="$tmp/depot/servers/127.0.0.1_$port/auth.toml"
[ -f "$token_file" ] || fail "no token saved at $token_file"

# 2: the server from argv; the stored token is used, no login.
run "$example" "$url" >"$tmp/run2.out" 2>"$tmp/run2.err" || fail "second run exited $?"
grep -q '^user: alice$' "$tmp/run2.out" || fail "no user line in the second run"
if grep -q 'To log in' "$tmp/run2.err"; then fail "the second run logged in again"; fi

# The example never prints a token value.
id_token=$(sed -n 's/^id_token = "\(.*\)"$/\1/p' "$token_file")
[ -n "$id_token" ] || fail "no id_token in the saved file"
if grep -qF "$id_token" "$tmp"/run*.out "$tmp"/run*.err; then fail "a token value was printed"; fi

echo "run_example: ok ($example)"
