//! Other processes: real child processes writing the same file — another singlewriter process
//! (this test binary re-run as a child), Python's sqlite3, and a writer killed with SIGKILL.
mod common;
use common::Db;
use singlewriter::{params, Writer};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Re-run this test binary as a child doing `mode` on `db`.
fn child(mode: &str, db: &std::path::Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--ignored",
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("SW_CHILD_MODE", mode)
    .env("SW_CHILD_DB", db)
    .stdout(Stdio::null());
    c
}

/// Not a test: the body of the child processes above.
#[test]
#[ignore]
fn child_process_entry() {
    let (Ok(mode), Ok(db)) = (std::env::var("SW_CHILD_MODE"), std::env::var("SW_CHILD_DB")) else {
        return;
    };
    let w = Writer::open(&format!("Data Source={db}")).unwrap();
    if let Some(table) = mode.strip_prefix("write:") {
        w.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
            .unwrap();
    } else if let Some(glob) = mode.strip_prefix("raise:") {
        w.raise(&format!("cache.invalidate:{glob}")).unwrap();
    } else if let Some(table) = mode.strip_prefix("hold:") {
        // Write once (registering as a peer), say so, and stay open until stdin closes.
        w.execute(&format!("INSERT INTO {table} VALUES (1)"), &[])
            .unwrap();
        println!("ready");
        use std::io::{Read, Write};
        std::io::stdout().flush().unwrap();
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    } else if mode == "load" {
        let out = std::sync::Mutex::new(std::io::stdout());
        std::thread::scope(|s| {
            for t in 0..4i64 {
                let (w, out) = (&w, &out);
                s.spawn(move || {
                    for i in 0.. {
                        let id = t * 1_000_000 + i;
                        w.execute(
                            "INSERT INTO acked(id, pad) VALUES (?1, randomblob(200))",
                            &params![id],
                        )
                        .unwrap();
                        use std::io::Write;
                        let mut o = out.lock().unwrap();
                        writeln!(o, "ack {id}").unwrap();
                        o.flush().unwrap();
                    }
                });
            }
        });
    }
    w.close().unwrap();
}

