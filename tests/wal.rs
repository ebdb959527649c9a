//! The writer owns checkpoints: the WAL stays bounded while reads never stop, a foreign reader
//! that pins the log is waited out with back-off, and `Checkpoints=External` leaves the WAL to
//! another program. The WAL's size is read from the file system (`stat`, no descriptor opened).
mod common;
use common::Db;
use singlewriter::{params, Writer};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn wal_size(db: &Db) -> u64 {
    std::fs::metadata(format!("{}-wal", db.path.display()))
        .map(|m| m.len())
        .unwrap_or(0)
}

fn metric(w: &Writer, name: &str) -> u64 {
    let text = w.metrics_text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics"))
}

/// 2 writers insert `rows` rows of ~100 bytes each while 2 readers query without pause; the
/// largest WAL seen (sampled every 2 ms) and the reads that failed.
fn load(db: &Db, w: &Writer, rows: i64) -> (u64, u64) {
    w.execute(
        "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, pad TEXT)",
        &[],
    )
    .unwrap();
    let stop = AtomicBool::new(false);
    let max = AtomicU64::new(0);
    let failed_reads = AtomicU64::new(0);
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..2i64)
            .map(|t| {
                s.spawn(move || {
                    for i in 0..rows / 2 {
                        w.execute(
                            "INSERT INTO t(id, pad) VALUES (?1, printf('%0100d', ?1))",
                            &params![t * 10_000_000 + i],
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for k in 0..2 {
            let (stop, failed) = (&stop, &failed_reads);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = if k == 0 {
                        w.query("SELECT count(*) FROM t", &[]).map(|_| ())
                    } else {
                        w.query("SELECT pad FROM t WHERE id = 1", &[]).map(|_| ())
                    };
                    if r.is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let (stop, max) = (&stop, &max);
        s.spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                max.fetch_max(wal_size(db), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        for h in writers {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    (
        max.load(Ordering::Relaxed),
        failed_reads.load(Ordering::Relaxed),
    )
}

#[test]
fn the_wal_stays_bounded_while_reads_never_stop() {
    let limit: u64 = 1 << 20;
    let db = Db::new("bounded.db");
    let w = db.open(&format!("WAL Limit={limit}"));
    let (max, failed) = load(&db, &w, 30_000);
    assert_eq!(failed, 0, "no read failed");
    let checkpoints = metric(&w, "singlewriter_checkpoints_total");
    eprintln!(
        "WAL Limit {limit}: largest WAL {max} bytes, {checkpoints} checkpoints, {} blocked",
        metric(&w, "singlewriter_checkpoints_blocked_total")
    );
    assert!(checkpoints > 0, "the writer checkpointed");
    // The limit plus what commits before the checkpoint job runs (about one group).
    assert!(
        max <= limit + limit / 2,
        "the WAL reached {max} bytes with a limit of {limit}"
    );
    assert_eq!(common::count(&w, "t"), 30_000);
    let check = w.query("PRAGMA integrity_check", &[]).unwrap();
    assert_eq!(check.get(0, 0), Some(singlewriter::ValueRef::Text("ok")));
}

#[test]
fn a_foreign_reader_that_pins_the_log_is_waited_out_with_back_off() {
    let limit: u64 = 256 << 10;
    let db = Db::new("pinned.db");
    let w = db.open(&format!("WAL Limit={limit}"));
    w.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, pad TEXT)", &[])
        .unwrap();
    w.execute("INSERT INTO t(pad) VALUES ('x')", &[]).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    w.subscribe(
        "checkpoint.blocked*",
        Box::new(move |s| drop(tx.lock().unwrap().send(s.key.to_string()))),
        None,
    )
    .unwrap();
    // Another process holds a read transaction for 1.5 s.
    let mut reader = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN'); c.execute('SELECT count(*) FROM t').fetchone()\n\
             print('reading', flush=True); time.sleep(1.5); c.execute('COMMIT')\n",
        ])
        .arg(&db.path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(reader.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "reading");
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1200) {
        w.execute(
            "INSERT INTO t(pad) VALUES (printf('%0200d', random()))",
            &[],
        )
        .unwrap();
    }
    let blocked = metric(&w, "singlewriter_checkpoints_blocked_total");
    assert!(blocked > 0, "the pinned log was reported");
    // Pauses of 50, 100, 200, 400, 800 ms: a handful of attempts in 1.2 s, not a spin.
    assert!(blocked <= 8, "{blocked} attempts while the log was pinned");
    let why = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("a checkpoint.blocked signal");
    assert!(why.contains("another connection still uses it"), "{why}");
    assert!(reader.wait().unwrap().success());
    // The reader is gone: the next due checkpoint restarts the log.
    let before = metric(&w, "singlewriter_checkpoints_total");
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&w, "singlewriter_checkpoints_total") == before && Instant::now() < deadline {
        w.execute(
            "INSERT INTO t(pad) VALUES (printf('%0200d', random()))",
            &[],
        )
        .unwrap();
    }
    assert!(metric(&w, "singlewriter_checkpoints_total") > before);
    assert!(wal_size(&db) <= limit + limit / 2, "WAL {}", wal_size(&db));
}

#[test]
fn external_checkpoints_leave_the_wal_to_another_program() {
    let db = Db::new("external.db");
    let w = db.open("Checkpoints=External;WAL Limit=65536");
    w.execute("CREATE TABLE t(pad TEXT)", &[]).unwrap();
    for _ in 0..3000 {
        w.execute("INSERT INTO t VALUES (printf('%0100d', random()))", &[])
            .unwrap();
    }
    // Not even SQLite's automatic checkpoint ran (it would have at 1000 pages).
    let size = wal_size(&db);
    assert!(size > 4 << 20, "WAL {size} bytes");
    assert_eq!(metric(&w, "singlewriter_checkpoints_total"), 0);
    // A reader keeps the database open, as a replicator does: closing the writer leaves the
    // WAL's frames for it.
    let keeper = rusqlite::Connection::open(&db.path).unwrap();
    keeper
        .query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
        .unwrap();
    w.close().unwrap();
    assert!(wal_size(&db) >= size, "the WAL was not truncated at close");
    drop(keeper);
}

#[test]
fn a_wal_limit_of_zero_leaves_checkpoints_to_sqlite() {
    let db = Db::new("sqlite-owned.db");
    let w = db.open("WAL Limit=0");
    w.execute("CREATE TABLE t(pad TEXT)", &[]).unwrap();
    for _ in 0..3000 {
        w.execute("INSERT INTO t VALUES (printf('%0100d', random()))", &[])
            .unwrap();
    }
    assert_eq!(metric(&w, "singlewriter_checkpoints_total"), 0);
    // SQLite's automatic checkpoint (1000 pages) keeps restarting the log: no readers here.
    assert!(wal_size(&db) < 8 << 20, "WAL {}", wal_size(&db));
}

#[test]
fn without_readers_the_log_restarts_long_before_the_wal_limit() {
    // The writer's WAL hook replaces SQLite's automatic checkpoint, and does its work too: a
    // PASSIVE checkpoint every 1000 frames lets the next commit write the log from its start
    // again, so with nothing reading it stays a few MiB under the default 64 MiB limit, and
    // the writer's own checkpoint (reads held back, the log truncated) never has to run.
    let db = Db::new("restarts.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(pad TEXT)", &[]).unwrap();
    let mut largest = 0;
    for _ in 0..6000 {
        w.execute("INSERT INTO t VALUES (printf('%0100d', random()))", &[])
            .unwrap();
        largest = largest.max(wal_size(&db));
    }
    assert_eq!(metric(&w, "singlewriter_checkpoints_total"), 0);
    assert!(largest < 8 << 20, "the WAL reached {largest} bytes");
    assert_eq!(common::count(&w, "t"), 6000);
}
