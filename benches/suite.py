#!/usr/bin/env python3
"""The peer benchmark suite's orchestrator (called by benches/run.sh; standard library only).

Runs every measurement as its own process on a fresh database file, shows progress, and writes
benches/results/<UTC date-time>/: README.md (Markdown tables, ratios from this run, the machine
and what else ran on it), charts/*.svg (drawn here, no plotting library), raw/*.jsonl (every
measurement's JSON line) and the Go benchmark output with its benchstat tables.

    python3 benches/suite.py [--quick] [--smoke] [--only rust,go,dotnet] [--workloads w3,w4] [--out DIR]

--smoke: the quick plan as a test: no timing is judged, but a contender that errors, a row
count that does not match the acknowledged writes, or a missing result fails it. Prints
"bench-smoke: N passed, N failed".
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.environ.get("SW_PEERS_DIR") or os.path.join(ROOT, "target", "peers", "release")
SCHEMA = "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT)"
ROWS = 10_000

# contender -> (binary or runner, display name)
CONTENDERS = {
    "singlewriter-c": ("sw-peers-tokio-ffi", "singlewriter (C ABI)"),
    "singlewriter-rust": ("sw-peers-native", "singlewriter (Rust API)"),
    "raw": ("sw-peers-native", "raw rusqlite autocommit, 1 connection"),
    "naive": ("sw-peers-native", "naive: a connection per thread + busy_timeout"),
    "mutex": ("sw-peers-native", "Mutex<rusqlite::Connection>"),
    "tokio-rusqlite": ("sw-peers-tokio-ffi", "tokio-rusqlite"),
    "async-sqlite": ("sw-peers-native", "async-sqlite (Client writer + Pool readers)"),
    "sqlx": ("sw-peers-sqlx", "sqlx (1-connection writer pool + reader pool)"),
    "bulk": ("sw-peers-native", "bulk: one transaction (physical limit)"),
    "groupref": ("sw-peers-native", "group-commit reference: leader/follower on raw rusqlite, no library (ceiling)"),
    "piperef": ("sw-peers-native", "pipelined group-commit reference: channel to one writer thread on raw rusqlite, no library (ceiling)"),
    "mixref": ("sw-peers-native", "cached-mix reference: RwLock<HashMap> + connection per thread + Mutex writer, per-key invalidation, no library (ceiling)"),
    "appcache": ("sw-peers-native", "RwLock<HashMap> in the app (reference, no SQLite)"),
    "dotnet-singlewriter": ("dotnet", "singlewriter .NET binding (Mono)"),
    "dotnet-monosqlite": ("dotnet", "original design on Mono.Data.Sqlite (Mono)"),
}
SW = ("singlewriter-c", "singlewriter-rust")
ASYNC_PEERS = ("tokio-rusqlite", "async-sqlite", "sqlx")
COLORS = {
    "singlewriter-c": "#d62728", "singlewriter-rust": "#ff7f0e", "raw": "#7f7f7f", "naive": "#1f77b4",
    "mutex": "#17becf", "tokio-rusqlite": "#2ca02c", "async-sqlite": "#9467bd", "sqlx": "#8c564b",
    "bulk": "#000000", "groupref": "#e377c2", "piperef": "#e377c2", "mixref": "#e377c2", "appcache": "#bcbd22", "dotnet-singlewriter": "#d62728", "dotnet-monosqlite": "#1f77b4",
}


SHORT = {
    "singlewriter-c": "singlewriter (C ABI)", "singlewriter-rust": "singlewriter (Rust API)", "raw": "raw autocommit",
    "naive": "naive (conn per thread)", "mutex": "Mutex<Connection>", "tokio-rusqlite": "tokio-rusqlite",
    "async-sqlite": "async-sqlite", "sqlx": "sqlx (split pools)", "bulk": "bulk transaction", "groupref": "group-commit ref.", "piperef": "pipelined group-commit ref.", "mixref": "cached-mix ref.", "appcache": "RwLock<HashMap> (ref.)",
    "dotnet-singlewriter": "singlewriter .NET", "dotnet-monosqlite": "Mono.Data.Sqlite design",
}


def name(c):
    return CONTENDERS[c][1] if c in CONTENDERS else c


def short(c):
    return SHORT.get(c, c)


# ----------------------------------------------------------------------------------------------
# The plan


def plan(quick):
    """Every measurement: dict(workload, contender, producers, sync, mode, keys, secs, warm)."""
    secs, warm, w5secs = (0.25, 0.1, 1.0) if quick else (1.2, 0.3, 10.0)
    out = []

    def add(workload, contender, producers, sync="NORMAL", mode="uncached", keys="zipf", s=None):
        out.append(dict(workload=workload, contender=contender, producers=producers, sync=sync,
                        mode=mode, keys=keys, secs=s or secs, warm=warm))

    w1 = [(1, "NORMAL"), (16, "NORMAL"), (16, "FULL")] if quick else \
        [(p, s) for s in ("NORMAL", "FULL") for p in (1, 4, 16, 64)]
    for p, s in w1:
        for c in ("singlewriter-c", "singlewriter-rust", "naive", "mutex") + ASYNC_PEERS:
            add("w1", c, p, s)
        if p == 1:
            add("w1", "raw", 1, s)
        add("w1", "groupref", p, s)
    for s in ("NORMAL", "FULL") if not quick else ("NORMAL",):
        add("w1", "bulk", 1, s)
    w2 = [(4, "NORMAL")] if quick else [(p, s) for s in ("NORMAL", "FULL") for p in (1, 4, 16)]
    for p, s in w2:
        for c in SW + ASYNC_PEERS + ("piperef",):
            add("w2", c, p, s)
    for t in (1, 2):
        for c in SW + ("raw", "naive", "mutex") + ASYNC_PEERS:
            if c == "raw" and t > 1:
                continue
            add("w3", c, t, mode="uncached")
        for c in SW + ("appcache",):
            add("w3", c, t, mode="hit")
            add("w3", c, t, mode="hitone")
    w4 = [("NORMAL", "zipf")] if quick else [("NORMAL", "zipf"), ("FULL", "zipf"), ("NORMAL", "uniform")]
    for s, k in w4:
        for c in SW:
            add("w4", c, 4, s, mode="cached", keys=k)
            add("w4", c, 4, s, mode="uncached", keys=k)
        for c in ("naive", "mutex") + ASYNC_PEERS + ("mixref",):
            add("w4", c, 4, s, keys=k)
    for c in SW + ASYNC_PEERS:
        add("w5", c, 16, "FULL", s=w5secs)
    for c in ("naive", "mutex"):
        add("w5", c, 64, "FULL", s=w5secs)
    return out


def dotnet_plan(quick):
    secs, warm = (0.25, 0.1) if quick else (2.0, 0.3)
    out = []
    for c in ("dotnet-singlewriter", "dotnet-monosqlite"):
        for s in ("NORMAL", "FULL") if not quick else ("NORMAL",):
            for p in ((1, 16) if quick else (1, 4, 16, 64)):
                out.append(dict(workload="w1", contender=c, producers=p, sync=s, mode="uncached", keys="zipf", secs=secs, warm=warm))
        for t in (1, 2):
            out.append(dict(workload="w3", contender=c, producers=t, sync="NORMAL", mode="uncached", keys="zipf", secs=secs, warm=warm))
            if c == "dotnet-singlewriter":
                out.append(dict(workload="w3", contender=c, producers=t, sync="NORMAL", mode="hit", keys="zipf", secs=secs, warm=warm))
        modes = ("cached", "uncached") if c == "dotnet-singlewriter" else ("uncached",)
        for s in ("NORMAL",) if quick else ("NORMAL", "FULL"):
            for m in modes:
                out.append(dict(workload="w4", contender=c, producers=4, sync=s, mode=m, keys="zipf", secs=secs, warm=warm))
    return out


def label(m):
    extra = ""
    if m["workload"] == "w3":
        extra = " " + m["mode"]
    elif m["workload"] == "w4":
        extra = f" {m['keys']}" + (f" {m['mode']} reads" if m["contender"] in SW or m["contender"] == "dotnet-singlewriter" else "")
    unit = "threads" if m["workload"] in ("w3", "w4") else "producers"
    return f"{m['workload'].upper()} {m['sync']:<6} {m['producers']:>2} {unit}{extra}: {name(m['contender'])}"


# ----------------------------------------------------------------------------------------------
# Running


def make_template(path, rows):
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute(SCHEMA)
    c.executemany("INSERT INTO t(a, b) VALUES (?, ?)", ((i, "payload-text") for i in range(rows)))
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


def command(m, db, quick, dotnet_exe):
    args = ["--contender", m["contender"], "--workload", m["workload"], "--producers", str(m["producers"]),
            "--sync", m["sync"], "--secs", str(m["secs"]), "--warm", str(m["warm"]), "--db", db,
            "--mode", m["mode"], "--keys", m["keys"]]
    if m["workload"] == "w5":
        args += ["--drain", "2" if quick else "10", "--cap", "200000" if quick else "1000000"]
    binary = CONTENDERS[m["contender"]][0]
    if binary == "dotnet":
        return ["mono", dotnet_exe] + args
    return [os.path.join(PEERS, binary)] + args


def run_one(m, work, templates, quick, dotnet_exe, env):
    d = tempfile.mkdtemp(prefix="m-", dir=work)
    db = os.path.join(d, "bench.db")
    shutil.copyfile(templates["rows" if m["workload"] in ("w3", "w4") else "empty"], db)
    cmd = command(m, db, quick, dotnet_exe)
    limit = m["secs"] + m["warm"] + 90
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = f"timed out after {limit:.0f} s", -9
    shutil.rmtree(d, ignore_errors=True)
    r = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                r = json.loads(line)
            except ValueError:
                pass
    r = r or {}
    r.update({k: m[k] for k in KEY})
    r["round"] = m.get("round", 1)
    r["exit"] = rc
    r["wall"] = round(time.time() - t0, 2)
    problems = []
    if rc != 0:
        problems.append(f"exit {rc}")
    if "error" in r:
        problems.append(r["error"])
    if "unsupported" in r:
        problems.append("unsupported: " + r["unsupported"])
    if "rate" not in r and "unsupported" not in r:
        problems.append("no result")
    if r.get("rows_ok") is False:
        problems.append(f"row check: {r.get('rows_found')} rows, expected {r.get('rows_expected')}")
    if r.get("other_errors", 0) > 0:
        problems.append(f"{int(r['other_errors'])} errors: {r.get('first_error', '')}")
    if problems:
        r["problems"] = problems
        r["stderr"] = err[-2000:]
    return r


def fmt_rate(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def fmt_us(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f} s"
    if v >= 1e4:
        return f"{v / 1e3:.0f} ms"
    if v >= 1e3:
        return f"{v / 1e3:.1f} ms"
    if v >= 10:
        return f"{v:.0f} µs"
    return f"{v:.1f} µs"


KEY = ("workload", "contender", "producers", "sync", "mode", "keys")


def rounds_of(measurements, rounds):
    """The plan repeated `rounds` times, interleaved (round 1 of everything, then round 2); W5
    runs once (an overload of 10 s is its own result)."""
    out = []
    for r in range(rounds):
        out += [dict(m, round=r + 1) for m in measurements if r == 0 or m["workload"] != "w5"]
    return out


def best_rounds(results):
    """One result per measurement point: the round with the highest throughput among those
    without problems (or the first one, if every round had one); `round_rates` keeps them all."""
    groups = {}
    for r in results:
        groups.setdefault(tuple(r.get(k) for k in KEY), []).append(r)
    out = []
    for rs in groups.values():
        ok = [r for r in rs if not r.get("problems") and "rate" in r]
        best = dict(max(ok, key=lambda r: r["rate"]) if ok else rs[0])
        best["round_rates"] = [r.get("rate") for r in rs]
        out.append(best)
    return out


def run_plan(measurements, work, templates, quick, dotnet_exe, raw_path, env):
    results = []
    n = len(measurements)
    started = time.time()
    with open(raw_path, "a") as raw:
        for i, m in enumerate(measurements, 1):
            rnd = f"round {m['round']}: " if m.get("round", 1) > 1 or any(x.get("round", 1) > 1 for x in measurements) else ""
            print(f"[{i:3}/{n}] {rnd}{label(m)} ...", end="", flush=True)
            r = run_one(m, work, templates, quick, dotnet_exe, env)
            raw.write(json.dumps(r) + "\n")
            raw.flush()
            results.append(r)
            if r.get("problems"):
                print(f" FAILED ({'; '.join(r['problems'])})")
                if r.get("stderr"):
                    print("      " + r["stderr"].strip().replace("\n", "\n      ")[-800:])
            else:
                busy = f", {int(r['busy'])} BUSY" if r.get("busy") else ""
                print(f" {fmt_rate(r.get('rate'))}/s, p99 {fmt_us(r.get('p99_us'))}{busy} ({r['wall']:.1f} s; {time.time() - started:.0f} s so far)")
    return results


# ----------------------------------------------------------------------------------------------
# SVG charts (hand-written)


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def log_ticks(lo, hi):
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo * 0.999 <= v <= hi * 1.001:
                ticks.append(v)
        e += 1
    return ticks


def svg_frame(w, h, title, subtitle=""):
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
            f'<rect width="{w}" height="{h}" fill="white"/>',
            f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{esc(title)}</text>',
            f'<text x="{w / 2}" y="40" text-anchor="middle" fill="#555">{esc(subtitle)}</text>']


def line_chart(path, title, subtitle, xs, series, ylabel, hlines=()):
    """series: list of (key, label, [y or None per x]); y on a log scale; x categorical."""
    w, h = 860, 470
    left, right, top, bottom = 80, 300, 60, 60
    vals = [v for _, _, ys in series for v in ys if v] + [v for _, _, v in hlines if v]
    if not vals:
        return False
    lo, hi = min(vals), max(vals)
    lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
    pw, ph = w - left - right, h - top - bottom

    def X(i):
        return left + (pw * (i + 0.5) / len(xs))

    def Y(v):
        return top + ph - ph * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    s = svg_frame(w, h, title, subtitle)
    for t in log_ticks(lo, hi):
        y = Y(t)
        s.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        s.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt_rate(t)}</text>')
    s.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for i, x in enumerate(xs):
        s.append(f'<text x="{X(i):.1f}" y="{top + ph + 18}" text-anchor="middle">{esc(x)}</text>')
    s.append(f'<text x="{left + pw / 2}" y="{h - 18}" text-anchor="middle" fill="#333">producers</text>')
    s.append(f'<text transform="translate(18,{top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">{esc(ylabel)} (log scale)</text>')
    ly = top + 4
    for key, lab, v in hlines:
        if not v:
            continue
        y = Y(v)
        s.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="{COLORS.get(key, "#000")}" stroke-dasharray="6,4" stroke-width="1.5"/>')
        s.append(f'<line x1="{left + pw + 14}" x2="{left + pw + 38}" y1="{ly + 6}" y2="{ly + 6}" stroke="{COLORS.get(key, "#000")}" stroke-dasharray="6,4" stroke-width="1.5"/>')
        s.append(f'<text x="{left + pw + 44}" y="{ly + 10}">{esc(lab)} ({fmt_rate(v)}/s)</text>')
        ly += 20
    for key, lab, ys in series:
        col = COLORS.get(key, "#333")
        pts = [(X(i), Y(v)) for i, v in enumerate(ys) if v]
        if not pts:
            continue
        width = 3 if key.startswith(("singlewriter", "dotnet-singlewriter")) else 1.8
        if len(pts) > 1:
            s.append(f'<polyline fill="none" stroke="{col}" stroke-width="{width}" points="' + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
        for a, b in pts:
            s.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="4" fill="{col}"/>')
        s.append(f'<line x1="{left + pw + 14}" x2="{left + pw + 38}" y1="{ly + 6}" y2="{ly + 6}" stroke="{col}" stroke-width="{width}"/>')
        s.append(f'<text x="{left + pw + 44}" y="{ly + 10}">{esc(lab)}</text>')
        ly += 20
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s))
    return True


def bar_chart(path, title, subtitle, rows, groups, unit, log=True, fmt=fmt_rate):
    """Horizontal grouped bars. rows: [(key, label, [value per group])]; groups: [(label, colour)]."""
    rows = [r for r in rows if any(v for v in r[2])]
    if not rows:
        return False
    bar, gap = 14, 12
    left, right, top = 260, 90, 70
    w = 900
    h = top + len(rows) * (len(groups) * bar + gap) + 50
    vals = [v for _, _, vs in rows for v in vs if v]
    lo, hi = min(vals), max(vals)
    if log:
        lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
    else:
        lo, hi = 0, hi * 1.1
    pw = w - left - right

    def L(v):
        if log:
            return pw * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return pw * v / hi

    s = svg_frame(w, h, title, subtitle)
    ticks = log_ticks(lo, hi) if log else [hi / 1.1 * i / 4 for i in range(5)]
    for t in ticks:
        x = left + L(t) if (t > 0 or not log) else left
        s.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{h - 40}" stroke="#e5e5e5"/>')
        s.append(f'<text x="{x:.1f}" y="{h - 26}" text-anchor="middle">{fmt(t)}</text>')
    s.append(f'<text x="{left + pw / 2}" y="{h - 8}" text-anchor="middle" fill="#333">{esc(unit)}{" (log scale)" if log else ""}</text>')
    lx = left
    for g, col in groups:
        s.append(f'<rect x="{lx}" y="{top - 22}" width="12" height="12" fill="{col}"/><text x="{lx + 16}" y="{top - 12}">{esc(g)}</text>')
        lx += 30 + 7 * len(g)
    y = top
    for key, lab, vs in rows:
        s.append(f'<text x="{left - 8}" y="{y + len(groups) * bar / 2 + 4}" text-anchor="end" font-weight="{"bold" if "singlewriter" in key else "normal"}">{esc(lab)}</text>')
        for (g, col), v in zip(groups, vs):
            if v:
                s.append(f'<rect x="{left}" y="{y}" width="{max(L(v), 1):.1f}" height="{bar - 2}" fill="{col}"/>')
                s.append(f'<text x="{left + max(L(v), 1) + 4:.1f}" y="{y + bar - 4}" font-size="11">{fmt(v)}</text>')
            y += bar
        y += gap
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s))
    return True


# ----------------------------------------------------------------------------------------------
# Tables


def pick(results, **k):
    for r in results:
        if all(r.get(a) == b for a, b in k.items()) and "rate" in r and not r.get("problems"):
            return r
    return None


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def wpt(r):
    if r is None:
        return "—"
    if r.get("writes_per_txn") is not None:
        return f"{r['writes_per_txn']:.1f}" if r["writes_per_txn"] < 1e4 else f"{r['writes_per_txn']:,.0f}"
    return r.get("txn_note") or "—"


def hit_rate(r):
    """The cache hit rate of a result that counted its cache's hits and misses (mixref), or ""."""
    h, m = r.get("cache_hits"), r.get("cache_misses")
    return f" ({100 * h / (h + m):.1f} % cache hits)" if h is not None and m is not None and h + m > 0 else ""


