//! Inputs and situations an adversarial user produces (issue 9's findings), through the Rust
//! API; the C-level counterparts are in tests/c/test_hostile.c.
mod common;
use common::Db;
use singlewriter::{params, Status, Writer};
use std::time::Duration;

fn names(rows: &singlewriter::Rows) -> Vec<String> {
    (0..rows.column_count())
        .map(|c| rows.column_name(c).unwrap().to_owned())
        .collect()
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_huge_cache_size_is_refused_by_name_and_a_large_one_costs_nothing_up_front() {
    let db = Db::new("cache-size.db");
    let e = Writer::open(&db.cs("Cache Size=1073741824")).unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);
    assert!(e.message().contains("Cache Size"), "{}", e.message());

    let before = rss();
    let w = db.open("Cache Size=10000000");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    w.read("k", "SELECT count(*) FROM t", &[]).unwrap();
    let grown = rss().saturating_sub(before);
    // Pre-allocating ten million slots cost about 140 MB; opening a writer costs a few MB.
    assert!(
        grown < 40 << 20,
        "opening with Cache Size=10000000 grew resident memory by {} MB",
        grown >> 20
    );
    assert_eq!(w.cache_stats().unwrap().entries, 1);
}

/// Reads on several read connections, each with its statement prepared and cached before the
/// schema changes.
fn read_everywhere(w: &Writer, sql: &str) -> Vec<std::sync::Arc<singlewriter::Rows>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| w.query(sql, &[]).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn alter_table_changes_the_shape_of_every_later_read() {
    let db = Db::new("alter.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(a, b)", &[]).unwrap();
    w.execute("INSERT INTO t VALUES (1, 2)", &[]).unwrap();
    for _ in 0..3 {
        read_everywhere(&w, "SELECT * FROM t");
    }
    let cached = w.read("t:all", "SELECT * FROM t", &[]).unwrap();
    assert_eq!(names(&cached), ["a", "b"]);

    w.execute("ALTER TABLE t ADD COLUMN c DEFAULT 3", &[])
        .unwrap();
    for rows in read_everywhere(&w, "SELECT * FROM t") {
        assert_eq!(names(&rows), ["a", "b", "c"]);
        assert_eq!(rows.get(0, 2).unwrap().as_i64(), 3);
    }
    let cached = w.read("t:all", "SELECT * FROM t", &[]).unwrap();
    assert_eq!(
        names(&cached),
        ["a", "b", "c"],
        "a cached result kept the old shape"
    );

    w.execute("ALTER TABLE t RENAME COLUMN a TO z", &[])
        .unwrap();
    for rows in read_everywhere(&w, "SELECT * FROM t") {
        assert_eq!(names(&rows), ["z", "b", "c"]);
    }
    assert_eq!(
        names(&w.read("t:all", "SELECT * FROM t", &[]).unwrap()),
        ["z", "b", "c"]
    );

    w.execute("ALTER TABLE t DROP COLUMN b", &[]).unwrap();
    for rows in read_everywhere(&w, "SELECT * FROM t") {
        assert_eq!(names(&rows), ["z", "c"]);
        assert_eq!(rows.get(0, 0).unwrap().as_i64(), 1);
        assert_eq!(rows.get(0, 1).unwrap().as_i64(), 3);
    }
    assert_eq!(
        names(&w.read("t:all", "SELECT * FROM t", &[]).unwrap()),
        ["z", "c"]
    );
}

#[test]
fn text_that_is_not_utf8_is_returned_as_bytes_not_an_error() {
    let db = Db::new("bytes.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x TEXT)", &[]).unwrap();
    w.execute(
        "INSERT INTO t VALUES (CAST(x'41ff42' AS TEXT)), ('ok')",
        &[],
    )
    .unwrap();
    let rows = w
        .query("SELECT x, typeof(x) FROM t ORDER BY rowid", &[])
        .unwrap();
    assert_eq!(
        rows.get(0, 0),
        Some(singlewriter::ValueRef::TextBytes(&[0x41, 0xff, 0x42]))
    );
    assert_eq!(rows.get(0, 0).unwrap().type_code(), 3);
    assert_eq!(rows.get(0, 1), Some(singlewriter::ValueRef::Text("text")));
    assert_eq!(rows.get(1, 0), Some(singlewriter::ValueRef::Text("ok")));
    let cached = w.read("t", "SELECT x FROM t ORDER BY rowid", &[]).unwrap();
    assert_eq!(cached.row_count(), 2);
    assert!(
        cached.to_json().contains("A\u{fffd}B"),
        "{}",
        cached.to_json()
    );
}

/// 20,000 named parameters each reach their own place (binding them looks names up in a table
/// built from the SQL text, not one SQLite scan per name; the time is in BENCHMARKS.md).
#[test]
fn twenty_thousand_named_parameters_bind_to_their_own_places() {
    let db = Db::new("named.db");
    let w = db.open("");
    let n = 20_000i64;
    let rows: Vec<String> = (0..n).map(|i| format!("({i}, @p{i})")).collect();
    let sql = format!(
        "SELECT count(*), sum(column1 = column2) FROM (VALUES {})",
        rows.join(",")
    );
    // Given in reverse order, half with their prefix and half without.
    let params: Vec<singlewriter::Param> = (0..n)
        .rev()
        .map(|i| {
            let name = if i % 2 == 0 {
                format!("@p{i}")
            } else {
                format!("p{i}")
            };
            singlewriter::Param::named(name, i)
        })
        .collect();
    let result = w.query(&sql, &params).unwrap();
    assert_eq!(result.get(0, 0).unwrap().as_i64(), n);
    assert_eq!(
        result.get(0, 1).unwrap().as_i64(),
        n,
        "every value in its own place"
    );
    let _ = params![1];
}

