#!/usr/bin/env bash
# Instructions per pipelined row through the C ABI, counted by callgrind: a measure of the
# library's own work that does not move with the machine's load (throughput on a shared 2-vCPU
# machine varies ±20 % between rounds; these counts move by about 1 % between runs).
#
#   bash benches/instructions/run.sh [LIB_DIR...]
#
# For each library directory (default: target/release, built if missing) it runs, under
# callgrind, each program twice (n and 4n operations: n = 20,000, 5,000 for blocking writes)
# and prints (Ir(4n) - Ir(n)) / 3n: the instructions of every thread per operation, with the
# fixed cost of opening, filling and closing taken out.
# - pipeline.c: pipelined inserts, at the default options and with `Sample Rate=1000` (the
#   difference is what the per-write signals cost);
# - blocking.c: blocking inserts from one thread (the lone writer: a group of one each), also
#   after a cached point read, from which on the writer reports the rows each commit changes;
# - reads.c: point reads over 10,000 rows with uniform keys: uncached (`sw_writer_query`),
#   through a cache too small to hit much (`Cache Size=1000`: most entries die unread, issue
#   11's target 2b), with caching off (`Cache Size=0`), and cache hits (`Cache Size=20000`,
#   every key read once first); and the uncached and small-cache reads again with `Invalidation
#   Poll=0`, whose counts vary less between runs.
# - raw.c: the same inserts on SQLite alone (no library), in autocommit and each inside BEGIN
#   IMMEDIATE/COMMIT, compiled from the SQLite source the library bundles (libsqlite3-sys in
#   Cargo's registry, at the version Cargo.lock names; about a minute to compile, once per run;
#   skipped with a note when that source is not there). The lone writer's reference.
# Idle ticks of the writer's threads are timed, so repeated runs differ by up to about 2 %.
# Installs valgrind with apt-get when it is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/benches/instructions"
if ! command -v valgrind >/dev/null 2>&1; then
    (export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq valgrind >/dev/null) \
        || { echo "apt-get install valgrind failed" >&2; exit 1; }
fi
dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
    [ -f "$root/target/release/libsinglewriter.so" ] || (cd "$root" && cargo build --release --lib)
    dirs=("$root/target/release")
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for prog in pipeline blocking reads; do
    gcc -O2 -I"$root/include" "$here/$prog.c" -o "$work/$prog" -L"${dirs[0]}" -lsinglewriter
done
# SQLite alone, from the bundled source (with the defines that matter for speed that
# libsqlite3-sys's build uses).
ver=$(awk '/^name = "libsqlite3-sys"/ {getline; gsub(/[^0-9.]/, "", $0); print; exit}' "$root/Cargo.lock")
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"libsqlite3-sys-$ver"/sqlite3 2>/dev/null | head -1)
if [ -n "$src" ] && [ -f "$src/sqlite3.c" ]; then
    gcc -O2 -DSQLITE_CORE -DSQLITE_DEFAULT_FOREIGN_KEYS=1 -DSQLITE_ENABLE_API_ARMOR -DSQLITE_ENABLE_STAT4 \
        -DSQLITE_THREADSAFE=1 -DSQLITE_USE_URI -DHAVE_USLEEP=1 -DHAVE_ISNAN -I"$src" \
        "$here/raw.c" "$src/sqlite3.c" -o "$work/raw" -lpthread -ldl -lm
else
    echo "note: the SQLite source of libsqlite3-sys $ver is not in Cargo's registry: no raw reference" >&2
fi
ir() { # dir program count extra [mode] -> total instructions
    rm -f "$work"/x.db*
    LD_LIBRARY_PATH="$1" valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$work/$2" "$work/x.db" "$3" ${5:+"$5"} "$4" >"$work/out" 2>"$work/err" \
        || { cat "$work/out" "$work/err" >&2; exit 1; }
    awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.out"
}
per() { # dir program extra [mode] -> instructions per operation
    local a b n=20000
    case "$2" in blocking | raw) n=5000 ;; esac # a commit per write: fewer keep it short
    a=$(ir "$1" "$2" "$n" "$3" "${4:-}")
    b=$(ir "$1" "$2" $((4 * n)) "$3" "${4:-}")
    echo $(((b - a) / (3 * n)))
}
for d in "${dirs[@]}"; do
    echo "$d"
    for extra in "" ";Sample Rate=1000"; do
        printf '  pipelined insert%s: %d instructions per row\n' "${extra:+ ($extra)}" "$(per "$d" pipeline "$extra")"
    done
    for extra in "" ";Sample Rate=1000"; do
        printf '  blocking insert%s: %d instructions per write\n' "${extra:+ ($extra)}" "$(per "$d" blocking "$extra")"
    done
    printf '  blocking insert, rows reported (a cached point read first): %d instructions per write\n' \
        "$(per "$d" blocking "" rows)"
    printf '  point read, uncached (query): %d instructions per read\n' "$(per "$d" reads "" query)"
    for extra in ";Cache Size=1000" ";Cache Size=0"; do
        printf '  point read, cached (read, %s): %d instructions per read\n' "${extra#;}" "$(per "$d" reads "$extra" read)"
    done
    printf '  point read, cache hit (read, Cache Size=20000, every key warm): %d instructions per read\n' \
        "$(per "$d" reads ";Cache Size=20000" hit)"
    # The same miss comparison with the drainer's idle ticks once a second instead of every 10 ms:
    # they are timed, so under callgrind they add a count that varies between runs by about 1 %.
    q=$(per "$d" reads ";Invalidation Poll=0" query)
    c=$(per "$d" reads ";Cache Size=1000;Invalidation Poll=0" read)
    printf '  point read with Invalidation Poll=0, uncached / through Cache Size=1000: %d / %d instructions per read (%s %%)\n' \
        "$q" "$c" "$(awk -v q="$q" -v c="$c" 'BEGIN { printf "%+.1f", (c - q) * 100 / q }')"

done
if [ -x "$work/raw" ]; then
    echo "SQLite alone (benches/instructions/raw.c, SQLite $(sed -n 's/^#define SQLITE_VERSION  *"\(.*\)"/\1/p' "$src/sqlite3.h"))"
    for mode in autocommit txn; do
        printf '  blocking insert (%s): %d instructions per write\n' "$mode" "$(per "$root" raw "$mode")"
    done
fi
