//! Which rows a transaction changed: SQLite's update hook, and the places it is blind.
//!
//! Owns the log of rowids per table that lets the cache invalidate the point lookups of the rows
//! a commit changed instead of every read of their tables (`cache/tables.rs`), and the rules that
//! say when a table's changes are not known row by row. Must never let a changed row go
//! unreported: where in doubt, the table counts as changed as a whole.
//!
//! The hook is registered on the write connection only once a read has depended on a row
//! (`Tables::rows_wanted`, `WriteConn::log_rows`), before the next transaction begins: until
//! then no cached entry depends on a row, every table a commit writes moves as a whole (which
//! invalidates the same entries), and the hook's work on every changed row is saved.
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
    /// (lower-cased table name, rowids changed: `None`, too many to list: the whole table).
    tables: Vec<(Box<str>, Option<Vec<i64>>)>,
    /// Lower-cased table name → its place in `tables`.
    index: HashMap<Box<str>, usize, FnvBuild>,
    /// The table of the last row the hook reported (see [`RowLog::last_slot`]).
    last: Option<Last>,
    /// A table name being lower-cased (see [`RowLog::note`]).
    scratch: String,
}

/// The table of the last row the hook reported, as SQLite named it: its name's address and
/// bytes, and its place in `tables` ([`SKIP`]: rows of it are not logged).
#[derive(Debug)]
struct Last {
    table: usize,
    spelled: Box<[u8]>,
    slot: usize,
}

/// [`Last::slot`] of a table whose rows are not logged (SQLite's own, the change table).
const SKIP: usize = usize::MAX;

/// Rowids listed per table and transaction before the table counts as changed as a whole.
/// A group that changes more rows of a table than this (a burst of pipelined writes) costs
/// its cached reads of that table, and saves listing and counting every row: a commit's rows
/// each move a counter in a table far larger than the processor's cache.
const ROWS_PER_TABLE: usize = 256;

/// Tables whose (emptied) entries are kept between transactions; past this the log starts over.
const TABLES_KEPT: usize = 64;

