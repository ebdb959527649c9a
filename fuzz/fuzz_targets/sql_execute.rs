//! Any SQL through every write path (`execute`, `enqueue` with a callback, transactional and
//! non-transactional `batch`, statements inside `transaction`): a status, never a panic; MISUSE
//! never from a plain write call; every enqueue callback fires exactly once; the writer still
//! answers a flush afterwards. The database is a WAL file in the scratch directory, recreated
//! when it grows past 16 MB or after 5,000 inputs.
#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use singlewriter::{Error, Statement, Status, Writer};

#[derive(Arbitrary, Debug)]
enum Op {
    Execute(String),
    Enqueue(String),
    Batch {
        sqls: Vec<String>,
        transactional: bool,
    },
    Transaction {
        sqls: Vec<(bool, String)>,
        commit: bool,
    },
}

struct State {
    writer: Option<Writer>,
    inputs: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    writer: None,
    inputs: 0,
});

const SETUP: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, b TEXT, c BLOB)",
    "CREATE TABLE IF NOT EXISTS u(x UNIQUE, y REFERENCES t(a))",
    "INSERT OR IGNORE INTO t VALUES (1, 'one', x'01'), (2, 'two', NULL)",
];

fn open_fresh() -> Writer {
    let path = sw_fuzz::scratch_dir().join("execute.db");
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let w = Writer::open(&format!("Data Source={};Busy Timeout=500", path.display()))
        .expect("open the execute database");
    for s in SETUP {
        w.execute(s, &[]).expect("setup");
    }
    w
}

fn too_big() -> bool {
    let path = sw_fuzz::scratch_dir().join("execute.db");
    let size = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    size(path.display().to_string()) + size(format!("{}-wal", path.display())) > 16 << 20
}

/// A plain write call's error: never a panic, never MISUSE.
fn check(what: &str, sql: &str, e: &Error) {
    assert_ne!(e.status(), Status::Panic, "{what} {sql:?}: {}", e.message());
    assert_ne!(
        e.status(),
        Status::Misuse,
        "{what} {sql:?}: MISUSE from a plain write call: {}",
        e.message()
    );
}

fuzz_target!(|ops: Vec<Op>| {
    let ops: Vec<Op> = ops.into_iter().take(8).collect();
    let all_bounded = ops.iter().all(|op| match op {
        Op::Execute(s) | Op::Enqueue(s) => sw_fuzz::sql_is_bounded(s),
        Op::Batch { sqls, .. } => {
            sqls.len() <= 8 && sqls.iter().all(|s| sw_fuzz::sql_is_bounded(s))
        }
        Op::Transaction { sqls, .. } => {
            sqls.len() <= 8 && sqls.iter().all(|(_, s)| sw_fuzz::sql_is_bounded(s))
        }
    });
    if !all_bounded {
        return;
    }
    let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
    state.inputs += 1;
    if state.writer.is_none() || state.inputs.is_multiple_of(5000) || too_big() {
        if let Some(old) = state.writer.take() {
            let _ = old.close();
        }
        state.writer = Some(open_fresh());
    }
    let w = state.writer.as_ref().expect("writer");
    let enqueued = Arc::new(AtomicU64::new(0));
    let fired = Arc::new(AtomicU64::new(0));
    for op in &ops {
        match op {
            Op::Execute(sql) => {
                if let Err(e) = w.execute(sql, &[]) {
                    check("execute", sql, &e);
                }
            }
            Op::Enqueue(sql) => {
                let fired = fired.clone();
                let sql_copy = sql.clone();
                let r = w.enqueue(
                    sql,
                    Vec::new(),
                    Some(Box::new(move |r: singlewriter::Result<_>| {
                        if let Err(e) = &r {
                            assert_ne!(
                                e.status(),
                                Status::Panic,
                                "enqueue {sql_copy:?}: {}",
                                e.message()
                            );
                        }
                        fired.fetch_add(1, Ordering::SeqCst);
                    })),
                );
                match r {
                    Ok(()) => {
                        enqueued.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => check("enqueue", sql, &e),
                }
            }
            Op::Batch {
                sqls,
                transactional,
            } => {
                let stmts: Vec<Statement> = sqls
                    .iter()
                    .map(|s| Statement::new(s.clone(), Vec::new()))
                    .collect();
                if let Err(e) = w.batch(stmts, *transactional) {
                    let all = sqls.join(" | ");
                    assert_ne!(e.status(), Status::Panic, "batch {all:?}: {}", e.message());
                    assert_ne!(
                        e.status(),
                        Status::Misuse,
                        "batch {all:?}: MISUSE from a plain write call: {}",
                        e.message()
                    );
                }
            }
            Op::Transaction { sqls, commit } => {
                let r = w.transaction(|tx| {
                    for (query, sql) in sqls {
                        // Inside a transaction, statements that cannot run there (VACUUM,
                        // PRAGMA, transaction control) are MISUSE by design; any status will do,
                        // but never a panic.
                        let r = if *query {
                            tx.query(sql, &[]).map(|_| ())
                        } else {
                            tx.execute(sql, &[]).map(|_| ())
                        };
                        if let Err(e) = r {
                            assert_ne!(e.status(), Status::Panic, "txn {sql:?}: {}", e.message());
                        }
                    }
                    if *commit {
                        Ok(())
                    } else {
                        Err(Error::new(Status::Rollback, "fuzz rollback"))
                    }
                });
                if let Err(e) = r {
                    assert_ne!(
                        e.status(),
                        Status::Panic,
                        "transaction {sqls:?}: {}",
                        e.message()
                    );
                }
            }
        }
    }
    match w.flush(Some(Duration::from_secs(30))) {
        Ok(()) => {}
        Err(e) => {
            assert_ne!(e.status(), Status::Timeout, "flush timed out after {ops:?}");
            assert_ne!(
                e.status(),
                Status::Panic,
                "flush after {ops:?}: {}",
                e.message()
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while fired.load(Ordering::SeqCst) < enqueued.load(Ordering::SeqCst)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_micros(50));
    assert_eq!(
        fired.load(Ordering::SeqCst),
        enqueued.load(Ordering::SeqCst),
        "enqueue callbacks fired {} times for {} writes: {ops:?}",
        fired.load(Ordering::SeqCst),
        enqueued.load(Ordering::SeqCst)
    );
});
