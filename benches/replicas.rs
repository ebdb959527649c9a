//! How long a LiteFS primary's commit takes to reach a replica (a plain query there sees it)
//! and to invalidate the replica's cached read (a cached `Writer::read` there returns it),
//! with the real LiteFS v0.5.14, a primary and a replica on one machine over loopback.
//!
//! `cargo bench --bench replicas` (installs litefs and fuse3 when missing; needs /dev/fuse).
//! `SW_BENCH_SAMPLES=N` (default 300) commits per scenario.
//!
//! Each sample: a write through the primary's writer is acknowledged (its COMMIT is done) at
//! t0; the replica is then read every 100 µs until the new row shows; the sample is the time
//! from t0 to that read. Between samples a pseudo-random pause of 0–10 ms keeps the commits out of
//! step with the replica's `Invalidation Poll` timer.
#[path = "../tests/common/replicators.rs"]
mod replicators;

use replicators::*;
use singlewriter::{params, Writer};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn fmt(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Run `samples` commits on `p`; `seen(i)` says whether the replica shows row `i` yet.
fn measure(p: &Writer, samples: usize, mut seen: impl FnMut(i64) -> bool) -> Vec<Duration> {
    let mut out = Vec::with_capacity(samples);
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let base: i64 = p
        .query("SELECT coalesce(max(id), 0) FROM t", &[])
        .unwrap()
        .get(0, 0)
        .unwrap()
        .as_i64();
    for k in 1..=samples as i64 {
        let i = base + k;
        p.execute("INSERT INTO t(id, v) VALUES (?1, 'x')", &params![i])
            .unwrap();
        let t0 = Instant::now();
        loop {
            if seen(i) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "row {i} never reached the replica"
            );
            // Poll every 100 µs: spinning would take a core from litefs on a small machine.
            std::thread::sleep(Duration::from_micros(100));
        }
        out.push(t0.elapsed());
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(rng % 10_000));
    }
    out.sort();
    out
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Some(why) = fuse_unavailable() {
        println!("SKIPPED: replicas bench: LiteFS cannot run here: {why}");
        return;
    }
    let samples: usize = std::env::var("SW_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let fs = LiteFs::start();
    let primary_db = fs.primary.path("bench.db");
    let replica_db = fs.replica.path("bench.db");
    let p = Writer::open(&format!("Data Source={}", primary_db.display())).unwrap();
    p.execute(
        "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)",
        &[],
    )
    .unwrap();
    LiteFs::wait(Duration::from_secs(30), || {
        replica_db.exists().then_some(())
    })
    .expect("the database reached the replica");
    // Let the table itself arrive.
    std::thread::sleep(Duration::from_millis(200));

    let mut rows = Vec::new();
    let sql = "SELECT coalesce(max(id), 0) FROM t";
    {
        // LiteFS alone: a plain SQLite connection on the replica, a fresh read each time.
        let c = rusqlite::Connection::open_with_flags(
            &replica_db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        // Warm-up, not counted.
        measure(&p, 20, |i| {
            c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() >= i
        });
        let lat = measure(&p, samples, |i| {
            c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() >= i
        });
        rows.push((
            "replication (LiteFS alone): primary commit → plain SQLite query on the replica sees it",
            lat,
        ));
    }
    {
        // LiteFS with a reader that keeps each read transaction 1 ms (what singlewriter's read
        // connections do between reads, MAX_HOLD): a replica applies a transaction only when
        // it can take every WAL read lock, so back-to-back read transactions hold it off.
        let c = rusqlite::Connection::open_with_flags(
            &replica_db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let lat = measure(&p, samples, |i| {
            c.execute_batch("BEGIN").unwrap();
            let v: i64 = c.query_row(sql, [], |r| r.get(0)).unwrap();
            std::thread::sleep(Duration::from_millis(1));
            c.execute_batch("COMMIT").unwrap();
            v >= i
        });
        rows.push((
            "replication (LiteFS alone), the replica read in back-to-back 1 ms read transactions",
            lat,
        ));
    }
    {
        let r = Writer::open(&format!("Data Source={}", replica_db.display())).unwrap();
        let lat = measure(&p, samples, |i| {
            r.query(sql, &[]).unwrap().get(0, 0).unwrap().as_i64() >= i
        });
        rows.push((
            "replication: primary commit → replica Writer::query (uncached) sees it",
            lat,
        ));
        r.close().unwrap();
    }
    for poll in [10u64, 1] {
        let r = Writer::open(&format!(
            "Data Source={};Invalidation Poll={poll}",
            replica_db.display()
        ))
        .unwrap();
        let lat = measure(&p, samples, |i| {
            r.read("max", sql, &[]).unwrap().get(0, 0).unwrap().as_i64() >= i
        });
        let stats = r.cache_stats().unwrap();
        assert!(stats.hits > 0, "the replica's reads were never cache hits");
        rows.push((
            if poll == 10 {
                "invalidation: primary commit → replica cached read returns it (Invalidation Poll=10, default)"
            } else {
                "invalidation: primary commit → replica cached read returns it (Invalidation Poll=1)"
            },
            lat,
        ));
        r.close().unwrap();
    }
    p.close().unwrap();

    println!();
    println!("LiteFS v0.5.14, primary and replica on one machine (loopback), WAL, {samples} commits each");
    println!("| what | p50 | p99 | max |");
    println!("|---|---:|---:|---:|");
    for (what, lat) in &rows {
        println!(
            "| {what} | {} | {} | {} |",
            fmt(percentile(lat, 50.0)),
            fmt(percentile(lat, 99.0)),
            fmt(*lat.last().unwrap())
        );
    }
}
