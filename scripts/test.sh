#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test command: deps, a sanitizer build, the Criterion unit tests, then every e2e test; ends with "N passed, N failed".
set -uo pipefail

usage() {
    cat <<'EOF'
usage: scripts/test.sh [--unit | --e2e] [-k PATTERN]
  (no option)   deps, build (ASan+UBSan, Debug) in build-test/, unit tests, e2e tests
  --unit        only the unit tests (ctest)
  --e2e         only the e2e tests (tests/e2e/test_*.sh; needs root)
  -k PATTERN    only the e2e scripts whose name contains PATTERN (glob characters allowed)
The last line is always "N passed, N failed"; the exit status is non-zero if anything failed.
EOF
}

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
BUILD=build-test
E2E_TIMEOUT=${RUPHIN_E2E_TIMEOUT:-300} # seconds per e2e script
E2E_TARGETS=(holepuncherd ruphin-tund ruphinctl rph_attack nfq_delay relay_member) # what the e2e tests run from $RUPHIN_BIN

run_unit=1
run_e2e=1
pattern=
while (($# > 0)); do
    case $1 in
    --unit) run_e2e=0 ;;
    --e2e) run_unit=0 ;;
    -k)
        [[ $# -ge 2 ]] || { usage >&2; exit 2; }
        pattern=$2
        shift
        ;;
    -k*) pattern=${1#-k} ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if ((run_unit == 0 && run_e2e == 0)); then
    echo "test.sh: --unit and --e2e exclude each other" >&2
    exit 2
fi

passed=0
failed=0
failures=()
child=
interrupted=

pass() { passed=$((passed + ${2:-1})); }
fail() {
    failed=$((failed + 1))
    failures+=("$1")
    echo "test.sh: FAIL $1${2:+: $2}"
}

finish() {
    if ((${#failures[@]} > 0)); then
        echo "failed:"
        printf '  %s\n' "${failures[@]}"
    fi
    echo "$passed passed, $failed failed"
    if [[ -n $interrupted ]]; then exit 130; fi
    ((failed == 0)) && exit 0
    exit 1
}

# Ctrl-C or kill: pass it on to the running e2e test (it tears its namespaces
# down), wait for it, then report what ran.
# shellcheck disable=SC2317 # called from the traps below
on_signal() {
    interrupted=$1
    if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null || true; fi
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# Sanitizers: stop at the first error, with a stack; leaks count as errors.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# ---- dependencies
if ! bash scripts/deps.sh --test; then
    fail "deps" "scripts/deps.sh --test failed (run it as root)"
    finish
fi

# ---- build
built=0      # everything built
bins_built=0 # at least the programs the e2e tests run were built in this run
build_log=$(mktemp "${TMPDIR:-/tmp}/ruphin-build.XXXXXX")
echo "=== build ($BUILD: Debug, ASan+UBSan)"
if cmake -S . -B "$BUILD" -DRUPHIN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >"$build_log" 2>&1; then
    if cmake --build "$BUILD" -j2 >>"$build_log" 2>&1; then
        built=1
        bins_built=1
        echo "build: ok"
    else
        tail -n 80 "$build_log"
        fail "build" "cmake --build failed (last lines above)"
        # A broken unit test must not hide the e2e results: try the programs alone.
        if ((run_e2e == 1)) &&
            cmake --build "$BUILD" -j2 --target "${E2E_TARGETS[@]}" >"$build_log" 2>&1; then
            bins_built=1
            echo "build: ${E2E_TARGETS[*]} built on their own; the e2e tests run with them"
        fi
    fi
else
    tail -n 80 "$build_log"
    fail "build" "cmake configure failed (last lines above)"
fi
rm -f "$build_log"
[[ -n $interrupted ]] && finish

# ---- the Release build users and the demo make: -O2 warns about what -O0 cannot see
# (-Wmaybe-uninitialized), and -Werror turns that into a build a user cannot make.
if ((run_unit == 1)); then
    rel_log=$(mktemp "${TMPDIR:-/tmp}/ruphin-release.XXXXXX")
    echo "=== build (build-release: Release, as the README and the demo build)"
    if cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DRUPHIN_TESTS=OFF >"$rel_log" 2>&1 &&
        cmake --build build-release -j2 >>"$rel_log" 2>&1; then
        pass
        echo "build-release: ok"
    else
        tail -n 40 "$rel_log"
        fail "release build" "cmake --build build-release failed (last lines above)"
    fi
    rm -f "$rel_log"
fi
[[ -n $interrupted ]] && finish

# ---- unit tests
if ((run_unit == 1 && built == 1)); then
    echo "=== unit tests (ctest)"
    ctest_log=$(mktemp "${TMPDIR:-/tmp}/ruphin-ctest.XXXXXX")
    ctest --test-dir "$BUILD" --output-on-failure --timeout "$E2E_TIMEOUT" 2>&1 | tee "$ctest_log"
    ctest_rc=${PIPESTATUS[0]}
    summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$ctest_log" | tail -n 1)
    if [[ $summary =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
        nfail=${BASH_REMATCH[1]}
        ntotal=${BASH_REMATCH[2]}
        pass unit $((ntotal - nfail))
        named=0
        while read -r name; do
            fail "unit $name"
            named=$((named + 1))
        done < <(sed -n '/The following tests FAILED:/,$ s/^[[:space:]]*[0-9]\+ - \([^ ]*\) .*/\1/p' "$ctest_log")
        # Should ctest's list of names be missing, still count every failure.
        for ((i = named; i < nfail; i++)); do fail "unit (unnamed)"; done
        if ((nfail == 0 && ctest_rc != 0)); then fail "unit" "ctest exited $ctest_rc"; fi
    elif grep -q 'No tests were found' "$ctest_log"; then
        echo "test.sh: note: no unit tests are registered (tests/test_*.c)"
        ((ctest_rc == 0)) || fail "unit" "ctest exited $ctest_rc"
    else
        fail "unit" "ctest exited $ctest_rc without a summary"
    fi
    rm -f "$ctest_log"
elif ((run_unit == 1)); then
    fail "unit" "not run: the build failed"
fi
[[ -n $interrupted ]] && finish

# ---- fuzzers: every libFuzzer target for a bounded time under ASan+UBSan (FUZZ_SECONDS each)
if ((run_unit == 1)); then
    if bash scripts/fuzz.sh; then
        pass
    else
        fail "fuzz" "scripts/fuzz.sh: a fuzz target crashed, failed a check or did not build"
    fi
fi
[[ -n $interrupted ]] && finish

# ---- e2e tests
if ((run_e2e == 1)); then
    scripts=()
    for t in tests/e2e/test_*.sh tests/pkg/test_*.sh; do
        [[ -e $t ]] || continue
        name=$(basename "$t" .sh)
        # shellcheck disable=SC2053 # PATTERN may hold glob characters on purpose
        [[ -z $pattern || $name == *$pattern* ]] && scripts+=("$t")
    done
    if ((${#scripts[@]} == 0)); then
        fail "e2e" "no e2e script matches the pattern '$pattern'"
    fi
    if ((bins_built == 1)); then
        RUPHIN_BIN=$REPO/$BUILD/bin
    else
        # Never let e2e tests pick up stale binaries from an earlier build.
        RUPHIN_BIN=$REPO/$BUILD/bin-not-built-build-failed
    fi
    export RUPHIN_BIN
    for t in "${scripts[@]}"; do
        name=$(basename "$t" .sh)
        if [[ $(id -u) -ne 0 ]]; then
            fail "e2e $name" "needs root (network namespaces, nftables): run scripts/test.sh as root"
            continue
        fi
        echo "=== e2e $name"
        start=$SECONDS
        # In the background so a signal to us can be passed on while we wait.
        timeout --kill-after=15 "$E2E_TIMEOUT" bash "$t" </dev/null &
        child=$!
        rc=0
        wait "$child" || rc=$?
        # A trapped signal interrupts `wait`; wait again for the test's teardown.
        while [[ -n $interrupted ]] && kill -0 "$child" 2>/dev/null; do
            rc=0
            wait "$child" || rc=$?
        done
        child=
        took=$((SECONDS - start))
        if [[ -n $interrupted ]]; then
            fail "e2e $name" "interrupted by SIG$interrupted"
            break
        elif ((rc == 0)); then
            pass
            echo "--- PASS e2e $name (${took}s)"
        elif ((rc == 124 || rc == 137)); then
            fail "e2e $name" "timed out after ${E2E_TIMEOUT}s"
        else
            fail "e2e $name" "exit status $rc (${took}s)"
        fi
    done
fi

finish
