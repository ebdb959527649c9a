//! The writer lane: the original package's writer tests, ported, plus group-commit isolation,
//! misuse, busy handling, closing, and bad input.
mod common;
use common::{count, items_schema, with_lane_held, Db};
use singlewriter::{named_params, params, Param, Statement, Status, Writer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn write_allows_multiple_writes_and_reads() {
    let db = Db::new("a.db");
    let w = db.open("Mode=ReadWriteCreate;Cache=Shared");
    items_schema(&w);
    for i in 1..=3 {
        w.execute(
            "INSERT INTO Items(Name, Value) VALUES (@Name, @Value)",
            &named_params! {"Name" => format!("n{i}"), "Value" => i},
        )
        .unwrap();
    }
    assert_eq!(count(&w, "Items"), 3);
    let rows = w.query("SELECT Value FROM Items ORDER BY Id", &[]).unwrap();
    let values: Vec<i64> = (0..rows.row_count())
        .map(|r| rows.get(r, 0).unwrap().as_i64())
        .collect();
    assert_eq!(values, vec![1, 2, 3]);
}

#[test]
fn transactional_batch_rolls_back_on_failure() {
    let db = Db::new("b.db");
    let w = db.open("");
    items_schema(&w);
    let insert = || Statement::new("INSERT INTO Items(Name, Value) VALUES ('dup', 1)", vec![]);
    let e = w.batch(vec![insert(), insert()], true).unwrap_err();
    assert_eq!(e.status(), Status::Constraint);
    assert!(
        e.message().to_lowercase().contains("unique"),
        "{}",
        e.message()
    );
    assert_eq!(count(&w, "Items"), 0);
}

#[test]
fn non_transactional_batch_keeps_what_succeeded_before_the_failure() {
    let db = Db::new("c.db");
    let w = db.open("");
    items_schema(&w);
    let insert = || Statement::new("INSERT INTO Items(Name, Value) VALUES ('dup', 1)", vec![]);
    let e = w
        .batch(
            vec![
                insert(),
                insert(),
                Statement::new("INSERT INTO Items(Name, Value) VALUES ('later', 1)", vec![]),
            ],
            false,
        )
        .unwrap_err();
    assert_eq!(e.status(), Status::Constraint);
    assert_eq!(count(&w, "Items"), 1);
}

#[test]
fn transaction_returns_value_and_commits() {
    let db = Db::new("d.db");
    let w = db.open("");
    items_schema(&w);
    let sum = w
        .transaction(|t| {
            t.execute("INSERT INTO Items(Name, Value) VALUES ('x', 10)", &[])?;
            Ok(t.query("SELECT SUM(Value) FROM Items", &[])?
                .get(0, 0)
                .unwrap()
                .as_i64())
        })
        .unwrap();
    assert_eq!(sum, 10);
    assert_eq!(count(&w, "Items"), 1);
}

#[test]
fn transaction_error_rolls_back_everything_it_did() {
    let db = Db::new("d2.db");
    let w = db.open("");
    items_schema(&w);
    let e = w
        .transaction(|t| -> singlewriter::Result<()> {
            t.execute("INSERT INTO Items(Name, Value) VALUES ('x', 10)", &[])?;
            Err(singlewriter::Error::new(
                Status::Rollback,
                "changed my mind",
            ))
        })
        .unwrap_err();
    assert_eq!(e.status(), Status::Rollback);
    assert_eq!(count(&w, "Items"), 0);
}

#[test]
fn pragmas_set_wal_and_enforce_foreign_keys() {
    let db = Db::new("e.db");
    let w = db.open("");
    w.execute(
        "CREATE TABLE Parents(Id INTEGER PRIMARY KEY); CREATE TABLE Children(Id INTEGER PRIMARY KEY, ParentId INTEGER NOT NULL REFERENCES Parents(Id));",
        &[],
    )
    .unwrap();
    let e = w
        .execute("INSERT INTO Children(Id, ParentId) VALUES (1, 42)", &[])
        .unwrap_err();
    assert_eq!(e.status(), Status::Constraint, "{e}");
    let mode = w.query("PRAGMA journal_mode", &[]).unwrap();
    assert_eq!(mode.get(0, 0), Some(singlewriter::ValueRef::Text("wal")));
}

#[test]
fn named_parameters_bind_whatever_prefix_the_sql_uses() {
    let db = Db::new("f.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(a, b, c)", &[]).unwrap();
    for name in ["@x", ":x", "$x", "x"] {
        for sql in [
            "INSERT INTO t VALUES (@x, 1, 1)",
            "INSERT INTO t VALUES (:x, 1, 1)",
            "INSERT INTO t VALUES ($x, 1, 1)",
        ] {
            w.execute(sql, &[Param::named(name, 5)])
                .unwrap_or_else(|e| panic!("{name} with {sql}: {e}"));
        }
    }
    assert_eq!(count(&w, "t"), 12);
    let e = w
        .execute(
            "INSERT INTO t VALUES (@x, 1, 1)",
            &[Param::named("@x", 1), Param::named("@nope", 2)],
        )
        .unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);
    assert!(e.message().contains("@nope"), "{}", e.message());
    let e = w
        .execute("INSERT INTO t VALUES (@x, @y, 1)", &[Param::named("@x", 1)])
        .unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);
    assert!(e.message().contains("@y"), "{}", e.message());
    let e = w
        .execute("INSERT INTO t VALUES (?, ?, ?)", &params![1, 2])
        .unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);
    let e = w
        .execute("INSERT INTO t VALUES (?, ?, ?)", &params![1, 2, 3, 4])
        .unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);
}