impl RowLog {
    /// Forget the rows noted so far (a transaction begins).
    pub(crate) fn reset(&mut self) {
        if self.tables.len() > TABLES_KEPT {
            self.tables.clear();
            self.index.clear();
            self.last = None;
            return;
        }
        for (_, rows) in &mut self.tables {
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

    /// The one table rows were noted of, when there is exactly one (as [`RowLog::changed`]
    /// lists it).
    pub(crate) fn only_one(&self) -> Option<(&str, Option<&[i64]>)> {
        let mut changed = self.changed();
        let first = changed.next()?;
        changed.next().is_none().then_some(first)
    }

    /// Whether no row was noted.
    pub(crate) fn is_empty(&self) -> bool {
        self.changed().next().is_none()
    }

    /// Whether rows of `table` (lower-cased) were noted.
    pub(crate) fn contains(&self, table: &str) -> bool {
        self.index
            .get(table)
            .is_some_and(|&i| self.tables[i].1.as_ref().is_none_or(|l| !l.is_empty()))
    }

    /// The place in `tables` of `table` (lower-cased), made when missing.
    fn slot(&mut self, table: &str) -> usize {
        if let Some(&i) = self.index.get(table) {
            return i;
        }
        self.tables.push((table.into(), Some(Vec::new())));
        self.index.insert(table.into(), self.tables.len() - 1);
        self.tables.len() - 1
    }

    /// `table` changed as a whole.
    fn note_whole(&mut self, table: &str) {
        let i = self.slot(&table.to_ascii_lowercase());
        self.tables[i].1 = None;
    }

    /// Note a row of `table` as SQLite spells it; its place in `tables`.
    fn note(&mut self, table: &str, rowid: i64) -> usize {
        // Looked up as SQLite spells it (one look-up for a lower-case name), then lower-cased
        // (into a buffer kept for this, so a table declared `Items` costs no allocation per
        // row), then added.
        let i = match self.index.get(table) {
            Some(&i) => i,
            None => {
                let mut lower = std::mem::take(&mut self.scratch);
                lower.clear();
                lower.push_str(table);
                lower.make_ascii_lowercase();
                let i = self.slot(&lower);
                self.scratch = lower;
                i
            }
        };
        self.push(i, rowid);
        i
    }

    /// Add `rowid` to the entry at `i` (which becomes "the whole table" past the limit).
    fn push(&mut self, i: usize, rowid: i64) {
        let entry = &mut self.tables[i].1;
        if let Some(list) = entry {
            list.push(rowid);
            if list.len() > ROWS_PER_TABLE {
                *entry = None;
            }
        }
    }

    /// The slot of the table named at `table` when it is the last table reported, named the
    /// same (an address may have been reused for another table since).
    ///
    /// # Safety
    /// `table` points to a NUL-terminated string.
    #[allow(unsafe_code)]
    unsafe fn last_slot(&self, table: *const std::ffi::c_char) -> Option<usize> {
        let last = self.last.as_ref().filter(|l| l.table == table as usize)?;
        // SAFETY: the caller's; `same_c_str` reads no byte past the terminator.
        unsafe { same_c_str(table, &last.spelled) }.then_some(last.slot)
    }
}

/// Whether the NUL-terminated string at `p` is `bytes` (which hold no NUL). Reads `p` only up
/// to its first difference from `bytes`, so never past its terminator.
///
/// # Safety
/// `p` points to a NUL-terminated string.
#[allow(unsafe_code)]
unsafe fn same_c_str(p: *const std::ffi::c_char, bytes: &[u8]) -> bool {
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: every byte before this one matched a non-NUL byte of `bytes`, so the string
        // goes on at least to here.
        if unsafe { *p.add(i) } as u8 != b {
            return false;
        }
    }
    // SAFETY: as above: `bytes.len()` bytes matched, none of them NUL.
    unsafe { *p.add(bytes.len()) == 0 }
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

/// Register the update hook on the write connection, filling `log`. Changes to SQLite's own
/// tables and to `internal` (the library's change table) are not logged.
#[allow(unsafe_code)]
pub(crate) fn install(db: &Connection, internal: &'static str, log: &Arc<Mutex<RowLog>>) -> Hook {
    let log = log.clone();
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
    unsafe { Hook::new(db, state, register, unregister) }
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
        // SAFETY: SQLite passes the pointer registered in `install` (valid until the hook is
        // unregistered) and NUL-terminated names.
        let state = unsafe { &*(p as *const HookState) };
        let mut log = state.log.lock();
        // Rows come in runs of one table: the same table, at the same address, with the same
        // name, in `main` is known already, without measuring and hashing its name again.
        // SAFETY: NUL-terminated names (above).
        if unsafe { same_c_str(db_name, b"main") } {
            // SAFETY: as above.
            if let Some(slot) = unsafe { log.last_slot(table) } {
                if slot != SKIP {
                    log.push(slot, rowid);
                }
                return;
            }
        }
        // SAFETY: as above.
        let (db_name, name) = unsafe {
            (
                std::ffi::CStr::from_ptr(db_name).to_bytes(),
                std::ffi::CStr::from_ptr(table).to_bytes(),
            )
        };
        if db_name != b"main" {
            return;
        }
        let slot = if name.starts_with(b"sqlite_")
            || name.eq_ignore_ascii_case(state.internal.as_bytes())
        {
            SKIP
        } else {
            match crate::value::utf8(name) {
                Ok(t) => log.note(t, rowid),
                // Not a name any read can name back: the whole table (lossily named) changed.
                Err(_) => {
                    log.note_whole(&String::from_utf8_lossy(name));
                    return;
                }
            }
        };
        log.last = Some(Last {
            table: table as usize,
            spelled: name.into(),
            slot,
        });
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
        let log = Arc::default();
        let hook = install(&db, "internal_t", &log);
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

    #[test]
    #[allow(unsafe_code)]
    fn a_table_name_at_a_reused_address_is_read_again() {
        let log: Arc<Mutex<RowLog>> = Arc::default();
        let state = HookState {
            log: log.clone(),
            internal: "internal_t",
        };
        let p = &state as *const HookState as *mut std::ffi::c_void;
        let main = c"main";
        // One buffer, renamed in place: SQLite may free a table and put another at its address.
        let mut name = [0u8; 16];
        let mut row = |spelled: &str, rowid: i64, db: &std::ffi::CStr| {
            name.fill(0);
            name[..spelled.len()].copy_from_slice(spelled.as_bytes());
            // SAFETY: `p` is the state above; both names are NUL-terminated.
            unsafe { on_update(p, 0, db.as_ptr(), name.as_ptr().cast(), rowid) };
        };
        row("Items", 1, main);
        row("Items", 2, main);
        row("items2", 3, main);
        row("Item", 4, main);
        row("Item", 5, c"aux");
        row("sqlite_stat1", 6, main);
        row("sqlite_stat1", 7, main);
        row("Internal_T", 8, main);
        row("Item", 9, main);
        let log = log.lock();
        let mut changed: Vec<_> = log.changed().collect();
        changed.sort();
        assert_eq!(
            changed,
            [
                ("item", Some(&[4, 9][..])),
                ("items", Some(&[1, 2][..])),
                ("items2", Some(&[3][..]))
            ]
        );
        // SAFETY: NUL-terminated literals.
        let same = |c: &std::ffi::CStr, b: &[u8]| unsafe { same_c_str(c.as_ptr(), b) };
        assert!(same(c"main", b"main") && !same(c"mai", b"main"));
        assert!(!same(c"mainx", b"main") && same(c"", b""));
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
