#!/usr/bin/env bash
# Whole-process benchmarks (BENCHMARKS.md): builds the release profile, then
#   - times `hubauth token` on a stored, fresh token (median of many runs;
#     hyperfine when installed, `apt-get install hyperfine`, else a loop),
#   - measures its peak memory with /usr/bin/time -v (`apt-get install time`),
#   - strips a copy of libhubauth.so and reports its size,
# and prints a table against the targets. Nothing touches the real ~/.julia:
# the token lives in a temporary depot (JULIA_DEPOT_PATH), and
# JULIA_PKG_SERVER names a port where nothing listens (a fresh token needs no
# network).
#
# Usage: bench/run.sh            (RUNS=300 bench/run.sh, SKIP_BUILD=1 bench/run.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-300}"
WARMUP="${WARMUP:-20}"
TARGET_WALL_MS=5
TARGET_RSS_KIB=$((10 * 1024))
TARGET_SO_BYTES=$((4 * 1024 * 1024))

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "building the release profile (LTO; a few minutes) ..." >&2
  cargo build --release --bin hubauth >&2
  # The library as shipped (wheel, make install, JLL): the cdylib alone. Built
  # together with the rlib, every public Rust item stays exported and LTO
  # keeps ~0.8 MiB more (BENCHMARKS.md).
  cargo rustc --release --lib --crate-type cdylib >&2
fi
target_dir="$(cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target_dir/release/hubauth"
lib="$target_dir/release/libhubauth.so"
[ -x "$bin" ] && [ -f "$lib" ] || { echo "missing $bin or $lib; build first" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# A stored JuliaHub token, valid for 30 days, in a temporary depot. The server
# is never contacted: port 9 on loopback has nothing listening.
port=9
server="http://127.0.0.1:$port"
now="$(date +%s)"
id_token="eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.$(head -c 600 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=').$(head -c 256 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')"
mkdir -p "$tmp/depot/servers/127.0.0.1_$port" "$tmp/home"
(
  umask 077
  cat > "$tmp/depot/servers/127.0.0.1_$port/auth.toml" <<EOF
access_token = "$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
id_token = "$id_token"
refresh_token = "$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
refresh_url = "$server/auth/renew/token.toml/v2/"
expires_at = $((now + 30 * 86400))
expires_in = $((30 * 86400))
user_name = "bench"
user_email = "bench@example.com"
EOF
)
export JULIA_DEPOT_PATH="$tmp/depot" JULIA_PKG_SERVER="$server"
export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/home/.config" XDG_CACHE_HOME="$tmp/home/.cache"

# It must print exactly the stored id_token.
out="$("$bin" token)"
[ "$out" = "$id_token" ] || { echo "hubauth token printed something else" >&2; exit 1; }

# Wall time: median of $RUNS runs, in milliseconds.
if command -v hyperfine > /dev/null; then
  tool="hyperfine"
  hyperfine --shell=none --warmup "$WARMUP" --runs "$RUNS" --style none \
    --output=pipe --export-csv "$tmp/wall.csv" "$bin token" > /dev/null
  # command,mean,stddev,median,user,system,min,max (seconds)
  wall_ms="$(awk -F, 'NR == 2 { printf "%.3f", $4 * 1000 }' "$tmp/wall.csv")"
else
  tool="date loop"
  for _ in $(seq "$WARMUP"); do "$bin" token > /dev/null; done
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    "$bin" token > /dev/null
    t1=$(date +%s%N)
    echo $((t1 - t0))
  done | sort -n > "$tmp/wall.txt"
  wall_ms="$(awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m / 1e6 }' "$tmp/wall.txt")"
fi

# Peak memory (maximum resident set size), median of 11 runs, KiB.
for _ in $(seq 11); do
  /usr/bin/time -v "$bin" token 2>&1 > /dev/null |
    awk -F': ' '/Maximum resident set size/ { print $2 }'
done | sort -n > "$tmp/rss.txt"
rss_kib="$(sed -n 6p "$tmp/rss.txt")"

# The shared library as shipped: a stripped copy (the dynamic symbol table,
# i.e. the C ABI, stays).
cp "$lib" "$tmp/libhubauth.so"
strip "$tmp/libhubauth.so"
so_bytes="$(stat -c %s "$tmp/libhubauth.so")"
cp "$bin" "$tmp/hubauth"
strip "$tmp/hubauth"
bin_bytes="$(stat -c %s "$tmp/hubauth")"

met() { if [ "$1" = 1 ]; then echo yes; else echo NO; fi; }
wall_ok="$(awk -v v="$wall_ms" -v t="$TARGET_WALL_MS" 'BEGIN { print (v <= t) ? 1 : 0 }')"
rss_ok=$([ "$rss_kib" -le "$TARGET_RSS_KIB" ] && echo 1 || echo 0)
so_ok=$([ "$so_bytes" -le "$TARGET_SO_BYTES" ] && echo 1 || echo 0)
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }

echo
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "hubauth token: $RUNS runs after $WARMUP warm-up runs ($tool); id_token of ${#id_token} bytes"
echo
printf '| %-38s | %-14s | %-12s | %-4s |\n' "measure" "median" "target" "met"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..40})" "$(printf -- '-%.0s' {1..16})" "$(printf -- '-%.0s' {1..14})" "------"
printf '| %-38s | %-14s | %-12s | %-4s |\n' "\`hubauth token\` wall time" "$wall_ms ms" "<= $TARGET_WALL_MS ms" "$(met "$wall_ok")"
printf '| %-38s | %-14s | %-12s | %-4s |\n' "\`hubauth token\` peak RSS" "$(mib $((rss_kib * 1024)))" "<= 10 MiB" "$(met "$rss_ok")"
printf '| %-38s | %-14s | %-12s | %-4s |\n' "libhubauth.so, stripped" "$(mib "$so_bytes")" "<= 4 MiB" "$(met "$so_ok")"
printf '| %-38s | %-14s | %-12s | %-4s |\n' "hubauth binary, stripped (no target)" "$(mib "$bin_bytes")" "-" "-"
