//! Reads agree with SQLite: each case compares singlewriter's answer with plain SQLite's (the same
//! bundled SQLite, through its C API) on the same database file, and where a single SQLite
//! connection and this library must differ, the difference is the documented one.
mod common;
use common::Db;
use singlewriter::{Status, ValueRef, Writer};
use std::ffi::CString;

/// `sqlite3_column_int64` and `sqlite3_column_double` of each column of `sql`'s first row, on a
/// plain connection to `path`.
fn plain_sqlite_numbers(path: &std::path::Path, sql: &str) -> Vec<(i64, f64)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let sql = CString::new(sql).unwrap();
    let mut out = vec![];
    // SAFETY: a live connection; the statement is finalized before it closes.
    unsafe {
        use rusqlite::ffi;
        let mut stmt = std::ptr::null_mut();
        assert_eq!(
            ffi::sqlite3_prepare_v2(
                c.handle(),
                sql.as_ptr(),
                -1,
                &mut stmt,
                std::ptr::null_mut()
            ),
            ffi::SQLITE_OK
        );
        assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_ROW);
        for i in 0..ffi::sqlite3_column_count(stmt) {
            // Each column read fresh for each conversion, as a C program reading one would.
            let n = ffi::sqlite3_column_int64(stmt, i);
            ffi::sqlite3_reset(stmt);
            assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_ROW);
            let d = ffi::sqlite3_column_double(stmt, i);
            ffi::sqlite3_reset(stmt);
            assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_ROW);
            out.push((n, d));
        }
        ffi::sqlite3_finalize(stmt);
    }
    out
}

#[test]
fn int64_and_double_convert_every_value_as_sqlite_does() {
    let db = Db::new("conv.db");
    let w = db.open("");
    w.execute("CREATE TABLE IF NOT EXISTS t(x)", &[]).unwrap();
    let exprs = [
        "'9223372036854775808'",
        "'-9223372036854775809'",
        "'99999999999999999999'",
        "char(160)||'5'",
        "char(9)||char(10)||' 42abc'",
        "'12e-3'",
        "'1e+5'",
        "'1.2.3'",
        "'0x1F'",
        "'  -0'",
        "'+7'",
        "'.5'",
        "'5.'",
        "'1e400'",
        "'-1e400'",
        "'abc'",
        "''",
        "x'3132'",
        "x'2d3761'",
        "x''",
        "x'00'",
        "CAST(x'34320035' AS TEXT)",
        "9.99e18",
        "-9.99e18",
        "1e19",
        "-0.0",
        "NULL",
        "4.7",
        "-4.7",
    ];
    let sql = format!("SELECT {}", exprs.join(", "));
    let expected = plain_sqlite_numbers(&db.path, &sql);
    for (label, rows) in [
        ("query", w.query(&sql, &[]).unwrap()),
        ("cached read", w.read("conv", &sql, &[]).unwrap()),
    ] {
        for (i, expr) in exprs.iter().enumerate() {
            let v = rows.get(0, i).unwrap();
            assert_eq!(v.as_i64(), expected[i].0, "{label}: int64 of {expr}");
            let (got, want) = (v.as_f64(), expected[i].1);
            assert!(
                got == want || (got.is_nan() && want.is_nan()),
                "{label}: double of {expr}: {got} vs SQLite {want}"
            );
        }
    }
}

#[test]
fn a_temp_table_is_the_write_connections_and_reads_say_so() {
    let db = Db::new("temp.db");
    let w = db.open("");
    w.execute(
        "CREATE TEMP TABLE tt(x); INSERT INTO tt VALUES (1), (2)",
        &[],
    )
    .unwrap();
    // Later writes see it (they run on the write connection)...
    w.execute("CREATE TABLE kept AS SELECT x FROM tt", &[])
        .unwrap();
    assert_eq!(common::count(&w, "kept"), 2);
    // ...and so does a transaction.
    let n = w
        .transaction(|t| {
            Ok(t.query("SELECT count(*) FROM tt", &[])?
                .get(0, 0)
                .unwrap()
                .as_i64())
        })
        .unwrap();
    assert_eq!(n, 2);
    // A read runs on a read-only connection, where SQLite has no such table; the error says why.
    for e in [
        w.query("SELECT count(*) FROM tt", &[]).unwrap_err(),
        w.read("tt", "SELECT count(*) FROM tt", &[]).unwrap_err(),
    ] {
        assert_eq!(e.status(), Status::Error);
        assert!(e.message().starts_with("no such table: tt"), "{e}");
        assert!(
            e.message().contains("TEMP object of the write connection"),
            "{e}"
        );
    }
    w.execute("CREATE TEMP VIEW tv AS SELECT 1", &[]).unwrap();
    let e = w.query("SELECT * FROM tv", &[]).unwrap_err();
    assert!(e.message().contains("TEMP object"), "{e}");
    // A table that does not exist anywhere gets SQLite's message alone.
    let e = w.query("SELECT * FROM nowhere", &[]).unwrap_err();
    assert_eq!(e.message(), "no such table: nowhere");
    // Dropped: no longer explained as TEMP.
    w.execute("DROP TABLE tt", &[]).unwrap();
    let e = w.query("SELECT * FROM tt", &[]).unwrap_err();
    assert_eq!(e.message(), "no such table: tt");
}

