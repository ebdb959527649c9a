//! The read-only guarantee: any SQL through `query` or `read` leaves the database exactly as it
//! was. The database (WAL, a file in the scratch directory) has tables, an index, a view, a
//! trigger and an AUTOINCREMENT table; its content hash (schema, every row, header pragmas) is
//! taken once through a connection of the harness's own (after checking that it moves when the
//! writer inserts, deletes and sets a pragma) and compared after every input. Any
//! SQL gets a status, never a panic, and never MISUSE.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use singlewriter::{Status, Writer};
use sw_fuzz::ContentHash;

struct Fixture {
    writer: Writer,
    hash: ContentHash,
    want: (u64, String),
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c BLOB, d REAL)",
    "CREATE TABLE u(x TEXT UNIQUE, y INTEGER REFERENCES t(a))",
    "CREATE TABLE s(id INTEGER PRIMARY KEY AUTOINCREMENT, v)",
    "CREATE INDEX u_y ON u(y)",
    "CREATE VIEW v AS SELECT a, b, x FROM t JOIN u ON u.y = t.a",
    "CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO s(v) VALUES (new.b); END",
    "INSERT INTO t VALUES (1, 'one', x'01', 1.5), (2, 'two', NULL, -0.0), (3, NULL, x'', 1e300)",
    "INSERT INTO u VALUES ('a', 1), ('b', 2)",
    "PRAGMA user_version = 7",
];

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let path = sw_fuzz::scratch_dir().join("readonly.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let writer = Writer::open(&format!("Data Source={};Busy Timeout=2000", path.display()))
            .expect("open the read-only fixture");
        for stmt in SCHEMA {
            writer
                .execute(stmt, &[])
                .unwrap_or_else(|e| panic!("{stmt}: {e:?}"));
        }
        writer.flush(None).expect("flush");
        let hash = ContentHash::open(&path);
        // The oracle must see a write: one through the writer (a row, then the header) moves
        // the hash; the hash compared against is taken after them.
        let before = hash.hash();
        writer
            .execute("INSERT INTO u VALUES ('self-check', 3)", &[])
            .expect("self-check insert");
        let after_insert = hash.hash();
        assert_ne!(
            before.0, after_insert.0,
            "the content hash missed an INSERT"
        );
        writer
            .execute("DELETE FROM u WHERE x = 'self-check'", &[])
            .expect("self-check delete");
        writer
            .execute("PRAGMA user_version = 8", &[])
            .expect("self-check pragma");
        let after_pragma = hash.hash();
        assert_ne!(
            after_insert.0, after_pragma.0,
            "the content hash missed a DELETE and a PRAGMA"
        );
        let want = hash.hash();
        Fixture { writer, hash, want }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&path, rest)) = data.split_first() else {
        return;
    };
    let sql = String::from_utf8_lossy(rest);
    if !sw_fuzz::sql_is_bounded(&sql) {
        return;
    }
    let r = match path % 3 {
        0 => f.writer.query(&sql, &[]).map(|_| ()),
        1 => f
            .writer
            .read(&format!("k{}", path / 3), &sql, &[])
            .map(|_| ()),
        _ => f
            .writer
            .query(&sql, &[])
            .and_then(|_| f.writer.read("same", &sql, &[]))
            .map(|_| ()),
    };
    if let Err(e) = &r {
        assert_ne!(e.status(), Status::Panic, "{sql:?}: {}", e.message());
        assert_ne!(
            e.status(),
            Status::Misuse,
            "{sql:?}: MISUSE outside any callback: {}",
            e.message()
        );
    }
    let now = f.hash.hash();
    assert!(
        now.0 == f.want.0,
        "a read changed the database: {sql:?} ({r:?})\nbefore: {}\nafter:  {}",
        f.want.1,
        now.1
    );
});