#[test]
fn bad_sql_is_an_error_with_sqlites_message() {
    let db = Db::new("g.db");
    let w = db.open("");
    let e = w
        .execute("INSERT INTO nowhere VALUES (1)", &[])
        .unwrap_err();
    assert_eq!(e.status(), Status::Error);
    assert!(e.message().contains("no such table"), "{}", e.message());
    assert_ne!(e.sqlite_code(), 0);
    assert_eq!(
        w.execute("   ", &[]).unwrap_err().status(),
        Status::InvalidArgument
    );
    assert_eq!(
        w.execute("BEGIN", &[]).unwrap_err().status(),
        Status::InvalidArgument
    );
    assert_eq!(
        w.execute("commit", &[]).unwrap_err().status(),
        Status::InvalidArgument
    );
}

#[test]
fn statements_that_cannot_run_in_a_transaction_run_alone() {
    let db = Db::new("h.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    w.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    w.execute("VACUUM", &[]).unwrap();
    w.execute("PRAGMA user_version = 7", &[]).unwrap();
    assert_eq!(
        w.query("PRAGMA user_version", &[])
            .unwrap()
            .get(0, 0)
            .unwrap()
            .as_i64(),
        7
    );
    let e = w.transaction(|t| t.execute("VACUUM", &[])).unwrap_err();
    assert_eq!(e.status(), Status::Misuse);
    assert_eq!(count(&w, "t"), 1);
}

#[test]
fn failed_write_does_not_fail_its_group() {
    let db = Db::new("i.db");
    let w = Arc::new(db.open(""));
    w.execute(
        "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT NOT NULL)",
        &[],
    )
    .unwrap();
    let ok = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let w = w.clone();
            let ok = ok.clone();
            std::thread::spawn(move || {
                for i in 0..250i64 {
                    // Every 7th write collides with an earlier key of this thread.
                    let k = if i % 7 == 6 {
                        t * 1000 + i - 1
                    } else {
                        t * 1000 + i
                    };
                    match w.execute("INSERT INTO t(k, v) VALUES (?1, 'x')", &params![k]) {
                        Ok(r) => {
                            assert_eq!(r.rows_affected, 1);
                            ok.lock().push(k);
                        }
                        Err(e) => assert_eq!(e.status(), Status::Constraint, "{e}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut acked = ok.lock().clone();
    acked.sort();
    let rows = w.query("SELECT k FROM t ORDER BY k", &[]).unwrap();
    let stored: Vec<i64> = (0..rows.row_count())
        .map(|r| rows.get(r, 0).unwrap().as_i64())
        .collect();
    assert_eq!(
        stored, acked,
        "every acknowledged write is in the file, nothing else is"
    );
    let stats = w.stats().unwrap();
    assert_eq!(stats.committed as usize, acked.len() + 1);
    assert_eq!(stats.failed as usize, 16 * 250 - acked.len());
}

#[test]
fn writes_queued_while_the_lane_is_busy_commit_as_one_group() {
    let db = Db::new("grp.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x UNIQUE)", &[]).unwrap();
    let mut before = 0;
    with_lane_held(&w, Duration::from_millis(100), || {
        before = w.stats().unwrap().transactions;
        for i in 0..100 {
            // Every tenth write fails; its neighbours commit anyway.
            let v = if i % 10 == 9 { 0 } else { i };
            w.enqueue("INSERT INTO t VALUES (?1)", params![v], None)
                .unwrap();
        }
    });
    w.flush(None).unwrap();
    let s = w.stats().unwrap();
    assert_eq!((s.committed, s.failed), (1 + 1 + 90, 10), "{s:?}");
    // The transaction's own commit, then one group for all 100 queued writes.
    assert_eq!(s.transactions - before, 2, "{s:?}");
    assert_eq!(count(&w, "t"), 90);
}

#[test]
fn execute_if_idle_runs_on_an_idle_writer_and_declines_a_busy_one_without_queueing() {
    let db = Db::new("idle.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x UNIQUE)", &[]).unwrap();
    let caller = std::thread::current().id();
    // Idle: it runs here, now, and reports as `execute` does.
    let r = w
        .execute_if_idle("INSERT INTO t VALUES (?1)", &params![1])
        .unwrap()
        .expect("an idle writer runs it");
    assert_eq!((r.rows_affected, r.last_insert_rowid), (1, 1));
    assert_eq!(count(&w, "t"), 1);
    // Its own failure is its result (not queued, not run again).
    let e = w
        .execute_if_idle("INSERT INTO t VALUES (?1)", &params![1])
        .unwrap_err();
    assert_eq!(e.status(), Status::Constraint, "{e}");
    assert!(w
        .execute_if_idle("INSERT INTO nope VALUES (1)", &[])
        .is_err());
    // Busy (another thread's transaction holds the lane): declined, nothing queued or run.
    let before = w.stats().unwrap();
    with_lane_held(&w, Duration::from_millis(100), || {
        assert!(w
            .execute_if_idle("INSERT INTO t VALUES (?1)", &params![2])
            .unwrap()
            .is_none());
        // Only the transaction holding the lane is waiting to be acknowledged.
        assert_eq!(w.stats().unwrap().queued, 1);
    });
    let after = w.stats().unwrap();
    let done = |s: &singlewriter::Stats| s.committed + s.failed;
    assert_eq!(
        done(&after) - done(&before),
        1,
        "only the transaction: {after:?}"
    );
    assert_eq!(count(&w, "t"), 1);
    // Inside a completion callback (which may not wait): declined there too.
    let (tx, rx) = std::sync::mpsc::channel();
    let w2 = Arc::new(w);
    let inner = w2.clone();
    w2.enqueue(
        "INSERT INTO t VALUES (3)",
        vec![],
        Some(Box::new(move |_| {
            let r = inner.execute_if_idle("INSERT INTO t VALUES (4)", &[]);
            tx.send((r.map(|o| o.is_some()), std::thread::current().id()))
                .unwrap();
        })),
    )
    .unwrap();
    let (declined, on) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(!declined.unwrap(), "declined inside a callback");
    assert_ne!(on, caller);
    w2.flush(None).unwrap();
    assert_eq!(count(&w2, "t"), 2);
    // Closed: an error, as for `execute`.
    let w3 = db.open("");
    w3.close().unwrap();
    assert_eq!(
        w3.execute_if_idle("INSERT INTO t VALUES (5)", &[])
            .unwrap_err()
            .status(),
        Status::Closed
    );
}

/// A `python3` process that holds `db`'s write lock (BEGIN IMMEDIATE, one row written) until a
/// line arrives on its stdin (or 10 s passed), then commits and exits. Returns once it holds
/// the lock.
fn foreign_writer(db: &std::path::Path) -> std::process::Child {
    use std::io::BufRead;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import select, sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN IMMEDIATE'); c.execute('INSERT INTO t VALUES (100)')\n\
             print('held', flush=True); select.select([sys.stdin], [], [], 10)\n\
             c.execute('COMMIT'); print('committed', flush=True)",
        ])
        .arg(db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    child
}

#[test]
fn execute_or_enqueue_runs_when_idle_and_otherwise_queues_never_waiting_for_another_process() {
    use std::io::Write;
    let db = Db::new("or.db");
    // A Busy Timeout far longer than the test: a write that waited for the other process here
    // would hold this thread until that process let go, which it does only when told to below.
    let w = db.open("Busy Timeout=600000");
    w.execute("CREATE TABLE t(x UNIQUE)", &[]).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let later = |tag: i64| -> Option<
        Box<dyn FnOnce(singlewriter::Result<singlewriter::WriteResult>) + Send>,
    > {
        let tx = tx.clone();
        Some(Box::new(move |r| {
            tx.send((tag, r.map(|r| r.rows_affected).map_err(|e| e.status())))
                .unwrap();
        }))
    };
    // Idle: it runs here; the callback is never called.
    let r = w
        .execute_or_enqueue("INSERT INTO t VALUES (?1)", &params![1], later(1))
        .unwrap()
        .expect("an idle writer runs it here");
    assert_eq!(r.rows_affected, 1);
    // Its own failure is its result; the callback is not called.
    let e = w
        .execute_or_enqueue("INSERT INTO t VALUES (?1)", &params![1], later(2))
        .unwrap_err();
    assert_eq!(e.status(), Status::Constraint, "{e}");
    // Busy (another thread's transaction holds the lane): queued; the callback reports.
    with_lane_held(&w, Duration::from_millis(100), || {
        assert!(w
            .execute_or_enqueue("INSERT INTO t VALUES (?1)", &params![3], later(3))
            .unwrap()
            .is_none());
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(20)).unwrap(),
        (3, Ok(1))
    );
    // Another process holds the write lock: queued, and this thread goes on at once (it
    // returns while that process still holds the lock; `execute_if_idle` would wait here).
    let mut other = foreign_writer(&db.path);
    let queued = w
        .execute_or_enqueue("INSERT INTO t VALUES (?1)", &params![4], later(4))
        .unwrap();
    assert!(queued.is_none());
    assert!(
        other.try_wait().unwrap().is_none(),
        "returned only after the other process let go of the lock"
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing commits while the other process holds the lock"
    );
    writeln!(other.stdin.as_mut().unwrap()).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(20)).unwrap(),
        (4, Ok(1))
    );
    assert!(other.wait().unwrap().success());
    // Statements that run alone are queued, never run here.
    assert!(w
        .execute_or_enqueue("PRAGMA user_version = 7", &[], later(5))
        .unwrap()
        .is_none());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(20)).unwrap(),
        (5, Ok(0))
    );
    assert!(
        rx.try_recv().is_err(),
        "the callbacks of writes run here never ran"
    );
    assert_eq!(count(&w, "t"), 4); // 1, 3, 4 and the other process's 100
    assert_eq!(w.stats().unwrap().queued, 0);
    // Closed: an error, and the callback is not called.
    let w2 = db.open("");
    w2.close().unwrap();
    assert_eq!(
        w2.execute_or_enqueue("INSERT INTO t VALUES (6)", &[], later(6))
            .unwrap_err()
            .status(),
        Status::Closed
    );
    drop(tx);
    assert!(rx.recv_timeout(Duration::from_secs(1)).is_err());
}

/// A write's outcome as the tests compare it: rows affected and last insert rowid, or the
/// error's status.
type Outcome = Result<(i64, i64), Status>;

/// Queue `writes` while the lane is held, so that they land in one group (consecutive writes
/// of the same SQL then run on one prepared statement), and return each one's outcome.
fn queued_in_one_group(w: &Writer, writes: &[(&str, Vec<Param>)]) -> Vec<Outcome> {
    let results = Arc::new(parking_lot::Mutex::new(vec![None; writes.len()]));
    with_lane_held(w, Duration::from_millis(100), || {
        for (i, (sql, p)) in writes.iter().enumerate() {
            let r = results.clone();
            w.enqueue(
                sql,
                p.clone(),
                Some(Box::new(move |res| {
                    r.lock()[i] = Some(
                        res.map(|r| (r.rows_affected, r.last_insert_rowid))
                            .map_err(|e| e.status()),
                    )
                })),
            )
            .unwrap();
        }
    });
    w.flush(None).unwrap();
    let got = results.lock().iter().map(|r| r.unwrap()).collect();
    got
}

#[test]
fn a_write_that_aborts_the_transaction_fails_alone() {
    let db = Db::new("j.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(k INTEGER PRIMARY KEY)", &[])
        .unwrap();
    w.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    let r = queued_in_one_group(
        &w,
        &[
            ("INSERT INTO t VALUES (2)", vec![]),
            ("INSERT OR ROLLBACK INTO t VALUES (1)", vec![]),
            ("INSERT INTO t VALUES (3)", vec![]),
        ],
    );
    assert!(r[0].is_ok() && r[2].is_ok(), "{r:?}");
    assert_eq!(r[1], Err(Status::Constraint));
    assert_eq!(count(&w, "t"), 3);
}

#[test]
fn a_write_that_aborts_the_transaction_in_a_run_of_one_statement_fails_alone() {
    // The same SQL in a row runs on one prepared statement; the writer looks at the
    // transaction after a failed run (a successful INSERT cannot end it): the failure in the
    // middle of the run fails that write alone, the ones before it run again.
    let db = Db::new("j2.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(k INTEGER PRIMARY KEY)", &[])
        .unwrap();
    w.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    let writes: Vec<(&str, Vec<Param>)> = [2, 3, 1, 4, 5]
        .into_iter()
        .map(|k| ("INSERT OR ROLLBACK INTO t VALUES (?1)", params![k]))
        .collect();
    let r = queued_in_one_group(&w, &writes);
    for (i, res) in r.iter().enumerate() {
        if i == 2 {
            assert_eq!(*res, Err(Status::Constraint), "{r:?}");
        } else {
            assert!(res.is_ok(), "{r:?}");
        }
    }
    assert_eq!(count(&w, "t"), 5);
    assert_eq!(w.stats().unwrap().failed, 1);
}

/// Each write's outcome when `writes` run one at a time, and when they are queued together in
/// one group.
fn results_alone_and_in_runs(setup: &[&str], writes: &[(&str, Vec<Param>)]) -> [Vec<Outcome>; 2] {
    let run = |name: &str, how: &dyn Fn(&Writer) -> Vec<Outcome>| {
        let db = Db::new(name);
        let w = db.open("");
        for sql in setup {
            w.execute(sql, &[]).unwrap();
        }
        how(&w)
    };
    let alone = run("alone.db", &|w| {
        writes
            .iter()
            .map(|(sql, p)| {
                w.execute(sql, p)
                    .map(|r| (r.rows_affected, r.last_insert_rowid))
                    .map_err(|e| e.status())
            })
            .collect()
    });
    let grouped = run("runs.db", &|w| queued_in_one_group(w, writes));
    [alone, grouped]
}

#[test]
fn a_run_of_one_statement_reports_what_each_write_alone_would() {
    let setup = [
        "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)",
        "CREATE TABLE log(id INTEGER PRIMARY KEY, k INTEGER)",
        "CREATE TRIGGER t_del AFTER DELETE ON t BEGIN INSERT INTO log(k) VALUES (old.k); END",
    ];
    let insert = "INSERT OR IGNORE INTO t(k, v) VALUES (?1, ?2)";
    let update = "UPDATE t SET v = ?2 WHERE k = ?1";
    let delete = "DELETE FROM t WHERE k = ?1";
    let with = "WITH x(n) AS (SELECT ?1) INSERT INTO t(k, v) SELECT n, 'w' FROM x";
    let select = "SELECT count(*) FROM t WHERE k > ?1";
    let writes: Vec<(&str, Vec<Param>)> = vec![
        (insert, params![1, "a"]),
        (insert, params![1, "again"]), // ignored: no row, no rowid
        (insert, params![2, "b"]),
        (insert, params![3, "c"]),
        (update, params![1, "x"]),
        (update, params![99, "nobody"]), // no row
        (update, params![2, "y"]),
        (delete, params![3]), // its trigger inserts into log: not counted, rowid restored
        (delete, params![42]),
        (with, params![7]),
        (with, params![8]),
        (select, params![0]), // changes nothing: 0 rows, whatever came before
        (select, params![1]),
        (insert, params![2, "dup"]), // ignored after other statements
    ];
    let [alone, grouped] = results_alone_and_in_runs(&setup, &writes);
    assert_eq!(grouped, alone);
    // And what they are, so that both cannot be wrong the same way.
    assert_eq!(
        alone,
        vec![
            Ok((1, 1)),
            Ok((0, 0)),
            Ok((1, 2)),
            Ok((1, 3)),
            Ok((1, 0)),
            Ok((0, 0)),
            Ok((1, 0)),
            Ok((1, 0)),
            Ok((0, 0)),
            Ok((1, 7)),
            Ok((1, 8)),
            Ok((0, 0)),
            Ok((0, 0)),
            Ok((0, 0)),
        ]
    );
}

#[test]
fn blocking_calls_inside_a_transaction_are_misuse_not_deadlock() {
    let db = Db::new("k.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    w.transaction(|t| {
        assert_eq!(
            w.execute("INSERT INTO t VALUES (1)", &[])
                .unwrap_err()
                .status(),
            Status::Misuse
        );
        assert_eq!(w.flush(None).unwrap_err().status(), Status::Misuse);
        assert_eq!(w.close().unwrap_err().status(), Status::Misuse);
        t.execute("INSERT INTO t VALUES (2)", &[])
    })
    .unwrap();
    assert_eq!(count(&w, "t"), 1);
}

