#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a bounded time; ends with "N passed, N failed".
set -uo pipefail

usage() {
    cat <<'EOF'
usage: scripts/fuzz.sh [TARGET...]
  Builds fuzz/ with clang (-fsanitize=fuzzer,address,undefined) in build-fuzz/ and runs each
  target (default: all of fuzz/fuzz_*.c) for FUZZ_SECONDS seconds (default 30), starting from
  fuzz/corpus/TARGET/ and the known crashers in fuzz/crashes/TARGET/.
  Any crash, failed check, leak or sanitizer report fails the target; the inputs that did it are
  saved under build-fuzz/fuzz-artifacts/TARGET/. The last line is "N passed, N failed".
environment:
  FUZZ_SECONDS   seconds per target (default 30)
  FUZZ_BUILD     build directory (default build-fuzz)
EOF
}

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
SECS=${FUZZ_SECONDS:-30}
BUILD=${FUZZ_BUILD:-build-fuzz}

case ${1:-} in
-h | --help) usage; exit 0 ;;
-*) echo "fuzz.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
esac
if ! [[ $SECS =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz.sh: FUZZ_SECONDS must be a positive number of seconds, got '$SECS'" >&2
    exit 2
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
    for f in fuzz/fuzz_*.c; do
        [[ -e $f ]] && targets+=("$(basename "$f" .c)")
    done
fi
for t in "${targets[@]}"; do
    if [[ ! -f fuzz/$t.c ]]; then
        echo "fuzz.sh: no such target '$t' (fuzz/$t.c)" >&2
        exit 2
    fi
done

passed=0
failed=0
finish() {
    echo "$passed passed, $failed failed"
    if ((failed == 0)); then exit 0; fi
    exit 1
}

# Sanitizers: stop at the first error, with a stack; leaks count (libFuzzer checks them per input).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# ---- build
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz.sh: clang not found; run scripts/deps.sh --test as root (clang, libclang-rt-14-dev)"
    failed=${#targets[@]}
    finish
fi
mkdir -p "$BUILD"
build_log=$BUILD/fuzz-build.log
echo "=== fuzz build ($BUILD: clang, libFuzzer, ASan+UBSan)"
if ! CC=clang cmake -S . -B "$BUILD" -DRUPHIN_FUZZ=ON -DRUPHIN_TESTS=OFF >"$build_log" 2>&1 ||
    ! cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]}" >>"$build_log" 2>&1; then
    tail -n 60 "$build_log"
    echo "fuzz.sh: build failed (last lines above; all of it in $build_log)"
    failed=${#targets[@]}
    finish
fi

# ---- run
for t in "${targets[@]}"; do
    bin=$BUILD/fuzz/$t
    work=$BUILD/fuzz-corpus/$t # grows across runs; the repo's seeds stay as they are
    art=$BUILD/fuzz-artifacts/$t
    log=$BUILD/fuzz-logs/$t.log
    mkdir -p "$work" "$art" "$(dirname "$log")"
    args=(-max_total_time="$SECS" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1
        -artifact_prefix="$art/")
    [[ -f fuzz/$t.dict ]] && args+=(-dict="fuzz/$t.dict")
    dirs=("$work")
    [[ -d fuzz/corpus/$t ]] && dirs+=("fuzz/corpus/$t")
    [[ -d fuzz/crashes/$t ]] && dirs+=("fuzz/crashes/$t") # known crashers: must not crash now
    start=$SECONDS
    timeout --kill-after=15 $((SECS + 120)) "$bin" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    took=$((SECONDS - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    [[ -n $runs ]] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    [[ -n $runs ]] || runs=$(sed -n 's/^#\([0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
    [[ -n $runs ]] || runs=0
    bad=$(grep -m 1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|fuzz check failed|^SUMMARY: ' "$log")
    if ((rc == 0)) && [[ -z $bad ]] && grep -q '^Done [0-9]* runs' "$log"; then
        passed=$((passed + 1))
        echo "$t: $runs runs in $took s, no crash"
        continue
    fi
    failed=$((failed + 1))
    unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if ((rc == 124 || rc == 137)); then
        echo "$t: FAILED: hung past ${SECS}s + 120 s (log: $log)"
    else
        echo "$t: FAILED after $runs runs in $took s (exit $rc): ${bad:-no report}"
    fi
    # The report: from the first sanitizer/check line to the end, bounded.
    awk '/fuzz check failed|ERROR: |runtime error:/ {p = 1} p' "$log" | head -n 60 | sed 's/^/    /'
    [[ -n $unit ]] && echo "    reproducer: $unit (replay: $bin $unit)"
    echo "    full log: $log"
done
finish
