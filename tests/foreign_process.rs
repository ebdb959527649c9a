//! Other programs on the same database file while this library reads and writes it under load.
//!
//! The library's host runs in a child process (this test binary re-run), so a crash there
//! (SIGBUS when another process truncates a `-shm` file it has mapped) is reported as a failed
//! exit, not as a dead test runner. Other processes — plain Python `sqlite3` and another
//! singlewriter process — open, read, write and close the file in a loop meanwhile. The host
//! checks every few milliseconds that it still holds SQLite's shared lock on the `-shm` file
//! (`/proc/locks`): closing any descriptor of that file would drop it, and then another process
//! believes it is alone and reinitialises the WAL index under this one.
mod common;
use common::Db;
use singlewriter::{params, Writer};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn child(mode: &str, db: &std::path::Path, journal: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--ignored",
        "--exact",
        "foreign_child_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("SW_CHILD_MODE", mode)
    .env("SW_CHILD_DB", db)
    .env("SW_CHILD_JOURNAL", journal);
    c
}

/// The device:inode of `path` as `/proc/locks` prints it (`maj:min:ino`, hex device numbers).
fn proc_locks_id(path: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let dev = m.dev();
    // glibc's major/minor encoding.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    Some(format!("{major:02x}:{minor:02x}:{}", m.ino()))
}

/// Whether this process holds a POSIX lock on `path` covering byte `offset`; on `Err`, the
/// lines of `/proc/locks` that were read.
fn holds_lock(path: &str, offset: u64) -> Result<(), String> {
    let Some(id) = proc_locks_id(path) else {
        return Err(format!("{path} is missing"));
    };
    let pid = std::process::id().to_string();
    let locks = proc_locks();
    let held = locks.lines().any(|l| {
        // "1: POSIX  ADVISORY  READ 1234 fd:01:5678 128 128" (a "->" marks a waiter).
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() == 8
            && f[1] == "POSIX"
            && f[4] == pid
            && f[5] == id
            && f[6].parse::<u64>().is_ok_and(|s| s <= offset)
            && (f[7] == "EOF" || f[7].parse::<u64>().is_ok_and(|e| e >= offset))
    });
    if held {
        Ok(())
    } else {
        Err(format!("pid {pid}, {path} = {id}:\n{locks}"))
    }
}

/// `/proc/locks` in one `read` call: the kernel lists the locks consistently within one call,
/// but across calls locks taken or dropped meanwhile shift the listing and lines are skipped
/// (`read_to_string` reads in several calls).
fn proc_locks() -> String {
    let mut buf = vec![0u8; 4 << 20];
    let n = std::fs::File::open("/proc/locks")
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    buf.truncate(n);
    String::from_utf8_lossy(&buf).into_owned()
}

/// SQLite's "dead man switch" byte in the `-shm` file: every process with the WAL index open
/// holds a shared lock on it (os_unix.c, UNIX_SHM_DMS = 120 + 8).
const SHM_DMS: u64 = 128;

/// Not a test: the body of the child processes.
#[test]
#[ignore]
fn foreign_child_entry() {
    let (Ok(mode), Ok(db), Ok(journal)) = (
        std::env::var("SW_CHILD_MODE"),
        std::env::var("SW_CHILD_DB"),
        std::env::var("SW_CHILD_JOURNAL"),
    ) else {
        return;
    };
    let w = Writer::open(&format!(
        "Data Source={db};Journal Mode={journal};Busy Timeout=30000"
    ))
    .unwrap();
    if mode == "host" {
        host(&w, &db, &journal);
    } else if mode == "peer" {
        // Another singlewriter process: open, write, read, close, a few times over.
        for i in 0..5 {
            w.execute(
                "INSERT INTO foreign_rows(who, n) VALUES ('peer', ?1)",
                &params![i],
            )
            .unwrap();
            w.query("SELECT count(*) FROM acked", &[]).unwrap();
        }
    }
    w.close().unwrap();
}

