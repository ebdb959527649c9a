#!/usr/bin/env bash
# Crash rounds over the C ABI: 20 SIGKILL rounds under Synchronous=NORMAL and 20 under FULL
# (WAL), with execute, enqueue, batch and transaction jobs mixed in the child. See
# crash_rounds.c for what is checked after every kill.
#
#   bash tests/crash/run.sh [ROUNDS]        (per mode; default 20)
#
# Builds both programs with gcc -Wall -Wextra -Werror against include/singlewriter.h, statically
# linked against target/release/libsinglewriter.a. SW_CRASH_SEED=N repeats a run's kill times.
# Last line: "crash-rounds: N passed, N failed".
set -u
ROOT=${SW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LIB=${SW_LIB_DIR:-$ROOT/target/release}
INC=${SW_INCLUDE_DIR:-$ROOT/include}
HERE=$ROOT/tests/crash
ROUNDS=${1:-20}

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

sw_need gcc gcc
sw_install_needed
if [ ! -f "$LIB/libsinglewriter.a" ]; then
    (cd "$ROOT" && cargo build --release 2>&1 | tail -2)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sw-crash-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -O1 -pthread -I"$INC")
LINK=("$LIB/libsinglewriter.a" -lm -ldl -lpthread)
for prog in crash_rounds crash_rounds_child; do
    if ! gcc "${CFLAGS[@]}" "$HERE/$prog.c" -o "$WORK/$prog" "${LINK[@]}" >"$WORK/build.log" 2>&1; then
        cat "$WORK/build.log"
        sw_fail "build $prog"
        sw_finish crash-rounds
    fi
done
mkdir -p "$WORK/db"
timeout 600 "$WORK/crash_rounds" "$WORK/crash_rounds_child" "$WORK/db" "$ROUNDS"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
    sw_fail "crash_rounds died (exit $rc)"
    sw_summary crash-rounds
fi
exit $rc
