//! The write connection and what runs on it: group transactions, jobs inside savepoints or
//! statement-atomic, and what each statement writes (the authorizer's capture, the update
//! hook's rows in `rowlog.rs`); the change table shared with other processes is `changefeed.rs`.
//!
//! Owned by whichever thread leads the lane; never touched by anyone else. Must never leave a
//! transaction open between groups, and never let a job's SQL end the group's transaction.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::sync::Mutex;
use fallible_iterator::FallibleIterator;
use lru::LruCache;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result, Status};
use crate::options::{Checkpoints, OpenMode, Options};
use crate::rows::Rows;
use crate::session::Session;
use crate::signal::Signals;
use crate::sql::{classify, first_keyword, Kind};
use crate::value::{bind, BindReport, Packed, Param, ParamList};

use super::changefeed::ChangeFeed;
pub(crate) use super::changefeed::External;
pub use super::changefeed::CHANGE_TABLE;
use super::commit_hook::CommitHook;
use super::rowlog;
pub(crate) use super::rowlog::RowLog;
use super::stmts::{Counters, Prepared, Stmts};

/// Rows affected and last insert rowid of a write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteResult {
    /// Rows inserted, updated or deleted by the write's statements (not counting triggers).
    pub rows_affected: i64,
    /// The rowid of the last row the write inserted, or 0 if it inserted none.
    pub last_insert_rowid: i64,
}

impl WriteResult {
    /// Accumulate another statement's result (rows summed, the last inserted rowid kept).
    pub(crate) fn add(&mut self, other: WriteResult) {
        self.rows_affected += other.rows_affected;
        if other.last_insert_rowid != 0 {
            self.last_insert_rowid = other.last_insert_rowid;
        }
    }
}

/// One statement of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// The SQL.
    pub sql: String,
    /// Its parameters.
    pub params: Vec<Param>,
}

impl Statement {
    /// A statement with parameters.
    pub fn new(sql: impl Into<String>, params: Vec<Param>) -> Statement {
        Statement {
            sql: sql.into(),
            params,
        }
    }
}

/// What a group changed: the write sets of the statements it ran, and persisted invalidations.
///
/// Holds each statement's [`Captured`] set by reference, once: a cached statement's set is
/// shared, so a group of one write allocates this list and nothing per table (a set of
/// lower-cased names copied into its own hash set cost about 700 instructions per group).
/// A table may appear in several sets; [`Changes::tables`] lists it once per set, and its
/// consumers treat the list as a set.
#[derive(Default)]
pub(crate) struct Changes {
    sets: Vec<Arc<Captured>>,
    pub(crate) raised: Vec<Box<str>>,
}

/// Sets compared by pointer before a new one is added; a longer group (rare: that many
/// different statements) adds without looking, and duplicates only cost a lookup later.
const SETS_DEDUP: usize = 32;

impl Changes {
    pub(crate) fn is_empty(&self) -> bool {
        self.raised.is_empty() && self.sets.iter().all(|c| c.tables.is_empty() && !c.schema)
    }

    /// The tables of the one statement noted, when that is all there is to move: no schema
    /// change, no table the update hook may not report, no persisted invalidation.
    pub(crate) fn only_tables(&self) -> Option<impl Iterator<Item = &str> + Clone> {
        match self.sets.as_slice() {
            [c] if !c.schema && c.blind.is_empty() && self.raised.is_empty() => {
                Some(c.tables.iter().map(|t| &**t))
            }
            _ => None,
        }
    }

    /// Whether a statement changed the schema.
    pub(crate) fn schema(&self) -> bool {
        self.sets.iter().any(|c| c.schema)
    }

    /// Tables written (lower-cased; a table written by several statements may repeat).
    pub(crate) fn tables(&self) -> impl Iterator<Item = &str> + Clone {
        self.sets.iter().flat_map(|c| c.tables.iter().map(|t| &**t))
    }

    /// Tables whose changed rows the update hook may not all have reported: moved as a whole
    /// (may repeat).
    pub(crate) fn blind(&self) -> impl Iterator<Item = &str> {
        self.sets.iter().flat_map(|c| c.blind.iter().map(|t| &**t))
    }

    /// Whether `table` (lower-cased) is one of [`Changes::blind`].
    pub(crate) fn is_blind(&self, table: &str) -> bool {
        self.blind().any(|t| t == table)
    }

    /// Note a cached statement's tables; the same statement again costs a pointer compare.
    fn absorb_shared(&mut self, captured: Arc<Captured>) {
        if captured.tables.is_empty() && !captured.schema {
            return;
        }
        let seen = if self.sets.len() <= SETS_DEDUP {
            self.sets.iter().any(|c| Arc::ptr_eq(c, &captured))
        } else {
            self.sets.last().is_some_and(|c| Arc::ptr_eq(c, &captured))
        };
        if !seen {
            self.sets.push(captured);
        }
    }

    fn absorb(&mut self, captured: Captured) {
        if !captured.tables.is_empty() || captured.schema {
            self.sets.push(Arc::new(captured));
        }
    }
}

/// What the authorizer saw while statements were prepared.
#[derive(Clone, Default, Debug)]
struct Captured {
    tables: Vec<Box<str>>,
    schema: bool,
    /// (table, column) of every column updated, lower-cased.
    updated: Vec<(Box<str>, Box<str>)>,
    updates_or_deletes: bool,
    /// Tables whose changed rows the update hook may not all report ([`rowlog::blind_spots`]).
    blind: Vec<Box<str>>,
    /// An INSERT, REPLACE, UPDATE or DELETE (by its first keyword): a statement that leaves
    /// the connection in autocommit as it found it, so it may run alone without BEGIN/COMMIT
    /// ([`WriteConn::execute_autocommit`]).
    dml: bool,
    /// An INSERT or REPLACE: its rowid is reported when it changed a row, even if the
    /// connection's last rowid did not move (the same rowid replaced).
    inserts: bool,
    /// A WITH: it may insert, and (being a write here) is one of the above after its common
    /// table expressions.
    with: bool,
}

