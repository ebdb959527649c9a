#!/usr/bin/env bash
# Builds and runs every fuzz target of singlewriter for a short time each, starting from the
# committed corpora (fuzz/corpus/<target>/, which are only read: new inputs go to a temporary
# directory). Ends with "fuzz: N passed, N failed".
#
#   bash fuzz/run.sh [SECONDS]     total fuzzing time over all targets (default 90), two
#                                  targets at a time
#
# Targets (fuzz/fuzz_targets/*.rs, cargo-fuzz/libFuzzer, AddressSanitizer, debug assertions and
# overflow checks on):
#   options_parse  connection strings             glob_match    signal globs vs a reference
#   params         parameter binding, 3 paths     sql_readonly  reads never change the database
#   sql_execute    any SQL through every write path
# and capi (fuzz/c/capi_fuzz.c: clang -fsanitize=fuzzer,address,undefined, linked against
# target/release/libsinglewriter.a), which decodes bytes into calls over the whole C ABI.
# sql_readonly first checks that its oracle (a content hash) moves when the writer changes the
# database. The harness's own unit tests: `cd fuzz && cargo test --lib` (not run here: they
# would build the dependencies a third time).
#
# Installs what is missing: clang and libclang-rt-14-dev (apt-get), cargo-fuzz (cargo install).
# cargo-fuzz asks for nightly-only flags (-Zsanitizer); the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1, so no nightly toolchain is needed.
#
# Leak detection is off for the targets that keep a writer open across inputs (its caches
# and pools are alive, not leaked; LeakSanitizer's per-input scan also slows them tenfold).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUDGET=${1:-90}
export RUSTC_BOOTSTRAP=1
# As `cargo fuzz run` sets it: the bundled sqlite3.c has file-static arrays of the same name,
# which AddressSanitizer's one-definition-rule check reports when SQLite is instrumented too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}

# shellcheck source=../tests/lib.sh
source tests/lib.sh

# ---- tools ----
sw_need clang clang
sw_install_needed
clang_rt_fuzzer() {
    local f
    f=$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null)
    [ -f "$f" ] || ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1
}
# libFuzzer's runtime comes in a package named after clang's major version.
if command -v clang >/dev/null 2>&1 && ! clang_rt_fuzzer; then
    sw_apt_install "libclang-rt-$(clang --version | sed -nE 's/.*version ([0-9]+).*/\1/p' | head -1)-dev"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "# installing cargo-fuzz"
    cargo install --locked cargo-fuzz 2>&1 | tail -2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    sw_fail "cargo-fuzz could not be installed"
    sw_finish fuzz
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sw-fuzz-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export SW_FUZZ_TMP=$WORK/scratch
mkdir -p "$SW_FUZZ_TMP"

# ---- build ----
RUST_TARGETS=(options_parse glob_match params sql_readonly sql_execute)
if (cd fuzz && cargo fuzz build 2>&1) >"$WORK/build.log"; then
    sw_pass "build the cargo-fuzz targets"
    rust_built=1
else
    sw_fail "build the cargo-fuzz targets"
    tail -30 "$WORK/build.log"
    rust_built=0
fi
BIN=$ROOT/fuzz/target/x86_64-unknown-linux-gnu/release

if [ ! -f target/release/libsinglewriter.a ]; then
    cargo build --release 2>&1 | tail -2
fi
if command -v clang >/dev/null 2>&1 &&
    clang -std=c11 -Wall -Wextra -Werror -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
        fuzz/c/capi_fuzz.c target/release/libsinglewriter.a -lm -ldl -lpthread \
        -o "$WORK/capi" >"$WORK/capi-build.log" 2>&1; then
    sw_pass "build capi (clang libFuzzer against libsinglewriter.a)"
    capi_built=1
else
    sw_fail "build capi (clang libFuzzer against libsinglewriter.a)"
    tail -30 "$WORK/capi-build.log"
    capi_built=0
fi

# ---- run ----
# Seconds per target: a share of the budget by weight (the SQL targets get more).
declare -A WEIGHT=([options_parse]=1 [glob_match]=1 [params]=2 [sql_readonly]=2 [sql_execute]=2 [capi]=2)
total_weight=10
share() { local s=$((BUDGET * ${WEIGHT[$1]} / total_weight)); [ "$s" -lt 1 ] && s=1; echo "$s"; }

# Every target runs for its share of seconds, in two lanes side by side (each libFuzzer process
# uses one core): the same fuzzing in about half the wall time on two cores. The SQL targets,
# which share the scratch directory, are in one lane, so they never run at the same time.
lane_a=() lane_b=()
if [ "$rust_built" = 1 ]; then
    lane_a+=(sql_readonly sql_execute options_parse)
    lane_b+=(params glob_match)
fi
if [ "$capi_built" = 1 ]; then lane_b+=(capi); fi
bin_of() { if [ "$1" = capi ]; then echo "$WORK/capi"; else echo "$BIN/$1"; fi; }
flags_of() {
    case $1 in
    params | capi) echo "-detect_leaks=0" ;;
    sql_readonly | sql_execute) echo "-detect_leaks=0 -dict=$ROOT/fuzz/sql.dict" ;;
    esac
}

# fuzz NAME: run one target (inside a lane); its exit status goes to $WORK/NAME.rc.
fuzz() {
    local name=$1 secs corpus=$WORK/corpus/$1 artifacts=$WORK/artifacts/$1/
    secs=$(share "$name")
    mkdir -p "$corpus" "$artifacts" "fuzz/corpus/$name"
    # The writable corpus first (new inputs), the committed one second (read only).
    # shellcheck disable=SC2046
    (cd "$SW_FUZZ_TMP" && timeout $((secs + 120)) "$(bin_of "$name")" "$corpus" \
        "$ROOT/fuzz/corpus/$name" -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 \
        -artifact_prefix="$artifacts" -print_final_stats=1 $(flags_of "$name")) \
        >"$WORK/$name.log" 2>&1
    echo $? >"$WORK/$name.rc"
}

# report NAME: count a target that ran, with its failure and a reproducer when it failed.
report() {
    local name=$1 rc secs runs crash
    local log=$WORK/$name.log artifacts=$WORK/artifacts/$name/
    rc=$(cat "$WORK/$name.rc" 2>/dev/null || echo "?")
    secs=$(share "$name")
    runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    crash=$(ls "$artifacts" 2>/dev/null | head -1)
    if [ "$rc" = 0 ] && [ -z "$crash" ]; then
        sw_pass "$name: $runs inputs in ${secs}s, no failure"
    else
        sw_fail "$name: exit $rc after $runs inputs"
        grep -E 'panicked|capi_fuzz:|ERROR: |SUMMARY' -A3 "$log" | head -30
        if [ -n "$crash" ]; then
            echo "    reproducer ($name, base64): $(base64 -w0 "$artifacts/$crash")"
            echo "    replay: echo <base64> | base64 -d > crash && $(bin_of "$name") crash"
        fi
    fi
}

(for name in "${lane_a[@]}"; do fuzz "$name"; done) &
lane=$!
for name in "${lane_b[@]}"; do fuzz "$name"; done
wait "$lane"
for name in "${lane_a[@]}" "${lane_b[@]}"; do report "$name"; done
sw_finish fuzz
