//! Cached point lookups by rowid survive writes to other rows of their table, and never serve a
//! row that changed: every way SQLite can change a row (update, delete, insert, REPLACE
//! conflicts, DELETE without WHERE, rowid changes, triggers, foreign-key cascades) reaches the
//! lookup of that row.
mod common;
use common::Db;
use singlewriter::{params, ValueRef, Writer};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

fn open() -> (Db, Writer) {
    let db = Db::new("rows.db");
    let w = db.open("");
    w.execute(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER, u TEXT UNIQUE);
         INSERT INTO t(id, v, u) VALUES (1, 10, 'one'), (2, 20, 'two'), (3, 30, 'three');",
        &[],
    )
    .unwrap();
    (db, w)
}

/// The cached lookup of row `id`: its `v`, or None when there is no such row.
fn lookup(w: &Writer, id: i64) -> Option<i64> {
    let rows = w
        .read(
            &format!("t:{id}"),
            "SELECT v FROM t WHERE id = ?1",
            &params![id],
        )
        .unwrap();
    rows.get(0, 0).map(|v| v.as_i64())
}

fn hits(w: &Writer) -> u64 {
    w.cache_stats().unwrap().hits
}

#[test]
fn a_lookup_survives_writes_to_other_rows() {
    let (_db, w) = open();
    assert_eq!(lookup(&w, 1), Some(10));
    w.execute("UPDATE t SET v = 21 WHERE id = 2", &[]).unwrap();
    w.execute("INSERT INTO t(id, v) VALUES (4, 40)", &[])
        .unwrap();
    w.execute("DELETE FROM t WHERE id = 3", &[]).unwrap();
    let before = hits(&w);
    assert_eq!(lookup(&w, 1), Some(10));
    assert_eq!(hits(&w), before + 1, "served from the cache");
    // A read of the whole table is not a point lookup: any change makes it stale.
    let count = || {
        w.read("count", "SELECT count(*) FROM t", &[])
            .unwrap()
            .get(0, 0)
            .unwrap()
            .as_i64()
    };
    assert_eq!(count(), 3);
    w.execute("UPDATE t SET v = 22 WHERE id = 2", &[]).unwrap();
    w.execute("INSERT INTO t(id, v) VALUES (5, 50)", &[])
        .unwrap();
    assert_eq!(count(), 4);
}

#[test]
fn every_way_of_changing_a_row_reaches_its_lookup() {
    let (_db, w) = open();
    let cases: [(&str, i64, Option<i64>); 4] = [
        ("UPDATE t SET v = 11 WHERE id = 1", 1, Some(11)),
        ("DELETE FROM t WHERE id = 2", 2, None),
        ("INSERT INTO t(id, v) VALUES (7, 70)", 7, Some(70)),
        ("UPDATE t SET v = v + 1 WHERE u = 'three'", 3, Some(31)),
    ];
    for (sql, id, want) in cases {
        lookup(&w, id);
        w.execute(sql, &[]).unwrap();
        assert_eq!(lookup(&w, id), want, "after {sql}");
    }
    // REPLACE deletes the row that held the unique value: SQLite's update hook would not say so.
    assert_eq!(lookup(&w, 1), Some(11));
    w.execute(
        "INSERT OR REPLACE INTO t(id, v, u) VALUES (9, 90, 'one')",
        &[],
    )
    .unwrap();
    assert_eq!(lookup(&w, 1), None, "row 1 was replaced away");
    // A rowid that changes: both the old and the new lookups.
    assert_eq!(lookup(&w, 3), Some(31));
    assert_eq!(lookup(&w, 100), None);
    w.execute("UPDATE t SET id = 100 WHERE id = 3", &[])
        .unwrap();
    assert_eq!(lookup(&w, 3), None);
    assert_eq!(lookup(&w, 100), Some(31));
    // DELETE without WHERE (SQLite's truncate optimization would skip the row hooks).
    assert_eq!(lookup(&w, 7), Some(70));
    w.execute("DELETE FROM t", &[]).unwrap();
    assert_eq!(lookup(&w, 7), None);
    assert_eq!(lookup(&w, 100), None);
}

