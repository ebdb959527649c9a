#!/usr/bin/env bash
# C-level tests of the singlewriter C ABI (include/singlewriter.h).
#
#   bash tests/c/run.sh          (or through tests/run-all.sh, which sets SW_ROOT, SW_LIB_DIR, SW_INCLUDE_DIR)
#
# 1. compiles the header alone as C11 (-pedantic) and as C++17, to prove it is self-contained;
# 2. builds the test program (harness.c + test_*.c) with -Wall -Wextra -Werror, linked against
#    libsinglewriter.so (rpath) and statically against libsinglewriter.a, and runs both;
# 3. builds it again with -fsanitize=address,undefined and runs it (smaller workload), and runs the
#    shared-library build under valgrind --error-exitcode=1 (smaller workload, all tests in one
#    process: see harness.c).
# Each test runs in its own forked process (except under valgrind), so a hang or crash fails
# only that test.
# The crash test execs crash_child (built here) and SIGKILLs it.
# Counts: every test of every run, plus each compile step. Last line: `c: N passed, N failed`.
# Extra arguments are passed to every run of the test program (e.g. a test name to run only it).
set -u

ROOT=${SW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LIB=${SW_LIB_DIR:-$ROOT/target/release}
INC=${SW_INCLUDE_DIR:-$ROOT/include}
HERE=$ROOT/tests/c

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ---- tools (install only what is missing) ----
sw_need gcc gcc
sw_need g++ g++
sw_need valgrind valgrind
sw_install_needed
if ! command -v gcc >/dev/null 2>&1; then
    sw_abort c "gcc is not available"
fi

if [ ! -f "$LIB/libsinglewriter.so" ] || [ ! -f "$LIB/libsinglewriter.a" ]; then
    echo "# building the library (cargo build --release)"
    (cd "$ROOT" && cargo build --release 2>&1 | tail -3)
fi

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/sw-c-build-XXXXXX")
trap 'rm -rf "$BUILD"' EXIT

CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -O1 -pthread -I"$INC" -I"$HERE")
SOURCES=("$HERE"/harness.c "$HERE"/test_*.c)
SHARED_LINK=(-L"$LIB" -lsinglewriter -Wl,-rpath,"$LIB")
STATIC_LINK=("$LIB/libsinglewriter.a" -lm -ldl -lpthread)

# step NAME COMMAND... : a compile step that passes when the command succeeds
step() {
    local name=$1
    shift
    if "$@" >"$BUILD/step.log" 2>&1; then
        sw_pass "$name"
        return 0
    fi
    sw_fail "$name"
    sed 's/^/    /' "$BUILD/step.log" | head -40
    return 1
}

# ---- 1. the header alone ----
printf '#include "singlewriter.h"\nint c_tu_probe(void);\nint c_tu_probe(void) { return SW_ABI_VERSION; }\n' >"$BUILD/tiny.c"
step header_compiles_alone_as_c11 gcc -std=c11 -Wall -Wextra -Werror -pedantic -I"$INC" -c "$BUILD/tiny.c" -o "$BUILD/tiny_c.o"
step header_compiles_alone_as_cxx17 g++ -std=c++17 -Wall -Wextra -Werror -x c++ -I"$INC" -c "$BUILD/tiny.c" -o "$BUILD/tiny_cxx.o"
step header_types_compile_as_c11_pedantic gcc -std=c11 -Wall -Wextra -Werror -pedantic -I"$INC" -c "$HERE/header_only.c" -o "$BUILD/header_c.o"
step header_types_compile_as_cxx17 g++ -std=c++17 -Wall -Wextra -Werror -x c++ -I"$INC" -c "$HERE/header_only.c" -o "$BUILD/header_cxx.o"

# ---- 2. build ----
step build_crash_child gcc "${CFLAGS[@]}" "$HERE/crash_child.c" -o "$BUILD/crash_child" "${STATIC_LINK[@]}"
export SW_C_CRASH_CHILD="$BUILD/crash_child"
built_shared=0 built_static=0 built_asan=0
step build_tests_shared gcc "${CFLAGS[@]}" "${SOURCES[@]}" -o "$BUILD/tests_shared" "${SHARED_LINK[@]}" && built_shared=1
step build_tests_static gcc "${CFLAGS[@]}" "${SOURCES[@]}" -o "$BUILD/tests_static" "${STATIC_LINK[@]}" && built_static=1
step build_tests_asan_ubsan gcc "${CFLAGS[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer \
    "${SOURCES[@]}" -o "$BUILD/tests_asan" "${STATIC_LINK[@]}" && built_asan=1

# run LABEL COMMAND... : runs the test program, adds its counts; a crash or a non-zero exit with
# no failed test (sanitizer/valgrind report) counts as one more failure.
run() {
    local label=$1
    shift
    echo "== $label"
    local log="$BUILD/run.log"
    "$@" 2>&1 | tee "$log" | sed "s/^/[$label] /"
    local rc=${PIPESTATUS[0]}
    local summary
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -z "$summary" ]; then
        sw_fail "$label: the test program died (exit $rc) before its summary"
        return
    fi
    local p f
    p=${summary%% passed*}
    f=${summary#*passed, }
    f=${f%% failed}
    sw_add_counts "$p" "$f"
    # A sanitizer or valgrind report (lines "==PID==...", "runtime error:") or a non-zero exit
    # that no test accounts for is one more failure.
    if [ "$f" -eq 0 ]; then
        if [ "$rc" -ne 0 ]; then
            sw_fail "$label: exit status $rc with no failed test (see the report above)"
        elif grep -qE '^==[0-9]+==|runtime error:' "$log"; then
            sw_fail "$label: sanitizer/valgrind report with no failed test (see above)"
        fi
    fi
}

# ---- 3. run ----
[ $built_shared = 1 ] && run shared timeout 300 "$BUILD/tests_shared" "$@"
[ $built_static = 1 ] && run static timeout 300 "$BUILD/tests_static" "$@"

if [ $built_asan = 1 ]; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23:strict_string_checks=1:detect_stack_use_after_return=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # LeakSanitizer runs with no suppressions: the Rust runtime's exit-time and thread-local
    # allocations have not tripped it (add a tests/c/lsan.supp via LSAN_OPTIONS if they ever do).
    SW_C_SMALL=1 run asan+ubsan timeout 300 "$BUILD/tests_asan" "$@"
    unset ASAN_OPTIONS UBSAN_OPTIONS
fi

if command -v valgrind >/dev/null 2>&1 && [ $built_shared = 1 ]; then
    SW_C_SMALL=1 SW_C_VALGRIND=1 SW_C_TEST_TIMEOUT=120 run valgrind timeout 600 valgrind -q --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite "$BUILD/tests_shared" --no-fork "$@"
else
    echo "# valgrind not available: skipped"
fi

sw_finish c
