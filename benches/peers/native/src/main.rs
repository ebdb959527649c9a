//! Contenders that link singlewriter's own rusqlite (0.41, bundled SQLite): singlewriter through
//! its Rust API, raw rusqlite used four ways (autocommit on one connection, one connection per
//! thread with busy_timeout, one connection behind a mutex, one bulk transaction), a
//! `RwLock<HashMap>` application cache (reference for cache hits), async-sqlite (a writer
//! `Client` plus a read-only `Pool`), and three hand-written ceilings with no library: blocking
//! group commit (`groupref`, W1), pipelined group commit (`piperef`, W2) and the mix with an
//! application cache (`mixref`, W4). One measurement per process; see `harness`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use harness::aio::{self, AsyncOp, BoxFut};
use harness::{
    die, report, unsupported, Args, Clock, Extra, Fail, Held, Op, Outcome, Sampler, Tally, Ticket,
    COUNT, INSERT, POINT, TEXT, UPDATE,
};
use singlewriter::{params, Status, Writer};

#[path = "../../common/rusqlite_ops.rs"]
mod ops;

fn main() {
    let args = Args::parse();
    match args.contender.as_str() {
        "singlewriter-rust" => singlewriter_rust(&args),
        "raw" => raw(&args),
        "naive" => naive(&args),
        "mutex" => mutex(&args),
        "bulk" => bulk(&args),
        "groupref" => group_reference(&args),
        "piperef" => pipe_reference(&args),
        "mixref" => mix_reference(&args),
        "appcache" => appcache(&args),
        "async-sqlite" => async_sqlite(&args),
        other => die(&format!("unknown contender {other}")),
    }
}

fn rows_now(args: &Args) -> i64 {
    match ops::open(&args.db, "NORMAL", false) {
        Ok(c) => ops::count(&c),
        Err(e) => die(&e),
    }
}

fn rusqlite_extra(args: &Args, note: &str) -> Extra {
    Extra {
        sqlite_version: ops::sqlite_version(),
        library: "rusqlite 0.41.1".into(),
        txn_note: if args.workload == "w3" {
            String::new()
        } else {
            "1 (autocommit)".into()
        },
        note: note.into(),
        ..Extra::default()
    }
}

fn no_edge() -> impl FnMut() {
    || {}
}

// ---------------------------------------------------------------------------------------------
// raw rusqlite

/// One connection, one thread, autocommit: the single-threaded baseline.
fn raw(args: &Args) {
    if args.producers != 1 || !matches!(args.workload.as_str(), "w1" | "w3") {
        unsupported(
            args,
            "one connection on one thread: W1 and W3 with 1 producer",
        );
    }
    let mut x = rusqlite_extra(args, "one connection, one thread, prepared statement cache");
    x.rows_before = rows_now(args);
    let clock = Clock::default();
    let sync = args.sync.clone();
    let t = harness::threads(
        args,
        &clock,
        1,
        &|_| ops::open(&args.db, &sync, false).unwrap_or_else(|e| die(&e)),
        &|c, op| ops::run(c, op),
        &mut no_edge(),
        &mut no_edge(),
    );
    x.rows_after = rows_now(args);
    report(args, &clock, &t, &x);
}

/// N connections (one per thread), each with busy_timeout 5 s: the naive approach.
fn naive(args: &Args) {
    if args.workload == "w2" {
        unsupported(
            args,
            "blocking API: no writes in flight without a thread each",
        );
    }
    let mut x = rusqlite_extra(
        args,
        "a connection per thread, busy_timeout 5 s, autocommit",
    );
    x.rows_before = rows_now(args);
    let clock = Clock::default();
    let sync = args.sync.clone();
    let sampler = (args.workload == "w5").then(|| Sampler::start(None));
    let t = harness::threads(
        args,
        &clock,
        args.producers,
        &|_| ops::open(&args.db, &sync, false).unwrap_or_else(|e| die(&e)),
        &|c, op| ops::run(c, op),
        &mut no_edge(),
        &mut no_edge(),
    );
    if let Some(s) = sampler {
        x.rss_kb = Some(s.finish().0);
        x.note.push_str(&format!(
            "; blocking: at most {} writes in flight (one per thread)",
            args.producers
        ));
    }
    x.rows_after = rows_now(args);
    report(args, &clock, &t, &x);
}

