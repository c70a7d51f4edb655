#!/usr/bin/env bash
# Instructions per call of hubauth_token (+ hubauth_secret_free) and
# hubauth_token_copy on a cached, fresh token, against a bare memcpy of the
# same bytes (token + NUL), for a 30-byte and a 1 KiB token (BENCHMARKS.md).
#
# Builds the ffi_token bench (release profile, LTO), runs its `--insns` loops
# under `valgrind --tool=callgrind` once per token length, and divides each
# function's inclusive instruction count (callgrind_annotate --inclusive=yes)
# by the number of calls. Instruction counts do not depend on the machine's
# load, unlike times.
#
# Usage: bench/insns.sh        (ITERS=100000 LENS="30 1024" SKIP_BUILD=1 bench/insns.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

ITERS="${ITERS:-100000}"
LENS="${LENS:-30 1024}"

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "building the ffi_token bench (release profile, LTO; a few minutes) ..." >&2
  cargo bench --bench ffi_token --no-run >&2
fi
bin="$(cargo bench --bench ffi_token --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*ffi_token[^"]*\)".*/\1/p' | tail -n 1)"
[ -x "$bin" ] || { echo "cannot find the ffi_token bench binary" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The inclusive Ir of function $2 in callgrind output $1 (0 if absent).
inclusive() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    awk -v fn="$2" 'index($0, ":" fn " [") || $NF == "???:" fn {
        gsub(",", "", $1); print $1; found = 1; exit }
      END { if (!found) print 0 }'
}

per_call() { awk -v a="$1" -v n="$ITERS" 'BEGIN { printf "%.0f", a / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }

echo "valgrind $(valgrind --version | sed 's/valgrind-//'), $ITERS calls of each; instructions per call (callgrind Ir, inclusive)"
echo
printf '| %-8s | %-44s | %-12s | %-10s |\n' "token" "call" "instructions" "÷ memcpy"
printf '|%s|%s|%s|%s|\n' "----------" "----------------------------------------------" "--------------" "------------"
for len in $LENS; do
  out="$tmp/callgrind.$len"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --insns --len="$len" --iters="$ITERS" \
    > "$tmp/run.$len.log" 2>&1 || { cat "$tmp/run.$len.log" >&2; exit 1; }
  token=$(per_call "$(inclusive "$out" hubauth_token)")
  free=$(per_call "$(inclusive "$out" hubauth_secret_free)")
  copy=$(per_call "$(inclusive "$out" hubauth_token_copy)")
  memcpy=$(per_call "$(inclusive "$out" bench_bare_memcpy)")
  [ "$token" -gt 0 ] && [ "$copy" -gt 0 ] && [ "$memcpy" -gt 0 ] ||
    { echo "a function is missing from the callgrind output ($out)" >&2; exit 1; }
  both=$((token + free))
  label="$len B"
  [ "$len" = 1024 ] && label="1 KiB"
  printf '| %-8s | %-44s | %12s | %10s |\n' "$label" "\`hubauth_token\` + \`hubauth_secret_free\`" "$both" "$(ratio "$both" "$memcpy")"
  printf '| %-8s | %-44s | %12s | %10s |\n' "" "  of which \`hubauth_token\`" "$token" "$(ratio "$token" "$memcpy")"
  printf '| %-8s | %-44s | %12s | %10s |\n' "" "\`hubauth_token_copy\`" "$copy" "$(ratio "$copy" "$memcpy")"
  printf '| %-8s | %-44s | %12s | %10s |\n' "" "bare \`memcpy\` of $((len + 1)) bytes" "$memcpy" "1.0"
done
