#!/usr/bin/env bash
# Builds every fuzz target and runs each for FUZZ_RUNS inputs (default
# 400000) or FUZZ_SECONDS (default 20), whichever ends first, FUZZ_JOBS at a
# time (default 2), on the stable toolchain (RUSTC_BOOTSTRAP=1 lets it take
# cargo-fuzz's nightly flags). The seed is fixed (FUZZ_SEED, default 1; 0
# picks a random one), so a run is a prefix of the same input sequence on
# every machine: what passed here passes in CI, and new bugs are found by
# long runs with other seeds, not by chance in CI. Exits non-zero if any target
# crashes, panics, times out or breaks a property; the input is left in
# fuzz/artifacts/<target>/ (copy it to fuzz/regressions/<target>/ once fixed).
#
#   fuzz/smoke.sh                      # CI: ~20 s per target
#   FUZZ_SECONDS=300 FUZZ_RUNS=-1 FUZZ_SEED=0 fuzz/smoke.sh  # a longer run, random seed
#   fuzz/smoke.sh auth_toml cave_json  # some targets only
set -euo pipefail

cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-20}
runs=${FUZZ_RUNS:-400000}
seed=${FUZZ_SEED:-1}
jobs=${FUZZ_JOBS:-2}
export RUSTC_BOOTSTRAP=1
# No sanitizer: the code under test is safe Rust, and ASan halves the speed.
# Debug assertions on: arithmetic overflow is a crash.
flags=(--sanitizer none --debug-assertions)
start=$(date +%s)

if ! command -v cargo-fuzz > /dev/null; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${#targets[@]} targets"
cargo fuzz build "${flags[@]}"
host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=target/$host/release
built=$(date +%s)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_one() {
    local target=$1
    local corpus=$work/corpus-$target
    mkdir -p "$corpus" "artifacts/$target"
    # The first corpus directory takes what the run finds, so the seeds in
    # corpus/<target> are only read.
    set +e
    "$bin_dir/$target" "$corpus" "corpus/$target" \
        -max_total_time="$seconds" -runs="$runs" -seed="$seed" \
        -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target/" \
        > "$work/$target.log" 2>&1
    echo $? > "$work/$target.rc"
}

echo "== running each target for ${runs} inputs or ${seconds} s (seed ${seed}), ${jobs} at a time"
running=0
for target in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_one "$target" &
    running=$((running + 1))
done
wait

passed=0
failed=0
printf '\n%-14s %14s  %s\n' target executions result
for target in "${targets[@]}"; do
    log=$work/$target.log
    rc=$(cat "$work/$target.rc" 2> /dev/null || echo 1)
    executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$executed" ] || executed=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    [ -n "$executed" ] || executed=$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$log" | tail -1)
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        printf '%-14s %14s  ok\n' "$target" "${executed:-?}"
    else
        failed=$((failed + 1))
        printf '%-14s %14s  FAILED (exit %s)\n' "$target" "${executed:-?}" "$rc"
        echo "---- $target: end of the log"
        grep -v '^#[0-9]' "$log" | tail -40
        echo "----"
    fi
done
end=$(date +%s)
echo "build $((built - start)) s, runs $((end - built)) s, total $((end - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