pub(crate) struct WriteConn {
    /// Dropped before `db`.
    fixed: super::fixed::Fixed,
    /// Single statements prepared through the C API (`writer/stmts.rs`), each with what the
    /// authorizer saw while it was prepared; dropped before `db`.
    stmts: Stmts<Arc<Captured>>,
    /// The update hook filling `rows`, once a read wants rows reported
    /// ([`WriteConn::log_rows`]); dropped before `db`.
    #[allow(dead_code)]
    hook: Option<rowlog::Hook>,
    /// The WAL hook counting `wal_frames`; dropped before `db`.
    #[allow(dead_code)]
    wal_hook: Option<super::wal_hook::WalHook>,
    /// The commit hook a statement run in autocommit arms ([`WriteConn::execute_autocommit`]);
    /// dropped before `db`.
    commit_hook: CommitHook,
    db: Connection,
    capture: Arc<Mutex<Captured>>,
    /// Set by the authorizer whenever it runs, so that a write need not lock `capture` to learn
    /// that SQLite prepared nothing again meanwhile ([`WriteConn::executed`]).
    authorized: Arc<AtomicBool>,
    write_sets: LruCache<Box<str>, Arc<Captured>>,
    /// What this process and the others tell each other through the change table.
    pub(crate) feed: ChangeFeed,
    busy_timeout: Duration,
    /// Frames in the WAL after this connection's last commit (SQLite's WAL hook), when the
    /// writer owns checkpoints by size (`WAL Limit` > 0, `Checkpoints=Writer`).
    pub(crate) wal_frames: Option<Arc<AtomicU64>>,
    /// The database's page size (a WAL frame is a page and a 24-byte header).
    pub(crate) page_size: u64,
    /// Rows the open transaction changed (filled by the update hook).
    rows: Arc<Mutex<RowLog>>,
    /// The last group's [`Changes`], emptied, for the next (a group allocates no list).
    spare_changes: Changes,
    /// The database is in WAL mode (as of opening, or the last statement run alone): only
    /// then may a lone write commit in autocommit ([`WriteConn::may_autocommit`]).
    wal: bool,
}

const STATEMENT_CACHE: usize = 256;

/// What [`WriteConn::autocommit_cached`] did.
enum Autocommit {
    /// Not a cached statement (yet).
    Miss,
    /// Not to run in autocommit (not one INSERT, REPLACE, UPDATE or DELETE whose parameters
    /// fit), or nothing was kept because another connection held the lock.
    Declined,
    /// Ran: its result and the group's [`Changes`].
    Ran((Result<WriteResult>, Changes)),
}

/// What [`WriteConn::run_cached`] did.
enum Cached {
    /// Not a cached statement (yet).
    Miss,
    /// Cached, but the parameters do not fit it (for rusqlite's path, which reports why).
    Unfit,
    /// Ran: what the authorizer saw when it was prepared and the counters before it, or why
    /// it failed.
    Ran(Result<(Arc<Captured>, (i64, u64))>),
}

/// What a read-only connection meeting a hot rollback journal (SQLITE_READONLY_ROLLBACK, which
/// SQLite words "attempt to write a readonly database") means.
pub(crate) const HOT_JOURNAL: &str = "the database's rollback journal is hot (a writer died mid-transaction), and read-only connections may not roll it back";

/// An error opening a database, with what to do about it: an I/O error on a read-only file
/// system, a hot journal met by a read-only open.
pub(crate) fn explain_open_error(opts: &Options, e: Error) -> Error {
    if e.sqlite_code() == rusqlite::ffi::SQLITE_READONLY_ROLLBACK {
        return e.with_hint(&format!(
            "{HOT_JOURNAL}: open it read-write once, anywhere, to roll the journal back"
        ));
    }
    if e.status() != Status::Io || opts.immutable || !opts.on_read_only_media() {
        return e;
    }
    let hint = if opts.mode == OpenMode::ReadOnly {
        "the file system holding it is read-only, so SQLite cannot create the database's -shm file (a WAL database needs one, or an existing one): if nothing changes the database while it is open, open it with Immutable=True (URI: immutable=1)"
    } else {
        "the file system holding it is read-only: open it with Mode=ReadOnly, or Immutable=True (URI: immutable=1) when nothing changes it"
    };
    e.with_hint(hint)
}

/// What the authorizer captured while `sql` was prepared (`None`: prepared again by SQLite after
/// a schema change), with the tables whose rows the update hook may miss.
fn take_capture(db: &Connection, capture: &Mutex<Captured>, sql: Option<&str>) -> Captured {
    let mut c = std::mem::take(&mut *capture.lock());
    if let Some(sql) = sql {
        let keyword = first_keyword(sql);
        c.inserts = matches!(keyword.as_str(), "INSERT" | "REPLACE");
        c.dml = c.inserts || matches!(keyword.as_str(), "UPDATE" | "DELETE");
        c.with = keyword == "WITH";
    }
    if !c.tables.is_empty() {
        let written = rowlog::Written {
            tables: &c.tables,
            updated: &c.updated,
            updates_or_deletes: c.updates_or_deletes,
        };
        c.blind = rowlog::blind_spots(db, sql, written);
    }
    c
}

fn record(c: &mut Captured, table: &str) {
    if table.starts_with("sqlite_") || table.eq_ignore_ascii_case(CHANGE_TABLE) {
        return;
    }
    if !c.tables.iter().any(|t| t.eq_ignore_ascii_case(table)) {
        c.tables.push(table.to_ascii_lowercase().into());
    }
}

