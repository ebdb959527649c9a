#!/usr/bin/env bash
# The notes-API service benchmark (issue 17): the same net/http service over database/sql +
# mattn/go-sqlite3 (recommended setup) and over this library's Go binding, loaded by wrk on
# loopback. Not part of CI.
#
#   bash benches/go-service/run.sh                       # every cell, 3 runs each (~8 min)
#   RUNS=1 DURATION=3 CONNS="32" MIXES="50" bash benches/go-service/run.sh
#   BACKENDS="sqlite3 sw swsql" bash benches/go-service/run.sh
#   BEFORE_BIN=/tmp/notes-before BACKENDS="sqlite3 sw-before sw" bash benches/go-service/run.sh
#       (sw-before: the sw backend of another build of this server, e.g. one built from an older
#        checkout of bindings/go, measured in the same run)
#
# Each cell (traffic mix x connections) runs the backends interleaved, RUNS times, each run on a
# fresh copy of a seeded 10,000-row database with a fresh server process. Per run it records
# requests/s (wrk), non-2xx responses, the server's CPU per request (utime+stime from /proc),
# context switches per request (summed over the server's threads), the OS thread count (the
# process's and the Go runtime's threadcreate count), and checks that the table holds
# 10,000 + acknowledged POSTs rows. Prints per-run lines, then a table of medians and ratios.
# Output also goes to $OUT (default /tmp/go-service-bench.txt).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-5}"
CONNS="${CONNS:-4 32 64}"
MIXES="${MIXES:-100 90 50}"          # percent reads
BACKENDS="${BACKENDS:-sqlite3 sw}"
THREADS="${WRK_THREADS:-2}"
OUT="${OUT:-/tmp/go-service-bench.txt}"
PORT="${PORT:-18080}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -f "$root/target/release/libsinglewriter.so" ] || (cd "$root" && cargo build --release)
export PATH="$PATH:/usr/local/go/bin" CGO_ENABLED=1 GOFLAGS="${GOFLAGS:-} -buildvcs=false"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
(cd "$here" && go build -o "$work/notes" .)
"$work/notes" -db "$work/seed.db" -seed-only
clk=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ctx_switches() {
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'
}

: >"$OUT"
log() { echo "$*" | tee -a "$OUT"; }
log "# go-service benchmark $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cd "$root" && git rev-parse --short HEAD), runs=$RUNS duration=${DURATION}s wrk -t$THREADS, load $(cut -d' ' -f1-3 /proc/loadavg)"
log "mix conns backend run req_s non2xx cpu_us_per_req cs_per_req proc_threads go_threads rows expected"

for mix in $MIXES; do
  for c in $CONNS; do
    for run in $(seq 1 "$RUNS"); do
      for b in $BACKENDS; do
        db="$work/run.db"
        rm -f "$db" "$db-wal" "$db-shm"
        cp "$work/seed.db" "$db"
        bin="$work/notes" backend="$b"
        if [ "$b" = sw-before ]; then bin="$BEFORE_BIN" backend=sw; fi
        "$bin" -backend "$backend" -db "$db" -addr "127.0.0.1:$PORT" >"$work/server.log" 2>&1 &
        server_pid=$!
        for _ in $(seq 1 100); do
          curl -sf "http://127.0.0.1:$PORT/debug/stats" >/dev/null 2>&1 && break
          sleep 0.05
        done
        t0=$(cpu_ticks "$server_pid"); s0=$(ctx_switches "$server_pid")
        wrk -t"$THREADS" -c"$c" -d"${DURATION}s" -s "$here/notes.lua" "http://127.0.0.1:$PORT" -- "$mix" >"$work/wrk.out" 2>&1
        t1=$(cpu_ticks "$server_pid"); s1=$(ctx_switches "$server_pid")
        stats=$(curl -sf "http://127.0.0.1:$PORT/debug/stats")
        kill "$server_pid"; wait "$server_pid" || true; server_pid=""
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")
        total=$(awk '/requests in/ {print $1}' "$work/wrk.out")
        non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out"); non2xx=${non2xx:-0}
        socket_errs=$(grep -c 'Socket errors' "$work/wrk.out" || true)
        [ "$socket_errs" -gt 0 ] && grep 'Socket errors' "$work/wrk.out" | sed "s/^/  $b: /" | tee -a "$OUT"
        j() { echo "$stats" | sed -E "s/.*\"$1\":(-?[0-9]+).*/\1/"; }
        rows=$(j rows); posts=$(j posts_ok)
        cpu=$(awk -v d="$((t1 - t0))" -v n="$total" -v hz="$clk" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
        cs=$(awk -v d="$((s1 - s0))" -v n="$total" 'BEGIN {printf "%.2f", d / n}')
        log "$mix $c $b $run $rps $non2xx $cpu $cs $(j proc_threads) $(j go_threads) $rows $((10000 + posts))"
        [ "$rows" -eq $((10000 + posts)) ] || log "  WARNING: $b rows $rows != 10000 + $posts acknowledged POSTs"
      done
    done
  done
done

echo | tee -a "$OUT"
python3 - "$OUT" "$BACKENDS" <<'PY' | tee -a "$OUT"
import sys, statistics as st
path, backends = sys.argv[1], sys.argv[2].split()
runs = {}
for line in open(path):
    p = line.split()
    if len(p) != 12 or not p[0].isdigit():
        continue
    mix, c, b = int(p[0]), int(p[1]), p[2]
    runs.setdefault((mix, c, b), []).append([float(x) for x in p[4:10]])
names = {100: "read-only", 90: "90 % reads / 10 % writes", 50: "50 % reads / 50 % writes"}
base = backends[0]
mixes = sorted({k[0] for k in runs}, reverse=True)
conns = sorted({k[1] for k in runs})
def med(k, i):
    return st.median(r[i] for r in runs[k])
for b in backends[1:]:
    print(f"ratio {b} / {base} (median req/s of each cell)")
    print("| traffic | " + " | ".join(f"c={c}" for c in conns) + " |")
    print("|---|" + "---|" * len(conns))
    for m in mixes:
        cells = []
        for c in conns:
            if (m, c, b) in runs and (m, c, base) in runs:
                cells.append(f"{med((m, c, b), 0) / med((m, c, base), 0):.2f}×")
            else:
                cells.append("—")
        print(f"| {names.get(m, m)} | " + " | ".join(cells) + " |")
    print()
print("| traffic | conns | backend | req/s (median) | runs | CPU µs/req | ctx sw/req | OS threads | Go threads | non-2xx |")
print("|---|---:|---|---:|---|---:|---:|---:|---:|---:|")
for m in mixes:
    for c in conns:
        for b in backends:
            k = (m, c, b)
            if k not in runs:
                continue
            rs = ", ".join(f"{r[0]:,.0f}" for r in runs[k])
            print(f"| {names.get(m, m)} | {c} | {b} | {med(k, 0):,.0f} | {rs} | {med(k, 2):.0f} | {med(k, 3):.2f} | {max(r[4] for r in runs[k]):.0f} | {max(r[5] for r in runs[k]):.0f} | {sum(r[1] for r in runs[k]):.0f} |")
PY
