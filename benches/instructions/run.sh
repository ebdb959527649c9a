#!/usr/bin/env bash
# Instructions per pipelined row through the C ABI, counted by callgrind: a measure of the
# library's own work that does not move with the machine's load (throughput on a shared 2-vCPU
# machine varies ±20 % between rounds; these counts move by about 1 % between runs).
#
#   bash benches/instructions/run.sh [LIB_DIR...]
#
# For each library directory (default: target/release, built if missing) it runs
# benches/instructions/pipeline.c under callgrind with 20,000 and 80,000 rows and prints
# (Ir(80k) - Ir(20k)) / 60,000: the instructions of every thread per row, with the fixed cost
# of opening, creating and closing taken out; once at the default options and once with
# `Sample Rate=1000` (the difference is what the per-write signals cost). Installs valgrind
# with apt-get when it is missing.
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
gcc -O2 -I"$root/include" "$here/pipeline.c" -o "$work/pipeline" -L"${dirs[0]}" -lsinglewriter
ir() { # dir rows extra -> total instructions
    rm -f "$work"/x.db*
    LD_LIBRARY_PATH="$1" valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$work/pipeline" "$work/x.db" "$2" "$3" >"$work/out" 2>"$work/err" \
        || { cat "$work/out" "$work/err" >&2; exit 1; }
    awk '/^(summary|totals):/ {print $2; exit}' "$work/cg.out"
}
for d in "${dirs[@]}"; do
    for extra in "" ";Sample Rate=1000"; do
        a=$(ir "$d" 20000 "$extra")
        b=$(ir "$d" 80000 "$extra")
        printf '%s%s: %d instructions per row\n' "$d" "${extra:+ ($extra)}" $(((b - a) / 60000))
    done
done