/// The host: two writer threads, two reader threads (queries and cached reads) and a lock
/// checker, until standard input closes. Prints `ack <id>` for every acknowledged write.
fn host(w: &Writer, db: &str, journal: &str) {
    let stop = AtomicBool::new(false);
    let out = std::sync::Mutex::new(std::io::stdout());
    let shm = format!("{db}-shm");
    let wal = journal.eq_ignore_ascii_case("wal");
    std::thread::scope(|s| {
        for t in 0..2i64 {
            let (w, out, stop) = (w, &out, &stop);
            s.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = t * 1_000_000_000 + i;
                    w.execute(
                        "INSERT INTO acked(id, pad) VALUES (?1, randomblob(64))",
                        &params![id],
                    )
                    .unwrap();
                    let mut o = out.lock().unwrap();
                    writeln!(o, "ack {id}").unwrap();
                    o.flush().unwrap();
                    drop(o);
                    i += 1;
                    // Leave the other processes room to take the write lock (SQLite's busy
                    // handler polls; a writer that never pauses starves them in rollback mode).
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        }
        for t in 0..2 {
            let (w, stop) = (w, &stop);
            s.spawn(move || {
                let mut last = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let n = if t == 0 {
                        w.query("SELECT count(*) FROM acked", &[])
                    } else {
                        w.read("acked:count", "SELECT count(*) FROM acked", &[])
                    }
                    .unwrap()
                    .get(0, 0)
                    .unwrap()
                    .as_i64();
                    assert!(n >= last, "a read went back in time: {n} after {last}");
                    last = n;
                    w.query("SELECT count(*) FROM foreign_rows", &[]).unwrap();
                }
            });
        }
        let (stop, shm) = (&stop, &shm);
        s.spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if wal {
                    if let Err(locks) = holds_lock(shm, SHM_DMS) {
                        eprintln!("LOCK LOST: this process no longer holds its -shm lock; {locks}");
                        std::process::exit(3);
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        // Standard input closing is the signal to stop.
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        stop.store(true, Ordering::Relaxed);
    });
}

fn python_round(db: &std::path::Path, i: usize) {
    let script = "import sqlite3, sys\n\
        c = sqlite3.connect(sys.argv[1], timeout=30)\n\
        c.execute('SELECT count(*) FROM acked').fetchone()\n\
        c.execute(\"INSERT INTO foreign_rows(who, n) VALUES ('python', ?)\", (int(sys.argv[2]),))\n\
        c.commit()\n\
        c.execute('SELECT count(*) FROM foreign_rows').fetchone()\n\
        c.close()\n";
    let st = Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .arg(i.to_string())
        .status()
        .expect("python3");
    assert!(st.success(), "python round {i} failed");
}

fn run(journal: &str, rounds: usize) {
    let db = Db::new("foreign.db");
    {
        let w = db.open(&format!("Journal Mode={journal}"));
        w.execute(
            "CREATE TABLE acked(id INTEGER PRIMARY KEY, pad BLOB); \
             CREATE TABLE foreign_rows(who TEXT, n INTEGER)",
            &[],
        )
        .unwrap();
        w.close().unwrap();
    }
    let mut host = child("host", &db.path, journal)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = host.stdout.take().unwrap();
    let acks = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ack ") {
                acked.push(id.parse::<i64>().unwrap());
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(100));
    let mut peers = 0;
    for i in 0..rounds {
        python_round(&db.path, i);
        if i % 25 == 0 {
            let st = child("peer", &db.path, journal)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success(), "peer singlewriter process failed");
            peers += 1;
        }
        if let Ok(Some(st)) = host.try_wait() {
            let mut err = String::new();
            host.stderr.take().unwrap().read_to_string(&mut err).ok();
            panic!("the host died after {i} foreign rounds: {st:?}\n{err}");
        }
    }
    drop(host.stdin.take());
    let st = host.wait().unwrap();
    let mut err = String::new();
    host.stderr.take().unwrap().read_to_string(&mut err).ok();
    assert!(st.success(), "the host failed: {st:?}\n{err}");
    let acked = acks.join().unwrap();
    assert!(
        acked.len() > 100,
        "the host wrote under load ({})",
        acked.len()
    );

    let w = db.open(&format!("Journal Mode={journal}"));
    let check = w.query("PRAGMA integrity_check", &[]).unwrap();
    assert_eq!(check.get(0, 0), Some(singlewriter::ValueRef::Text("ok")));
    let rows = w.query("SELECT id FROM acked", &[]).unwrap();
    let stored: std::collections::HashSet<i64> = (0..rows.row_count())
        .map(|r| rows.get(r, 0).unwrap().as_i64())
        .collect();
    let lost = acked.iter().filter(|id| !stored.contains(id)).count();
    assert_eq!(
        lost,
        0,
        "{lost} of {} acknowledged writes lost",
        acked.len()
    );
    let foreign = w
        .query("SELECT count(*) FROM foreign_rows", &[])
        .unwrap()
        .get(0, 0)
        .unwrap()
        .as_i64();
    assert_eq!(foreign as usize, rounds + peers * 5);
    eprintln!(
        "{journal}: {} acknowledged host writes, {rounds} python rounds, {peers} peer processes",
        acked.len()
    );
}

#[test]
fn other_processes_opening_a_wal_database_under_load() {
    run("WAL", 120);
}

#[test]
fn other_processes_opening_a_rollback_database_under_load() {
    run("DELETE", 120);
}

