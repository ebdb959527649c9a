//! The rusqlite side shared by the crates that link a rusqlite (included with `#[path]`, so it
//! compiles against each crate's own rusqlite version): how a connection is opened and how one
//! workload operation runs on it. Every rusqlite-based contender goes through these functions,
//! so they differ only in how connections are shared, never in the SQL or the statement cache.

use std::time::Duration;

use harness::{Fail, Op, Outcome, COUNT, INSERT, POINT, TEXT, UPDATE};
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// Opens `path` the way the suite opens every rusqlite connection: WAL, the run's
/// `synchronous`, `busy_timeout` 5 s.
pub fn open(path: &std::path::Path, sync: &str, read_only: bool) -> Result<Connection, String> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::default()
    };
    let c = Connection::open_with_flags(path, flags).map_err(|e| format!("open: {e}"))?;
    configure(&c, sync, read_only)?;
    Ok(c)
}

/// The pragmas of [`open`], for connections a library opened itself.
pub fn configure(c: &Connection, sync: &str, read_only: bool) -> Result<(), String> {
    c.busy_timeout(Duration::from_secs(5))
        .map_err(|e| format!("busy_timeout: {e}"))?;
    if !read_only {
        let mode: String = c
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| format!("journal_mode: {e}"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("journal_mode is {mode}, not wal"));
        }
    }
    c.execute_batch(&format!("PRAGMA synchronous={sync}"))
        .map_err(|e| format!("synchronous: {e}"))?;
    Ok(())
}

/// SQLITE_BUSY (and SQLITE_LOCKED) as the caller saw it; anything else as an error.
pub fn fail(e: rusqlite::Error) -> Fail {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            Fail::Busy(e.to_string())
        }
        _ => Fail::Other(e.to_string()),
    }
}

/// Runs one operation in autocommit on `c`, through its statement cache.
pub fn run(c: &Connection, op: Op) -> Outcome {
    let r = match op {
        Op::Insert { a } => c
            .prepare_cached(INSERT)
            .and_then(|mut s| s.execute(rusqlite::params![a, TEXT]))
            .map(|_| ()),
        Op::Update { id, a } => c
            .prepare_cached(UPDATE)
            .and_then(|mut s| s.execute(rusqlite::params![id, a]))
            .map(|_| ()),
        Op::Read { id } => c
            .prepare_cached(POINT)
            .and_then(|mut s| {
                s.query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            })
            .map(|v| {
                std::hint::black_box(v);
            }),
    };
    r.map_err(fail)
}

/// Rows in the table.
pub fn count(c: &Connection) -> i64 {
    c.query_row(COUNT, [], |r| r.get(0)).unwrap_or(-1)
}

/// The linked SQLite's version.
pub fn sqlite_version() -> String {
    rusqlite::version().to_string()
}