#[test]
fn a_panic_in_a_transaction_fails_that_job_and_the_lane_lives_on() {
    let db = Db::new("l.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    let e = w
        .transaction(|t| -> singlewriter::Result<()> {
            t.execute("INSERT INTO t VALUES (1)", &[])?;
            panic!("boom");
        })
        .unwrap_err();
    assert_eq!(e.status(), Status::Panic);
    w.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
    assert_eq!(count(&w, "t"), 1);
}

#[test]
fn one_writer_per_file_however_it_is_named() {
    let db = Db::new("m.db");
    let a = db.open("");
    a.execute("CREATE TABLE t(x)", &[]).unwrap();
    let link = db.dir.path().join("link.db");
    std::os::unix::fs::symlink(&db.path, &link).unwrap();
    let b = Writer::open(&link.display().to_string()).unwrap();
    let cwd = std::env::current_dir().unwrap();
    std::env::set_current_dir(db.dir.path()).unwrap();
    let c = Writer::open("Data Source=./m.db").unwrap();
    std::env::set_current_dir(cwd).unwrap();
    b.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    c.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
    // One writer: its counters see all three writes through every handle.
    assert_eq!(a.stats().unwrap().committed, 3);
    assert_eq!(c.stats().unwrap().committed, 3);
    b.close().unwrap();
    c.close().unwrap();
    a.execute("INSERT INTO t VALUES (3)", &[]).unwrap();
    assert_eq!(count(&a, "t"), 3);
}

#[test]
fn a_second_open_with_different_options_names_them() {
    let db = Db::new("n.db");
    let _a = db.open("Readers=2;Sample Rate=5");
    let e = Writer::open(&db.cs("Readers=3")).err().unwrap();
    assert_eq!(e.status(), Status::InvalidArgument);
    assert!(e.message().contains("Readers"), "{}", e.message());
    let same = Writer::open(&db.cs("Readers=2")).unwrap();
    let plain = Writer::open(&db.path.display().to_string()).unwrap();
    assert_eq!(plain.options().readers, 2);
    drop(same);
}

#[test]
fn closing_commits_everything_accepted_and_later_writes_are_refused() {
    let db = Db::new("o.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    for i in 0..2000 {
        let f = fired.clone();
        w.enqueue(
            "INSERT INTO t VALUES (?1)",
            params![i],
            Some(Box::new(move |r| {
                assert!(r.is_ok());
                f.fetch_add(1, Ordering::SeqCst);
            })),
        )
        .unwrap();
    }
    w.close().unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 2000);
    assert_eq!(
        w.execute("INSERT INTO t VALUES (1)", &[])
            .unwrap_err()
            .status(),
        Status::Closed
    );
    assert_eq!(w.close().unwrap_err().status(), Status::Closed);
    let again = db.open("");
    assert_eq!(count(&again, "t"), 2000);
}

