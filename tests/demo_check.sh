#!/usr/bin/env bash
# Checks the quick start (tests/demo.sh) the way newcomers run it:
#   1. with CARGO_TARGET_DIR set to another directory than ./target (a
#      shared target directory): the real build, the real server, a login
#      and a token, every binary taken from that directory;
#   2. with a test server that exits at once, and
#   3. with one that never gives its URL: the demo must end within its wait
#      with a message naming the problem, not hang (a stand-in `cargo` on
#      PATH makes these two take a second, with no build).
# Between 1 and 2: the stripped release libhubauth.so is at most 4 MiB.
# CARGO_TARGET_DIR (default target/demo-elsewhere) and HUBAUTH_DEMO_PROFILE
# (default release) choose the build of step 1.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=$PWD/tests/demo.sh

failures=0
ok() { printf 'ok - %s\n' "$1"; }
not_ok() {
  printf 'not ok - %s\n' "$1"
  failures=$((failures + 1))
}
# check NAME COMMAND...: runs the test command, reports the result.
check() {
  local name=$1
  shift
  if "$@"; then ok "$name"; else not_ok "$name"; fi
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# 1. The real demo, built elsewhere.
elsewhere=${CARGO_TARGET_DIR:-$PWD/target/demo-elsewhere}
case ${HUBAUTH_DEMO_PROFILE:-release} in dev) profile_dir=debug ;; *) profile_dir=release ;; esac
CARGO_TARGET_DIR=$elsewhere bash "$demo" >"$scratch/out" 2>"$scratch/err" || {
  cat "$scratch/err" >&2
  not_ok "the demo runs with CARGO_TARGET_DIR=$elsewhere"
}
check "the demo takes hubauth from CARGO_TARGET_DIR" \
  grep -qxF "hubauth is $elsewhere/$profile_dir/hubauth; the server is $(sed -n 's/.*the server is //p' "$scratch/out")" "$scratch/out"
check "the demo logs in" grep -q '^Logged in to http://127.0.0.1:[0-9]* as alice$' "$scratch/err"
check "the demo shows each command as it runs it" \
  grep -qxF '$ hubauth login --no-browser --timeout 30 -o poll_interval_ms=200' "$scratch/out"
check "the demo prints a token" grep -qE '^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "$scratch/out"
check "the demo tells what the build does" grep -q '^demo: building hubauth' "$scratch/err"

# The shipped library's size (issue 24 item 7; BENCHMARKS.md): built the way
# the wheel, `make install` and the JLL recipe build it, the cdylib alone,
# reusing step 1's release build of every dependency (one more LTO link).
size_limit=$((4 * 1024 * 1024))
if [ "$profile_dir" = release ]; then
  CARGO_TARGET_DIR=$elsewhere cargo rustc --release --quiet -p hubauth --lib --crate-type cdylib
  strip -o "$scratch/libhubauth.so" "$elsewhere/release/libhubauth.so"
  so_bytes=$(stat -c %s "$scratch/libhubauth.so")
  check "libhubauth.so, stripped, is $so_bytes bytes: at most 4 MiB ($size_limit)" \
    test "$so_bytes" -le "$size_limit"
fi

# 2 and 3: a stand-in cargo whose "build" made the given test server.
fake_demo() { # fake_demo SERVER_SCRIPT: runs the demo against it; output in $scratch/fake-*
  local fake=$scratch/fake
  rm -rf "$fake" && mkdir -p "$fake/bin" "$fake/target/release"
  cat >"$fake/bin/cargo" <<EOF
#!/bin/sh
case \$1 in
  metadata) printf '{"packages":[],"target_directory":"%s","version":1}\n' "$fake/target" ;;
  build) ;;
  *) exit 101 ;;
esac
EOF
  printf '#!/bin/sh\nexit 0\n' >"$fake/target/release/hubauth"
  printf '#!/bin/sh\n%s\n' "$1" >"$fake/target/release/hubauth-test-server"
  chmod +x "$fake/bin/cargo" "$fake/target/release/hubauth" "$fake/target/release/hubauth-test-server"
  local start=$SECONDS
  set +e
  PATH="$fake/bin:$PATH" HUBAUTH_DEMO_PROFILE=release HUBAUTH_DEMO_WAIT_S=2 \
    timeout 30 bash "$demo" >"$scratch/fake-out" 2>"$scratch/fake-err"
  fake_rc=$?
  set -e
  fake_seconds=$((SECONDS - start))
}

fake_demo 'echo "cannot bind: address in use" >&2; exit 3'
check "a server that exits makes the demo fail (rc $fake_rc, not 0 or timeout's 124)" \
  test "$fake_rc" -ne 0 -a "$fake_rc" -ne 124
check "... and say the server exited" grep -q 'the test server (.*) exited before it gave its URL' "$scratch/fake-err"
check "... and show the server's own message" grep -qxF 'cannot bind: address in use' "$scratch/fake-err"
check "... at once ($fake_seconds s)" test "$fake_seconds" -le 2

fake_demo 'echo "starting"; exec sleep 60'
check "a server that never starts makes the demo fail (rc $fake_rc, not 0 or timeout's 124)" \
  test "$fake_rc" -ne 0 -a "$fake_rc" -ne 124
check "... and say it waited in vain" grep -q 'did not give its URL within 2 s' "$scratch/fake-err"
check "... and show what the server said" grep -qxF 'starting' "$scratch/fake-err"
check "... after HUBAUTH_DEMO_WAIT_S ($fake_seconds s), having stopped the server" \
  test "$fake_seconds" -ge 2 -a "$fake_seconds" -le 5

if [ "$failures" -ne 0 ]; then
  printf '%d check(s) of the demo failed\n' "$failures" >&2
  exit 1
fi