/// One connection shared by every thread behind a `std::sync::Mutex`.
fn mutex(args: &Args) {
    if args.workload == "w2" {
        unsupported(
            args,
            "blocking API: no writes in flight without a thread each",
        );
    }
    let mut x = rusqlite_extra(args, "one connection behind a Mutex, autocommit");
    x.rows_before = rows_now(args);
    let conn = Mutex::new(ops::open(&args.db, &args.sync, false).unwrap_or_else(|e| die(&e)));
    let clock = Clock::default();
    let sampler = (args.workload == "w5").then(|| Sampler::start(None));
    let t = harness::threads(
        args,
        &clock,
        args.producers,
        &|_| (),
        &|_, op| match conn.lock() {
            Ok(c) => ops::run(&c, op),
            Err(_) => Err(Fail::Other("mutex poisoned".into())),
        },
        &mut no_edge(),
        &mut no_edge(),
    );
    if let Some(s) = sampler {
        x.rss_kb = Some(s.finish().0);
        x.note.push_str(&format!(
            "; blocking: at most {} writes in flight (one per thread)",
            args.producers
        ));
    }
    drop(conn);
    x.rows_after = rows_now(args);
    report(args, &clock, &t, &x);
}

/// The ceiling of blocking group commit on this machine: the least a leader/follower lane can
/// do (no library, no signals, no cache, no per-write failure isolation). A submitter queues its
/// write; if nobody leads it leads: takes every queued write, runs them in one
/// BEGIN IMMEDIATE … COMMIT on one connection, marks them done and unparks their threads, and
/// keeps leading while writes are queued; the others park until done. What singlewriter's lane
/// does, minus everything else — so on W1 it shows how far the hand-offs themselves (a parked
/// thread woken per write) allow group commit to go with this many producers and cores.
fn group_reference(args: &Args) {
    use std::sync::atomic::{AtomicU8, Ordering};
    if args.workload != "w1" {
        unsupported(args, "the group-commit reference is for W1");
    }
    struct Slot {
        a: i64,
        state: AtomicU8, // 0 queued, 1 done, 2 failed
        thread: std::thread::Thread,
    }
    #[derive(Default)]
    struct Lane {
        queue: Vec<Arc<Slot>>,
        leading: bool,
    }
    let mut x = rusqlite_extra(
        args,
        "reference: leader/follower group commit on one raw connection (no library)",
    );
    x.txn_note = String::new();
    x.rows_before = rows_now(args);
    let conn = Mutex::new(ops::open(&args.db, &args.sync, false).unwrap_or_else(|e| die(&e)));
    let lane = Mutex::new(Lane::default());
    let commits = std::sync::atomic::AtomicU64::new(0);
    let clock = Clock::default();
    let run_group = |group: &[Arc<Slot>]| {
        let c = conn.lock().unwrap();
        // BEGIN and COMMIT prepared once (rusqlite's statement cache), as singlewriter does.
        let step = |sql: &str| c.prepare_cached(sql).and_then(|mut s| s.execute([])).is_ok();
        let ok = step("BEGIN IMMEDIATE") && {
            let mut ok = true;
            if let Ok(mut stmt) = c.prepare_cached(INSERT) {
                for w in group {
                    ok &= stmt.execute(rusqlite::params![w.a, TEXT]).is_ok();
                }
            } else {
                ok = false;
            }
            ok && step("COMMIT")
        };
        if !ok {
            let _ = c.execute_batch("ROLLBACK");
        }
        commits.fetch_add(1, Ordering::Relaxed);
        ok
    };
    let submit = |a: i64| -> Outcome {
        let me = Arc::new(Slot {
            a,
            state: AtomicU8::new(0),
            thread: std::thread::current(),
        });
        let lead = {
            let mut l = lane.lock().unwrap();
            l.queue.push(me.clone());
            !std::mem::replace(&mut l.leading, true)
        };
        if lead {
            loop {
                let group = {
                    let mut l = lane.lock().unwrap();
                    if l.queue.is_empty() {
                        l.leading = false;
                        break;
                    }
                    std::mem::take(&mut l.queue)
                };
                let state = if run_group(&group) { 1 } else { 2 };
                for w in group {
                    w.state.store(state, Ordering::Release);
                    if !Arc::ptr_eq(&w, &me) {
                        w.thread.unpark();
                    }
                }
            }
        }
        loop {
            match me.state.load(Ordering::Acquire) {
                0 => std::thread::park(),
                1 => return Ok(()),
                _ => return Err(Fail::Other("group failed".into())),
            }
        }
    };
    let t = harness::threads(
        args,
        &clock,
        args.producers,
        &|_| (),
        &|_, op| match op {
            Op::Insert { a } => submit(a),
            _ => Err(Fail::Other("W1 inserts only".into())),
        },
        &mut no_edge(),
        &mut no_edge(),
    );
    x.rows_after = rows_now(args);
    let n = commits.load(Ordering::Relaxed);
    if n > 0 {
        x.writes_per_txn = Some(t.inserts_total as f64 / n as f64);
    }
    report(args, &clock, &t, &x);
}

