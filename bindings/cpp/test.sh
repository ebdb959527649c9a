#!/usr/bin/env bash
# C++ binding tests. Builds bindings/cpp/tests with g++ -std=c++17 -Wall -Wextra -Werror -Wpedantic
# against the committed header and libsinglewriter.so, and runs them:
#   1. the test suite (tests/main.cpp, ported_test.cpp, binding_test.cpp) normally,
#   2. the same suite under AddressSanitizer + LeakSanitizer + UBSan,
#   3. tests/noexcept_test.cpp built with -fno-exceptions,
#   4. the example (example.cpp), normally and under ASan (and bench_overhead.cpp builds),
#   5. the suite under valgrind memcheck (--error-exitcode; fewer writes in the thread test).
# Every test case of every run counts; each build and the example/valgrind runs count as one.
# Prints "cpp: N passed, N failed" last; exits non-zero when anything failed.
# Environment (set by tests/run-all.sh; derived from this file's location otherwise):
#   SW_ROOT, SW_LIB_DIR (libsinglewriter.so), SW_INCLUDE_DIR (singlewriter.h)
# Options: SW_CPP_SKIP_VALGRIND=1 skips step 5.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SW_ROOT="${SW_ROOT:-$(cd "$here/../.." && pwd)}"
SW_LIB_DIR="${SW_LIB_DIR:-$SW_ROOT/target/release}"
SW_INCLUDE_DIR="${SW_INCLUDE_DIR:-$SW_ROOT/include}"

# shellcheck source=../../tests/lib.sh
source "$here/../../tests/lib.sh"

# --- prerequisites ---
sw_need g++ g++
sw_install_needed
if ! command -v g++ >/dev/null 2>&1; then
    sw_abort cpp "no C++ compiler available"
fi
if [ ! -f "$SW_LIB_DIR/libsinglewriter.so" ]; then
    echo "cpp: $SW_LIB_DIR/libsinglewriter.so missing; building it" >&2
    (cd "$SW_ROOT" && cargo build --release) >&2 || true
fi
if [ ! -f "$SW_LIB_DIR/libsinglewriter.so" ] || [ ! -f "$SW_INCLUDE_DIR/singlewriter.h" ]; then
    sw_abort cpp "libsinglewriter.so or singlewriter.h not found (SW_LIB_DIR=$SW_LIB_DIR, SW_INCLUDE_DIR=$SW_INCLUDE_DIR)"
fi

build="$here/build"
mkdir -p "$build"
work="$(mktemp -d "${TMPDIR:-/tmp}/sw-cpp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export SW_TEST_TMPDIR="$work"

CXXFLAGS=(-std=c++17 -g -Wall -Wextra -Werror -Wpedantic -I"$SW_INCLUDE_DIR" -I"$here")
LDFLAGS=(-L"$SW_LIB_DIR" -Wl,-rpath,"$SW_LIB_DIR" -lsinglewriter -lpthread)
SAN=(-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
suite=("$here/tests/main.cpp" "$here/tests/ported_test.cpp" "$here/tests/binding_test.cpp")

compile() { # label, output, g++ args...
    local label="$1" out="$2"
    shift 2
    if g++ "$@" -o "$out" "${LDFLAGS[@]}" >"$work/$label.build.log" 2>&1; then
        sw_pass "build $label"
        return 0
    fi
    sw_fail "build $label"
    head -40 "$work/$label.build.log"
    return 1
}

# Run a test binary and add its "N passed, N failed" line to the totals.
run_counted() { # label, command...
    local label="$1"
    shift
    local log="$work/$label.log"
    timeout -k 10 "${SW_CPP_RUN_TIMEOUT:-240}" "$@" >"$log" 2>&1
    local rc=$?
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo "  [$label] timed out" 
    grep -E '^(FAIL|PASS)' "$log" | sed "s/^/  [$label] /" | grep -v '\] PASS' || true
    local line
    line="$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)"
    if [ -z "$line" ]; then
        sw_fail "$label (exit $rc, no summary)"
        tail -30 "$log"
        return
    fi
    local p f
    p="$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')"
    f="$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')"
    sw_add_counts "$p" "$f"
    echo "     $label: $p passed, $f failed (exit $rc)"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        sw_fail "$label exited $rc"
        grep -E 'ERROR|runtime error|Sanitizer' "$log" | head -20
    elif grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
        sw_fail "$label sanitizer report"
        grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" | head -60
    fi
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# 1. the suite
if compile suite "$build/tests" -O2 "${CXXFLAGS[@]}" "${suite[@]}"; then
    run_counted suite "$build/tests"
fi

# 2. under ASan + UBSan (LeakSanitizer on)
if compile suite-asan "$build/tests-asan" "${SAN[@]}" "${CXXFLAGS[@]}" "${suite[@]}"; then
    run_counted suite-asan "$build/tests-asan"
fi

# 3. without exceptions
if compile noexcept "$build/noexcept" -O2 -fno-exceptions "${CXXFLAGS[@]}" "$here/tests/noexcept_test.cpp"; then
    run_counted noexcept "$build/noexcept" "$work"
fi

# 4. the example
if compile example "$build/example" -O2 "${CXXFLAGS[@]}" "$here/example.cpp"; then
    if timeout 60 "$build/example" "$work/example.db" >"$work/example.log" 2>&1 && grep -q '^closed$' "$work/example.log"; then
        sw_pass "example runs"
    else
        sw_fail "example runs"
        cat "$work/example.log"
    fi
fi
if compile example-asan "$build/example-asan" "${SAN[@]}" "${CXXFLAGS[@]}" "$here/example.cpp"; then
    if timeout 60 "$build/example-asan" "$work/example-asan.db" >"$work/example-asan.log" 2>&1 && grep -q '^closed$' "$work/example-asan.log"; then
        sw_pass "example under ASan/UBSan"
    else
        sw_fail "example under ASan/UBSan"
        cat "$work/example-asan.log"
    fi
fi

# The overhead benchmark is run by hand (see its header); here it must only build cleanly.
compile bench_overhead "$build/bench_overhead" -O2 "${CXXFLAGS[@]}" "$here/bench_overhead.cpp" || true

# 5. valgrind memcheck: no invalid accesses, no definite leaks (test results are counted above).
if [ "${SW_CPP_SKIP_VALGRIND:-0}" != 1 ] && [ -x "$build/tests" ]; then
    sw_need valgrind valgrind
    sw_install_needed
    if command -v valgrind >/dev/null 2>&1; then
        SW_TEST_WRITES=40 SW_TEST_TIMEOUT=120 timeout -k 10 300 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            "$build/tests" >"$work/valgrind.log" 2>&1
        rc=$?
        if [ "$rc" -ne 99 ] && grep -q 'cpp-tests:' "$work/valgrind.log"; then
            sw_pass "valgrind memcheck clean ($(grep 'cpp-tests:' "$work/valgrind.log"))"
        else
            sw_fail "valgrind memcheck (exit $rc)"
            grep -E '^==[0-9]+==' "$work/valgrind.log" | head -60
        fi
    else
        echo "cpp: valgrind not available; skipped" >&2
    fi
fi

sw_finish cpp