#[test]
fn the_shm_lock_is_held_while_open() {
    let db = Db::new("locks.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    w.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    let shm = format!("{}-shm", db.path.display());
    for _ in 0..50 {
        w.query("SELECT count(*) FROM t", &[]).unwrap();
        w.read("t", "SELECT count(*) FROM t", &[]).unwrap();
        w.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
        if let Err(locks) = holds_lock(&shm, SHM_DMS) {
            panic!("this process must hold SQLite's shared lock on {shm}; {locks}");
        }
    }
}

/// A Python process that writes 200 rows of 3,000 bytes in one transaction with a page cache
/// of two pages (so SQLite spills pages to the database file and syncs the journal) and dies
/// before it commits: its rollback journal is left hot.
fn die_mid_transaction(db: &std::path::Path, journal: &str) {
    let script = "import os, sqlite3, sys\n\
        c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
        c.execute('PRAGMA journal_mode=' + sys.argv[2])\n\
        c.execute('PRAGMA cache_size=2')\n\
        c.execute('BEGIN')\n\
        for i in range(200):\n    c.execute('INSERT INTO t(x) VALUES (randomblob(3000))')\n\
        os._exit(0)\n";
    let st = Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .arg(journal)
        .status()
        .expect("python3");
    assert!(st.success(), "the python writer failed before it died");
}

/// SQLite's answer when a read-only connection meets a hot journal.
const READONLY_ROLLBACK: i32 = 776;

#[test]
fn reads_roll_back_what_a_writer_that_died_mid_transaction_left() {
    for journal in ["DELETE", "TRUNCATE", "PERSIST"] {
        let db = Db::new("hot.db");
        let w = db.open(&format!("Journal Mode={journal}"));
        w.execute("CREATE TABLE t(x)", &[]).unwrap();
        w.execute("INSERT INTO t(x) VALUES (1)", &[]).unwrap();
        assert_eq!(
            w.read("n", "SELECT count(*) FROM t", &[])
                .unwrap()
                .get(0, 0)
                .unwrap()
                .as_i64(),
            1
        );
        die_mid_transaction(&db.path, journal);
        // Read-only connections may not roll the journal back; without the write connection
        // doing it, every read failed with SQLITE_READONLY_ROLLBACK until this process wrote.
        let n = |r: singlewriter::Result<std::sync::Arc<singlewriter::Rows>>| {
            r.unwrap_or_else(|e| panic!("{journal}: {e:?}"))
                .get(0, 0)
                .unwrap()
                .as_i64()
        };
        assert_eq!(n(w.query("SELECT count(*) FROM t", &[])), 1, "{journal}");
        assert_eq!(
            n(w.read("n2", "SELECT count(*) FROM t", &[])),
            1,
            "{journal}"
        );
        let check = w.query("PRAGMA integrity_check", &[]).unwrap();
        assert_eq!(
            check.get(0, 0),
            Some(singlewriter::ValueRef::Text("ok")),
            "{journal}"
        );
        w.execute("INSERT INTO t(x) VALUES (2)", &[]).unwrap();
        assert_eq!(n(w.query("SELECT count(*) FROM t", &[])), 2, "{journal}");
        w.close().unwrap();
    }
}

#[test]
fn a_read_only_writer_over_a_hot_journal_says_what_to_do() {
    let db = Db::new("hot-ro.db");
    {
        let w = db.open("Journal Mode=DELETE");
        w.execute("CREATE TABLE t(x)", &[]).unwrap();
        w.execute("INSERT INTO t(x) VALUES (1)", &[]).unwrap();
        w.close().unwrap();
    }
    // Opened read-only before the writer dies: reads meet the journal.
    let ro = db.open("Mode=ReadOnly");
    assert_eq!(common::count(&ro, "t"), 1);
    die_mid_transaction(&db.path, "DELETE");
    let e = ro.query("SELECT count(*) FROM t", &[]).unwrap_err();
    assert_eq!(e.status(), singlewriter::Status::ReadOnly, "{e}");
    assert_eq!(e.sqlite_code(), READONLY_ROLLBACK, "{e}");
    assert!(
        e.message().contains("hot") && e.message().contains("open it read-write"),
        "the message names the hot journal and what to do: {e}"
    );
    // Opened read-only after it died (this process's writer closed first, or the open would
    // share it): the open says the same.
    ro.close().unwrap();
    let e = match Writer::open(&db.cs("Mode=ReadOnly")) {
        Ok(_) => panic!("a read-only open over a hot journal fails"),
        Err(e) => e,
    };
    assert_eq!(e.sqlite_code(), READONLY_ROLLBACK, "{e}");
    assert!(e.message().contains("open it read-write"), "{e}");
    // Nothing was lost to the attempts: a read-write open rolls the journal back.
    let w = db.open("");
    assert_eq!(common::count(&w, "t"), 1);
    w.close().unwrap();
    let ro = db.open("Mode=ReadOnly");
    assert_eq!(common::count(&ro, "t"), 1);
}
