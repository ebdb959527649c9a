//! Shared pieces of the fuzz targets: a scratch directory per process, a logical hash of a
//! database's content (read through a connection of its own), the input filters that keep a run
//! bounded in time and on the file system.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

/// A directory of this process's own under the system's temporary directory, created once and
/// made the current directory, so a relative path that fuzzed SQL names lands there.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("SW_FUZZ_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("sw-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz scratch directory");
        std::env::set_current_dir(&dir).expect("enter the fuzz scratch directory");
        dir
    })
}

/// Keeps fuzzed SQL from running for minutes or from touching files outside the scratch
/// directory. Such SQL is the host's to pass and SQLite's to run; it is no finding about this
/// library. Rejected: recursive CTEs (unbounded loops); more than 6 commas/JOINs (cross joins
/// multiply); numbers of 7+ digits, exponents and shifts, and the functions that turn a number
/// into that many bytes (`zeroblob`, `randomblob`, `printf`/`format` widths) or multiply a
/// string (`replace`); ATTACH and VACUUM (INTO) (they name files, and an expression can spell
/// any path); the directory pragmas.
pub fn sql_is_bounded(sql: &str) -> bool {
    if sql.len() > 400 {
        return false;
    }
    let lower = sql.to_ascii_lowercase();
    for word in [
        "recursive",
        "attach",
        "vacuum",
        "directory",
        "<<",
        "zeroblob",
        "randomblob",
        "printf",
        "format",
        "replace",
    ] {
        if lower.contains(word) {
            return false;
        }
    }
    let joins = lower.matches(',').count() + lower.matches("join").count();
    if joins > 6 {
        return false;
    }
    let b = lower.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_digit() {
            run += 1;
            if run >= 7 {
                return false;
            }
            if let Some(&next) = b.get(i + 1) {
                if next == b'e'
                    && b.get(i + 2)
                        .is_some_and(|c| c.is_ascii_digit() || *c == b'+')
                {
                    return false;
                }
            }
        } else {
            run = 0;
        }
    }
    true
}

/// A hash of everything a write could change in the database at `path`, read through a
/// read-only connection of this harness (not the library's): the schema, every table's rows
/// (including `sqlite_sequence` and the library's own change table), and the header fields a
/// pragma can set (`user_version`, `application_id`, `journal_mode`, `page_size`,
/// `auto_vacuum`, `freelist_count`, `page_count`).
pub struct ContentHash {
    db: std::sync::Mutex<Connection>,
}

impl ContentHash {
    /// Open the hashing connection. It stays open for the process's life (closing a connection
    /// is safe in SQLite, but there is no need to).
    pub fn open(path: &Path) -> ContentHash {
        let db = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .expect("open the hashing connection");
        db.busy_timeout(std::time::Duration::from_secs(30))
            .expect("busy timeout");
        ContentHash {
            db: std::sync::Mutex::new(db),
        }
    }

    /// The hash, and a short description for a failure report.
    pub fn hash(&self) -> (u64, String) {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut summary = String::new();
        db.execute_batch("BEGIN").expect("begin");
        for pragma in [
            "user_version",
            "application_id",
            "journal_mode",
            "page_size",
            "auto_vacuum",
            "freelist_count",
            "page_count",
        ] {
            let v: rusqlite::types::Value = db
                .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                .expect("pragma");
            format!("{v:?}").hash(&mut h);
            summary.push_str(&format!("{pragma}={v:?} "));
        }
        let mut tables: Vec<String> = Vec::new();
        {
            let mut stmt = db
                .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name")
                .expect("schema");
            let mut rows = stmt.query([]).expect("schema rows");
            while let Some(r) = rows.next().expect("schema row") {
                let kind: String = r.get(0).expect("type");
                let name: String = r.get(1).expect("name");
                let sql: Option<String> = r.get(3).expect("sql");
                (kind.as_str(), name.as_str(), sql.as_deref()).hash(&mut h);
                if kind == "table" {
                    tables.push(name);
                }
            }
        }
        summary.push_str(&format!("tables={tables:?} "));
        for t in &tables {
            let q = format!("SELECT * FROM \"{}\"", t.replace('"', "\"\""));
            let mut stmt = match db.prepare(&q) {
                Ok(s) => s,
                Err(e) => {
                    // A virtual table whose module is missing, say: its text is hashed above.
                    format!("{t}: {e}").hash(&mut h);
                    continue;
                }
            };
            let n = stmt.column_count();
            let mut rows = stmt.query([]).expect("table rows");
            let mut count = 0u64;
            while let Some(r) = rows.next().expect("table row") {
                count += 1;
                for i in 0..n {
                    match r.get_ref(i).expect("cell") {
                        ValueRef::Null => 0u8.hash(&mut h),
                        ValueRef::Integer(v) => (1u8, v).hash(&mut h),
                        ValueRef::Real(v) => (2u8, v.to_bits()).hash(&mut h),
                        ValueRef::Text(v) => (3u8, v).hash(&mut h),
                        ValueRef::Blob(v) => (4u8, v).hash(&mut h),
                    }
                }
            }
            summary.push_str(&format!("{t}:{count} "));
        }
        db.execute_batch("COMMIT").expect("commit");
        (h.finish(), summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sw-fuzz-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("h.db")
    }

    /// The read-only target's oracle sees every kind of change a write could make.
    #[test]
    fn content_hash_sees_every_kind_of_write() {
        let path = scratch_db("hash");
        let w = Connection::open(&path).unwrap();
        w.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t(a INTEGER PRIMARY KEY, b);
             INSERT INTO t VALUES (1, 'x');",
        )
        .unwrap();
        let h = ContentHash::open(&path);
        let mut last = h.hash().0;
        assert_eq!(last, h.hash().0, "the hash is stable");
        for change in [
            "UPDATE t SET b = 'y'",
            "UPDATE t SET b = x'79'",
            "INSERT INTO t VALUES (2, NULL)",
            "DELETE FROM t WHERE a = 2",
            "CREATE INDEX t_b ON t(b)",
            "CREATE VIEW v AS SELECT 1",
            "PRAGMA user_version = 5",
            "PRAGMA application_id = 9",
            "CREATE TABLE e(x)",
            "DROP TABLE e",
        ] {
            w.execute_batch(change).unwrap();
            let now = h.hash().0;
            assert_ne!(now, last, "the hash missed: {change}");
            last = now;
        }
    }

    #[test]
    fn bounded_sql() {
        assert!(sql_is_bounded("SELECT * FROM t, u WHERE a = 123456"));
        for s in [
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT * FROM c",
            "SELECT randomblob(1000000000)",
            "SELECT zeroblob(9e8)",
            "SELECT 1 << 40",
            "SELECT * FROM t,t,t,t,t,t,t,t",
            "ATTACH '/etc/x' AS y",
            "VACUUM INTO 'x'",
        ] {
            assert!(!sql_is_bounded(s), "{s:?}");
        }
    }
}
