//! Bounded WAL under continuous reads (issue 16): 2 threads insert rows of ~100 bytes through the
//! writer while 2 threads query without pause; the WAL's size is sampled every 10 ms (`stat` of
//! the `-wal` file). Compares the writer's checkpoint policy (`WAL Limit` at its default, 64 MiB,
//! and at 4 MiB) with checkpoints left to SQLite (`WAL Limit=0`), in one run.
//!
//!   cargo bench --bench wal                       # 120,000 inserts per configuration
//!   cargo bench --bench wal -- --seconds 600      # a 10-minute mixed run per configuration
//!   cargo bench --bench wal -- --rows 30000       # shorter
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use singlewriter::{params, Writer};

struct Outcome {
    label: String,
    rows: u64,
    seconds: f64,
    max_wal: u64,
    end_wal: u64,
    write_p50: u64,
    write_p99: u64,
    read_p50: u64,
    read_p99: u64,
    reads: u64,
    checkpoints: u64,
    blocked: u64,
    per_second_max: Vec<u64>,
}

fn pct(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p / 100.0).round() as usize]
}

fn metric(w: &Writer, name: &str) -> u64 {
    w.metrics_text()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn run(label: &str, extra: &str, rows: u64, seconds: Option<u64>) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let wal_path = format!("{}-wal", path.display());
    let w = Writer::open(&format!("Data Source={};{extra}", path.display())).unwrap();
    w.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, pad TEXT)", &[])
        .unwrap();
    let stop = AtomicBool::new(false);
    let written = AtomicU64::new(0);
    let max_wal = AtomicU64::new(0);
    let write_lat = Mutex::new(Vec::new());
    let read_lat = Mutex::new(Vec::new());
    let per_second = Mutex::new(Vec::new());
    let started = Instant::now();
    let deadline = seconds.map(|s| started + Duration::from_secs(s));
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..2u64)
            .map(|t| {
                let (w, written, write_lat) = (&w, &written, &write_lat);
                s.spawn(move || {
                    let mut lat = Vec::new();
                    let mut i = 0u64;
                    loop {
                        let done = match deadline {
                            Some(d) => Instant::now() >= d,
                            None => i >= rows / 2,
                        };
                        if done {
                            break;
                        }
                        let t0 = Instant::now();
                        w.execute(
                            "INSERT INTO t(id, pad) VALUES (?1, printf('%0100d', ?1))",
                            &params![(t * 1_000_000_000 + i) as i64],
                        )
                        .unwrap();
                        lat.push(t0.elapsed().as_micros() as u64);
                        i += 1;
                    }
                    written.fetch_add(i, Ordering::Relaxed);
                    write_lat.lock().unwrap().extend(lat);
                })
            })
            .collect();
        for k in 0..2 {
            let (w, stop, read_lat) = (&w, &stop, &read_lat);
            s.spawn(move || {
                let mut lat = Vec::new();
                let mut id = 1i64;
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    if k == 0 {
                        w.query("SELECT pad FROM t WHERE id = ?1", &params![id])
                            .unwrap();
                        id = (id * 7919) % 100_000 + 1;
                    } else {
                        w.query("SELECT count(*) FROM t WHERE id < 1000", &[])
                            .unwrap();
                    }
                    lat.push(t0.elapsed().as_micros() as u64);
                }
                read_lat.lock().unwrap().extend(lat);
            });
        }
        let (stop, max_wal, per_second, wal_path) = (&stop, &max_wal, &per_second, &wal_path);
        s.spawn(move || {
            let mut second_max = 0u64;
            let mut second_start = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let size = std::fs::metadata(wal_path).map(|m| m.len()).unwrap_or(0);
                max_wal.fetch_max(size, Ordering::Relaxed);
                second_max = second_max.max(size);
                if second_start.elapsed() >= Duration::from_secs(1) {
                    per_second.lock().unwrap().push(second_max);
                    second_max = 0;
                    second_start = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        for h in writers {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut wl = write_lat.into_inner().unwrap();
    let mut rl = read_lat.into_inner().unwrap();
    let end_wal = std::fs::metadata(&wal_path).map(|m| m.len()).unwrap_or(0);
    let out = Outcome {
        label: label.to_string(),
        rows: written.load(Ordering::Relaxed),
        seconds,
        max_wal: max_wal.load(Ordering::Relaxed),
        end_wal,
        write_p50: pct(&mut wl, 50.0),
        write_p99: pct(&mut wl, 99.0),
        read_p50: pct(&mut rl, 50.0),
        read_p99: pct(&mut rl, 99.0),
        reads: rl.len() as u64,
        checkpoints: metric(&w, "singlewriter_checkpoints_total"),
        blocked: metric(&w, "singlewriter_checkpoints_blocked_total"),
        per_second_max: per_second.into_inner().unwrap(),
    };
    w.close().unwrap();
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let rows = arg("--rows").unwrap_or(120_000);
    let seconds = arg("--seconds");
    let configs = [
        ("SQLite's checkpoints (WAL Limit=0)", "WAL Limit=0"),
        ("writer, WAL Limit=64 MiB (default)", ""),
        ("writer, WAL Limit=4 MiB", "WAL Limit=4194304"),
    ];
    match seconds {
        Some(s) => println!("# {s} s per configuration, 2 writers + 2 continuous readers"),
        None => println!("# {rows} inserts per configuration, 2 writers + 2 continuous readers"),
    }
    let mut results = Vec::new();
    for (label, extra) in configs {
        eprintln!("running: {label}");
        results.push(run(label, extra, rows, seconds));
    }
    println!(
        "| configuration | inserts/s | largest WAL | WAL at end | write p50/p99 µs | read p50/p99 µs | reads | checkpoints (blocked) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {:.0} | {:.1} MB | {:.1} MB | {}/{} | {}/{} | {} | {} ({}) |",
            r.label,
            r.rows as f64 / r.seconds,
            r.max_wal as f64 / 1e6,
            r.end_wal as f64 / 1e6,
            r.write_p50,
            r.write_p99,
            r.read_p50,
            r.read_p99,
            r.reads,
            r.checkpoints,
            r.blocked
        );
    }
    let base = &results[0];
    for r in &results[1..] {
        println!(
            "- {}: throughput {:.2}× SQLite's; write p99 {:.2}×; read p99 {:.2}×",
            r.label,
            (r.rows as f64 / r.seconds) / (base.rows as f64 / base.seconds),
            r.write_p99 as f64 / base.write_p99.max(1) as f64,
            r.read_p99 as f64 / base.read_p99.max(1) as f64
        );
    }
    if seconds.is_some() {
        for r in &results {
            let max = r.per_second_max.iter().max().copied().unwrap_or(0);
            println!(
                "- {}: largest WAL per second, max over {} s: {:.1} MB; every 60 s: {:?}",
                r.label,
                r.per_second_max.len(),
                max as f64 / 1e6,
                r.per_second_max
                    .iter()
                    .step_by(60)
                    .map(|b| format!("{:.1}", *b as f64 / 1e6))
                    .collect::<Vec<_>>()
            );
        }
    }
}
