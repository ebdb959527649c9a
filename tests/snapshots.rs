//! Read connections keep their snapshot between reads while nothing has committed (see
//! src/read.rs). These tests hold them to the promise that makes that safe: a read never answers
//! from a snapshot older than a commit that finished before it began — whoever committed — and an
//! idle reader's snapshot does not hold up checkpoints or a change of journal mode.
mod common;
use common::Db;
use rusqlite::Connection;
use singlewriter::{params, Writer};
use std::process::Command;
use std::time::Duration;

fn value(w: &Writer) -> i64 {
    w.query("SELECT v FROM kv WHERE k = 1", &[])
        .unwrap()
        .get(0, 0)
        .unwrap()
        .as_i64()
}

fn setup(db: &Db) -> Writer {
    let w = db.open("");
    w.execute("CREATE TABLE kv(k INTEGER PRIMARY KEY, v INTEGER)", &[])
        .unwrap();
    w.execute("INSERT INTO kv VALUES (1, 0)", &[]).unwrap();
    w
}

#[test]
fn a_read_after_this_writers_commit_sees_it() {
    let db = Db::new("own.db");
    let w = setup(&db);
    for i in 1..=500 {
        assert_eq!(value(&w), i - 1);
        w.execute("UPDATE kv SET v = ?1 WHERE k = 1", &params![i])
            .unwrap();
        assert_eq!(value(&w), i, "read right after acknowledged write {i}");
    }
}

#[test]
fn a_read_after_another_connections_commit_sees_it() {
    let db = Db::new("other.db");
    let w = setup(&db);
    let other = Connection::open(&db.path).unwrap();
    other.busy_timeout(Duration::from_secs(5)).unwrap();
    for i in 1..=500 {
        // Several reads first, so the reader holds a snapshot when the commit lands.
        for _ in 0..3 {
            assert_eq!(value(&w), i - 1);
        }
        other
            .execute("UPDATE kv SET v = ?1 WHERE k = 1", [i])
            .unwrap();
        assert_eq!(
            value(&w),
            i,
            "read right after another connection's commit {i}"
        );
    }
}

#[test]
fn a_read_after_another_processs_commit_sees_it() {
    let db = Db::new("proc.db");
    let w = setup(&db);
    for i in 1..=5 {
        for _ in 0..3 {
            assert_eq!(value(&w), i - 1);
        }
        let status = Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=5); c.execute('update kv set v = ? where k = 1', (int(sys.argv[2]),)); c.commit()",
            ])
            .arg(&db.path)
            .arg(i.to_string())
            .status()
            .expect("python3");
        assert!(status.success());
        assert_eq!(value(&w), i, "read right after the child's commit {i}");
    }
}

#[test]
fn concurrent_readers_never_see_an_acknowledged_write_undone() {
    let db = Db::new("conc.db");
    let w = setup(&db);
    let acked = std::sync::atomic::AtomicI64::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..20_000 {
                    let floor = acked.load(std::sync::atomic::Ordering::SeqCst);
                    let seen = value(&w);
                    assert!(
                        seen >= floor,
                        "read {seen} after write {floor} was acknowledged"
                    );
                }
            });
        }
        for i in 1..=2_000 {
            w.execute("UPDATE kv SET v = ?1 WHERE k = 1", &params![i])
                .unwrap();
            acked.store(i, std::sync::atomic::Ordering::SeqCst);
        }
    });
}

#[test]
fn an_idle_readers_snapshot_does_not_hold_up_a_truncating_checkpoint() {
    let db = Db::new("ckpt.db");
    let w = setup(&db);
    for i in 0..100 {
        w.execute("INSERT INTO kv(v) VALUES (?1)", &params![i])
            .unwrap();
        value(&w);
    }
    // Both readers now idle; their snapshots are released by the writer's next sweep (its idle
    // tick every Invalidation Poll, 10 ms).
    std::thread::sleep(Duration::from_millis(100));
    let other = Connection::open(&db.path).unwrap();
    let (busy, _log, _done): (i64, i64, i64) = other
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 0, "the checkpoint was blocked by a reader");
    let wal = std::fs::metadata(db.path.with_extension("db-wal")).unwrap();
    assert_eq!(wal.len(), 0, "the WAL was truncated");
    assert_eq!(value(&w), 0);
}

#[test]
fn changing_the_journal_mode_while_readers_held_snapshots_works() {
    let db = Db::new("mode.db");
    let w = setup(&db);
    assert_eq!(value(&w), 0);
    let mode = w.execute("PRAGMA journal_mode=DELETE", &[]);
    assert!(mode.is_ok(), "{mode:?}");
    let rows = w.query("PRAGMA journal_mode", &[]).unwrap();
    assert!(
        matches!(rows.get(0, 0), Some(singlewriter::ValueRef::Text("delete"))),
        "journal mode after the change: {:?}",
        rows.get(0, 0)
    );
    for i in 1..=50 {
        w.execute("UPDATE kv SET v = ?1 WHERE k = 1", &params![i])
            .unwrap();
        assert_eq!(value(&w), i, "rollback-journal mode: read after write {i}");
    }
    w.execute("PRAGMA journal_mode=WAL", &[]).unwrap();
    for i in 51..=100 {
        w.execute("UPDATE kv SET v = ?1 WHERE k = 1", &params![i])
            .unwrap();
        assert_eq!(value(&w), i, "back in WAL mode: read after write {i}");
    }
}

#[test]
fn transaction_control_is_refused_on_the_read_path() {
    let db = Db::new("tc.db");
    let w = setup(&db);
    for sql in ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT x", "END"] {
        let e = w.query(sql, &[]).unwrap_err();
        assert_eq!(e.status(), singlewriter::Status::InvalidArgument, "{sql}");
        assert!(e.message().contains("transaction control"), "{sql}: {e}");
    }
    w.execute("UPDATE kv SET v = 7 WHERE k = 1", &[]).unwrap();
    assert_eq!(value(&w), 7);
}