fn misses(w: &Writer) -> u64 {
    w.cache_stats().unwrap().misses
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

#[test]
fn another_singlewriter_process_invalidates_only_the_tables_it_changed() {
    let db = Db::new("x.db");
    let w = db.open("");
    w.execute("CREATE TABLE a(x); CREATE TABLE b(x)", &[])
        .unwrap();
    w.execute("INSERT INTO a VALUES (0)", &[]).unwrap();
    std::thread::sleep(Duration::from_millis(150)); // past the registration grace period
    let count = |k: &str, t: &str| {
        w.read(k, &format!("SELECT count(*) FROM {t}"), &[])
            .unwrap()
            .get(0, 0)
            .unwrap()
            .as_i64()
    };
    assert_eq!(count("ka", "a"), 1);
    assert_eq!(count("kb", "b"), 0);
    let status = child("write:a", &db.path).status().unwrap();
    assert!(status.success());
    let seen = wait_until(Duration::from_millis(800), || count("ka", "a") == 2);
    assert!(
        seen.is_some(),
        "the child's commit to a was seen within 800 ms"
    );
    let before = misses(&w);
    assert_eq!(count("kb", "b"), 0);
    assert_eq!(misses(&w), before, "b was not touched, its entry stayed");
}

/// A lone write commits in autocommit only while no other singlewriter process reads the change
/// table: with a peer open, each lone write moves its table's row there, in its own
/// transaction, so that the peer invalidates that table alone.
#[test]
fn lone_writes_tell_a_live_peer_what_they_changed() {
    let db = Db::new("peer.db");
    let w = db.open("");
    w.execute("CREATE TABLE a(x); CREATE TABLE b(x)", &[])
        .unwrap();
    let generation = || -> i64 {
        let c = rusqlite::Connection::open(&db.path).unwrap();
        c.query_row(
            "SELECT coalesce(max(gen), 0) FROM _singlewriter_changes WHERE tbl = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let mut peer = child("hold:b", &db.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The test harness prints its own words first (`test child_process_entry ... ready`).
    let mut out = BufReader::new(peer.stdout.take().unwrap()).lines();
    let ready = out
        .by_ref()
        .map_while(|l| l.ok())
        .any(|l| l.trim_end().ends_with("ready"));
    assert!(ready, "the peer opened and wrote");
    // Past the writer's next look at the change table (Invalidation Poll: 10 ms).
    std::thread::sleep(Duration::from_millis(100));
    let before = generation();
    for i in 0..3 {
        w.execute("INSERT INTO a VALUES (?1)", &params![i]).unwrap();
    }
    assert_eq!(
        generation(),
        before + 3,
        "each lone write moved a's row for the live peer"
    );
    drop(peer.stdin.take());
    out.for_each(drop);
    assert!(peer.wait().unwrap().success());
}

#[test]
fn a_commit_by_another_program_invalidates_everything() {
    let db = Db::new("y.db");
    let w = db.open("");
    w.execute("CREATE TABLE a(x); CREATE TABLE b(x)", &[])
        .unwrap();
    let count = |k: &str, t: &str| {
        w.read(k, &format!("SELECT count(*) FROM {t}"), &[])
            .unwrap()
            .get(0, 0)
            .unwrap()
            .as_i64()
    };
    assert_eq!(count("ka", "a"), 0);
    assert_eq!(count("kb", "b"), 0);
    let status = Command::new("python3")
        .args(["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('insert into a values (1)'); c.commit()"])
        .arg(&db.path)
        .status()
        .expect("python3");
    assert!(status.success());
    let latency = wait_until(Duration::from_millis(800), || count("ka", "a") == 1);
    assert!(latency.is_some(), "a foreign commit was seen within 800 ms");
    eprintln!("foreign commit seen after {latency:?}");
    let before = misses(&w);
    assert_eq!(count("kb", "b"), 0);
    assert_eq!(
        misses(&w),
        before + 1,
        "an unrelated table's entry was invalidated too: the commit came from outside"
    );
    let signals = w
        .poll_signals(Some("cache.invalidate.external*"), 0)
        .unwrap();
    assert!(!signals.signals.is_empty());
}

#[test]
fn raised_invalidation_reaches_other_processes() {
    let db = Db::new("z.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    for k in ["users:1", "users:2", "orders:1"] {
        w.read(k, "SELECT random()", &[]).unwrap();
    }
    let started = Instant::now();
    let status = child("raise:users:*", &db.path).status().unwrap();
    assert!(status.success());
    let seen = wait_until(Duration::from_millis(800), || {
        w.cache_stats().unwrap().entries == 1
    });
    if seen.is_none() {
        let all: Vec<String> = w
            .poll_signals(None, 0)
            .unwrap()
            .signals
            .iter()
            .map(|s| s.full_name())
            .collect();
        panic!("users:* not invalidated within 800 ms of the child's raise; signals: {all:?}");
    }
    eprintln!("raise seen {:?} after the child started", started.elapsed());
    let signals = w
        .poll_signals(Some("cache.invalidate.external:users:*"), 0)
        .unwrap();
    assert_eq!(signals.signals.len(), 1);
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let db = Db::new("crash.db");
    {
        let w = db.open("");
        w.execute("CREATE TABLE acked(id INTEGER PRIMARY KEY, pad BLOB)", &[])
            .unwrap();
        w.close().unwrap();
    }
    let mut c = child("load", &db.path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = c.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ack ") {
                acked.push(id.parse::<i64>().unwrap());
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(400));
    // SIGKILL: no destructor, no close, no checkpoint.
    let _ = Command::new("kill")
        .args(["-9", &c.id().to_string()])
        .status();
    let _ = c.wait();
    let acked = reader.join().unwrap();
    assert!(
        acked.len() > 100,
        "the child wrote under load ({} acks)",
        acked.len()
    );
    let w = db.open("");
    let check = w.query("PRAGMA integrity_check", &[]).unwrap();
    assert_eq!(check.get(0, 0), Some(singlewriter::ValueRef::Text("ok")));
    let rows = w.query("SELECT id FROM acked", &[]).unwrap();
    let stored: std::collections::HashSet<i64> = (0..rows.row_count())
        .map(|r| rows.get(r, 0).unwrap().as_i64())
        .collect();
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes were lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    eprintln!("{} acknowledged, {} stored", acked.len(), stored.len());
}