/// The connection's counters around each run in a row of runs on one statement: each run's
/// counters after it are the next one's before it.
struct RunCounters {
    inserts: bool,
    /// An INSERT, REPLACE, UPDATE or DELETE: SQLite sets `changes()` to its rows whenever it
    /// completes, so the total before and after need not be compared.
    counts_itself: bool,
    /// One of those or a WITH before one: it can end the transaction only by failing, so a
    /// success needs no look at the connection's autocommit flag.
    dml: bool,
    rowid: i64,
    total: u64,
}

impl RunCounters {
    /// Before a run of the statement whose first keyword `c` classified (at prepare).
    fn new(db: Counters<'_>, c: &Captured) -> RunCounters {
        RunCounters {
            inserts: c.inserts || c.with,
            counts_itself: c.dml,
            dml: c.dml || c.with,
            rowid: db.last_insert_rowid(),
            total: if c.dml { 0 } else { db.total_changes() },
        }
    }

    /// Whether a run that ended with `r` may have ended the transaction (a COMMIT or ROLLBACK
    /// statement; a failure SQLite answers by rolling back), so that the caller must look.
    fn may_have_ended(&self, r: &Result<WriteResult>) -> bool {
        !self.dml || r.is_err()
    }

    /// The result of the run that just ended with `r`.
    fn result(&mut self, db: Counters<'_>, r: Result<()>) -> Result<WriteResult> {
        let rowid = db.last_insert_rowid();
        let result = r.map(|()| {
            // An INSERT, REPLACE, UPDATE or DELETE sets `changes()`; any other statement leaves
            // it as the last one set it, so its own rows are there only if the total moved.
            let rows = if self.counts_itself {
                db.changes() as i64
            } else {
                let total = db.total_changes();
                let moved = total != self.total;
                self.total = total;
                if moved {
                    db.changes() as i64
                } else {
                    0
                }
            };
            WriteResult {
                rows_affected: rows,
                last_insert_rowid: if rowid != self.rowid || (self.inserts && rows > 0) {
                    rowid
                } else {
                    0
                },
            }
        });
        if result.is_err() && !self.counts_itself {
            self.total = db.total_changes();
        }
        self.rowid = rowid;
        result
    }
}

