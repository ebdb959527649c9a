#!/usr/bin/env python3
"""Interleaved A/B of one workload point: builds of the library against each other and against
the suite's reference contenders, round by round on a fresh copy of one database.

    python3 benches/ab.py [--rounds N] [--producers N] [--workload w2] [--mode M] [--secs S]
                          CONTENDER [CONTENDER ...]

A CONTENDER is either `label=LIB_DIR[;Option=Value...]` (singlewriter through its C ABI, with
the `libsinglewriter.so.1` in LIB_DIR: copy a build's `target/release/libsinglewriter.so*` aside
to keep it; options after it are added to its connection string, e.g.
`sr1000=target/release;Sample Rate=1000`) or the name of a contender of the Rust suite's `sw-peers-native` binary
(`piperef`, `bulk`, `groupref`, `naive`, ...). Needs the suite's contender binaries
(`bash benches/run.sh --quick` builds them into target/peers) and `perf` for CPU time.

Per run it prints the rate, CPU per row (all threads, `perf stat` task-clock; 0 without perf),
writes per transaction and, for the thread that ran most, its involuntary context switches per
second (preemptions: on 2 vCPUs the writer is switched out whenever the producers' core is
full). At the end, per contender: the median rate and the median of the per-round ratios to the
last contender. Rounds on a shared machine move by ±20 %; compare medians of many rounds.
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "target", "peers", "release")


def thread_stats(pid):
    """{tid: (cpu ticks, involuntary switches)} of a running process."""
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks = int(fields[11]) + int(fields[12])
                invol = 0
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("nonvoluntary_ctxt_switches"):
                            invol = int(line.split()[1])
                out[tid] = (ticks, invol)
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--producers", type=int, default=16)
    ap.add_argument("--workload", default="w2")
    ap.add_argument("--sync", default="NORMAL")
    ap.add_argument("--mode", default="uncached",
                    help="the harness's read mode (W3/W4: uncached, cached, hit, hitone)")
    ap.add_argument("--secs", type=float, default=1.5)
    ap.add_argument("--warm", type=float, default=0.3)
    ap.add_argument("contenders", nargs="+")
    a = ap.parse_args()
    for exe in ("sw-peers-native", "sw-peers-tokio-ffi"):
        if not os.path.exists(os.path.join(PEERS, exe)):
            raise SystemExit(f"{PEERS}/{exe} is missing: bash benches/run.sh --quick builds it")
    perf = shutil.which("perf")
    work = tempfile.mkdtemp(prefix="sw-ab-")
    try:
        template = os.path.join(work, "empty.db")
        c = sqlite3.connect(template)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT)")
        if a.workload in ("w3", "w4"):
            # The rows the reads look up, as the suite fills them (benches/suite.py).
            c.executemany("INSERT INTO t(a, b) VALUES (?, ?)",
                          ((i, "payload-text") for i in range(10_000)))
        c.commit()
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.close()
        rates = {k: [] for k in a.contenders}
        for r in range(a.rounds):
            for k in a.contenders:
                db = os.path.join(work, "bench.db")
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(db + suffix):
                        os.remove(db + suffix)
                shutil.copyfile(template, db)
                env = dict(os.environ)
                if "=" in k:
                    label, lib = k.split("=", 1)
                    lib, _, extra = lib.partition(";")
                    if extra:
                        env["SW_EXTRA"] = ";" + extra
                    exe, contender = "sw-peers-tokio-ffi", "singlewriter-c"
                    env["LD_LIBRARY_PATH"] = os.path.abspath(lib)
                else:
                    label, exe, contender = k, "sw-peers-native", k
                cmd = [os.path.join(PEERS, exe), "--contender", contender, "--workload", a.workload,
                       "--producers", str(a.producers), "--sync", a.sync, "--mode", a.mode, "--secs", str(a.secs),
                       "--warm", str(a.warm), "--db", db]
                stat_file = os.path.join(work, "perf.csv")
                if perf:
                    cmd = [perf, "stat", "-x,", "-e", "task-clock", "-o", stat_file] + cmd
                p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                # Preemptions of the busiest thread over one second inside the measured window.
                snaps = []
                span = [1.0 if a.secs >= 1.4 else a.secs / 2]

                def sample():
                    time.sleep(a.warm + a.secs * 0.25)
                    child = p.pid
                    if perf:
                        try:
                            kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
                            child = int(kids[0]) if kids else p.pid
                        except OSError:
                            pass
                    s1 = thread_stats(child)
                    time.sleep(span[0])
                    snaps.append((s1, thread_stats(child)))

                t = threading.Thread(target=sample)
                t.start()
                out, err = p.communicate()
                t.join()
                line = next((l for l in out.splitlines() if l.startswith("{")), None)
                if line is None:
                    raise SystemExit(f"{k}: no result\n{out}\n{err}")
                j = json.loads(line)
                cpu_ns = 0.0
                if perf and os.path.exists(stat_file):
                    for row in open(stat_file):
                        f = row.strip().split(",")
                        if len(f) > 2 and f[2] == "task-clock":
                            cpu_ns = float(f[0]) * 1e6 / max(j.get("rows_found") or 1, 1)
                preempt = ""
                if snaps:
                    s1, s2 = snaps[0]
                    busiest = max(s2, key=lambda tid: s2[tid][0] - s1.get(tid, (0, 0))[0], default=None)
                    if busiest in s1:
                        ticks = (s2[busiest][0] - s1[busiest][0]) / os.sysconf("SC_CLK_TCK") / span[0]
                        preempt = (f"  busiest thread: {ticks:.0%} of a CPU, preempted "
                                   f"{(s2[busiest][1] - s1[busiest][1]) / span[0]:.0f}/s")
                rates[k].append(j["rate"])
                txn = j.get("writes_per_txn")
                print(f"round {r + 1} {label:>12}: {j['rate'] / 1e6:.3f}M/s  cpu/row {cpu_ns:.0f} ns"
                      f"  writes/txn {txn if txn is None else round(txn)}{preempt}", flush=True)
        last = a.contenders[-1]
        for k in a.contenders:
            v = sorted(rates[k])
            ratios = sorted(x / y for x, y in zip(rates[k], rates[last]))
            print(f"{k.split('=')[0]:>12}: median {v[len(v) // 2] / 1e6:.3f}M/s, "
                  f"per-round ratio to {last.split('=')[0]} median {ratios[len(ratios) // 2]:.3f}")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
