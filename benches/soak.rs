//! Soak: 10 million writes with signals (default `Sample Rate`), the cache (reads interleaved)
//! and cross-process polling on (a second process writes now and then), default options
//! otherwise. Not part of the test command; run it by hand:
//!
//! ```sh
//! cargo bench --bench soak                          # 10,000,000 writes
//! SW_SOAK_WRITES=1000000 cargo bench --bench soak   # a shorter run
//! ```
//!
//! Samples resident memory (VmRSS of /proc/self/status) every second and prints one line per
//! 10 s; checks at every sample that each bounded structure stays within its bound:
//! - the signal ring: a poll never returns more than `Signal Capacity` signals, and the poller
//!   (slower than the writers on purpose) sees `missed` grow instead;
//! - the cache: `entries` ≤ `Cache Size` (`sw_writer_cache_stats`);
//! - the operations snapshot: finished operations ≤ `Max Tracked Writes`, and queued ones
//!   listed ≤ `Max Tracked Writes` (`operations_json`);
//! - the queue: `queued` ≤ `Queue Capacity` + `Max Batch` (`stats`), with one producer that
//!   never waits for its callbacks so the queue fills up to its bound. `queued` counts writes
//!   submitted and not yet acknowledged — the queue (at most `Queue Capacity`, enforced at
//!   submission) plus the group being committed (at most `Max Batch`).
//!
//! At the end it prints the RSS curve's summary: RSS at 10 %, 50 % and 100 % of the writes, the
//! highest sample, and the growth over the second half (the curve levels off when that is small
//! against the total). Exit status 1 if a bound was exceeded or a write failed.

use std::io::{BufRead, Write as _};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use singlewriter::{params, Statement, Writer};

const KEYS: i64 = 200_000;
const READ_KEYS: i64 = 5_000;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The second process: opens the same file through singlewriter and, every 200 ms, changes a
/// row of `shared` (which the first process reads through its cache), until its stdin closes.
fn child(path: &str) {
    let w = Writer::open(&format!("Data Source={path}")).expect("child: open");
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        s.store(true, Ordering::Relaxed);
    });
    let mut i = 0i64;
    while !stop.load(Ordering::Relaxed) {
        w.execute(
            "UPDATE shared SET v = v + 1 WHERE k = ?1",
            &params![i % 100],
        )
        .expect("child: write");
        i += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("{i}");
    w.close().expect("child: close");
}