/// The ceiling of pipelined group commit on this machine (W2): what a hand-written pipeline
/// reaches with no library (no signals, no cache, no queue bound of its own, no per-write
/// failure isolation). A producer sends its write as a 16-byte value (the parameter and the
/// harness's ticket: no allocation of its own; the channel allocates a block per 31 messages)
/// on an unbounded `std::sync::mpsc` channel (the windows bound it: ≤ 256 per producer) to ONE
/// writer thread, which takes everything queued, runs it as one BEGIN IMMEDIATE; INSERT × n;
/// COMMIT on one raw connection (all three prepared once), and only after COMMIT acknowledges
/// each write through the same `Ticket::complete` that singlewriter's completions call (latency
/// recorded, the producer's slot freed, the producer unparked only when it waits on its full
/// window). So it measures exactly what singlewriter's W2 measures, minus the library: how
/// close pipelining can come to one bulk transaction with this many producers and cores
/// (issue 11's target 5: ≥ 0.7× bulk).
fn pipe_reference(args: &Args) {
    if args.workload != "w2" {
        unsupported(args, "the pipelined group-commit reference is for W2");
    }
    struct Write {
        a: i64,
        ticket: Ticket,
    }
    let mut x = rusqlite_extra(
        args,
        "reference: producers → mpsc channel → one writer thread: BEGIN IMMEDIATE; INSERT × queued; COMMIT; then ack each (no library)",
    );
    x.txn_note = String::new();
    x.rows_before = rows_now(args);
    let conn = ops::open(&args.db, &args.sync, false).unwrap_or_else(|e| die(&e));
    let clock = Arc::new(Clock::default());
    let (tx, rx) = std::sync::mpsc::channel::<Write>();
    let (t, flow, commits, rows) = std::thread::scope(|s| {
        let wclock = clock.clone();
        let writer = s.spawn(move || {
            // (transactions, rows) committed while the window was open.
            let (mut commits, mut rows) = (0u64, 0u64);
            let prepare = |sql: &str| {
                conn.prepare(sql)
                    .unwrap_or_else(|e| die(&format!("prepare {sql}: {e}")))
            };
            let (mut begin, mut insert, mut commit) = (
                prepare("BEGIN IMMEDIATE"),
                prepare(INSERT),
                prepare("COMMIT"),
            );
            let mut group: Vec<Write> = Vec::with_capacity(args.producers * args.window);
            while let Ok(w) = rx.recv() {
                group.push(w);
                group.extend(rx.try_iter());
                let r: rusqlite::Result<()> = (|| {
                    begin.execute([])?;
                    for w in &group {
                        insert.execute(rusqlite::params![w.a, TEXT])?;
                    }
                    commit.execute([]).map(|_| ())
                })();
                let r = r.map_err(|e| {
                    let _ = conn.execute_batch("ROLLBACK");
                    ops::fail(e)
                });
                if wclock.in_window() {
                    commits += 1;
                    rows += group.len() as u64;
                }
                for w in group.drain(..) {
                    w.ticket.complete(r.clone());
                }
            }
            (commits, rows)
        });
        let submit = move |op: Op, ticket: Ticket| {
            let Op::Insert { a } = op else {
                ticket.refused(Fail::Other("inserts only".into()));
                return;
            };
            if let Err(std::sync::mpsc::SendError(w)) = tx.send(Write { a, ticket }) {
                w.ticket
                    .refused(Fail::Other("the writer thread is gone".into()));
            }
        };
        // The harness waits until every ticket came back; there is nothing to flush.
        let (t, flow) = harness::callbacks(
            args,
            &clock,
            args.producers,
            Some(args.window),
            &submit,
            &mut no_edge(),
            &mut no_edge(),
            &mut no_edge(),
        );
        drop(submit); // the last sender: the writer thread ends once the channel is empty
        let (commits, rows) = writer
            .join()
            .unwrap_or_else(|_| die("writer thread panicked"));
        (t, flow, commits, rows)
    });
    x.flow = Some(flow);
    if commits > 0 {
        x.writes_per_txn = Some(rows as f64 / commits as f64);
    }
    x.rows_after = rows_now(args);
    report(args, &clock, &t, &x);
}