def ratio(a, b):
    if not a or not b or not b.get("rate") or not a.get("rate"):
        return "—"
    x = a["rate"] / b["rate"]
    return f"{x:.2f}×" if x < 100 else f"{x:.0f}×"


def report(results, out_dir, quick, machine, go_md, charts):
    L = []
    pr = [r for r in results if r.get("problems")]
    L.append("# Peer benchmark results\n")
    L.append(f"Command: `bash benches/run.sh{' --quick' if quick else ''}`; {machine['date']}; singlewriter at commit {machine['commit']}.\n")
    L.append("## Machine\n")
    for k in ("cpu", "cores", "memory", "kernel", "disk", "rustc", "go", "mono", "load_before", "load_after"):
        if machine.get(k):
            L.append(f"- {k.replace('_', ' ')}: {machine[k]}")
    if machine.get("busy_before"):
        L.append("- what else was running at the start (top CPU users):\n\n```\n" + machine["busy_before"] + "\n```")
    if machine.get("busy_after"):
        L.append("- and at the end:\n\n```\n" + machine["busy_after"] + "\n```")
    rounds = machine.get("rounds", 1)
    if rounds > 1:
        L.append(f"\nThe Rust contenders' measurements ran in {rounds} interleaved rounds (all of round 1, then all of round 2; W5 once); the tables show each point's best round, and `raw/measurements.jsonl` has every round.")
    L.append("\nThe machine is shared with other sessions (builds, tests): treat single numbers as noisy, compare within a row. Every measurement is one process on a fresh database file (WAL; `synchronous` as given), after a warm-up; throughput counts acknowledgements inside the measured window; latency is submit-to-acknowledgement as the caller sees it. Errors count the whole run.\n")
    if pr:
        L.append("## Measurements that failed\n")
        for r in pr:
            L.append(f"- {label(r)}: {'; '.join(r['problems'])}")
        L.append("")

    # Contenders and SQLite versions
    L.append("## Contenders\n")
    seen = {}
    for r in results:
        if r.get("library") and r["contender"] not in seen:
            seen[r["contender"]] = r
    L.append(md_table(["contender", "library", "SQLite", "set-up"],
                      [[name(c), r.get("library", ""), r.get("sqlite_version", ""), r.get("note", "")] for c, r in seen.items()]))
    L.append("")

    # W1
    w1 = [r for r in results if r["workload"] == "w1"]
    ps = sorted({r["producers"] for r in w1 if r["contender"] != "bulk"})
    for sync in ("NORMAL", "FULL"):
        rs = [r for r in w1 if r["sync"] == sync]
        # Only the bulk transaction (a W2-only run, for W2's ratios): no W1 table.
        if not any(r["contender"] != "bulk" for r in rs):
            continue
        bulk = pick(rs, contender="bulk")
        L.append(f"## W1 blocking writes, synchronous={sync}\n")
        L.append(f"Each producer inserts one row (`INSERT INTO t(a, b) VALUES (?1, ?2)`) and waits for its acknowledgement. Writes/s{'; the bulk transaction, the physical limit, reached ' + fmt_rate(bulk['rate']) + ' rows/s' if bulk else ''}.\n")
        order = [c for c in ("singlewriter-c", "singlewriter-rust", "raw", "naive", "mutex") + ASYNC_PEERS + ("groupref", "dotnet-singlewriter", "dotnet-monosqlite") if any(r["contender"] == c for r in rs)]
        rows = []
        for c in order:
            row = [name(c)]
            for p in ps:
                r = pick(rs, contender=c, producers=p)
                row.append(f"{fmt_rate(r['rate'])} ({fmt_us(r.get('p50_us'))} / {fmt_us(r.get('p99_us'))})" if r else "—")
            rows.append(row)
        L.append(md_table(["writes/s (p50 / p99 latency)"] + [f"P={p}" for p in ps], rows))
        L.append("")
        rows = []
        for c in order:
            row = [name(c)]
            for p in ps:
                r = pick(rs, contender=c, producers=p)
                row.append(f"{wpt(r)}; {int(r.get('busy', 0))}" if r else "—")
            rows.append(row)
        L.append(md_table(["writes per transaction; SQLITE_BUSY seen"] + [f"P={p}" for p in ps], rows))
        L.append("")
        if charts.get(f"w1_{sync}"):
            L.append(f"![W1 {sync}](charts/{charts[f'w1_{sync}']})\n")

    # W2
    w2 = [r for r in results if r["workload"] == "w2"]
    if w2:
        ps2 = sorted({r["producers"] for r in w2})
        for sync in ("NORMAL", "FULL"):
            rs = [r for r in w2 if r["sync"] == sync]
            if not rs:
                continue
            bulk = pick(results, workload="w1", contender="bulk", sync=sync)
            L.append(f"## W2 pipelined writes, synchronous={sync}\n")
            L.append(f"Each producer keeps up to 256 inserts in flight (singlewriter: enqueue + completion callback; async peers: 256 futures in a `FuturesUnordered`{'; the pipelined group-commit reference, the ceiling without a library: a channel to one writer thread that commits everything queued in one transaction, then acknowledges through the same callback as singlewriter' if any(r['contender'] == 'piperef' for r in rs) else ''}). Rows/s; in brackets p50 / p99 submit-to-ack latency and writes per transaction. The bulk transaction: {fmt_rate(bulk['rate']) + ' rows/s' if bulk else 'not run'}.\n")
            rows = []
            for c in SW + ASYNC_PEERS + ("piperef",):
                if c == "piperef" and not any(r["contender"] == c for r in rs):
                    continue
                row = [name(c)]
                for p in ps2:
                    r = pick(rs, contender=c, producers=p)
                    row.append(f"{fmt_rate(r['rate'])} ({fmt_us(r.get('p50_us'))} / {fmt_us(r.get('p99_us'))}; {wpt(r)}); {ratio(r, bulk)} of bulk" if r else "—")
                rows.append(row)
            L.append(md_table(["rows/s"] + [f"P={p}" for p in ps2], rows))
            L.append("")
            if charts.get(f"w2_{sync}"):
                L.append(f"![W2 {sync}](charts/{charts[f'w2_{sync}']})\n")

    # W3
    w3 = [r for r in results if r["workload"] == "w3"]
    if w3:
        L.append("## W3 point reads by primary key (10,000 rows)\n")
        L.append("`SELECT a, b FROM t WHERE id = ?1`, uniform keys. Uncached: every read runs the query (singlewriter: `query`). Cached hit: singlewriter's `read` with a cache key, over 512 warm keys (one key: every thread reads the same key); the reference row is an application-level `RwLock<HashMap>`. Reads/s (p50 / p99).\n")
        rows = []
        order = [c for c in ("singlewriter-c", "singlewriter-rust", "raw", "naive", "mutex") + ASYNC_PEERS + ("appcache", "dotnet-singlewriter", "dotnet-monosqlite") if any(r["contender"] == c for r in w3)]
        for c in order:
            row = [name(c)]
            for mode in ("uncached", "hit", "hitone"):
                for t in (1, 2):
                    r = pick(w3, contender=c, producers=t, mode=mode)
                    row.append(f"{fmt_rate(r['rate'])} ({fmt_us(r.get('p50_us'))} / {fmt_us(r.get('p99_us'))})" if r else "—")
                r1, r2 = pick(w3, contender=c, producers=1, mode=mode), pick(w3, contender=c, producers=2, mode=mode)
                row.append(ratio(r2, r1))
            rows.append(row)
        L.append(md_table(["reads/s", "uncached, 1 thread", "uncached, 2 threads", "2 ÷ 1", "cached hit, 1 thread", "cached hit, 2 threads", "2 ÷ 1", "hit on one key, 1 thread", "one key, 2 threads", "2 ÷ 1"], rows))
        L.append("")
        if charts.get("w3"):
            L.append(f"![W3](charts/{charts['w3']})\n")

    # W4
    w4 = [r for r in results if r["workload"] == "w4"]
    if w4:
        L.append("## W4 the application mix: 4 threads, 90 % point reads, 5 % inserts, 5 % updates\n")
        ref = (" The cached-mix reference is the ceiling without a library: an application `RwLock<HashMap>` row cache, a read connection per thread on a miss, writes in autocommit on one `Mutex<Connection>` that invalidate exactly the key written (its cache hit rate inside the window in brackets)."
               if any(r["contender"] == "mixref" for r in w4) else "")
        L.append(f"Keys Zipf(0.99) over 10,000 rows (and uniform, NORMAL). singlewriter twice: reads through its cache (`read`, key per row) and uncached (`query`).{ref} ops/s; read and write p50 / p99.\n")
        for sync, keys in (("NORMAL", "zipf"), ("FULL", "zipf"), ("NORMAL", "uniform")):
            rs = [r for r in w4 if r["sync"] == sync and r["keys"] == keys]
            if not rs:
                continue
            L.append(f"### synchronous={sync}, {keys} keys\n")
            rows = []
            for r in sorted(rs, key=lambda r: -r.get("rate", 0)):
                if r.get("problems"):
                    continue
                lab = name(r["contender"]) + (f", {r['mode']} reads" if r["contender"] in SW or r["contender"] == "dotnet-singlewriter" else "") + hit_rate(r)
                rows.append([lab, fmt_rate(r["rate"]), f"{fmt_us(r.get('read_p50_us'))} / {fmt_us(r.get('read_p99_us'))}",
                             f"{fmt_us(r.get('write_p50_us'))} / {fmt_us(r.get('write_p99_us'))}", wpt(r), int(r.get("busy", 0))])
            L.append(md_table(["contender", "ops/s", "read p50 / p99", "write p50 / p99", "writes per txn", "SQLITE_BUSY"], rows))
            L.append("")
        if charts.get("w4"):
            L.append(f"![W4](charts/{charts['w4']})\n")

    # W5
    w5 = [r for r in results if r["workload"] == "w5"]
    if w5:
        L.append("## W5 overload: producers faster than the disk (synchronous=FULL)\n")
        L.append("Non-blocking contenders: 16 producers submit without waiting (singlewriter: enqueue; async peers: a spawned task per write), for the whole window; the harness stops a producer only at 1,000,000 writes in flight (200,000 in --quick), which only a contender without a bound of its own reaches. Blocking contenders: 64 threads. Writes/s acknowledged inside the window, p99 latency of those, peak RSS of the process, the most writes in flight, the library's own bound, the backlog when the window closed and how long it took to drain (given up after 10 s).\n")
        rows = []
        for r in w5:
            if "rate" not in r:
                continue
            bound = r.get("queue_bound")
            mq = r.get("max_queued")
            if bound:
                holds = f"{int(mq):,} ≤ {int(bound):,}: {'holds' if mq is not None and mq <= bound else 'BROKEN'}"
            elif r.get("cap_reached"):
                holds = "none (harness cap reached)"
            elif r["contender"] in ("naive", "mutex"):
                holds = "threads (blocking)"
            else:
                holds = "none"
            inflight = r.get("max_in_flight")
            drained = (f"{r['drain_secs']:.1f} s" if r.get("drained") else f"not within {r['drain_secs']:.0f} s") if r.get("drain_secs") is not None else "—"
            rows.append([name(r["contender"]), r["producers"], fmt_rate(r["rate"]), fmt_us(r.get("p99_us")),
                         f"{r.get('peak_rss_kb', 0) / 1024:.0f} MiB", f"{int(inflight):,}" if inflight is not None else f"≤ {r['producers']}",
                         holds, wpt(r), f"{int(r.get('backlog_at_end', 0)):,}" if r.get("backlog_at_end") is not None else "—", drained,
                         f"{int(r.get('queue_full', 0))} / {int(r.get('timeouts', 0))} / {int(r.get('busy', 0))}"])
        L.append(md_table(["contender", "producers", "writes/s", "p99", "peak RSS", "max in flight", "queue bound (max seen ≤ bound)", "writes per txn", "backlog at end", "drained in", "QUEUE_FULL / TIMEOUT / BUSY"], rows))
        L.append("")
        if charts.get("w5"):
            L.append(f"![W5](charts/{charts['w5']})\n")

    # Ratios
    L.append("## Ratios: singlewriter ÷ each peer, same run\n")
    L.append("Throughput of singlewriter (C ABI / Rust API) divided by the peer's, per workload point; > 1 means singlewriter is faster.\n")
    peers = [c for c in ("raw", "naive", "mutex") + ASYNC_PEERS + ("bulk",)]
    rows = []
    points = []
    for r in results:
        if r["contender"] in SW and "rate" in r and not r.get("problems") and r["workload"] in ("w1", "w2", "w3", "w4"):
            key = (r["workload"], r["sync"], r["producers"], r["mode"], r["keys"])
            if key not in points:
                points.append(key)
    for (wl, sync, p, mode, keys) in points:
        for sw in SW:
            a = pick(results, workload=wl, sync=sync, producers=p, mode=mode, keys=keys, contender=sw)
            if not a:
                continue
            row = [f"{wl.upper()} {sync} {'threads' if wl in ('w3', 'w4') else 'P'}={p}" + (f" {mode}" if wl in ("w3", "w4") else "") + (f" {keys}" if wl == "w4" else ""), name(sw), fmt_rate(a["rate"])]
            for peer in peers:
                if peer == "bulk":
                    b = pick(results, workload="w1", sync=sync, contender="bulk") if wl in ("w1", "w2") else None
                else:
                    pm = "uncached" if wl == "w4" or (wl == "w3" and mode == "uncached") else mode
                    b = pick(results, workload=wl, sync=sync, producers=p, mode=pm, keys=keys, contender=peer) if not (wl == "w3" and mode in ("hit", "hitone")) else None
                row.append(ratio(a, b))
            rows.append(row)
    L.append(md_table(["point", "singlewriter", "its rate"] + [name(p).split(":")[0].split(" (")[0] for p in peers], rows))
    L.append("")
    if go_md:
        L.append(go_md)
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def summary(results, out_dir, quick, machine, go_rows, charts):
    """summary.md: the README-ready section (headline tables, charts linked from the repository root)."""
    rel = os.path.relpath(out_dir, ROOT)
    L = [f"### singlewriter against the peers ({machine['date']})\n",
         f"`bash benches/run.sh{' --quick' if quick else ''}` at commit {machine['commit']}; {machine.get('cores')} vCPUs ({machine.get('cpu')}), {machine.get('memory')} RAM, Linux {machine.get('kernel')}; " +
         (f"best of {machine.get('rounds')} interleaved rounds per Rust point; " if machine.get("rounds", 1) > 1 else "") +
         f"a shared machine (load before: {machine.get('load_before', '').split('load average:')[-1].strip()}; after: {machine.get('load_after', '').split('load average:')[-1].strip()}). "
         f"Full tables, latencies, SQLite versions and raw data: [`{rel}/README.md`]({rel}/README.md). Every number below comes from this one run.\n"]

    def rate(**k):
        r = pick(results, **k)
        return r["rate"] if r else None

    peers_w1 = ("naive", "mutex") + ASYNC_PEERS
    for sync in ("NORMAL", "FULL"):
        ps = sorted({r["producers"] for r in results if r["workload"] == "w1" and r["sync"] == sync and r["contender"] != "bulk"})
        if not ps:
            continue
        rows = []
        for c in ("singlewriter-c", "singlewriter-rust", "raw") + peers_w1:
            vals = [rate(workload="w1", sync=sync, producers=p, contender=c) for p in ps]
            if any(vals):
                rows.append([name(c)] + [fmt_rate(v) if v else "—" for v in vals])
        best = []
        for p in ps:
            sw = rate(workload="w1", sync=sync, producers=p, contender="singlewriter-c")
            pr = [(rate(workload="w1", sync=sync, producers=p, contender=c) or 0, c) for c in peers_w1 + ("raw",)]
            v, c = max(pr)
            best.append(f"{sw / v:.2f}× ({short(c)})" if sw and v else "—")
        rows.append(["**singlewriter (C ABI) ÷ best peer**"] + best)
        refs = [rate(workload="w1", sync=sync, producers=p, contender="groupref") for p in ps]
        if any(refs):
            rows.append([name("groupref")] + [fmt_rate(v) if v else "—" for v in refs])
            rows.append(["singlewriter (C ABI) ÷ that ceiling"] + [
                f"{sw / v:.2f}×" if (sw := rate(workload="w1", sync=sync, producers=p, contender="singlewriter-c")) and v else "—"
                for p, v in zip(ps, refs)])
        L.append(f"**W1 blocking writes, synchronous={sync}** (writes/s; each producer waits for its acknowledgement)\n")
        L.append(md_table(["contender"] + [f"{p} producer{'s' if p > 1 else ''}" for p in ps], rows))
        L.append("")
        key = f"w1_{sync}"
        if charts.get(key):
            L.append(f"![W1 {sync}]({rel}/charts/{charts[key]})\n")
    ps2 = sorted({r["producers"] for r in results if r["workload"] == "w2" and r["sync"] == "NORMAL"})
    if ps2:
        bulk = rate(workload="w1", sync="NORMAL", contender="bulk")
        rows = []
        for c in SW + ASYNC_PEERS:
            vals = [rate(workload="w2", sync="NORMAL", producers=p, contender=c) for p in ps2]
            rows.append([name(c)] + [f"{fmt_rate(v)} ({v / bulk:.2f}× bulk)" if v and bulk else fmt_rate(v) for v in vals])
        refs = [rate(workload="w2", sync="NORMAL", producers=p, contender="piperef") for p in ps2]
        if any(refs):
            rows.append([name("piperef")] + [f"{fmt_rate(v)} ({v / bulk:.2f}× bulk)" if v and bulk else fmt_rate(v) for v in refs])
            rows.append(["singlewriter (C ABI) ÷ that ceiling"] + [
                f"{sw / v:.2f}×" if (sw := rate(workload="w2", sync="NORMAL", producers=p, contender="singlewriter-c")) and v else "—"
                for p, v in zip(ps2, refs)])
        L.append(f"**W2 pipelined writes, NORMAL** (rows/s with 256 in flight per producer; one bulk transaction: {fmt_rate(bulk)} rows/s)\n")
        L.append(md_table(["contender"] + [f"{p} producers" for p in ps2], rows))
        L.append("")
    if any(r["workload"] == "w3" for r in results):
        rows = []
        for c in ("singlewriter-c", "singlewriter-rust", "raw", "naive", "mutex") + ASYNC_PEERS + ("appcache",):
            vals = [rate(workload="w3", producers=t, mode=m, contender=c) for m in ("uncached", "hit", "hitone") for t in (1, 2)]
            if any(vals):
                rows.append([name(c)] + [fmt_rate(v) if v else "—" for v in vals])
        L.append("**W3 point reads by primary key** (reads/s, 10,000 rows)\n")
        L.append(md_table(["contender", "uncached, 1 thread", "uncached, 2 threads", "cache hit, 1 thread", "cache hit, 2 threads", "hit on one key, 1 thread", "one key, 2 threads"], rows))
        L.append("")
        if charts.get("w3"):
            L.append(f"![W3]({rel}/charts/{charts['w3']})\n")
    if any(r["workload"] == "w4" for r in results):
        rows = []
        for c, m in [(c, m) for c in SW for m in ("cached", "uncached")] + [(c, "uncached") for c in ("naive", "mutex") + ASYNC_PEERS]:
            vals = []
            for sync in ("NORMAL", "FULL"):
                r = pick(results, workload="w4", sync=sync, keys="zipf", contender=c, mode=m)
                vals.append(f"{fmt_rate(r['rate'])} (write p50 {fmt_us(r.get('write_p50_us'))})" if r else "—")
            lab = name(c) + (f", {m} reads" if c in SW else "")
            rows.append([lab] + vals)
        refs = [pick(results, workload="w4", sync=sync, keys="zipf", contender="mixref") for sync in ("NORMAL", "FULL")]
        if any(refs):
            rows.append([name("mixref")] + [f"{fmt_rate(r['rate'])} (write p50 {fmt_us(r.get('write_p50_us'))}){hit_rate(r)}" if r else "—" for r in refs])
            rows.append(["that ceiling ÷ naive"] + [
                ratio(r, pick(results, workload="w4", sync=sync, keys="zipf", contender="naive")) for r, sync in zip(refs, ("NORMAL", "FULL"))])
            rows.append(["singlewriter (C ABI), cached reads ÷ that ceiling"] + [
                ratio(pick(results, workload="w4", sync=sync, keys="zipf", contender="singlewriter-c", mode="cached"), r) for r, sync in zip(refs, ("NORMAL", "FULL"))])
        L.append("**W4 the mix: 4 threads, 90 % point reads (Zipf), 10 % inserts/updates** (ops/s)\n")
        L.append(md_table(["contender", "NORMAL", "FULL"], rows))
        L.append("")
        if charts.get("w4"):
            L.append(f"![W4]({rel}/charts/{charts['w4']})\n")
    w5 = [r for r in results if r["workload"] == "w5" and "rate" in r]
    if w5:
        rows = []
        for r in w5:
            bound = r.get("queue_bound")
            held = (f"bounded: ≤ {int(bound):,} queued ({'held' if (r.get('max_queued') or 0) <= bound else 'BROKEN'})" if bound else
                    ("none: harness cap of 1,000,000 reached" if r.get("cap_reached") else ("one write per thread" if r["contender"] in ("naive", "mutex") else f"none: {int(r.get('max_in_flight', 0)):,} in flight")))
            rows.append([name(r["contender"]), fmt_rate(r["rate"]), fmt_us(r.get("p99_us")), f"{r.get('peak_rss_kb', 0) / 1024:.0f} MiB", held])
        L.append("**W5 overload, FULL** (producers submit faster than the disk commits)\n")
        L.append(md_table(["contender", "writes/s", "p99", "peak RSS", "queue bound"], rows))
        L.append("")
        if charts.get("w5"):
            L.append(f"![W5]({rel}/charts/{charts['w5']})\n")
    if go_rows:
        L.append("**Go** (`benches/go`, medians of " + ("1" if quick else "3") + " runs; writes/s or ops/s)\n")
        pts = [("W1/sync=NORMAL/producers=1", "W1, 1 producer"), ("W1/sync=NORMAL/producers=16", "W1, 16 producers"), ("W1/sync=FULL/producers=16", "W1, 16 producers, FULL"),
               ("W2/sync=NORMAL/producers=16", "W2, 16 producers"), ("W3/mode=uncached/threads=2", "W3 uncached, 2 threads"), ("W4/sync=NORMAL", "W4 mix")]
        cs = ["singlewriter", "mattn-split", "mattn-multi", "modernc-split", "modernc-multi"]
        rows = []
        for key, lab in pts:
            row = [lab]
            for c in cs:
                u = go_rows.get(f"Benchmark{key}/contender={c}")
                unit = next((x for x in ("writes/s", "reads/s", "ops/s") if u and x in u), None)
                row.append(fmt_rate(med(u[unit])) if unit else "—")
            if any(x != "—" for x in row[1:]):
                rows.append(row)
        L.append(md_table(["point"] + cs, rows))
        L.append("")
    dn = [r for r in results if r["contender"].startswith("dotnet") and "rate" in r]
    if dn:
        rows = []
        for (wl, p, s_, m, lab) in [("w1", 1, "NORMAL", "uncached", "W1, 1 producer"), ("w1", 16, "NORMAL", "uncached", "W1, 16 producers"), ("w1", 16, "FULL", "uncached", "W1, 16 producers, FULL"),
                                    ("w3", 2, "NORMAL", "uncached", "W3 uncached, 2 threads"), ("w4", 4, "NORMAL", "uncached", "W4 mix (uncached reads)"), ("w4", 4, "NORMAL", "cached", "W4 mix (cached reads)")]:
            a_ = pick(dn, workload=wl, producers=p, sync=s_, mode=m, contender="dotnet-singlewriter")
            b_ = pick(dn, workload=wl, producers=p, sync=s_, mode="uncached", contender="dotnet-monosqlite")
            if a_ or b_:
                rows.append([lab, fmt_rate(a_ and a_["rate"]), fmt_rate(b_ and b_["rate"]), ratio(a_, b_)])
        L.append("**.NET under Mono** (singlewriter's binding vs the original package's design on Mono.Data.Sqlite)\n")
        L.append(md_table(["point", "singlewriter .NET", "Mono.Data.Sqlite design", "ratio"], rows))
        L.append("")
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def draw(results, charts_dir):
    charts = {}
    os.makedirs(charts_dir, exist_ok=True)
    for wl, title in (("w1", "W1 blocking writes"), ("w2", "W2 pipelined writes (256 in flight per producer)")):
        for sync in ("NORMAL", "FULL"):
            rs = [r for r in results if r["workload"] == wl and r["sync"] == sync and "rate" in r and not r.get("problems")]
            if not any(r["contender"] != "bulk" for r in rs):
                continue
            ps = sorted({r["producers"] for r in rs if r["contender"] != "bulk"})
            series = []
            for c in ("singlewriter-c", "singlewriter-rust", "raw", "naive", "mutex") + ASYNC_PEERS + ("groupref", "piperef"):
                ys = [(pick(rs, contender=c, producers=p) or {}).get("rate") for p in ps]
                if any(ys):
                    series.append((c, short(c), ys))
            bulk = pick(results, workload="w1", sync=sync, contender="bulk")
            fn = f"{wl}-{sync.lower()}-throughput.svg"
            if line_chart(os.path.join(charts_dir, fn), f"{title}, synchronous={sync}", "writes acknowledged per second vs producers (higher is better)",
                          [str(p) for p in ps], series, "writes/s", [("bulk", "bulk transaction", bulk and bulk["rate"])]):
                charts[f"{wl}_{sync}"] = fn
    w3 = [r for r in results if r["workload"] == "w3" and "rate" in r and not r.get("problems")]
    if w3:
        rows = []
        for c in ("singlewriter-c", "singlewriter-rust", "raw", "naive", "mutex") + ASYNC_PEERS + ("appcache",):
            vs = [(pick(w3, contender=c, producers=t, mode=m) or {}).get("rate") for m in ("uncached", "hit") for t in (1, 2)]
            rows.append((c, short(c), vs))
        if bar_chart(os.path.join(charts_dir, "w3-reads.svg"), "W3 point reads by primary key", "reads per second (higher is better)", rows,
                     [("uncached, 1 thread", "#9ecae1"), ("uncached, 2 threads", "#3182bd"), ("cached hit, 1 thread", "#fdae6b"), ("cached hit, 2 threads", "#e6550d")], "reads/s"):
            charts["w3"] = "w3-reads.svg"
    w4 = [r for r in results if r["workload"] == "w4" and "rate" in r and not r.get("problems") and r["keys"] == "zipf"]
    if w4:
        rows = []
        for c in SW:
            for m in ("cached", "uncached"):
                rows.append((c, f"{short(c)}, {m} reads", [(pick(w4, contender=c, sync=s, mode=m) or {}).get("rate") for s in ("NORMAL", "FULL")]))
        for c in ("naive", "mutex") + ASYNC_PEERS + ("mixref",):
            rows.append((c, short(c), [(pick(w4, contender=c, sync=s) or {}).get("rate") for s in ("NORMAL", "FULL")]))
        if bar_chart(os.path.join(charts_dir, "w4-mix.svg"), "W4 application mix: 4 threads, 90 % reads (Zipf), 10 % writes", "operations per second (higher is better)",
                     rows, [("NORMAL", "#3182bd"), ("FULL", "#e6550d")], "ops/s"):
            charts["w4"] = "w4-mix.svg"
        rows = []
        for r in sorted(w4, key=lambda r: r["contender"]):
            if r["sync"] != "NORMAL":
                continue
            lab = short(r["contender"]) + (f", {r['mode']} reads" if r["contender"] in SW else "")
            rows.append((r["contender"], lab, [r.get("read_p50_us"), r.get("read_p99_us"), r.get("write_p50_us"), r.get("write_p99_us")]))
        if bar_chart(os.path.join(charts_dir, "w4-latency.svg"), "W4 mix latency, synchronous=NORMAL, Zipf keys", "microseconds (lower is better)", rows,
                     [("read p50", "#9ecae1"), ("read p99", "#3182bd"), ("write p50", "#fdae6b"), ("write p99", "#e6550d")], "µs", fmt=fmt_us):
            charts["w4_latency"] = "w4-latency.svg"
    w1 = [r for r in results if r["workload"] == "w1" and r["producers"] == 16 and "rate" in r and not r.get("problems")]
    if w1:
        rows = []
        for c in ("singlewriter-c", "singlewriter-rust", "naive", "mutex") + ASYNC_PEERS:
            for s in ("NORMAL", "FULL"):
                r = pick(w1, contender=c, sync=s)
                if r:
                    rows.append((c, f"{short(c)}, {s}", [r.get("p50_us"), r.get("p99_us")]))
        if bar_chart(os.path.join(charts_dir, "w1-latency-16.svg"), "W1 submit-to-acknowledgement latency, 16 blocking producers", "microseconds (lower is better)", rows,
                     [("p50", "#3182bd"), ("p99", "#e6550d")], "µs", fmt=fmt_us):
            charts["w1_latency"] = "w1-latency-16.svg"
    w5 = [r for r in results if r["workload"] == "w5" and "rate" in r and not r.get("problems")]
    if w5:
        rows = [(r["contender"], short(r["contender"]), [r.get("rate")]) for r in w5]
        bar_chart(os.path.join(charts_dir, "w5-throughput.svg"), "W5 overload (FULL): writes acknowledged per second", "higher is better", rows, [("writes/s", "#3182bd")], "writes/s")
        rows = [(r["contender"], short(r["contender"]), [r.get("peak_rss_kb", 0) / 1024]) for r in w5]
        if bar_chart(os.path.join(charts_dir, "w5-memory.svg"), "W5 overload (FULL): peak resident memory", "MiB (lower is better)", rows, [("peak RSS", "#e6550d")], "MiB", fmt=lambda v: f"{v:.0f}"):
            charts["w5"] = "w5-memory.svg"
            charts["w5_throughput"] = "w5-throughput.svg"
    return charts


