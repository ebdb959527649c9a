//! Which rows a transaction changed: SQLite's update hook, and the places it is blind.
//!
//! Owns the log of rowids per table that lets the cache invalidate the point lookups of the rows
//! a commit changed instead of every read of their tables (`cache/tables.rs`), and the rules that
//! say when a table's changes are not known row by row. Must never let a changed row go
//! unreported: where in doubt, the table counts as changed as a whole.
//!
//! The log is filled by `sqlite3_update_hook`, which every build of SQLite has: it reports each
//! row an INSERT, UPDATE or DELETE changes in a rowid table of `main`, by rowid — rows changed
//! by triggers and by foreign-key actions too. (An earlier version used the pre-update hook,
//! which needs SQLite compiled with SQLITE_ENABLE_PREUPDATE_HOOK; rusqlite ties that option to
//! generating its bindings at build time, which needs libclang, so a fresh machine could not
//! build the crate. The update hook needs nothing, and works with the host's SQLite too.)
//! SQLite documents where the update hook is silent; each case is made safe here:
//! - `DELETE` without `WHERE` (the truncate optimization): the write connection's authorizer
//!   answers SQLITE_IGNORE to every SQLITE_DELETE, which "disables the truncate optimization
//!   and all rows are deleted individually" (sqlite3_set_authorizer), so each is reported;
//! - rows deleted by REPLACE conflict resolution: a statement whose text mentions REPLACE, a
//!   table whose schema does, or any statement while a trigger's schema does, changes every
//!   table it writes as a whole;
//! - an UPDATE that gives a row a new rowid reports the new one only: an UPDATE of a column
//!   that may hold the rowid (`rowid`, `oid`, `_rowid_`, a primary-key column) changes its
//!   table as a whole, and so does any UPDATE or DELETE for tables whose foreign keys have
//!   actions that change them (`ON UPDATE …`, `SET NULL`, `SET DEFAULT`);
//! - WITHOUT ROWID and virtual tables: never reported, so never in the log; the authorizer's
//!   list of written tables moves them as a whole.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;

use crate::cache::FnvBuild;
use crate::sync::Mutex;

/// Rows changed per table in the current transaction, as the update hook reports them.
///
/// A table's entry outlives the transaction that made it, emptied by [`RowLog::reset`]: the
/// next transaction writing the table notes its rows without allocating (an empty list means
/// "not changed").
#[derive(Default, Debug)]
pub(crate) struct RowLog {
    /// Lower-cased table name → rowids changed (`None`: too many to list: the whole table).
    tables: HashMap<Box<str>, Option<Vec<i64>>, FnvBuild>,
    /// A table name being lower-cased (see [`RowLog::note`]).
    scratch: String,
}

/// Rowids listed per table and transaction before the table counts as changed as a whole.
const ROWS_PER_TABLE: usize = 1024;

/// Tables whose (emptied) entries are kept between transactions; past this the log starts over.
const TABLES_KEPT: usize = 64;

impl RowLog {
    /// Forget the rows noted so far (a transaction begins).
    pub(crate) fn reset(&mut self) {
        if self.tables.len() > TABLES_KEPT {
            self.tables.clear();
            return;
        }
        for rows in self.tables.values_mut() {
            match rows {
                Some(list) => list.clear(),
                None => *rows = Some(Vec::new()),
            }
        }
    }

    /// The tables with changed rows: (lower-cased name, rowids or `None` for the whole table).
    pub(crate) fn changed(&self) -> impl Iterator<Item = (&str, Option<&[i64]>)> {
        self.tables.iter().filter_map(|(t, rows)| match rows {
            Some(list) if list.is_empty() => None,
            Some(list) => Some((&**t, Some(&list[..]))),
            None => Some((&**t, None)),
        })
    }

    /// Whether no row was noted.
    pub(crate) fn is_empty(&self) -> bool {
        self.changed().next().is_none()
    }

    /// Whether rows of `table` (lower-cased) were noted.
    pub(crate) fn contains(&self, table: &str) -> bool {
        self.tables
            .get(table)
            .is_some_and(|rows| rows.as_ref().is_none_or(|l| !l.is_empty()))
    }