/// The ceiling of the W4 mix with a cache and no library: the best hand-written design for 90 %
/// point reads and 10 % writes, with perfect per-key invalidation (issue 11's target 1: the mix
/// ≥ 1.5× naive, cache on). Reads look in an application cache (`RwLock<HashMap>` of what the
/// point read returns, cloned out: the row, or that there is none); on a miss they run the
/// point read on the thread's own connection (one per thread, like `naive`) and fill the cache.
/// Writes run in autocommit on one shared connection behind a `Mutex` (like `mutex`) and, after
/// they commit and while still holding that mutex, remove exactly the key written (an update's
/// id; an insert's new rowid, in case "no such row" was cached for it). Nothing else: no
/// signals, no bound on the cache (its working set is the 10,000 rows), no dependency tracking
/// beyond the key — the least any cache with correct invalidation has to do on this mix.
///
/// No stale row is ever served: a reader that missed, read the old row, and fills the cache
/// after a write's invalidation would leave the old row cached. Every key hashes to one of
/// 4,096 version counters kept inside the cache's lock; a writer bumps its key's counter in the
/// same write-locked section that removes the key; a reader notes the counter (under the read
/// lock of its lookup) before it queries, and fills the cache only if the counter is unchanged
/// (under the write lock). If its snapshot missed a commit, it noted the counter before that
/// commit's bump (the bump follows the commit, the query follows the note), so either the bump
/// came first and the fill is skipped, or the fill came first and the bump's removal deletes it.
fn mix_reference(args: &Args) {
    use rusqlite::OptionalExtension;
    use std::sync::atomic::{AtomicU64, Ordering};
    if args.workload != "w4" {
        unsupported(args, "the cached-mix reference is for W4");
    }
    const STRIPES: usize = 4096;
    type Row = Option<(i64, String)>;
    struct Cache {
        rows: HashMap<i64, Row>,
        versions: Vec<u64>,
    }
    impl Cache {
        fn version(&self, id: i64) -> u64 {
            self.versions[id as usize % STRIPES]
        }
    }
    /// A worker's own read connection and its hit/miss counts (window only), added to the
    /// totals when the worker ends.
    struct Reader<'a> {
        conn: rusqlite::Connection,
        hits: u64,
        misses: u64,
        totals: &'a (AtomicU64, AtomicU64),
    }
    impl Drop for Reader<'_> {
        fn drop(&mut self) {
            self.totals.0.fetch_add(self.hits, Ordering::Relaxed);
            self.totals.1.fetch_add(self.misses, Ordering::Relaxed);
        }
    }
    let mut x = rusqlite_extra(
        args,
        "reference: RwLock<HashMap> row cache + a read connection per thread; writes in autocommit on one Mutex<Connection>, invalidating the key written (no library)",
    );
    x.library = "rusqlite 0.41.1 + std RwLock<HashMap> (reference)".into();
    x.rows_before = rows_now(args);
    let writer = Mutex::new(ops::open(&args.db, &args.sync, false).unwrap_or_else(|e| die(&e)));
    let cache = RwLock::new(Cache {
        rows: HashMap::new(),
        versions: vec![0; STRIPES],
    });
    let totals = (AtomicU64::new(0), AtomicU64::new(0));
    let clock = Clock::default();
    let row_outcome = |id: i64, row: &Row| -> Outcome {
        match row {
            Some(v) => {
                std::hint::black_box(v);
                Ok(())
            }
            // What `ops::run` reports for a missing row (never happens in W4: keys 1..=10,000).
            None => Err(Fail::Other(format!("no row {id}"))),
        }
    };
    let invalidate = |id: i64| {
        let mut c = cache.write().unwrap();
        c.versions[id as usize % STRIPES] += 1;
        c.rows.remove(&id);
    };
    let t = harness::threads(
        args,
        &clock,
        args.producers,
        &|_| Reader {
            conn: ops::open(&args.db, &args.sync, false).unwrap_or_else(|e| die(&e)),
            hits: 0,
            misses: 0,
            totals: &totals,
        },
        &|r, op| match op {
            Op::Read { id } => {
                let noted = {
                    let c = cache.read().unwrap();
                    match c.rows.get(&id) {
                        Some(row) => {
                            let row = row.clone();
                            drop(c);
                            r.hits += clock.in_window() as u64;
                            return row_outcome(id, &row);
                        }
                        None => c.version(id),
                    }
                };
                r.misses += clock.in_window() as u64;
                let row: Row = r
                    .conn
                    .prepare_cached(POINT)
                    .and_then(|mut s| {
                        s.query_row([id], |v| Ok((v.get::<_, i64>(0)?, v.get::<_, String>(1)?)))
                            .optional()
                    })
                    .map_err(ops::fail)?;
                {
                    let mut c = cache.write().unwrap();
                    if c.version(id) == noted {
                        c.rows.insert(id, row.clone());
                    }
                }
                row_outcome(id, &row)
            }
            _ => {
                let c = writer
                    .lock()
                    .map_err(|_| Fail::Other("mutex poisoned".into()))?;
                let out = ops::run(&c, op);
                match op {
                    Op::Insert { .. } if out.is_ok() => invalidate(c.last_insert_rowid()),
                    Op::Update { id, .. } => invalidate(id),
                    _ => {}
                }
                out
            }
        },
        &mut no_edge(),
        &mut no_edge(),
    );
    drop(writer);
    x.cache_hits = Some(totals.0.load(Ordering::Relaxed));
    x.cache_misses = Some(totals.1.load(Ordering::Relaxed));
    x.rows_after = rows_now(args);
    report(args, &clock, &t, &x);
}