#[test]
fn a_full_queue_fails_after_the_enqueue_timeout() {
    let db = Db::new("p.db");
    let w = db.open("Queue Capacity=2;Enqueue Timeout=50");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    with_lane_held(&w, Duration::from_millis(300), || {
        w.enqueue("INSERT INTO t VALUES (1)", vec![], None).unwrap();
        w.enqueue("INSERT INTO t VALUES (2)", vec![], None).unwrap();
        let started = Instant::now();
        let e = w
            .enqueue("INSERT INTO t VALUES (3)", vec![], None)
            .unwrap_err();
        assert_eq!(e.status(), Status::QueueFull);
        assert!(started.elapsed() >= Duration::from_millis(40));
    });
    w.flush(None).unwrap();
    assert_eq!(count(&w, "t"), 2);
}

#[test]
fn another_connection_holding_the_lock_only_delays_the_lane() {
    let db = Db::new("q.db");
    let w = db.open("Busy Timeout=5000");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    let other = rusqlite::Connection::open(&db.path).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (0);")
        .unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        other.execute_batch("COMMIT").unwrap();
    });
    w.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    releaser.join().unwrap();
    assert!(w.stats().unwrap().busy_retries > 0);
    assert_eq!(count(&w, "t"), 2);
}

/// In a rollback journal a reader's SHARED lock lets a lone write start but not commit. The
/// write waits the reader out (its transaction keeps the lock it has and retries the COMMIT), is
/// kept once, and a cached read sees it. (A lone write in autocommit would meet the lock at its
/// commit, rolled back by SQLite: lone writes commit so in WAL mode only.)
#[test]
fn a_lone_write_whose_commit_meets_a_readers_lock_waits_and_is_kept_once() {
    let db = Db::new("journal.db");
    let w = db.open("Journal Mode=DELETE;Busy Timeout=5000");
    w.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v)", &[])
        .unwrap();
    w.execute("INSERT INTO t VALUES (1, 'a')", &[]).unwrap();
    let cached = || {
        w.read("t:count", "SELECT count(*) FROM t", &[])
            .unwrap()
            .get(0, 0)
            .map(|v| v.as_i64())
    };
    assert_eq!(cached(), Some(1));
    assert_eq!(cached(), Some(1));
    let reader = rusqlite::Connection::open(&db.path).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM t;")
        .unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        reader.execute_batch("COMMIT").unwrap();
    });
    let started = Instant::now();
    let r = w.execute("INSERT INTO t VALUES (2, 'b')", &[]).unwrap();
    releaser.join().unwrap();
    assert_eq!(r.rows_affected, 1);
    assert_eq!(r.last_insert_rowid, 2);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "the write waited for the reader: {:?}",
        started.elapsed()
    );
    assert_eq!(count(&w, "t"), 2);
    assert_eq!(cached(), Some(2), "the cached count saw the write");
}