/// A trigger on `log` that updates `t`'s row of the same id, and `child` rows deleted with
/// their `parent` (row 5 of `child` belongs to row 1 of `parent`).
fn trigger_and_cascade(w: &Writer) {
    w.execute(
        "CREATE TABLE log(id INTEGER PRIMARY KEY, note);
         CREATE TRIGGER bump AFTER INSERT ON log BEGIN UPDATE t SET v = v + 100 WHERE id = NEW.id; END;
         CREATE TABLE parent(id INTEGER PRIMARY KEY);
         CREATE TABLE child(id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id) ON DELETE CASCADE);
         INSERT INTO parent VALUES (1); INSERT INTO child VALUES (5, 1);",
        &[],
    )
    .unwrap();
}

#[test]
fn rows_changed_by_triggers_and_cascades_reach_their_lookups() {
    let (_db, w) = open();
    trigger_and_cascade(&w);
    assert_eq!(lookup(&w, 2), Some(20));
    w.execute("INSERT INTO log(id, note) VALUES (2, 'x')", &[])
        .unwrap();
    assert_eq!(lookup(&w, 2), Some(120), "the trigger changed row 2");
    let child = || {
        w.read("child:5", "SELECT p FROM child WHERE id = ?1", &params![5])
            .unwrap()
            .get(0, 0)
            .map(|v| v.as_i64())
    };
    assert_eq!(child(), Some(1));
    w.execute("DELETE FROM parent WHERE id = 1", &[]).unwrap();
    assert_eq!(child(), None, "the cascade deleted the child row");
}

/// Until a read depends on a row, the writer does not ask SQLite which rows a commit changed
/// (`Tables::rows_wanted`): every table a commit writes moves as a whole, tables written only
/// by a trigger or a foreign-key cascade included.
#[test]
fn before_any_read_depends_on_a_row_every_written_table_moves_triggers_and_cascades_included() {
    let (_db, w) = open();
    trigger_and_cascade(&w);
    // Reads of whole tables only: none of them notes a row.
    let total = |key: &str, sql: &str| w.read(key, sql, &[]).unwrap().get(0, 0).map(|v| v.as_i64());
    let sum_t = || total("sum:t", "SELECT sum(v) FROM t");
    let count_child = || total("count:child", "SELECT count(*) FROM child");
    assert_eq!(sum_t(), Some(60));
    assert_eq!(count_child(), Some(1));
    let before = hits(&w);
    assert_eq!(sum_t(), Some(60));
    assert_eq!(count_child(), Some(1));
    assert_eq!(hits(&w), before + 2, "both served from the cache");
    w.execute("INSERT INTO log(id, note) VALUES (2, 'x')", &[])
        .unwrap();
    assert_eq!(sum_t(), Some(160), "the trigger changed t");
    w.execute("DELETE FROM parent WHERE id = 1", &[]).unwrap();
    assert_eq!(count_child(), Some(0), "the cascade emptied child");
    // And once a read depends on a row, writes to other rows leave it cached.
    assert_eq!(lookup(&w, 1), Some(10));
    w.execute("UPDATE t SET v = 21 WHERE id = 2", &[]).unwrap();
    let before = hits(&w);
    assert_eq!(lookup(&w, 1), Some(10));
    assert_eq!(
        hits(&w),
        before + 1,
        "a write to row 2 left row 1's lookup cached"
    );
}

/// A write statement cached before a trigger existed is prepared again by SQLite once the
/// schema changed; the tables the trigger writes are then invalidated too.
#[test]
fn a_statement_prepared_before_a_trigger_reports_the_triggers_table_once_prepared_again() {
    let (_db, w) = open();
    w.execute("CREATE TABLE audit(id INTEGER PRIMARY KEY, note)", &[])
        .unwrap();
    let insert = |id: i64| {
        w.execute(
            "INSERT INTO t(id, v, u) VALUES (?1, ?1, 'u' || ?1)",
            &params![id],
        )
        .unwrap()
    };
    insert(10); // cached now, with `t` as the only table it writes
    let audited = || {
        w.read("count:audit", "SELECT count(*) FROM audit", &[])
            .unwrap()
            .get(0, 0)
            .map(|v| v.as_i64())
    };
    assert_eq!(audited(), Some(0));
    assert_eq!(audited(), Some(0), "cached");
    w.execute(
        "CREATE TRIGGER log AFTER INSERT ON t BEGIN INSERT INTO audit(note) VALUES (NEW.id); END",
        &[],
    )
    .unwrap();
    assert_eq!(audited(), Some(0));
    insert(11); // the same cached statement: SQLite prepares it again, with the trigger
    assert_eq!(
        audited(),
        Some(1),
        "the trigger's insert reached the cached count"
    );
}