/// One transaction, one prepared statement, timed from BEGIN to the end of COMMIT: the
/// physical limit for inserts on this disk.
fn bulk(args: &Args) {
    if !matches!(args.workload.as_str(), "w1" | "w2") {
        unsupported(args, "the bulk line is for W1/W2");
    }
    let mut x = rusqlite_extra(
        args,
        "one thread, BEGIN; INSERT × n; COMMIT (timed including COMMIT)",
    );
    x.rows_before = rows_now(args);
    let mut c = ops::open(&args.db, &args.sync, false).unwrap_or_else(|e| die(&e));
    let clock = Clock::default();
    let dur = Duration::from_secs_f64(args.secs);
    let start = Instant::now();
    let mut n = 0u64;
    let r: rusqlite::Result<()> = (|| {
        let tx = c.transaction()?;
        {
            let mut s = tx.prepare_cached(INSERT)?;
            while start.elapsed() < dur {
                for _ in 0..256 {
                    s.execute(rusqlite::params![n as i64, TEXT])?;
                    n += 1;
                }
            }
        }
        tx.commit()
    })();
    let end = Instant::now();
    if let Err(e) = r {
        die(&format!("bulk insert: {e}"));
    }
    clock.set_window(start, end);
    drop(c);
    let t = Tally {
        writes: n,
        inserts_total: n,
        ..Tally::default()
    };
    x.writes_per_txn = Some(n as f64);
    x.txn_note.clear();
    x.rows_after = rows_now(args);
    report(args, &clock, &t, &x);
}