#[test]
fn a_lock_held_past_the_busy_timeout_is_busy_and_the_lane_recovers() {
    let db = Db::new("r.db");
    let w = db.open("Busy Timeout=100");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    let other = rusqlite::Connection::open(&db.path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let e = w.execute("INSERT INTO t VALUES (1)", &[]).unwrap_err();
    assert_eq!(e.status(), Status::Busy, "{e}");
    other.execute_batch("COMMIT").unwrap();
    w.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
    assert_eq!(count(&w, "t"), 1);
}

#[test]
fn memory_databases_work_and_named_ones_are_shared() {
    let w = Writer::open(":memory:").unwrap();
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    w.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    assert_eq!(count(&w, "t"), 1);
    let other = Writer::open(":memory:").unwrap();
    assert!(
        other.query("SELECT * FROM t", &[]).is_err(),
        ":memory: opens are distinct databases"
    );
    let a = Writer::open("Data Source=sw-test-shared;Mode=Memory").unwrap();
    a.execute("CREATE TABLE s(x)", &[]).unwrap();
    let b = Writer::open("file:sw-test-shared?mode=memory&cache=shared").unwrap();
    b.execute("INSERT INTO s VALUES (1)", &[]).unwrap();
    assert_eq!(count(&a, "s"), 1);
    // Reads during a held transaction wait for it instead of failing with SQLITE_LOCKED.
    std::thread::scope(|s| {
        s.spawn(|| {
            a.transaction(|t| {
                t.execute("INSERT INTO s VALUES (2)", &[])?;
                std::thread::sleep(Duration::from_millis(50));
                Ok(())
            })
            .unwrap()
        });
        std::thread::sleep(Duration::from_millis(10));
        let n = count(&b, "s");
        assert!(n == 1 || n == 2);
    });
}

#[test]
fn reads_refuse_writes_and_change_nothing() {
    let db = Db::new("s.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    let e = w.query("INSERT INTO t VALUES (1)", &[]).unwrap_err();
    assert_eq!(e.status(), Status::ReadOnly);
    let e = w.read("k", "DELETE FROM t", &[]).unwrap_err();
    assert_eq!(e.status(), Status::ReadOnly);
    assert_eq!(count(&w, "t"), 0);
}

#[test]
fn later_statements_of_one_write_see_what_earlier_ones_created() {
    let db = Db::new("u.db");
    let w = db.open("");
    let r = w
        .execute(
            "CREATE TABLE c(z); INSERT INTO c VALUES (1); INSERT INTO c VALUES (2)",
            &[],
        )
        .unwrap();
    assert_eq!(r.rows_affected, 2);
    assert_eq!(count(&w, "c"), 2);
    let e = w
        .execute("INSERT INTO c VALUES (3); COMMIT", &[])
        .unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
    assert_eq!(count(&w, "c"), 2, "the job was all or nothing");
}

#[test]
fn syntax_errors_carry_sqlites_code() {
    let db = Db::new("v.db");
    let w = db.open("");
    let e = w.execute("SELEC 1", &[]).unwrap_err();
    assert_eq!((e.status(), e.sqlite_code()), (Status::Error, 1), "{e}");
    let e = w.query("SELEC 1", &[]).unwrap_err();
    assert_eq!((e.status(), e.sqlite_code()), (Status::Error, 1), "{e}");
}

#[test]
fn flushes_are_not_counted_as_writes() {
    let db = Db::new("w.db");
    let w = db.open("");
    w.flush(None).unwrap();
    w.flush(None).unwrap();
    let s = w.stats().unwrap();
    assert_eq!((s.committed, s.failed, s.queued), (0, 0, 0));
}

#[test]
fn pragmas_that_change_things_are_refused_on_the_read_path() {
    let db = Db::new("x.db");
    let w = db.open("");
    let setting = |sql: &str| w.query(sql, &[]).unwrap().get(0, 0).unwrap().as_i64();
    let foreign_keys = setting("PRAGMA foreign_keys");
    for sql in [
        "PRAGMA foreign_keys=OFF",
        "PRAGMA query_only = 0",
        "PRAGMA journal_mode(DELETE)",
        "PRAGMA wal_checkpoint(TRUNCATE)",
    ] {
        assert_eq!(
            w.query(sql, &[]).unwrap_err().status(),
            Status::ReadOnly,
            "{sql}"
        );
    }
    // SQLite applies a flag pragma while preparing it: refused means never prepared.
    assert_eq!(
        setting("PRAGMA foreign_keys"),
        foreign_keys,
        "readers keep their settings"
    );
    assert_eq!(setting("PRAGMA query_only"), 1, "readers stay query-only");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    assert_eq!(w.query("PRAGMA table_info(t)", &[]).unwrap().row_count(), 1);
}

#[test]
fn bad_connection_strings_name_the_problem() {
    for (cs, needle) in [
        ("Data Source=x.db;Colour=blue", "Colour"),
        ("Data Source=x.db;Synchronous=sometimes", "Synchronous"),
        ("Data Source=x.db;Max Batch=0", "Max Batch"),
        ("Data Source=x.db;Mode=Sideways", "Mode"),
        ("file:x.db?bogus=1", "bogus"),
        ("", "empty"),
    ] {
        let e = Writer::open(cs).err().unwrap();
        assert_eq!(e.status(), Status::InvalidArgument, "{cs}");
        assert!(e.message().contains(needle), "{cs}: {}", e.message());
    }
}

#[test]
fn operations_snapshot_lists_recent_writes() {
    let db = Db::new("t.db");
    let w = db.open("Max Tracked Writes=4");
    w.execute("CREATE TABLE t(x UNIQUE)", &[]).unwrap();
    w.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    let _ = w.execute("INSERT INTO t VALUES (1)", &[]);
    let json = w.operations_json().unwrap();
    assert!(json.contains("\"state\":\"committed\""), "{json}");
    assert!(
        json.contains("\"state\":\"failed\"") && json.contains("UNIQUE"),
        "{json}"
    );
    assert!(json.contains("INSERT INTO t VALUES (1)"), "{json}");
}

#[test]
fn operation_ids_are_one_to_n_across_threads_and_every_write_shows_its_own_sql() {
    // The lane numbers jobs as it accepts them, blocking and queued alike, from any thread.
    let db = Db::new("ids.db");
    let w = db.open("Max Tracked Writes=1000");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    std::thread::scope(|s| {
        for t in 0..4i64 {
            let w = &w;
            s.spawn(move || {
                for i in 0..50i64 {
                    // Each thread alternates two texts, so both stay in use by every thread.
                    let sql = if i % 2 == 0 {
                        "INSERT INTO t VALUES (?1)"
                    } else {
                        "INSERT INTO t VALUES (?1 + 0)"
                    };
                    if t % 2 == 0 {
                        w.execute(sql, &params![t * 100 + i]).unwrap();
                    } else {
                        w.enqueue(sql, params![t * 100 + i], None).unwrap();
                    }
                }
            });
        }
    });
    w.flush(None).unwrap();
    let json = w.operations_json().unwrap();
    let mut ids: Vec<u64> = json
        .split("\"id\":")
        .skip(1)
        .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
        .collect();
    ids.sort_unstable();
    // 201 writes and the flush's barrier.
    assert_eq!(ids, (1..=202).collect::<Vec<u64>>(), "{json}");
    assert_eq!(
        json.matches("\"sql\":\"INSERT INTO t VALUES (?1)\"")
            .count(),
        100
    );
    assert_eq!(
        json.matches("\"sql\":\"INSERT INTO t VALUES (?1 + 0)\"")
            .count(),
        100
    );
    let s = w.stats().unwrap();
    assert_eq!((s.committed, s.failed, s.queued), (201, 0, 0));
    assert!(w
        .metrics_text()
        .unwrap()
        .contains("singlewriter_writes_enqueued_total 201"));
    assert_eq!(count(&w, "t"), 200);
}

#[test]
fn a_full_database_is_an_io_error_that_loses_nothing_else() {
    let db = Db::new("full.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB)", &[])
        .unwrap();
    w.execute("INSERT INTO t(pad) VALUES (randomblob(100))", &[])
        .unwrap();
    let pages = w
        .query("PRAGMA page_count", &[])
        .unwrap()
        .get(0, 0)
        .unwrap()
        .as_i64();
    // SQLite answers SQLITE_FULL once the file may not grow: the same path as a full disk.
    w.execute(&format!("PRAGMA max_page_count = {}", pages + 2), &[])
        .unwrap();
    let results = Arc::new(parking_lot::Mutex::new(Vec::new()));
    for _ in 0..40 {
        let r = results.clone();
        w.enqueue(
            "INSERT INTO t(pad) VALUES (randomblob(3000))",
            vec![],
            Some(Box::new(move |res| {
                r.lock()
                    .push(res.map_err(|e| (e.status(), e.message().to_owned())))
            })),
        )
        .unwrap();
    }
    w.flush(None).unwrap();
    let results = results.lock().clone();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let full: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(!full.is_empty(), "the database filled up");
    for (status, message) in &full {
        assert_eq!(*status, Status::Io, "{message}");
        assert!(message.contains("full"), "{message}");
    }
    assert_eq!(
        count(&w, "t") as usize,
        1 + ok,
        "every acknowledged write is there, no failed one is"
    );
    w.execute("PRAGMA max_page_count = 1000000", &[]).unwrap();
    w.execute("INSERT INTO t(pad) VALUES (randomblob(3000))", &[])
        .unwrap();
    assert_eq!(count(&w, "t") as usize, 2 + ok, "the lane recovered");
}

#[test]
fn dropping_the_last_handle_inside_a_callback_does_not_deadlock() {
    let db = Db::new("dropcb.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let holder = Arc::new(parking_lot::Mutex::new(Some(w)));
    let h = holder.clone();
    holder
        .lock()
        .as_ref()
        .unwrap()
        .enqueue(
            "INSERT INTO t VALUES (1)",
            vec![],
            Some(Box::new(move |r| {
                assert!(r.is_ok());
                drop(h.lock().take()); // the last handle, dropped on the writer's thread
                tx.send(()).unwrap();
            })),
        )
        .unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the callback returned");
    // The writer shut down in the background; the database can be opened again.
    let again = db.open("");
    assert_eq!(count(&again, "t"), 1);
}

/// Parameters are bound in place (the writer's own statements, `SQLITE_STATIC`): every type,
/// empty and large values, text with a NUL inside, positional and named (with any prefix),
/// through lone writes, pipelined runs on one statement (parameters freed as soon as each write
/// is acknowledged), more distinct statements than the writer keeps prepared, and several
/// statements in one text (rusqlite's path), read back exactly as written.
#[test]
fn values_round_trip_through_the_writers_own_statements() {
    use singlewriter::{Value, ValueRef};
    let db = Db::new("values.db");
    let w = db.open("");
    w.execute("CREATE TABLE v(k INTEGER PRIMARY KEY, x)", &[])
        .unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let values = |k: i64| -> Vec<Value> {
        vec![
            Value::Null,
            Value::Integer(i64::MIN + k),
            Value::Integer(i64::MAX - k),
            Value::Real(k as f64 / 3.0),
            Value::Text(String::new()),
            Value::Text(format!("text {k}\0after the nul")),
            Value::Blob(Vec::new()),
            Value::Blob(vec![k as u8, 0, 255]),
            Value::Blob(big.clone()),
        ]
    };
    let mut expected = Vec::new();
    let mut k = 0i64;
    // Lone writes, each from a parameter list dropped right after its call.
    for v in values(1) {
        k += 1;
        w.execute(
            "INSERT INTO v(k, x) VALUES (?1, ?2)",
            &params![k, v.clone()],
        )
        .unwrap();
        expected.push((k, v));
    }
    // Pipelined: many writes of one statement, grouped into runs; each list is freed by the
    // writer once its write is acknowledged.
    for round in 0..50 {
        for v in values(round) {
            k += 1;
            w.enqueue(
                "INSERT INTO v(k, x) VALUES (?1, ?2)",
                params![k, v.clone()],
                None,
            )
            .unwrap();
            expected.push((k, v));
        }
    }
    w.flush(None).unwrap();
    // More distinct statements than the writer keeps prepared, then the first again.
    for i in 0..600 {
        k += 1;
        let sql = format!("INSERT INTO v(k, x) VALUES (?1, ?2) -- statement {i}");
        let v = Value::Text(format!("distinct {i}"));
        w.execute(&sql, &params![k, v.clone()]).unwrap();
        expected.push((k, v));
    }
    k += 1;
    w.execute("INSERT INTO v(k, x) VALUES (?1, ?2)", &params![k, "again"])
        .unwrap();
    expected.push((k, Value::Text("again".into())));
    // Named parameters, with the SQL's prefix or another, alone and pipelined; one positional
    // and one named.
    for (i, v) in values(7).into_iter().enumerate() {
        k += 1;
        let name = ["@x", ":x", "$x", "x"][i % 4];
        w.execute(
            "INSERT INTO v(k, x) VALUES (:k, @x)",
            &[Param::named("k", k), Param::named(name, v.clone())],
        )
        .unwrap();
        expected.push((k, v.clone()));
        k += 1;
        w.enqueue(
            "INSERT INTO v(k, x) VALUES (:k, @x)",
            vec![Param::named(name, v.clone()), Param::named(":k", k)],
            None,
        )
        .unwrap();
        expected.push((k, v.clone()));
        k += 1;
        w.execute(
            "INSERT INTO v(k, x) VALUES (?, $x)",
            &[Param::positional(k), Param::named("@x", v.clone())],
        )
        .unwrap();
        expected.push((k, v));
    }
    w.flush(None).unwrap();
    // Several statements in one text go to rusqlite's path, every time (the second time
    // remembered as several, not prepared here again), and both statements run.
    for _ in 0..2 {
        let (a, b) = (k + 1, k + 2);
        k += 2;
        w.execute(
            "INSERT INTO v(k, x) VALUES (?1, 'first'); INSERT INTO v(k, x) VALUES (?2, 'second')",
            &params![a, b],
        )
        .unwrap();
        expected.push((a, Value::Text("first".into())));
        expected.push((b, Value::Text("second".into())));
    }
    // Names that do not fit are the rusqlite path's errors, as before.
    let e = w
        .execute(
            "INSERT INTO v(k, x) VALUES (:k, @x)",
            &[Param::named("k", 0), Param::named("nope", 1)],
        )
        .unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
    let e = w
        .execute(
            "INSERT INTO v(k, x) VALUES (:k, @x)",
            &[Param::named("k", 0)],
        )
        .unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
    let rows = w.query("SELECT k, x FROM v ORDER BY k", &[]).unwrap();
    assert_eq!(rows.row_count(), expected.len());
    for (r, (k, v)) in expected.iter().enumerate() {
        assert_eq!(rows.get(r, 0), Some(ValueRef::Integer(*k)));
        let got = rows.get(r, 1).unwrap();
        let same = match (v, got) {
            (Value::Null, ValueRef::Null) => true,
            (Value::Integer(a), ValueRef::Integer(b)) => *a == b,
            (Value::Real(a), ValueRef::Real(b)) => *a == b,
            (Value::Text(a), ValueRef::Text(b)) => a == b,
            (Value::Blob(a), ValueRef::Blob(b)) => a[..] == *b,
            _ => false,
        };
        assert!(same, "row {k}: wrote {v:?}, read {got:?}");
    }
}