# ----------------------------------------------------------------------------------------------
# Go


def run_go(out_dir, quick, env):
    """go test -bench in benches/go; returns (ok, markdown)."""
    godir = os.path.join(ROOT, "benches", "go")
    bench_txt = os.path.join(out_dir, "go-bench.txt")
    count = "1" if quick else "3"
    benchtime = "100x" if quick else "0.3s"
    cmd = ["go", "test", "-run", "^$", "-bench", ".", "-count", count, "-benchtime", benchtime, "-timeout", "30m", "."]
    if quick:
        env = dict(env, SW_GO_QUICK="1")
    print(f"== Go: {' '.join(cmd)} (in benches/go)", flush=True)
    t0 = time.time()
    with open(bench_txt, "w") as f:
        p = subprocess.Popen(cmd, cwd=godir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in p.stdout:
            f.write(line)
            if line.startswith("Benchmark"):
                parts = line.split()
                print(f"   {parts[0]}  {' '.join(parts[2:4])}", flush=True)
            elif line.startswith(("FAIL", "panic", "---", "ok")) or "error" in line.lower():
                print("   " + line.rstrip(), flush=True)
        rc = p.wait()
    print(f"== Go done in {time.time() - t0:.0f} s (exit {rc})", flush=True)
    text = open(bench_txt).read()
    md = [go_header(count, benchtime)]
    rows = parse_go(text)
    if rows:
        md.append(go_tables(rows))
    bs = benchstat(bench_txt, out_dir, env)
    if bs:
        md.append(benchstat_md(bs, quick))
    ok = rc == 0 and bool(rows)
    return ok, "\n".join(md), rows


def go_header(count, benchtime):
    return ("## Go: the Go binding against mattn/go-sqlite3 and modernc.org/sqlite\n\n"
            "`go test -bench . -count " + count + " -benchtime " + benchtime + "` in `benches/go` (raw output: `go-bench.txt`). Contenders: `singlewriter` (the Go binding, `Exec`/`Enqueue`/`Query`; `singlewriter-cached` reads with `Read`), "
            "`mattn-split` and `modernc-split` (a `database/sql` writer pool with `SetMaxOpenConns(1)` and `_txlock=immediate`, plus a read-only reader pool of 4), "
            "`mattn-multi` and `modernc-multi` (one `database/sql` pool, many connections, `_busy_timeout=5000`). W2 for `database/sql` (no pipelined API): 256 goroutines per producer, each blocking in `ExecContext`. "
            "Units: `writes/s`, `reads/s`, `ops/s`, latencies in µs, `busy` = SQLITE_BUSY errors seen. mattn/go-sqlite3 v1.14.53, modernc.org/sqlite v1.62.0.\n")


def benchstat_md(bs, quick):
    return ("### benchstat\n\n`benchstat -col /contender go-bench.txt` (" + ("one run per benchmark: no confidence intervals in --quick" if quick else "3 runs per benchmark") +
            "); the first column is the base of the comparisons:\n\n```\n" + bs + "\n```\n")


GO_LINE = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def parse_go(text):
    """{(bench, params...): {unit: [values]}}"""
    out = {}
    for line in text.splitlines():
        m = GO_LINE.match(line)
        if not m:
            continue
        name_, rest = m.group(1), m.group(3).split()
        units = {}
        for v, u in zip(rest[0::2], rest[1::2]):
            try:
                units[u] = float(v)
            except ValueError:
                pass
        d = out.setdefault(name_, {})
        for u, v in units.items():
            d.setdefault(u, []).append(v)
    return out


def med(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def go_tables(rows):
    # Benchmark names: BenchmarkW1/sync=NORMAL/producers=4/contender=mattn-split
    groups = {}
    for n, units in rows.items():
        parts = n.split("/")
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        c = kv.pop("contender", "?")
        key = (parts[0].replace("Benchmark", ""),) + tuple(f"{k}={v}" for k, v in kv.items())
        groups.setdefault(key, {})[c] = units
    contenders = ["singlewriter", "singlewriter-cached", "mattn-split", "mattn-multi", "modernc-split", "modernc-multi"]
    out = []
    for wl in ("W1", "W2", "W3", "W4"):
        keys = [k for k in groups if k[0] == wl]
        if not keys:
            continue
        out.append(f"### Go {wl} (median of runs; in brackets p50 / p99 µs; ratio = singlewriter ÷ contender)\n")
        hdr = ["point"] + contenders
        tb = []
        for k in sorted(keys, key=lambda k: [int(x.split("=")[1]) if x.split("=")[1].isdigit() else x for x in k[1:]]):
            row = [" ".join(k[1:])]
            base = None
            cells = []
            for c in contenders:
                u = groups[k].get(c)
                if not u:
                    cells.append("—")
                    continue
                rate_unit = next((x for x in ("writes/s", "reads/s", "ops/s") if x in u), None)
                rate = med(u[rate_unit]) if rate_unit else None
                if c == "singlewriter":
                    base = rate
                elif c == "singlewriter-cached":
                    pass
                p50, p99 = med(u.get("p50-µs", [])), med(u.get("p99-µs", []))
                busy = med(u.get("busy", [])) or 0
                cell = f"{fmt_rate(rate)} ({fmt_us(p50)} / {fmt_us(p99)})"
                if busy:
                    cell += f", {busy:.0f} BUSY"
                if not c.startswith("singlewriter") and base and rate:
                    cell += f"; {base / rate:.2f}×"
                cells.append(cell)
            tb.append(row + cells)
        out.append(md_table(hdr, tb))
        out.append("")
    return "\n".join(out)


def benchstat(bench_txt, out_dir, env):
    gobin = subprocess.run(["go", "env", "GOPATH"], capture_output=True, text=True, env=env).stdout.strip()
    exe = shutil.which("benchstat") or os.path.join(gobin, "bin", "benchstat")
    if not os.path.exists(exe):
        print("   benchstat not installed; skipping its tables", flush=True)
        return ""
    p = subprocess.run([exe, "-col", "/contender", bench_txt], capture_output=True, text=True, env=env)
    txt = p.stdout.strip()
    with open(os.path.join(out_dir, "go-benchstat.txt"), "w") as f:
        f.write(txt + "\n")
    return txt


# ----------------------------------------------------------------------------------------------


def render(out_dir):
    """Rebuilds README.md and the charts from raw/measurements.jsonl, go-bench.txt and machine.json."""
    results = best_rounds([json.loads(line) for line in open(os.path.join(out_dir, "raw", "measurements.jsonl")) if line.strip()])
    mj = os.path.join(out_dir, "machine.json")
    if os.path.exists(mj):
        machine = json.load(open(mj))
    else:  # older folders: the Machine section of the README
        machine, text = {}, open(os.path.join(out_dir, "README.md")).read()
        m = re.search(r"Command: `([^`]*)`; ([^;]*); singlewriter at commit ([^.]*)\.", text)
        if m:
            machine.update(quick="--quick" in m.group(1), date=m.group(2), commit=m.group(3))
        for k, v in re.findall(r"^- ([a-z ]+): (.*)$", text, re.M):
            machine[k.replace(" ", "_")] = v
        blocks = re.findall(r"```\n(%CPU COMMAND.*?)\n```", text, re.S)
        if blocks:
            machine["busy_before"] = blocks[0]
        if len(blocks) > 1:
            machine["busy_after"] = blocks[1]
    quick = bool(machine.get("quick"))
    go_md = ""
    gb = os.path.join(out_dir, "go-bench.txt")
    if os.path.exists(gb):
        count = "1" if quick else "3"
        rows = parse_go(open(gb).read())
        go_md = go_header(count, machine.get("go_benchtime", "100x" if quick else "1s")) + "\n" + go_tables(rows)
        bs = os.path.join(out_dir, "go-benchstat.txt")
        if os.path.exists(bs):
            go_md += "\n" + benchstat_md(open(bs).read().strip(), quick)
    charts = draw(results, os.path.join(out_dir, "charts"))
    report(results, out_dir, quick, machine, go_md, charts)
    summary(results, out_dir, quick, machine, parse_go(open(gb).read()) if os.path.exists(gb) else {}, charts)
    print(f"rendered {out_dir}/README.md and {len(charts)} charts")


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""


def machine_info():
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": sh(f"git -C {ROOT} rev-parse --short HEAD") + (" (with uncommitted changes)" if sh(f"git -C {ROOT} status --porcelain -- src") else ""),
        "cpu": cpu, "cores": sh("nproc"), "memory": sh("free -h | awk '/Mem:/ {print $2}'"),
        "kernel": platform.release(), "disk": sh("df -h /tmp | tail -1 | awk '{print $1\" (\"$2\")\"}'") + ", databases in " + tempfile.gettempdir(),
        "rustc": sh("rustc --version"), "go": sh("go version"), "mono": sh("mono --version | head -1"),
        "load_before": sh("uptime"),
        "busy_before": sh("ps -eo pcpu,comm --sort=-pcpu | head -8"),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", default="rust,go,dotnet")
    ap.add_argument("--out", default=None)
    ap.add_argument("--workloads", default="w1,w2,w3,w4,w5", help="workloads of the Rust and .NET plans to run, e.g. w3,w4")
    ap.add_argument("--rounds", type=int, default=0, help="rounds of the Rust plan (default 2, quick 1); the best round is reported")
    ap.add_argument("--render", default=None, help="redraw README.md and charts of an existing results folder")
    ap.add_argument("--dotnet-exe", default=os.path.join(ROOT, "benches", "dotnet", "bin", "SingleWriter.PeerBench.exe"))
    a = ap.parse_args()
    if a.render:
        render(a.render)
        return
    quick = a.quick or a.smoke
    parts = set(a.only.split(","))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    out_dir = a.out or os.path.join(ROOT, "benches", "results", stamp + ("-quick" if quick else ""))
    os.makedirs(os.path.join(out_dir, "raw"), exist_ok=True)
    machine = machine_info()
    print(f"== results: {out_dir}\n== {machine['load_before']}", flush=True)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(ROOT, "target", "release") + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    work = tempfile.mkdtemp(prefix="sw-peers-")
    templates = {"empty": os.path.join(work, "empty.db"), "rows": os.path.join(work, "rows.db")}
    make_template(templates["empty"], 0)
    make_template(templates["rows"], ROWS)
    raw = os.path.join(out_dir, "raw", "measurements.jsonl")
    results = []
    failures = []
    t0 = time.time()
    try:
        if "rust" in parts:
            wls = set(a.workloads.split(","))
            # The bulk transaction (planned under W1) is also W2's reference: a W2-only run
            # measures it too.
            ms = rounds_of([m for m in plan(quick) if m["workload"] in wls
                            or (m["contender"] == "bulk" and "w2" in wls)], a.rounds or (1 if quick else 2))
            print(f"== Rust contenders: {len(ms)} measurements", flush=True)
            results += run_plan(ms, work, templates, quick, a.dotnet_exe, raw, env)
        if "dotnet" in parts:
            ms = [m for m in dotnet_plan(quick) if m["workload"] in set(a.workloads.split(","))]
            print(f"== .NET (Mono): {len(ms)} measurements", flush=True)
            results += run_plan(ms, work, templates, quick, a.dotnet_exe, raw, env)
        go_md, go_ok, go_rows = "", True, {}
        if "go" in parts:
            go_ok, go_md, go_rows = run_go(out_dir, quick, env)
            if not go_ok:
                failures.append("go: go test -bench failed or produced no benchmark (see go-bench.txt)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine["load_after"] = sh("uptime")
    machine["busy_after"] = sh("ps -eo pcpu,comm --sort=-pcpu | head -8")
    machine["go_benchtime"] = "100x" if quick else "0.3s"
    machine["rounds"] = a.rounds or (1 if quick else 2)
    with open(os.path.join(out_dir, "machine.json"), "w") as f:
        json.dump(dict(machine, quick=quick), f, indent=1)
    bad = [r for r in results if r.get("problems")]
    results = best_rounds(results)
    charts = draw(results, os.path.join(out_dir, "charts"))
    report(results, out_dir, quick, machine, go_md, charts)
    summary(results, out_dir, quick, machine, go_rows, charts)
    for r in bad:
        failures.append(f"{label(r)}: {'; '.join(r['problems'])}")
    print(f"\n== wrote {os.path.relpath(out_dir, ROOT)}/README.md and {len(charts)} charts in {time.time() - t0:.0f} s")
    print(f"== {machine['load_after']}")
    if failures:
        print("failures:\n  " + "\n  ".join(failures))
    if a.smoke:
        go_n = 1 if "go" in parts else 0
        passed = len(results) - len(bad) + (go_n if go_ok else 0)
        print(f"bench-smoke: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