/// W3 reference: an application-level `RwLock<HashMap>` (get + clone), no SQLite at all.
fn appcache(args: &Args) {
    if args.workload != "w3" || !(args.mode == "hit" || args.mode == "hitone") {
        unsupported(args, "reference for W3 cache hits only");
    }
    let mut x = rusqlite_extra(
        args,
        "RwLock<HashMap<i64, (i64, String)>> filled from the table; get + clone",
    );
    x.library = "std RwLock<HashMap> (reference, no SQLite)".into();
    x.rows_before = rows_now(args);
    let c = ops::open(&args.db, "NORMAL", false).unwrap_or_else(|e| die(&e));
    let mut map = HashMap::new();
    {
        let mut s = c
            .prepare("SELECT id, a, b FROM t")
            .unwrap_or_else(|e| die(&e.to_string()));
        let rows = s
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    (r.get::<_, i64>(1)?, r.get::<_, String>(2)?),
                ))
            })
            .unwrap_or_else(|e| die(&e.to_string()));
        for row in rows.flatten() {
            map.insert(row.0, row.1);
        }
    }
    drop(c);
    let cache = RwLock::new(map);
    let clock = Clock::default();
    let t = harness::threads(
        args,
        &clock,
        args.producers,
        &|_| (),
        &|_, op| match op {
            Op::Read { id } => match cache.read().ok().and_then(|m| m.get(&id).cloned()) {
                Some(v) => {
                    std::hint::black_box(v);
                    Ok(())
                }
                None => Err(Fail::Other(format!("key {id} missing"))),
            },
            _ => Err(Fail::Other("reads only".into())),
        },
        &mut no_edge(),
        &mut no_edge(),
    );
    x.rows_after = rows_now(args);
    report(args, &clock, &t, &x);
}

// ---------------------------------------------------------------------------------------------
// singlewriter, Rust API

fn sw_fail(e: singlewriter::Error) -> Fail {
    let m = e.to_string();
    match e.status() {
        Status::Busy => Fail::Busy(m),
        Status::QueueFull => Fail::QueueFull(m),
        Status::Timeout => Fail::Timeout(m),
        _ => Fail::Other(m),
    }
}

fn sw_count(w: &Writer) -> i64 {
    w.query(COUNT, &[])
        .ok()
        .and_then(|r| r.get(0, 0).map(|v| v.as_i64()))
        .unwrap_or(-1)
}