    /// `table` changed as a whole.
    fn note_whole(&mut self, table: &str) {
        self.tables
            .insert(table.to_ascii_lowercase().into_boxed_str(), None);
    }

    fn note(&mut self, table: &str, rowid: i64) {
        // Looked up as SQLite spells it (one look-up for a lower-case name), then lower-cased
        // (into a buffer kept for this, so a table declared `Items` costs no allocation per
        // row), then added.
        if let Some(entry) = self.tables.get_mut(table) {
            Self::push(entry, rowid);
            return;
        }
        self.scratch.clear();
        self.scratch.push_str(table);
        self.scratch.make_ascii_lowercase();
        match self.tables.get_mut(self.scratch.as_str()) {
            Some(entry) => Self::push(entry, rowid),
            None => {
                let mut entry = Some(Vec::new());
                Self::push(&mut entry, rowid);
                self.tables
                    .insert(self.scratch.clone().into_boxed_str(), entry);
            }
        }
    }

    /// Add `rowid` to a table's entry (which becomes "the whole table" past the limit).
    fn push(entry: &mut Option<Vec<i64>>, rowid: i64) {
        if let Some(list) = entry {
            list.push(rowid);
            if list.len() > ROWS_PER_TABLE {
                *entry = None;
            }
        }
    }
}

/// The update hook, registered through SQLite's C API: rusqlite's wrapper checked both names
/// as UTF-8 and boxed the call, about 260 instructions a row, more than the log itself (a
/// callgrind of pipelined inserts: 371 instructions per row for the hook in all). Declared
/// before the connection in [`WriteConn`](super::conn::WriteConn), so it drops first.
pub(crate) type Hook = super::registered::Registered<HookState>;

pub(crate) struct HookState {
    log: Arc<Mutex<RowLog>>,
    internal: &'static str,
}

/// Register the update hook on the write connection; the log it fills. Changes to SQLite's
/// own tables and to `internal` (the library's change table) are not logged.
#[allow(unsafe_code)]
pub(crate) fn install(db: &Connection, internal: &'static str) -> (Hook, Arc<Mutex<RowLog>>) {
    let log: Arc<Mutex<RowLog>> = Arc::default();
    let state = HookState {
        log: log.clone(),
        internal,
    };
    // SAFETY (both): `Hook::new` and its drop call them with the open connection.
    let register: unsafe fn(*mut rusqlite::ffi::sqlite3, *mut std::ffi::c_void) = |db, p| unsafe {
        rusqlite::ffi::sqlite3_update_hook(db, Some(on_update), p);
    };
    let unregister: unsafe fn(*mut rusqlite::ffi::sqlite3) = |db| unsafe {
        rusqlite::ffi::sqlite3_update_hook(db, None, std::ptr::null_mut());
    };
    // SAFETY: `on_update` reads its argument as the `HookState`; `unregister` removes it.
    let hook = unsafe { Hook::new(db, state, register, unregister) };
    (hook, log)
}

/// SQLite's update hook: `p` is the [`HookState`], the names are NUL-terminated.
#[allow(unsafe_code)]
unsafe extern "C" fn on_update(
    p: *mut std::ffi::c_void,
    _op: std::ffi::c_int,
    db_name: *const std::ffi::c_char,
    table: *const std::ffi::c_char,
    rowid: i64,
) {
    // A panic must not unwind into SQLite.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: SQLite passes the pointer registered in `install` (valid until the
        // hook is unregistered) and NUL-terminated names.
        let (state, db_name, table) = unsafe {
            (
                &*(p as *const HookState),
                std::ffi::CStr::from_ptr(db_name).to_bytes(),
                std::ffi::CStr::from_ptr(table).to_bytes(),
            )
        };
        if db_name != b"main"
            || table.starts_with(b"sqlite_")
            || table.eq_ignore_ascii_case(state.internal.as_bytes())
        {
            return;
        }
        let mut log = state.log.lock();
        match crate::value::utf8(table) {
            Ok(t) => log.note(t, rowid),
            // Not a name any read can name back: the whole table (lossily named) changed.
            Err(_) => log.note_whole(&String::from_utf8_lossy(table)),
        }
    }));
}