#[derive(Default)]
struct Bounds {
    max_ring: AtomicU64,
    missed: AtomicU64,
    polls: AtomicU64,
    max_cache: AtomicU64,
    max_finished_ops: AtomicU64,
    max_queued_ops: AtomicU64,
    max_queue: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl Bounds {
    fn note(&self, what: &str, value: u64, bound: u64, max: &AtomicU64) {
        max.fetch_max(value, Ordering::Relaxed);
        if value > bound {
            self.violations
                .lock()
                .unwrap()
                .push(format!("{what}: {value} > {bound}"));
        }
    }
}

fn main() {
    if let Ok(path) = std::env::var("SW_SOAK_CHILD") {
        child(&path);
        return;
    }
    let total: u64 = std::env::var("SW_SOAK_WRITES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("soak.db");
    let w = Arc::new(Writer::open(&format!("Data Source={}", path.display())).expect("open"));
    let o = w.options().clone();
    println!(
        "soak: {total} writes; Sample Rate {}, Cache Size {}, Signal Capacity {}, Max Tracked Writes {}, Queue Capacity {}, Invalidation Poll {:?}",
        o.sample_rate, o.cache_size, o.signal_capacity, o.max_tracked_writes, o.queue_capacity, o.invalidation_poll
    );
    w.execute(
        "CREATE TABLE kv(k INTEGER PRIMARY KEY, v INTEGER, n INTEGER NOT NULL DEFAULT 0)",
        &[],
    )
    .unwrap();
    w.execute("CREATE TABLE shared(k INTEGER PRIMARY KEY, v INTEGER)", &[])
        .unwrap();
    w.transaction(|tx| {
        for k in 0..100 {
            tx.execute("INSERT INTO shared VALUES (?1, 0)", &params![k])?;
        }
        Ok(())
    })
    .unwrap();

    let mut second = Command::new(std::env::current_exe().unwrap())
        .env("SW_SOAK_CHILD", &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the second process");

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let bounds = Arc::new(Bounds::default());
    let upsert = "INSERT INTO kv(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v, n = n + 1";
    let mut threads = Vec::new();

    // Blocking writers.
    for t in 0..2u64 {
        let (w, done, failed, stop) = (w.clone(), done.clone(), failed.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                match w.execute(upsert, &params![(i as i64 * 7919) % KEYS, i as i64]) {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
                i += 2;
            }
        }));
    }
    // A pipelined producer that never waits for its callbacks: the queue fills to its bound.
    {
        let (w, done, failed, stop) = (w.clone(), done.clone(), failed.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let (d, f) = (done.clone(), failed.clone());
                let r = w.enqueue(
                    upsert,
                    params![(i * 104_729) % KEYS, i],
                    Some(Box::new(move |r| {
                        if r.is_ok() {
                            d.fetch_add(1, Ordering::Relaxed);
                        } else {
                            f.fetch_add(1, Ordering::Relaxed);
                        }
                    })),
                );
                if r.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    // Batches and transactions now and then.
    {
        let (w, done, failed, stop) = (w.clone(), done.clone(), failed.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let stmts: Vec<Statement> = (0..8)
                    .map(|j| Statement::new(upsert, params![(i * 8 + j) % KEYS, -i]))
                    .collect();
                match w.batch(stmts, true) {
                    Ok(_) => done.fetch_add(8, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(8, Ordering::Relaxed),
                };
                let r = w.transaction(|tx| {
                    for j in 0..4 {
                        tx.execute(upsert, &params![(i * 4 + j + 77) % KEYS, i])?;
                    }
                    Ok(())
                });
                match r {
                    Ok(()) => done.fetch_add(4, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(4, Ordering::Relaxed),
                };
                i += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        }));
    }
    // Readers through the cache: kv (invalidated by nearly every commit) and shared (changed
    // by the second process every 200 ms).
    for t in 0..2i64 {
        let (w, reads, stop, failed) = (w.clone(), reads.clone(), stop.clone(), failed.clone());
        threads.push(std::thread::spawn(move || {
            let mut i = t;
            while !stop.load(Ordering::Relaxed) {
                let r = if i % 4 == 0 {
                    let k = (i * 31) % READ_KEYS;
                    w.read(
                        &format!("kv:{k}"),
                        "SELECT v, n FROM kv WHERE k = ?1",
                        &params![k],
                    )
                } else {
                    let k = i % 100;
                    w.read(
                        &format!("shared:{k}"),
                        "SELECT v FROM shared WHERE k = ?1",
                        &params![k],
                    )
                };
                if r.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                reads.fetch_add(1, Ordering::Relaxed);
                i += 2;
            }
        }));
    }
    // The signal poller: slower than the writers, so the ring overwrites and `missed` grows.
    {
        let (w, stop, bounds) = (w.clone(), stop.clone(), bounds.clone());
        let cap = o.signal_capacity as u64;
        threads.push(std::thread::spawn(move || {
            let mut after = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(p) = w.poll_signals(None, after) {
                    bounds.note(
                        "signals held",
                        p.signals.len() as u64,
                        cap,
                        &bounds.max_ring,
                    );
                    bounds.missed.fetch_add(p.missed, Ordering::Relaxed);
                    bounds.polls.fetch_add(1, Ordering::Relaxed);
                    if let Some(s) = p.signals.last() {
                        after = s.seq;
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
    }

    // The sampler (this thread).
    let start = Instant::now();
    let mut samples: Vec<(f64, u64, u64)> = Vec::new(); // (s, writes, rss kB)
    println!(
        "{:>6} {:>10} {:>9} {:>8} {:>7} {:>6} {:>8} {:>9} {:>6}",
        "t (s)", "writes", "writes/s", "RSS MB", "cache", "ring", "ops done", "queue max", "reads"
    );
    let mut last_print = 0u64;
    let mut queue_max_window = 0u64;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let n = done.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed);
        let st = w.stats().expect("stats");
        let queue_bound = (o.queue_capacity + o.max_batch) as u64;
        bounds.note("queue", st.queued, queue_bound, &bounds.max_queue);
        queue_max_window = queue_max_window.max(st.queued);
        let elapsed = start.elapsed().as_secs_f64();
        if (elapsed as u64) > samples.len() as u64 || n >= total {
            let rss = rss_kb();
            samples.push((elapsed, n, rss));
            let cs = w.cache_stats().expect("cache stats");
            bounds.note(
                "cache entries",
                cs.entries,
                o.cache_size as u64,
                &bounds.max_cache,
            );
            let ops = w.operations_json().expect("operations");
            let finished = ops.matches("\"state\":\"committed\"").count()
                + ops.matches("\"state\":\"failed\"").count();
            let queued = ops.matches("\"state\":\"queued\"").count();
            let max_ops = o.max_tracked_writes as u64;
            bounds.note(
                "finished operations",
                finished as u64,
                max_ops,
                &bounds.max_finished_ops,
            );
            bounds.note(
                "queued operations listed",
                queued as u64,
                max_ops,
                &bounds.max_queued_ops,
            );
            if elapsed as u64 >= last_print + 10 || n >= total {
                last_print = elapsed as u64;
                println!(
                    "{:>6.0} {:>10} {:>9.0} {:>8.1} {:>7} {:>6} {:>8} {:>9} {:>6}",
                    elapsed,
                    n,
                    n as f64 / elapsed,
                    rss as f64 / 1024.0,
                    cs.entries,
                    bounds.max_ring.load(Ordering::Relaxed),
                    finished,
                    queue_max_window,
                    reads.load(Ordering::Relaxed)
                );
                queue_max_window = 0;
                let _ = std::io::stdout().flush();
            }
        }
        if n >= total {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    w.flush(None).expect("flush");
    let elapsed = start.elapsed().as_secs_f64();
    drop(second.stdin.take());
    let mut out = String::new();
    if let Some(mut so) = second.stdout.take() {
        use std::io::Read;
        let _ = so.read_to_string(&mut out);
    }
    let status = second.wait().expect("second process");
    let cs = w.cache_stats().expect("cache stats");
    let st = w.stats().expect("stats");

    let at = |frac: f64| {
        let target = (total as f64 * frac) as u64;
        samples.iter().find(|s| s.1 >= target).map_or(0, |s| s.2)
    };
    let max = samples.iter().map(|s| s.2).max().unwrap_or(0);
    let half = at(0.5);
    let end = samples.last().map_or(0, |s| s.2);
    let second_half_max = samples
        .iter()
        .filter(|s| s.1 >= total / 2)
        .map(|s| s.2)
        .max()
        .unwrap_or(0);
    let mb = |kb: u64| kb as f64 / 1024.0;
    println!();
    println!(
        "writes: {} OK, {} failed, in {:.0} s ({:.0}/s); committed {} in {} transactions; reads {}; second process: {} writes, {}",
        done.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        elapsed,
        (done.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed)) as f64 / elapsed,
        st.committed,
        st.transactions,
        reads.load(Ordering::Relaxed),
        out.trim(),
        status
    );
    println!(
        "cache: {} hits, {} misses, {} evictions, {} invalidations, {} entries now (max seen {}, Cache Size {})",
        cs.hits,
        cs.misses,
        cs.evictions,
        cs.invalidations,
        cs.entries,
        bounds.max_cache.load(Ordering::Relaxed),
        o.cache_size
    );
    println!(
        "signals: {} polls, at most {} held (Signal Capacity {}), {} missed (overwritten before a poll)",
        bounds.polls.load(Ordering::Relaxed),
        bounds.max_ring.load(Ordering::Relaxed),
        o.signal_capacity,
        bounds.missed.load(Ordering::Relaxed)
    );
    println!(
        "operations snapshot: at most {} finished and {} queued listed (Max Tracked Writes {}); not yet acknowledged: at most {} (Queue Capacity {} + Max Batch {})",
        bounds.max_finished_ops.load(Ordering::Relaxed),
        bounds.max_queued_ops.load(Ordering::Relaxed),
        o.max_tracked_writes,
        bounds.max_queue.load(Ordering::Relaxed),
        o.queue_capacity,
        o.max_batch
    );
    println!(
        "RSS: {:.1} MB at 10 % of the writes, {:.1} MB at 50 %, {:.1} MB at the end; highest {:.1} MB; the second half's highest is {:+.1} MB ({:+.1} %) from the 50 % mark",
        mb(at(0.1)),
        mb(half),
        mb(end),
        mb(max),
        mb(second_half_max) - mb(half),
        (second_half_max as f64 - half as f64) / half.max(1) as f64 * 100.0
    );
    let violations = bounds.violations.lock().unwrap();
    for v in violations.iter().take(20) {
        println!("BOUND EXCEEDED: {v}");
    }
    let ok = violations.is_empty() && failed.load(Ordering::Relaxed) == 0 && status.success();
    println!(
        "soak: {}",
        if ok {
            "every bound held, no write failed"
        } else {
            "FAILED"
        }
    );
    w.close().expect("close");
    if !ok {
        std::process::exit(1);
    }
}