/// singlewriter through its Rust API, default options except `Synchronous`.
fn singlewriter_rust(args: &Args) {
    let cs = format!(
        "Data Source={};Synchronous={}{}",
        args.db.display(),
        args.sync,
        // Extra options for ablations, e.g. SW_EXTRA=";Sample Rate=1000" (empty in the suite).
        std::env::var("SW_EXTRA").unwrap_or_default()
    );
    let w = Writer::open(&cs).unwrap_or_else(|e| die(&format!("Writer::open: {e}")));
    let version = w
        .query("SELECT sqlite_version()", &[])
        .ok()
        .and_then(|r| r.get(0, 0).map(|v| format!("{v:?}")))
        .unwrap_or_default();
    let mut x = Extra {
        sqlite_version: version
            .trim_start_matches("Text(\"")
            .trim_end_matches("\")")
            .to_string(),
        library: format!("singlewriter {} (Rust API)", singlewriter::VERSION),
        rows_before: sw_count(&w),
        note: "default options; Synchronous from the run".into(),
        ..Extra::default()
    };
    let clock = Arc::new(Clock::default());
    // The writer's and the cache's statistics at each edge of the window (the cache's hits
    // and misses are reported next to mixref's).
    let before = Mutex::new((None, None));
    let after = Mutex::new((None, None));
    let mut on_start = || *before.lock().unwrap() = (w.stats().ok(), w.cache_stats().ok());
    let mut on_end = || *after.lock().unwrap() = (w.stats().ok(), w.cache_stats().ok());
    let keys: Vec<String> = (0..=harness::ROWS).map(|id| format!("t:{id}")).collect();
    let cached = (args.workload == "w3" && (args.mode == "hit" || args.mode == "hitone"))
        || (args.workload == "w4" && args.mode == "cached");
    let blocking_op = |op: Op| -> Outcome {
        let r = match op {
            Op::Insert { a } => w.execute(INSERT, &params![a, TEXT]).map(|_| ()),
            Op::Update { id, a } => w.execute(UPDATE, &params![id, a]).map(|_| ()),
            Op::Read { id } if cached => w.read(&keys[id as usize], POINT, &params![id]).map(|r| {
                std::hint::black_box(r.get(0, 1).is_some());
            }),
            Op::Read { id } => w.query(POINT, &params![id]).map(|r| {
                std::hint::black_box(r.get(0, 1).is_some());
            }),
        };
        r.map_err(sw_fail)
    };
    let submit = |op: Op, ticket: Ticket| {
        let Op::Insert { a } = op else {
            ticket.refused(Fail::Other("inserts only".into()));
            return;
        };
        // The ticket moves into the completion; when enqueue refuses, the library drops the
        // closure unrun and `Held` hands the ticket back on this thread.
        let held = Held::new(ticket);
        let r = w.enqueue(
            INSERT,
            params![a, TEXT],
            Some(Box::new(move |r| {
                held.complete(r.map(|_| ()).map_err(sw_fail))
            })),
        );
        if let Err(e) = r {
            match Held::take_refused() {
                Some(t) => t.refused(sw_fail(e)),
                None => eprintln!("enqueue refused a write whose ticket was not handed back: {e}"),
            }
        }
    };
    let t = match args.workload.as_str() {
        "w1" | "w3" | "w4" => harness::threads(
            args,
            &clock,
            args.producers,
            &|_| (),
            &|_, op| blocking_op(op),
            &mut on_start,
            &mut on_end,
        ),
        "w2" | "w5" => {
            let sampler = (args.workload == "w5").then(|| {
                let w2 = Writer::open(&cs).unwrap_or_else(|e| die(&format!("Writer::open: {e}")));
                Sampler::start(Some(Box::new(move || w2.stats().ok().map(|s| s.queued))))
            });
            let window = (args.workload == "w2").then_some(args.window);
            let (t, flow) = harness::callbacks(
                args,
                &clock,
                args.producers,
                window,
                &submit,
                &mut on_start,
                &mut on_end,
                &mut || {
                    let _ = w.flush(Some(Duration::from_secs(120)));
                },
            );
            x.flow = Some(flow);
            if let Some(s) = sampler {
                let (rss, q) = s.finish();
                x.rss_kb = Some(rss);
                x.max_queued = q;
                // `queued` counts every write not yet acknowledged: the queue (≤ Queue Capacity)
                // plus the group being committed (≤ Max Batch).
                x.queue_bound = Some((w.options().queue_capacity + w.options().max_batch) as u64);
            }
            if !flow.drained {
                report(args, &clock, &t, &x); // exits: the backlog outlived the drain deadline
            }
            t
        }
        _ => die("unknown workload"),
    };
    let ((stats_before, cache_before), (stats_after, cache_after)) =
        (*before.lock().unwrap(), *after.lock().unwrap());
    if let (Some(b), Some(a)) = (stats_before, stats_after) {
        let txns = a.transactions.saturating_sub(b.transactions);
        if txns > 0 && args.workload != "w3" {
            x.writes_per_txn = Some(a.committed.saturating_sub(b.committed) as f64 / txns as f64);
        }
        x.lib_p50_us = Some(a.latency_p50_us as f64);
        x.lib_p99_us = Some(a.latency_p99_us as f64);
    }
    if let (true, Some(b), Some(a)) = (cached, cache_before, cache_after) {
        x.cache_hits = Some(a.hits.saturating_sub(b.hits));
        x.cache_misses = Some(a.misses.saturating_sub(b.misses));
    }
    x.rows_after = sw_count(&w);
    if let Err(e) = w.close() {
        die(&format!("close: {e}"));
    }
    report(args, &clock, &t, &x);
}