#[test]
fn keys_that_are_not_integers_and_tables_without_rowid_depend_on_the_whole_table() {
    let (_db, w) = open();
    let as_text = || {
        w.read("t:'1'", "SELECT v FROM t WHERE id = ?1", &params!["1"])
            .unwrap()
            .get(0, 0)
            .map(|v| v.as_i64())
    };
    assert_eq!(as_text(), Some(10));
    w.execute("UPDATE t SET v = 11 WHERE id = 1", &[]).unwrap();
    assert_eq!(as_text(), Some(11));
    w.execute(
        "CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID; INSERT INTO kv VALUES ('a', 1), ('b', 2)",
        &[],
    )
    .unwrap();
    let kv = || {
        w.read("kv:a", "SELECT v FROM kv WHERE k = ?1", &params!["a"])
            .unwrap()
            .get(0, 0)
            .map(|v| v.as_i64())
    };
    assert_eq!(kv(), Some(1));
    w.execute("UPDATE kv SET v = 3 WHERE k = 'a'", &[]).unwrap();
    assert_eq!(kv(), Some(3));
}

#[test]
fn a_schema_change_reclassifies_the_lookup() {
    let (_db, w) = open();
    assert_eq!(lookup(&w, 1), Some(10));
    // `id` stops being the rowid: the same SQL now scans, and must depend on the whole table.
    w.execute(
        "DROP TABLE t; CREATE TABLE t(id INTEGER, v INTEGER, u TEXT); INSERT INTO t VALUES (1, 10, 'one'), (2, 20, 'two')",
        &[],
    )
    .unwrap();
    assert_eq!(lookup(&w, 1), Some(10));
    w.execute("UPDATE t SET v = 11 WHERE id = 1", &[]).unwrap();
    assert_eq!(lookup(&w, 1), Some(11));
    w.execute("INSERT INTO t VALUES (1, 12, 'dup')", &[])
        .unwrap();
    let rows = w
        .read("t:1", "SELECT v FROM t WHERE id = ?1", &params![1])
        .unwrap();
    assert_eq!(rows.row_count(), 2, "both rows with id 1");
}

/// Readers doing cached point lookups while writers change rows: a read never returns a value
/// older than one acknowledged, or returned by any other read, before it began (a commit is
/// visible to uncached reads the moment its COMMIT returns, before it is acknowledged).
#[test]
fn cached_lookups_never_go_back_in_time_under_concurrent_writes() {
    let db = Db::new("race.db");
    let w = db.open("");
    let n = 50i64;
    w.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)", &[])
        .unwrap();
    for id in 0..n {
        w.execute("INSERT INTO t VALUES (?1, 0)", &params![id])
            .unwrap();
    }
    let acked: Vec<AtomicI64> = (0..n).map(|_| AtomicI64::new(0)).collect();
    let stop = AtomicBool::new(false);
    let stale = AtomicI64::new(0);
    std::thread::scope(|s| {
        for t in 0..2i64 {
            let (w, acked, stop) = (&w, &acked, &stop);
            s.spawn(move || {
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let id = (i * 7 + t) % n;
                    let r = w
                        .execute(
                            "UPDATE t SET v = v + 1 WHERE id = ?1 RETURNING v",
                            &params![id],
                        )
                        .unwrap();
                    assert_eq!(r.rows_affected, 1);
                    let v = w
                        .query("SELECT v FROM t WHERE id = ?1", &params![id])
                        .unwrap()
                        .get(0, 0)
                        .unwrap()
                        .as_i64();
                    acked[id as usize].fetch_max(v, Ordering::AcqRel);
                    i += 1;
                }
            });
        }
        for r in 0..2i64 {
            let (w, acked, stop, stale) = (&w, &acked, &stop, &stale);
            s.spawn(move || {
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let id = (i * 13 + r) % n;
                    let floor = acked[id as usize].load(Ordering::Acquire);
                    let rows = w
                        .read(
                            &format!("row:{id}"),
                            "SELECT v FROM t WHERE id = ?1",
                            &params![id],
                        )
                        .unwrap();
                    let v = match rows.get(0, 0) {
                        Some(ValueRef::Integer(v)) => v,
                        other => panic!("row {id}: {other:?}"),
                    };
                    if v < floor {
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            });
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(stale.load(Ordering::Relaxed), 0, "stale cached reads");
    let stats = w.cache_stats().unwrap();
    eprintln!("hits {} misses {}", stats.hits, stats.misses);
    assert!(
        stats.hits > 0,
        "lookups of unchanged rows were served from the cache"
    );
}