#[test]
fn sql_without_a_statement_is_the_same_invalid_argument_everywhere() {
    let db = Db::new("blank.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    // Whitespace is Unicode's: a vertical tab, a no-break space (rusqlite's statement cache
    // trims those before SQLite sees the SQL).
    for blank in [
        "",
        "   ",
        ";",
        ";;;",
        "-- only a comment",
        "/* c */ ;",
        "\u{b}",
        " \u{b};\u{b}",
        "\u{b}-- c",
        "\u{a0}",
    ] {
        let errors = [
            w.execute(blank, &[]).unwrap_err(),
            w.enqueue(blank, vec![], None).unwrap_err(),
            w.query(blank, &[]).unwrap_err(),
            w.read("k", blank, &[]).unwrap_err(),
            w.execute_and_invalidate(blank, &[], &["k"]).unwrap_err(),
            w.batch(vec![singlewriter::Statement::new(blank, vec![])], true)
                .unwrap_err(),
            w.transaction(|t| t.execute(blank, &[]).map(|_| ()))
                .unwrap_err(),
            w.transaction(|t| t.query(blank, &[]).map(|_| ()))
                .unwrap_err(),
        ];
        for (i, e) in errors.iter().enumerate() {
            assert_eq!(
                e.status(),
                Status::InvalidArgument,
                "entry {i}, {blank:?}: {e}"
            );
            assert!(
                e.message().contains("holds no statement"),
                "entry {i}, {blank:?}: {e}"
            );
        }
    }
    // Nothing was queued: a flush finds the lane empty and the table untouched.
    w.flush(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(common::count(&w, "t"), 0);
}

#[test]
fn flush_reports_its_own_outcome_not_that_of_the_group_it_joined() {
    let db = Db::new("flush.db");
    let w = db.open("Busy Timeout=300");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    // Another connection holds the write lock for longer than the Busy Timeout.
    let holder = rusqlite::Connection::open(&db.path).unwrap();
    holder
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (0);")
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    w.enqueue(
        "INSERT INTO t VALUES (1)",
        vec![],
        Some(Box::new(move |r| tx.send(r).unwrap())),
    )
    .unwrap();
    w.flush(Some(Duration::from_secs(10)))
        .expect("flush succeeds once the write before it is acknowledged");
    let write = rx.recv_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(
        write.unwrap_err().status(),
        Status::Busy,
        "the write reports its own failure"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    w.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
    assert_eq!(common::count(&w, "t"), 1);
}

#[test]
fn reads_refuse_pragmas_that_act_and_attach_however_spelled() {
    let db = Db::new("spelled.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    let other = db.path.with_file_name("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE o(y)")
        .unwrap();
    let attach = format!("ATTACH '{}' AS o", other.display());
    for sql in [
        "PRAGMA main . wal_checkpoint",
        "PRAGMA /* c */ wal_checkpoint(TRUNCATE)",
        "PRAGMA \"optimize\"",
        "PRAGMA main.\"cache_size\" = 5",
        "PRAGMA [query_only] = 0",
        attach.as_str(),
        "DETACH main",
    ] {
        for e in [
            w.query(sql, &[]).unwrap_err(),
            w.read("k", sql, &[]).unwrap_err(),
        ] {
            assert_eq!(e.status(), Status::ReadOnly, "{sql:?}: {e}");
            assert!(e.message().contains("sw_writer_execute"), "{sql:?}: {e}");
        }
    }
    // Nothing took effect on the pooled read connections.
    for _ in 0..4 {
        let dbs = w.query("PRAGMA database_list", &[]).unwrap();
        assert_eq!(dbs.row_count(), 1, "only main is attached");
        w.query("SELECT count(*) FROM t", &[]).unwrap();
    }
    // Pragmas that only read still run, however spelled.
    for sql in [
        "PRAGMA main . table_info(t)",
        "PRAGMA \"journal_mode\"",
        "PRAGMA main.cache_size",
    ] {
        w.query(sql, &[]).unwrap_or_else(|e| panic!("{sql:?}: {e}"));
    }
}

#[test]
fn sql_with_a_nul_byte_is_refused_everywhere() {
    // SQLite stops reading at a NUL: "SELECT 1\0DROP TABLE t" would quietly run half the text.
    let db = Db::new("nul.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    for sql in ["\0", "\0SELECT 1", "INSERT INTO t VALUES (1)\0", " \0 x"] {
        let errors = [
            w.execute(sql, &[]).unwrap_err(),
            w.enqueue(sql, vec![], None).unwrap_err(),
            w.query(sql, &[]).unwrap_err(),
            w.read("k", sql, &[]).unwrap_err(),
            w.batch(vec![singlewriter::Statement::new(sql, vec![])], true)
                .unwrap_err(),
            w.transaction(|t| t.execute(sql, &[]).map(|_| ()))
                .unwrap_err(),
            w.transaction(|t| t.query(sql, &[]).map(|_| ()))
                .unwrap_err(),
        ];
        for (i, e) in errors.iter().enumerate() {
            assert_eq!(
                e.status(),
                Status::InvalidArgument,
                "entry {i}, {sql:?}: {e}"
            );
            assert!(e.message().contains("NUL byte"), "entry {i}, {sql:?}: {e}");
        }
    }
    assert_eq!(common::count(&w, "t"), 0);
}