fn like(w: &Writer) -> i64 {
    w.query("SELECT 'abc' LIKE 'ABC'", &[])
        .unwrap()
        .get(0, 0)
        .unwrap()
        .as_i64()
}

#[test]
fn connection_pragmas_set_through_the_writer_reach_every_read_connection() {
    let db = Db::new("pragma.db");
    let w = db.open("Readers=3");
    let plain = rusqlite::Connection::open(&db.path).unwrap();
    let plain_like = |on: bool| -> i64 {
        plain
            .execute_batch(if on {
                "PRAGMA case_sensitive_like=ON"
            } else {
                "PRAGMA case_sensitive_like=OFF"
            })
            .unwrap();
        plain
            .query_row("SELECT 'abc' LIKE 'ABC'", [], |r| r.get(0))
            .unwrap()
    };
    // Several read connections in use before the change.
    let read_everywhere = |w: &Writer| -> Vec<i64> {
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..3).map(|_| s.spawn(|| like(w))).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    assert_eq!(read_everywhere(&w), vec![plain_like(false); 3]);
    w.execute("PRAGMA case_sensitive_like=ON", &[]).unwrap();
    assert_eq!(read_everywhere(&w), vec![plain_like(true); 3]);
    let cached = w.read("like", "SELECT 'abc' LIKE 'ABC'", &[]).unwrap();
    assert_eq!(cached.get(0, 0), Some(ValueRef::Integer(plain_like(true))));
    w.execute("PRAGMA case_sensitive_like=OFF", &[]).unwrap();
    assert_eq!(read_everywhere(&w), vec![plain_like(false); 3]);
    let cached = w.read("like", "SELECT 'abc' LIKE 'ABC'", &[]).unwrap();
    assert_eq!(
        cached.get(0, 0),
        Some(ValueRef::Integer(plain_like(false))),
        "the cached result of the old setting was dropped"
    );
}

#[test]
fn the_pragmas_keyword_configures_every_connection_from_the_start() {
    let db = Db::new("pragma-kw.db");
    let w = db.open("Pragmas='case_sensitive_like=ON; cache_size=-4000'");
    assert_eq!(like(&w), 0);
    assert_eq!(
        w.query("PRAGMA cache_size", &[]).unwrap().get(0, 0),
        Some(ValueRef::Integer(-4000))
    );
    let n = w
        .transaction(|t| {
            Ok(t.query("SELECT 'abc' LIKE 'ABC'", &[])?
                .get(0, 0)
                .unwrap()
                .as_i64())
        })
        .unwrap();
    assert_eq!(n, 0, "the write connection too");
    let e = Writer::open(&db.cs("Pragmas='journal_mode=DELETE'")).unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);
    assert!(e.message().contains("Pragmas"), "{e}");
}

#[test]
fn pragmas_the_library_manages_are_refused_with_the_keyword_to_use() {
    let db = Db::new("managed.db");
    let w = db.open("");
    let e = w.execute("PRAGMA busy_timeout = 100", &[]).unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);
    assert!(e.message().contains("Busy Timeout"), "{e}");
    let e = w
        .execute("PRAGMA locking_mode = EXCLUSIVE", &[])
        .unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);
}

#[test]
fn connection_local_functions_describe_the_read_connection_and_writes_carry_their_own() {
    let db = Db::new("local.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, x)", &[])
        .unwrap();
    let r = w.execute("INSERT INTO t(x) VALUES (1), (2)", &[]).unwrap();
    assert_eq!(r.rows_affected, 2);
    assert_eq!(r.last_insert_rowid, 2);
    // A read's connection inserted nothing: SQLite's own answer there is 0, as documented.
    let rows = w
        .query(
            "SELECT last_insert_rowid(), changes(), total_changes()",
            &[],
        )
        .unwrap();
    for c in 0..3 {
        assert_eq!(rows.get(0, c), Some(ValueRef::Integer(0)), "column {c}");
    }
}