impl WriteConn {
    pub(crate) fn open(
        opts: &Options,
        signals: &Signals,
        session: &Arc<Session>,
    ) -> Result<WriteConn> {
        let mut flags = OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        flags |= match opts.mode {
            OpenMode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
            OpenMode::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
            OpenMode::ReadWriteCreate | OpenMode::Memory => {
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
            }
        };
        let mut db = Connection::open_with_flags(opts.sqlite_target(), flags)
            .map_err(|e| Error::from(e).context("opening the database"))?;
        signals.emit("connection.open.write", "");
        // While opening, SQLite waits for another process's lock itself (up to Busy Timeout);
        // once open, the lane retries a foreign lock itself, with backoff, on a library thread
        // (set at the end of this function).
        db.busy_timeout(opts.busy_timeout)?;
        db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        signals.emit(
            "pragma.busy_timeout",
            opts.busy_timeout.as_millis().to_string(),
        );
        // A LiteFS replica cannot change its database (not even the journal mode): it keeps
        // the primary's.
        let replica = match &opts.location {
            crate::options::Location::File(p) => crate::replica::is_litefs_replica(p),
            _ => false,
        };
        if opts.mode != OpenMode::ReadOnly && !replica {
            let wanted = opts.effective_journal_mode();
            let mode: String = super::busy::retry(opts.busy_timeout, || {
                db.query_row(&format!("PRAGMA journal_mode={wanted}"), [], |r| r.get(0))
            })
            .map_err(|e| e.context("setting the journal mode"))?;
            signals.emit("pragma.journal_mode", mode.to_ascii_lowercase());
            if !opts.in_memory() && !mode.eq_ignore_ascii_case(wanted) {
                return Err(Error::new(
                    Status::Error,
                    format!("Journal Mode: asked for {wanted}, the database is in {mode}"),
                ));
            }
        }
        // Who checkpoints. A WAL hook replaces SQLite's automatic checkpoints (which are one).
        let wal = !opts.in_memory()
            && opts.mode != OpenMode::ReadOnly
            && opts.effective_journal_mode().eq_ignore_ascii_case("wal");
        let mut wal_frames = None;
        let mut wal_hook = None;
        if wal && opts.checkpoints == Checkpoints::External {
            db.execute_batch("PRAGMA wal_autocheckpoint=0")?;
        } else if wal && opts.wal_limit > 0 {
            // Replaces SQLite's automatic checkpoint (`wal_hook.rs`).
            let (hook, frames) = super::wal_hook::install(&db);
            wal_hook = Some(hook);
            wal_frames = Some(frames);
        }
        let page_size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        db.execute_batch(&format!("PRAGMA synchronous={}", opts.synchronous.sql()))?;
        signals.emit(
            "pragma.synchronous",
            opts.synchronous.sql().to_ascii_lowercase(),
        );
        db.execute_batch(if opts.foreign_keys {
            "PRAGMA foreign_keys=ON"
        } else {
            "PRAGMA foreign_keys=OFF"
        })?;
        signals.emit(
            "pragma.foreign_keys",
            if opts.foreign_keys { "on" } else { "off" },
        );
        if opts.recursive_triggers {
            db.execute_batch("PRAGMA recursive_triggers=ON")?;
            signals.emit("pragma.recursive_triggers", "on");
        }
        let capture: Arc<Mutex<Captured>> = Arc::default();
        let sink = capture.clone();
        let authorized: Arc<AtomicBool> = Arc::default();
        let noted = authorized.clone();
        for (name, value) in &opts.pragmas {
            db.execute_batch(&format!("PRAGMA {name}={value}"))?;
        }
        let temp = session.clone();
        // The table the previous action dropped, if it was a DROP.
        let mut dropped: Option<Box<str>> = None;
        db.authorizer(Some(move |ctx: AuthContext<'_>| {
            noted.store(true, Ordering::Relaxed);
            let dropping = match ctx.action {
                AuthAction::DropTable { table_name: n }
                | AuthAction::DropTempTable { table_name: n }
                | AuthAction::DropView { view_name: n }
                | AuthAction::DropTempView { view_name: n }
                | AuthAction::DropVtable { table_name: n, .. } => Some(n),
                _ => None,
            };
            if !matches!(ctx.action, AuthAction::Delete { .. }) {
                dropped = dropping.map(Into::into);
            }
            match ctx.action {
                AuthAction::CreateTempTable { table_name: n }
                | AuthAction::CreateTempView { view_name: n } => temp.note_temp(n, true),
                AuthAction::DropTempTable { table_name: n }
                | AuthAction::DropTempView { view_name: n } => temp.note_temp(n, false),
                _ => {}
            }
            let mut c = sink.lock();
            match ctx.action {
                AuthAction::Insert { table_name } => record(&mut c, table_name),
                AuthAction::Delete { table_name } => {
                    record(&mut c, table_name);
                    c.updates_or_deletes = true;
                    // For a DELETE statement, SQLITE_IGNORE only turns off the truncate
                    // optimization, which would clear the table without telling the update hook
                    // (rowlog.rs). DROP asks for SQLITE_DELETE too (of the schema table, and of
                    // the table right after SQLITE_DROP_TABLE), where it would skip the DROP.
                    let dropping = dropped.take();
                    if !table_name.starts_with("sqlite_")
                        && dropping.is_none_or(|d| !d.eq_ignore_ascii_case(table_name))
                    {
                        return Authorization::Ignore;
                    }
                    return Authorization::Allow;
                }
                AuthAction::Update {
                    table_name,
                    column_name,
                } => {
                    record(&mut c, table_name);
                    c.updates_or_deletes = true;
                    c.updated.push((
                        table_name.to_ascii_lowercase().into(),
                        column_name.to_ascii_lowercase().into(),
                    ));
                }
                AuthAction::DropTable { table_name }
                | AuthAction::AlterTable { table_name, .. }
                | AuthAction::DropTempTable { table_name } => {
                    record(&mut c, table_name);
                    c.schema = true;
                }
                AuthAction::CreateTable { .. }
                | AuthAction::CreateIndex { .. }
                | AuthAction::DropIndex { .. }
                | AuthAction::CreateTrigger { .. }
                | AuthAction::DropTrigger { .. }
                | AuthAction::CreateView { .. }
                | AuthAction::DropView { .. }
                | AuthAction::CreateVtable { .. }
                | AuthAction::DropVtable { .. } => c.schema = true,
                _ => {}
            }
            Authorization::Allow
        }))?;
        let fixed = super::fixed::Fixed::prepare(&db)?;
        let stmts = Stmts::new(&db, STATEMENT_CACHE);
        let commit_hook = super::commit_hook::install(&db);
        let mut conn = WriteConn {
            fixed,
            stmts,
            hook: None,
            wal_hook,
            commit_hook,
            rows: Arc::default(),
            spare_changes: Changes::default(),
            wal: false,
            db,
            capture,
            authorized,
            write_sets: LruCache::new(
                NonZeroUsize::new(STATEMENT_CACHE * 4).unwrap_or(NonZeroUsize::MIN),
            ),
            feed: ChangeFeed::new(opts),
            busy_timeout: opts.busy_timeout,
            wal_frames,
            page_size: page_size.max(512) as u64,
        };
        if !opts.in_memory() {
            conn.feed.load(&conn.db)?;
        }
        conn.db.busy_timeout(Duration::ZERO)?;
        conn.wal = conn.in_wal_mode();
        Ok(conn)
    }

    /// Whether another connection or process committed since the last check, and what.
    pub(crate) fn check_external(&mut self) -> Result<External> {
        let found = self.feed.check(&self.db)?;
        if self.feed.wants_registration() {
            self.register_on_foreign_commit();
        }
        Ok(found)
    }

    /// Remove this process's registration (close), best effort.
    pub(crate) fn unregister(&mut self) {
        self.feed.unregister(&self.db);
    }

    /// Whether a write may commit by itself, in autocommit, at `now_us` (microseconds since
    /// the Unix epoch): the database is in WAL mode, no change rows are to be written with it,
    /// and no look at other processes' commits is due (that runs inside a group's transaction)
    /// after `poll`.
    ///
    /// WAL mode only: there a write takes the write lock at its start, so a foreign lock fails
    /// it before it has done anything. In a rollback journal its commit can fail on a reader's
    /// lock after the journal was written, and SQLite then rolls the whole transaction back
    /// (`sqlite3VdbeHalt`: a write statement's SQLITE_BUSY at commit is not retryable, unlike
    /// a COMMIT statement's), so the write is done twice; a group's COMMIT that meets the lock
    /// keeps its transaction and is retried. Every such rollback also creates and deletes a
    /// journal once more, and the foreign-process test
    /// (`other_processes_opening_a_rollback_database_under_load`) then saw this process's
    /// read-only connections report a hot journal (SQLITE_READONLY_ROLLBACK): SQLite's check for
    /// one races with a writer deleting its journal and unlocking (`hasHotJournal`, ticket
    /// #3883), and a read-only connection fails where a read-write one would find nothing to
    /// roll back. Reads now get past that (`Engine::read_past_hot_journal`).
    pub(crate) fn may_autocommit(&self, now_us: i64, poll: Duration) -> bool {
        self.wal && self.feed.quiet() && !self.external_check_due(now_us, poll)
    }

    /// Whether a group starting at `now_us` looks at other processes' commits first: they are
    /// tracked, and `poll` (not 0) has passed since the last look.
    pub(crate) fn external_check_due(&self, now_us: i64, poll: Duration) -> bool {
        self.feed.tracks_changes()
            && !poll.is_zero()
            && now_us - self.feed.last_check_us >= poll.as_micros() as i64
    }

    pub(crate) fn external_checks_enabled(&self) -> bool {
        self.feed.tracks_changes()
    }

    /// Report the rows each transaction changes from the next one on (SQLite's update hook,
    /// `writer/rowlog.rs`). Until then every table a transaction writes counts as changed as a
    /// whole, which is always safe and costs nothing while no cached read depends on a row:
    /// the hook runs for every row a statement changes.
    pub(crate) fn log_rows(&mut self) {
        if self.hook.is_none() {
            self.hook = Some(rowlog::install(&self.db, CHANGE_TABLE, &self.rows));
        }
    }

    /// An empty [`Changes`] for a group: the last group's lists, kept.
    pub(crate) fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.spare_changes)
    }

    /// Keep a group's [`Changes`], emptied, for the next group (unless its lists grew large).
    pub(crate) fn keep_changes(&mut self, mut changes: Changes) {
        if changes.sets.capacity() <= SETS_DEDUP && changes.raised.capacity() <= SETS_DEDUP {
            changes.sets.clear();
            changes.raised.clear();
            self.spare_changes = changes;
        }
    }

    /// `BEGIN IMMEDIATE`: `Err` with [`Status::Busy`] when another process holds the lock.
    pub(crate) fn begin(&mut self) -> Result<()> {
        self.fixed.begin()?;
        if self.hook.is_some() {
            self.rows.lock().reset();
        }
        Ok(())
    }

    /// The rows the open transaction changed, per table, as the update hook reported them
    /// (read before its COMMIT); `None` while the hook is not registered
    /// ([`WriteConn::log_rows`]).
    pub(crate) fn rows(&self) -> Option<crate::sync::MutexGuard<'_, RowLog>> {
        self.hook.as_ref().map(|_| self.rows.lock())
    }

    /// Record the group's changes in the change table and commit. On failure the transaction
    /// is rolled back and nothing of the group is kept.
    pub(crate) fn commit(&mut self, changes: &Changes) -> Result<()> {
        let result = self
            .feed
            .write_rows(
                &self.db,
                changes.tables(),
                &changes.raised,
                changes.schema(),
            )
            .and_then(|written| {
                super::busy::retry(self.busy_timeout, || self.fixed.commit())?;
                self.feed.committed(written);
                Ok(())
            });
        if result.is_err() {
            self.rollback();
        }
        result
    }

    /// Roll back whatever is open (best effort).
    pub(crate) fn rollback(&mut self) {
        if !self.db.is_autocommit() {
            let _ = self.db.execute_batch("ROLLBACK");
        }
    }

    /// Register when another process is seen writing (the table is needed from then on):
    /// inside the group transaction when there is one, otherwise in a short one of its own.
    fn register_on_foreign_commit(&mut self) {
        if self.in_transaction() {
            let _ = self.feed.register(&self.db);
            return;
        }
        if self.begin().is_ok() {
            match self.feed.register(&self.db) {
                Ok(()) if self.db.execute_batch("COMMIT").is_ok() => {
                    // Our own commit is not foreign: don't let it look like one.
                    self.feed.own_commit(&self.db);
                }
                _ => {
                    self.rollback();
                    self.feed.registration_lost();
                }
            }
        }
    }

    /// Run one SQL text (one or more statements) inside the group transaction.
    /// A single statement runs without a savepoint (SQLite undoes a failed statement itself);
    /// several run inside one savepoint, all or nothing.
    pub(crate) fn execute<P: ParamList + ?Sized>(
        &mut self,
        sql: &str,
        params: &P,
        changes: &mut Changes,
    ) -> Result<WriteResult> {
        if let Some(result) = self.execute_stmt(sql, params, changes) {
            return result;
        }
        let rowid_before = self.db.last_insert_rowid();
        let known = self.write_sets.get(sql).cloned();
        if known.is_none() {
            *self.capture.lock() = Captured::default();
        }
        match self.db.prepare_cached(sql) {
            Ok(mut stmt) => {
                let captured = match known {
                    Some(c) => c,
                    None => {
                        let c = Arc::new(take_capture(&self.db, &self.capture, Some(sql)));
                        self.write_sets.put(sql.into(), c.clone());
                        c
                    }
                };
                bind(&mut stmt, Some(sql), params, None)?;
                let total_before = self.db.total_changes();
                {
                    let mut rows = stmt.raw_query();
                    while rows.next()?.is_some() {}
                }
                drop(stmt);
                return Ok(self.executed(sql, captured, (rowid_before, total_before), changes));
            }
            Err(rusqlite::Error::MultipleStatement) => {}
            // rusqlite checks for a second statement by preparing it, which fails when it
            // needs what the first creates: run statement by statement, which reports a real
            // error of the first statement just the same.
            Err(_) if has_more_than_one_statement(sql) => {}
            Err(e) => return Err(e.into()),
        }
        self.savepoint(|conn| conn.execute_multi(sql, params, changes))
    }

    /// Put `sql` into [`Stmts`] unless it is there, with what the authorizer saw while it was
    /// prepared. False when it is not one statement that prepares (the rusqlite path then
    /// runs it, or reports why not).
    fn stmt_ready(&mut self, sql: &str) -> bool {
        if self.stmts.contains(sql) {
            return true;
        }
        if self.stmts.several(sql) {
            return false;
        }
        let known = self.write_sets.get(sql).cloned();
        if known.is_none() {
            *self.capture.lock() = Captured::default();
        }
        let (db, capture, write_sets) = (&self.db, &self.capture, &mut self.write_sets);
        let prepared = self.stmts.prepare(sql, || {
            known.unwrap_or_else(|| {
                let c = Arc::new(take_capture(db, capture, Some(sql)));
                write_sets.put(sql.into(), c.clone());
                c
            })
        });
        matches!(prepared, Prepared::One)
    }

    /// [`WriteConn::execute`] through [`Stmts`]: `None` when `sql` is not one statement whose
    /// parameters `params` fits ([`Stmt::fits`](super::stmts::Stmt::fits)), for the rusqlite
    /// path.
    fn execute_stmt<P: ParamList + ?Sized>(
        &mut self,
        sql: &str,
        params: &P,
        changes: &mut Changes,
    ) -> Option<Result<WriteResult>> {
        // One look-up when the statement is cached (the usual case), two when it is prepared.
        let ran = match Self::run_cached(&mut self.stmts, &self.db, sql, params) {
            Cached::Miss if self.stmt_ready(sql) => {
                Self::run_cached(&mut self.stmts, &self.db, sql, params)
            }
            other => other,
        };
        match ran {
            Cached::Ran(Ok((captured, before))) => {
                Some(Ok(self.executed(sql, captured, before, changes)))
            }
            Cached::Ran(Err(e)) => Some(Err(e)),
            Cached::Miss | Cached::Unfit => None,
        }
    }

    /// Run one write by itself in autocommit, without BEGIN/COMMIT: SQLite commits it inside
    /// its own step. `on_commit` is called inside that commit, before any other connection can
    /// see it, with the statement's write set and the rows the update hook reported (the
    /// schema as changed instead, when SQLite prepared the statement again in the step); it is
    /// not called when the statement fails (nothing was kept).
    ///
    /// `None` when the write cannot run so, with nothing run: `sql` is not one cached INSERT,
    /// REPLACE, UPDATE or DELETE whose parameters fit it, or another connection held the write
    /// lock (the caller runs it in a transaction of its own, which waits the lock out).
    /// Otherwise its result, with the group's [`Changes`] for [`WriteConn::keep_changes`].
    pub(crate) fn execute_autocommit<P: ParamList + ?Sized>(
        &mut self,
        sql: &str,
        params: &P,
        on_commit: &mut dyn FnMut(&Changes, Option<&RowLog>),
    ) -> Option<(Result<WriteResult>, Changes)> {
        // One look-up when the statement is cached (the usual case), two when it is prepared.
        match self.autocommit_cached(sql, params, on_commit) {
            Autocommit::Miss if self.stmt_ready(sql) => {
                match self.autocommit_cached(sql, params, on_commit) {
                    Autocommit::Ran(r) => Some(r),
                    _ => None,
                }
            }
            Autocommit::Ran(r) => Some(r),
            Autocommit::Miss | Autocommit::Declined => None,
        }
    }

    /// [`WriteConn::execute_autocommit`] on `sql`'s cached statement.
    fn autocommit_cached<P: ParamList + ?Sized>(
        &mut self,
        sql: &str,
        params: &P,
        on_commit: &mut dyn FnMut(&Changes, Option<&RowLog>),
    ) -> Autocommit {
        let Some(stmt) = self.stmts.get(sql) else {
            return Autocommit::Miss;
        };
        if !stmt.with.dml || !stmt.fits(params.len(), params.named(), params.entries()) {
            return Autocommit::Declined;
        }
        let (rows, authorized, logging) = (&self.rows, &self.authorized, self.hook.is_some());
        let mut changes = std::mem::take(&mut self.spare_changes);
        changes.absorb_shared(stmt.with.clone());
        if logging {
            rows.lock().reset();
        }
        let counters = Counters::of(&self.db);
        let mut run = RunCounters::new(counters, &stmt.with);
        // Set again only if SQLite prepares the statement again inside the step (the schema
        // changed): its write set may then differ from the one cached.
        authorized.store(false, Ordering::Relaxed);
        let mut call = || {
            if authorized.load(Ordering::Relaxed) {
                let mut schema = Changes::default();
                schema.absorb(Captured {
                    schema: true,
                    ..Captured::default()
                });
                on_commit(&schema, None);
            } else {
                let log = logging.then(|| rows.lock());
                on_commit(&changes, log.as_deref());
            }
        };
        let ran = self.commit_hook.state().armed_during(&mut call, || {
            let r = match params.packed() {
                Some(p) => stmt.run_packed(p),
                None => stmt.run(params.entries()),
            };
            stmt.clear();
            r
        });
        match ran {
            // Nothing was kept: SQLite rolled the statement back (in WAL mode the write lock is
            // taken at its start, before anything ran).
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && counters.is_autocommit() =>
            {
                self.spare_changes = changes;
                Autocommit::Declined
            }
            Err(e) => Autocommit::Ran((Err(e.into()), changes)),
            Ok(()) => {
                let result = run.result(counters, Ok(()));
                self.note_prepared_again(&mut changes);
                Autocommit::Ran((result, changes))
            }
        }
    }

    /// Run `sql`'s cached statement once with `params`, when it is cached and they fit it:
    /// what the authorizer saw when it was prepared, and the connection's last rowid and total
    /// changes before it ran.
    fn run_cached<P: ParamList + ?Sized>(
        stmts: &mut Stmts<Arc<Captured>>,
        db: &Connection,
        sql: &str,
        params: &P,
    ) -> Cached {
        let Some(stmt) = stmts.get(sql) else {
            return Cached::Miss;
        };
        if !stmt.fits(params.len(), params.named(), params.entries()) {
            return Cached::Unfit;
        }
        let before = (db.last_insert_rowid(), db.total_changes());
        let ran = match params.packed() {
            Some(p) => {
                let r = stmt.run_packed(p);
                stmt.clear();
                r
            }
            None => stmt.run_once(params.entries()),
        };
        Cached::Ran(match ran {
            Ok(()) => Ok((stmt.with.clone(), before)),
            Err(e) => Err(e.into()),
        })
    }

    /// After `sql` ran (prepared with `captured`; the connection's last rowid and total changes
    /// were `before`): note its changes and tell its result.
    fn executed(
        &self,
        sql: &str,
        captured: Arc<Captured>,
        (rowid_before, total_before): (i64, u64),
        changes: &mut Changes,
    ) -> WriteResult {
        changes.absorb_shared(captured);
        self.note_prepared_again(changes);
        let rows = if self.db.total_changes() != total_before {
            self.db.changes() as i64
        } else {
            0
        };
        WriteResult {
            rows_affected: rows,
            last_insert_rowid: self.inserted_rowid(rowid_before, sql, rows),
        }
    }

    /// A statement SQLite prepared again while it ran (the schema changed) reports its tables
    /// again: note them in `changes` (only the authorizer fills the capture, and it runs on
    /// this thread).
    fn note_prepared_again(&self, changes: &mut Changes) {
        if self.authorized.swap(false, Ordering::Relaxed) {
            let capture = self.capture.lock();
            if !capture.tables.is_empty() || capture.schema {
                drop(capture);
                changes.absorb(take_capture(&self.db, &self.capture, None));
            }
        }
    }

    /// Run the same single-statement SQL once per parameter set on one prepared statement.
    /// Each run is atomic by itself (SQLite's statement journal). Stops after a failure that
    /// ended the group transaction: the results then end with that failure.
    pub(crate) fn execute_run(
        &mut self,
        sql: &str,
        params: &[&Packed],
        changes: &mut Changes,
    ) -> Vec<Result<WriteResult>> {
        if self.stmt_ready(sql) {
            if let Some(stmt) = self.stmts.get(sql).filter(|s| {
                params
                    .iter()
                    .all(|p| s.fits(p.len(), p.named(), p.entries()))
            }) {
                let db = Counters::of(&self.db);
                let mut counters = RunCounters::new(db, &stmt.with);
                let mut out = Vec::with_capacity(params.len());
                for p in params {
                    let r = counters.result(db, stmt.run_packed(p).map_err(Error::from));
                    let look = counters.may_have_ended(&r);
                    out.push(r);
                    if look && db.is_autocommit() {
                        break;
                    }
                }
                stmt.clear();
                changes.absorb_shared(stmt.with.clone());
                let mut capture = self.capture.lock();
                if !capture.tables.is_empty() || capture.schema {
                    let late = std::mem::take(&mut *capture);
                    drop(capture);
                    changes.absorb(late);
                }
                return out;
            }
        }
        let known = self.write_sets.get(sql).cloned();
        if known.is_none() {
            *self.capture.lock() = Captured::default();
        }
        let single = self.db.prepare_cached(sql).is_ok();
        if !single {
            // Several statements, or an error: one at a time, the ordinary way.
            let mut out = Vec::with_capacity(params.len());
            for p in params {
                out.push(self.execute(sql, *p, changes));
                if !self.in_transaction() {
                    break;
                }
            }
            return out;
        }
        let captured = match known {
            Some(c) => c,
            None => {
                let c = Arc::new(take_capture(&self.db, &self.capture, Some(sql)));
                self.write_sets.put(sql.into(), c.clone());
                c
            }
        };
        let mut out = Vec::with_capacity(params.len());
        let db = &self.db;
        match db.prepare_cached(sql) {
            Ok(mut stmt) => {
                let mut counters = RunCounters::new(Counters::of(db), &captured);
                for p in params {
                    let r = bind(&mut stmt, Some(sql), *p, None).and_then(|()| {
                        let mut rows = stmt.raw_query();
                        while rows.next()?.is_some() {}
                        Ok(())
                    });
                    out.push(counters.result(Counters::of(db), r));
                    if db.is_autocommit() {
                        break;
                    }
                }
            }
            Err(e) => out.push(Err(e.into())),
        }
        changes.absorb_shared(captured);
        let mut capture = self.capture.lock();
        if !capture.tables.is_empty() || capture.schema {
            let late = std::mem::take(&mut *capture);
            drop(capture);
            changes.absorb(late);
        }
        out
    }

    fn inserted_rowid(&self, before: i64, sql: &str, rows: i64) -> i64 {
        let after = self.db.last_insert_rowid();
        if after != before {
            return after;
        }
        let kw = first_keyword(sql);
        if rows > 0 && (kw == "INSERT" || kw == "REPLACE" || kw == "WITH") {
            after
        } else {
            0
        }
    }

    fn execute_multi<P: ParamList + ?Sized>(
        &mut self,
        sql: &str,
        params: &P,
        changes: &mut Changes,
    ) -> Result<WriteResult> {
        let rowid_before = self.db.last_insert_rowid();
        *self.capture.lock() = Captured::default();
        let mut report = BindReport::new(params.len());
        let mut total = 0i64;
        let mut batch = rusqlite::Batch::new(&self.db, sql);
        let mut index = 0;
        while let Some(mut stmt) = batch.next()? {
            index += 1;
            let text = stmt.expanded_sql().unwrap_or_default();
            match classify(&text) {
                Kind::Grouped => {}
                Kind::Alone | Kind::TransactionControl => {
                    return Err(Error::invalid(format!(
                        "statement {index} ({}) cannot run inside the writer's transaction; submit it on its own (transaction control: use sw_writer_transaction)",
                        first_keyword(&text)
                    )))
                }
            }
            bind(&mut stmt, None, params, Some(&mut report))?;
            let before = self.db.total_changes();
            {
                let mut rows = stmt.raw_query();
                while rows.next()?.is_some() {}
            }
            if self.db.total_changes() != before {
                total += self.db.changes() as i64;
            }
        }
        report.check_all_used(params)?;
        changes.absorb(take_capture(&self.db, &self.capture, Some(sql)));
        Ok(WriteResult {
            rows_affected: total,
            last_insert_rowid: self.inserted_rowid(rowid_before, sql, total),
        })
    }

    /// Run `f` inside `SAVEPOINT`: released on success, rolled back to on failure.
    pub(crate) fn savepoint<T>(
        &mut self,
        f: impl FnOnce(&mut WriteConn) -> Result<T>,
    ) -> Result<T> {
        self.db.prepare_cached("SAVEPOINT sw_job")?.raw_execute()?;
        let result = f(self);
        if self.db.is_autocommit() {
            // The statement ended the whole transaction (OR ROLLBACK, RAISE(ROLLBACK), I/O).
            return result;
        }
        match &result {
            Ok(_) => {
                self.db.prepare_cached("RELEASE sw_job")?.raw_execute()?;
            }
            Err(_) => {
                self.db
                    .prepare_cached("ROLLBACK TO sw_job")?
                    .raw_execute()?;
                self.db.prepare_cached("RELEASE sw_job")?.raw_execute()?;
            }
        }
        result
    }

    /// Roll back a hot rollback journal, if there is one: a read-write connection does so
    /// whenever it takes its shared lock, so this reads the schema version (waiting out other
    /// connections' locks up to the Busy Timeout). Inside a transaction it holds the lock, and
    /// any journal is its own.
    pub(crate) fn roll_back_hot_journal(&mut self) -> Result<()> {
        if self.in_transaction() {
            return Ok(());
        }
        super::busy::retry(self.busy_timeout, || {
            self.db
                .query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))
        })
        .map(|_| ())
    }

    /// Whether the group transaction is still open (false after a statement rolled it back).
    pub(crate) fn in_transaction(&self) -> bool {
        !self.db.is_autocommit()
    }

    /// Run a statement that cannot run inside a transaction, in autocommit.
    pub(crate) fn execute_alone<P: ParamList + ?Sized>(
        &mut self,
        sql: &str,
        params: &P,
    ) -> Result<WriteResult> {
        let mut report = BindReport::new(params.len());
        let mut total = 0i64;
        let mut batch = rusqlite::Batch::new(&self.db, sql);
        while let Some(mut stmt) = batch.next()? {
            let text = stmt.expanded_sql().unwrap_or_default();
            if classify(&text) == Kind::TransactionControl {
                return Err(Error::invalid(format!(
                    "{} is transaction control; use sw_writer_transaction or sw_writer_batch",
                    first_keyword(&text)
                )));
            }
            bind(&mut stmt, None, params, Some(&mut report))?;
            let before = self.db.total_changes();
            super::busy::retry(self.busy_timeout, || {
                let mut rows = stmt.raw_query();
                while rows.next()?.is_some() {}
                Ok(())
            })?;
            if self.db.total_changes() != before {
                total += self.db.changes() as i64;
            }
        }
        report.check_all_used(params)?;
        Ok(WriteResult {
            rows_affected: total,
            last_insert_rowid: 0,
        })
    }

    /// A read on the write connection (inside a transaction: sees its uncommitted changes).
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &[Param],
        changes: &mut Changes,
    ) -> Result<Rows> {
        *self.capture.lock() = Captured::default();
        let mut stmt = match self.db.prepare(sql) {
            Ok(s) => s,
            Err(rusqlite::Error::MultipleStatement) => {
                return Err(Error::invalid("a query takes exactly one SQL statement"))
            }
            Err(e) => return Err(e.into()),
        };
        if classify(sql) != Kind::Grouped {
            return Err(Error::new(
                Status::Misuse,
                format!("{} cannot run inside a transaction", first_keyword(sql)),
            ));
        }
        bind(&mut stmt, Some(sql), params, None)?;
        let rows = Rows::from_statement(&mut stmt)?;
        drop(stmt);
        changes.absorb(take_capture(&self.db, &self.capture, Some(sql)));
        Ok(rows)
    }

    /// Whether the database is in WAL mode now (asked of SQLite; noted for
    /// [`WriteConn::may_autocommit`]).
    pub(crate) fn in_wal_mode(&mut self) -> bool {
        self.wal = self
            .db
            .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
            .is_ok_and(|m| m.eq_ignore_ascii_case("wal"));
        self.wal
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)`, best effort (close).
    pub(crate) fn checkpoint(&mut self) {
        let _ = self.checkpoint_truncate();
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)`: whether it restarted the log (nothing left of it
    /// for a reader or writer that still used it), the frames in the log before, and the
    /// frames copied into the database.
    pub(crate) fn checkpoint_truncate(&mut self) -> Result<(bool, i64, i64)> {
        Ok(self
            .db
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get::<_, i64>(0)? == 0, r.get(1)?, r.get(2)?))
            })?)
    }
}