/// What the authorizer saw a statement write, for [`blind_spots`].
#[derive(Clone, Copy)]
pub(crate) struct Written<'a> {
    /// Tables it inserts into, updates or deletes from (lower-cased).
    pub(crate) tables: &'a [Box<str>],
    /// (table, column) of every column it updates (lower-cased).
    pub(crate) updated: &'a [(Box<str>, Box<str>)],
    /// Whether it updates or deletes anything.
    pub(crate) updates_or_deletes: bool,
}

/// The tables whose changed rows the update hook may not all report when `sql` runs (`None`:
/// the SQL text is not known, as when SQLite prepared a statement again after a schema change:
/// every table it writes). Asked once per SQL text, when it is first prepared.
pub(crate) fn blind_spots(db: &Connection, sql: Option<&str>, w: Written<'_>) -> Vec<Box<str>> {
    let mut blind: Vec<Box<str>> = vec![];
    let mut add = |t: &str| {
        if !blind.iter().any(|b| b.eq_ignore_ascii_case(t)) {
            blind.push(t.to_ascii_lowercase().into_boxed_str());
        }
    };
    let all_written = match sql {
        None => true,
        Some(sql) => contains_ignoring_case(sql, "replace"),
    };
    if all_written {
        w.tables.iter().for_each(|t| add(t));
        return blind;
    }
    if w.tables.is_empty() {
        return blind;
    }
    // The schema as SQLite keeps it; if it cannot be read, assume the worst.
    let schema: Vec<(String, String, String)> = match db
        .prepare_cached(
            "SELECT type, lower(tbl_name), lower(sql) FROM main.sqlite_schema \
             WHERE type IN ('table', 'trigger') AND sql IS NOT NULL",
        )
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        }) {
        Ok(s) => s,
        Err(_) => {
            w.tables.iter().for_each(|t| add(t));
            return blind;
        }
    };
    if schema
        .iter()
        .any(|(kind, _, sql)| kind == "trigger" && sql.contains("replace"))
    {
        w.tables.iter().for_each(|t| add(t));
        return blind;
    }
    for (kind, table, sql) in &schema {
        if kind != "table" {
            continue;
        }
        if sql.contains("replace") && w.tables.iter().any(|t| **t == **table) {
            add(table);
        }
        if w.updates_or_deletes
            && sql.contains("references")
            && (sql.contains("on update")
                || sql.contains("set null")
                || sql.contains("set default"))
        {
            add(table);
        }
    }
    for (table, column) in w.updated {
        if may_hold_rowid(db, table, column) {
            add(table);
        }
    }
    blind
}

/// Whether `column` of `table` may be its rowid: one of the rowid's own names, or a
/// primary-key column (an INTEGER PRIMARY KEY is the rowid; any other is counted too, as
/// doubt costs only an extra invalidation).
fn may_hold_rowid(db: &Connection, table: &str, column: &str) -> bool {
    if ["rowid", "oid", "_rowid_"]
        .iter()
        .any(|n| column.eq_ignore_ascii_case(n))
    {
        return true;
    }
    db.prepare_cached("SELECT pk FROM pragma_table_info(?1, 'main') WHERE name = ?2 COLLATE NOCASE")
        .and_then(|mut s| s.query_row([table, column], |r| r.get::<_, i64>(0)))
        .map_or(true, |pk| pk > 0)
}

fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_log_reports_nothing_and_keeps_noting_by_table() {
        let mut log = RowLog::default();
        log.note("T", 1);
        log.note("t", 2);
        for i in 0..=ROWS_PER_TABLE as i64 {
            log.note("big", i);
        }
        let mut changed: Vec<_> = log.changed().collect();
        changed.sort();
        assert_eq!(changed, [("big", None), ("t", Some(&[1, 2][..]))]);
        log.reset();
        assert!(log.is_empty());
        assert!(!log.contains("t") && !log.contains("big"));
        log.note("big", 7);
        assert_eq!(log.changed().collect::<Vec<_>>(), [("big", Some(&[7][..]))]);
        assert!(log.contains("big") && !log.contains("t"));
    }

    #[test]
    fn the_hook_logs_rows_of_main_tables_only_and_unregisters_when_dropped() {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE Items(x); CREATE TABLE internal_t(x); ATTACH ':memory:' AS aux;
             CREATE TABLE aux.o(x);",
        )
        .unwrap();
        let (hook, log) = install(&db, "internal_t");
        db.execute_batch(
            "INSERT INTO Items VALUES (1), (2); UPDATE items SET x = 3 WHERE rowid = 2;
             INSERT INTO internal_t VALUES (1); INSERT INTO aux.o VALUES (1);
             ANALYZE; INSERT INTO Items VALUES (4);",
        )
        .unwrap();
        assert_eq!(
            log.lock().changed().collect::<Vec<_>>(),
            [("items", Some(&[1, 2, 2, 3][..]))]
        );
        drop(hook);
        log.lock().reset();
        db.execute_batch("INSERT INTO Items VALUES (5)").unwrap();
        assert!(log.lock().is_empty(), "no hook after drop");
    }

    fn blind(
        schema: &str,
        sql: Option<&str>,
        tables: &[&str],
        updated: &[(&str, &str)],
    ) -> Vec<Box<str>> {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(schema).unwrap();
        let tables: Vec<Box<str>> = tables.iter().map(|t| (*t).into()).collect();
        let updated: Vec<(Box<str>, Box<str>)> = updated
            .iter()
            .map(|(t, c)| ((*t).into(), (*c).into()))
            .collect();
        let w = Written {
            tables: &tables,
            updated: &updated,
            updates_or_deletes: !updated.is_empty() || sql.is_some_and(|s| s.contains("DELETE")),
        };
        blind_spots(&db, sql, w)
    }

    #[test]
    fn rows_the_update_hook_may_not_report_make_their_table_whole() {
        let plain = "CREATE TABLE t(id INTEGER PRIMARY KEY, v, u UNIQUE)";
        assert!(blind(
            plain,
            Some("UPDATE t SET v = 1 WHERE id = ?"),
            &["t"],
            &[("t", "v")]
        )
        .is_empty());
        assert!(blind(plain, Some("INSERT INTO t(v) VALUES (1)"), &["t"], &[]).is_empty());
        assert_eq!(
            blind(
                plain,
                Some("INSERT OR REPLACE INTO t VALUES (1, 2, 3)"),
                &["t"],
                &[]
            ),
            ["t".into()]
        );
        assert_eq!(
            blind(plain, Some("replace into t values (1, 2, 3)"), &["t"], &[]),
            ["t".into()]
        );
        assert_eq!(
            blind(
                plain,
                Some("UPDATE t SET id = 5 WHERE id = 4"),
                &["t"],
                &[("t", "id")]
            ),
            ["t".into()]
        );
        assert_eq!(
            blind(
                plain,
                Some("UPDATE t SET rowid = 5"),
                &["t"],
                &[("t", "rowid")]
            ),
            ["t".into()]
        );
        assert_eq!(
            blind(plain, None, &["t"], &[]),
            ["t".into()],
            "an unknown text"
        );
        let declared = "CREATE TABLE t(id INTEGER PRIMARY KEY, v, u UNIQUE ON CONFLICT REPLACE)";
        assert_eq!(
            blind(declared, Some("INSERT INTO t(u) VALUES (1)"), &["t"], &[]),
            ["t".into()]
        );
        let trigger = "CREATE TABLE t(id INTEGER PRIMARY KEY, v); CREATE TABLE l(x UNIQUE);
                       CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT OR REPLACE INTO l VALUES (NEW.v); END;";
        assert_eq!(
            blind(
                trigger,
                Some("INSERT INTO t(v) VALUES (1)"),
                &["t", "l"],
                &[]
            ),
            ["t".into(), "l".into()]
        );
        let cascade = "CREATE TABLE p(id INTEGER PRIMARY KEY);
                       CREATE TABLE c(id INTEGER PRIMARY KEY REFERENCES p(id) ON UPDATE CASCADE)";
        assert_eq!(
            blind(cascade, Some("UPDATE p SET id = 2"), &["p"], &[("p", "id")]),
            ["c".into(), "p".into()]
        );
        assert!(blind(cascade, Some("INSERT INTO p VALUES (1)"), &["p"], &[]).is_empty());
    }
}