// ---------------------------------------------------------------------------------------------
// async-sqlite

fn async_fail(e: async_sqlite::Error) -> Fail {
    match &e {
        async_sqlite::Error::Rusqlite(inner) => match inner.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                Fail::Busy(e.to_string())
            }
            _ => Fail::Other(e.to_string()),
        },
        _ => Fail::Other(e.to_string()),
    }
}

/// async-sqlite as its documentation suggests for WAL: one `Client` (one connection on its own
/// thread) for writes, a read-only `Pool` (one connection per core) for reads.
fn async_sqlite(args: &Args) {
    let rt = aio::runtime();
    let mut x = rusqlite_extra(
        args,
        "writer Client (1 connection) + read-only Pool (1 connection per core)",
    );
    x.library = "async-sqlite 0.7.0 (rusqlite 0.41.1)".into();
    x.rows_before = rows_now(args);
    let sync = args.sync.clone();
    let (client, pool) = rt.block_on(async {
        let client = async_sqlite::ClientBuilder::new()
            .path(&args.db)
            .journal_mode(async_sqlite::JournalMode::Wal)
            .open()
            .await
            .unwrap_or_else(|e| die(&format!("async-sqlite open: {e}")));
        let s = sync.clone();
        client
            .conn(move |c| Ok(ops::configure(c, &s, false)))
            .await
            .unwrap_or_else(|e| die(&e.to_string()))
            .unwrap_or_else(|e| die(&e));
        let pool = async_sqlite::PoolBuilder::new()
            .path(&args.db)
            .flags(
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .open()
            .await
            .unwrap_or_else(|e| die(&format!("async-sqlite pool: {e}")));
        let s = sync.clone();
        for r in pool
            .conn_for_each(move |c| Ok(ops::configure(c, &s, true)))
            .await
        {
            r.unwrap_or_else(|e| die(&e.to_string()))
                .unwrap_or_else(|e| die(&e));
        }
        (client, pool)
    });
    let op: AsyncOp = {
        let (client, pool) = (client.clone(), pool.clone());
        Arc::new(move |_w, op: Op| -> BoxFut {
            let (client, pool) = (client.clone(), pool.clone());
            Box::pin(async move {
                let r = match op {
                    Op::Read { .. } => pool.conn(move |c| Ok(ops::run(c, op))).await,
                    _ => client.conn(move |c| Ok(ops::run(c, op))).await,
                };
                r.map_err(async_fail).and_then(|o| o)
            })
        })
    };
    let clock = Arc::new(Clock::default());
    let t = match args.workload.as_str() {
        "w1" | "w3" | "w4" => aio::tasks(
            &rt,
            args,
            &clock,
            args.producers,
            op,
            &mut no_edge(),
            &mut no_edge(),
        ),
        "w2" => {
            let (t, flow) = aio::pipelined(
                &rt,
                args,
                &clock,
                args.producers,
                args.window,
                op,
                &mut no_edge(),
                &mut no_edge(),
            );
            x.flow = Some(flow);
            t
        }
        "w5" => {
            let sampler = Sampler::start(None);
            let (t, flow) = aio::overload(
                &rt,
                args,
                &clock,
                args.producers,
                op,
                &mut no_edge(),
                &mut no_edge(),
            );
            x.flow = Some(flow);
            x.rss_kb = Some(sampler.finish().0);
            if !flow.drained {
                report(args, &clock, &t, &x); // exits: the backlog outlived the drain deadline
            }
            x.note
                .push_str("; the Client's command queue is unbounded by default");
            t
        }
        _ => die("unknown workload"),
    };
    rt.block_on(async {
        let _ = client.close().await;
        let _ = pool.close().await;
    });
    x.rows_after = rows_now(args);
    report(args, &clock, &t, &x);
}