fn has_more_than_one_statement(sql: &str) -> bool {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
            }
            b'[' => {
                while i < b.len() && b[i] != b']' {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b';' => return !crate::sql::first_keyword(&sql[i + 1..]).is_empty(),
            _ => {}
        }
        i += 1;
    }
    false
}

/// The body of [`Writer::transaction`](crate::Writer::transaction): borrows the write connection inside the transaction.
pub struct Txn<'a> {
    pub(crate) conn: &'a mut WriteConn,
    pub(crate) changes: &'a mut Changes,
    pub(crate) rows: i64,
}

impl Txn<'_> {
    /// Run SQL inside the transaction.
    pub fn execute(&mut self, sql: &str, params: &[Param]) -> Result<WriteResult> {
        crate::sql::require_statement(sql)?;
        match crate::sql::classify(sql) {
            crate::sql::Kind::Grouped => {}
            crate::sql::Kind::Alone => {
                return Err(Error::misuse(format!(
                    "{} cannot run inside a transaction; submit it with execute",
                    crate::sql::first_keyword(sql)
                )))
            }
            crate::sql::Kind::TransactionControl => {
                return Err(Error::misuse(format!(
                    "{} would end the writer's transaction; return an error to roll back instead",
                    crate::sql::first_keyword(sql)
                )))
            }
        }
        let r = self.conn.execute(sql, params, self.changes)?;
        self.rows += r.rows_affected;
        Ok(r)
    }

    /// Query inside the transaction (sees its uncommitted changes).
    pub fn query(&mut self, sql: &str, params: &[Param]) -> Result<Rows> {
        crate::sql::require_statement(sql)?;
        self.conn.query(sql, params, self.changes)
    }
}
