//! The read side: a pool of read-only connections.
//!
//! Owns `Readers` connections opened `SQLITE_OPEN_READONLY` with `PRAGMA query_only=1`, each with
//! its own statement cache and its own record of which tables each SQL text reads (from SQLite's
//! authorizer, captured when the statement is prepared). Must never run a statement that writes:
//! those are refused with `SW_STATUS_READONLY` before they run. Must never answer from a snapshot
//! older than a commit that finished before the read began.
//!
//! Departure from DESIGN.md: in WAL mode a read connection keeps its read transaction (its
//! snapshot) open across reads for as long as nothing has committed since it began, and at most
//! [`MAX_HOLD`]. Starting and ending a read transaction is most of the cost of a point read
//! (measured here: 2.7 µs per point SELECT in autocommit, 0.5 µs inside one read transaction),
//! and the file locks it takes are what keep two reading threads from scaling. "Nothing has
//! committed" is read from the WAL-index header, which every commit of every connection and
//! process rewrites before its COMMIT returns; each connection reads it through SQLite's own
//! mapping of its WAL index ([`WalIndex`]), never through a descriptor of its own. An idle
//! connection's snapshot is released within [`MAX_HOLD`] by a sweep from the writer's threads,
//! so checkpoints and WAL restarts are not held up.

mod lookup;
mod wal_index;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};
use lru::LruCache;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, OpenFlags};

use crate::cache::{Deps, Tables};
use crate::error::{Error, Result, Status};
use crate::options::Options;
use crate::rows::Rows;
use crate::session::Session;
use crate::value::{bind, Param};
use wal_index::{Header, WalIndex};

/// What a statement reads: its tables (from the authorizer) and, when it is a point lookup by
/// rowid (from its bytecode), which row. Found again after a schema change.
struct ReadSet {
    tables: Box<[Box<str>]>,
    lookup: Option<lookup::PointLookup>,
}

/// How long a read connection may keep one snapshot, used or idle.
pub(crate) const MAX_HOLD: Duration = Duration::from_millis(1);
/// [`MAX_HOLD`] in microseconds, the unit of the library's clock ([`crate::signal::now_us`]).
const MAX_HOLD_US: i64 = MAX_HOLD.as_micros() as i64;

/// A read transaction kept open: the WAL-index header noted before it began, and when (as
/// [`crate::signal::now_us`]).
struct Held {
    header: Header,
    since_us: i64,
}

/// What the authorizer saw while a statement was prepared: the tables it reads, and why it was
/// refused, if it was.
#[derive(Default)]
struct Capture {
    tables: Vec<Box<str>>,
    refused: Option<&'static str>,
    /// Set while the library applies the session's own pragmas, which the authorizer allows.
    applying_settings: bool,
}

struct ReadConn {
    /// Identity, for giving a thread back the connection it used last.
    id: usize,
    /// SQLite's mapping of this connection's WAL-index header, when it was opened in WAL mode.
    wal: Option<WalIndex>,
    db: Connection,
    capture: Arc<Mutex<Capture>>,
    read_sets: LruCache<Box<str>, Arc<ReadSet>>,
    held: Option<Held>,
    /// The generation of the session's connection settings applied here.
    settings: Option<u64>,
    /// The schema generations this connection's statements and read sets belong to.
    schema_seen: (u64, u64),
}

/// Make sure `db` reads from a snapshot that includes every commit finished before now: keep
/// the held one if nothing committed since it began (and it is younger than `MAX_HOLD`),
/// otherwise begin a new one. Without `wal`, reads run in autocommit.
fn fresh_snapshot(db: &Connection, held: &mut Option<Held>, wal: Option<&WalIndex>) -> Result<()> {
    let Some(wal) = wal else {
        end_snapshot(db, held);
        return Ok(());
    };
    let header = wal.header();
    if let Some(h) = held {
        if h.header == header
            && !db.is_autocommit()
            && crate::signal::now_us() - h.since_us < MAX_HOLD_US
        {
            return Ok(());
        }
    }
    end_snapshot(db, held);
    // The header is noted before the snapshot is taken (by the next step), so the snapshot is
    // at least as new as the header says.
    db.prepare_cached("BEGIN")?.raw_execute()?;
    *held = Some(Held {
        header,
        since_us: crate::signal::now_us(),
    });
    Ok(())
}

fn end_snapshot(db: &Connection, held: &mut Option<Held>) {
    if held.take().is_some() && !db.is_autocommit() {
        // A read transaction's COMMIT only releases locks; if it failed, make sure.
        if db
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.raw_execute())
            .is_err()
        {
            let _ = db.execute_batch("ROLLBACK");
        }
    }
}

const STATEMENT_CACHE: usize = 64;

impl ReadConn {
    fn open(opts: &Options, want_wal: bool) -> Result<ReadConn> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut db = Connection::open_with_flags(opts.sqlite_target(), flags)
            .map_err(|e| Error::from(e).context("opening a read connection"))?;
        // Readers wait for a commit in progress (in-memory and rollback-journal databases) as
        // long as writes wait for a foreign lock; in WAL mode they never wait.
        db.busy_timeout(opts.busy_timeout)?;
        db.execute_batch("PRAGMA query_only=1")?;
        db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let capture: Arc<Mutex<Capture>> = Arc::default();
        let sink = capture.clone();
        // Reads may not change what later reads on this pooled connection see: ATTACH, DETACH
        // and pragmas that assign or act are refused as SQLite parsed them (however spelled),
        // before they take effect.
        db.authorizer(Some(move |ctx: AuthContext<'_>| match ctx.action {
            AuthAction::Read { table_name, .. } => {
                let mut c = sink.lock();
                if !c.tables.iter().any(|t| t.eq_ignore_ascii_case(table_name)) {
                    c.tables.push(table_name.into());
                }
                Authorization::Allow
            }
            AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
                sink.lock().refused = Some(
                    "ATTACH and DETACH are refused on reads (they would change the pooled \
                     read connection for every later read); attach on the writer with \
                     sw_writer_execute",
                );
                Authorization::Deny
            }
            AuthAction::Pragma {
                pragma_name,
                pragma_value,
            } if !crate::sql::pragma_reads(pragma_name, pragma_value.is_some())
                && !sink.lock().applying_settings =>
            {
                sink.lock().refused = Some(
                    "reads run read-only statements only, and this PRAGMA assigns or acts; \
                     submit it with sw_writer_execute",
                );
                Authorization::Deny
            }
            _ => Authorization::Allow,
        }))?;
        static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let wal = if want_wal { WalIndex::of(&db) } else { None };
        Ok(ReadConn {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            wal,
            db,
            capture,
            // Larger than the statement cache, so a cached statement always has its read set.
            read_sets: LruCache::new(
                NonZeroUsize::new(STATEMENT_CACHE * 4).unwrap_or(NonZeroUsize::MIN),
            ),
            held: None,
            settings: None,
            schema_seen: (0, 0),
        })
    }

    /// Apply the session's connection settings if they changed since this connection last did.
    fn apply_settings(&mut self, session: &Session) -> Result<()> {
        if let Some((generation, list)) = session.pragmas_since(self.settings) {
            self.capture.lock().applying_settings = true;
            let applied = list.iter().try_for_each(|(name, value)| {
                self.db
                    .execute_batch(&format!("PRAGMA {name}={value}"))
                    .map_err(|e| Error::from(e).context(&format!("applying PRAGMA {name}")))
            });
            self.capture.lock().applying_settings = false;
            applied?;
            self.settings = Some(generation);
        }
        Ok(())
    }

    fn end_snapshot(&mut self) {
        end_snapshot(&self.db, &mut self.held);
    }

    /// Run one read; `hold` says whether snapshots may be kept between reads.
    fn run(
        &mut self,
        sql: &str,
        params: &[Param],
        tables: Option<&Tables>,
        hold: bool,
    ) -> Result<(Rows, Option<Deps>)> {
        let wal = self.wal.as_ref().filter(|_| hold);
        if let Some(t) = tables {
            // After a schema change, statements are prepared again — so the authorizer sees
            // what they read now (a view may read other tables) — and read sets are found again
            // (a plan may no longer be a point lookup).
            let now = t.schema_version();
            if now != self.schema_seen {
                self.db.flush_prepared_statement_cache();
                self.read_sets.clear();
                self.schema_seen = now;
            }
        }
        let known = self.read_sets.get(sql).cloned();
        // Checked once per SQL text: a text with a read set passed these checks before.
        let mut pragma = false;
        if known.is_none() {
            if crate::sql::classify(sql) == crate::sql::Kind::TransactionControl {
                return Err(Error::invalid(format!(
                    "{} is transaction control; reads run one statement each",
                    crate::sql::first_keyword(sql)
                )));
            }
            // SQLite applies a flag pragma (`query_only = 0`) while preparing it: the
            // authorizer refuses those (and pragmas that act) before they take effect.
            pragma = crate::sql::first_keyword(sql) == "PRAGMA";
            *self.capture.lock() = Capture::default();
        }
        // Prepared against the current schema, not a held snapshot's.
        fresh_snapshot(&self.db, &mut self.held, wal)?;
        let mut stmt = match self.db.prepare_cached(sql) {
            Ok(s) => s,
            Err(rusqlite::Error::MultipleStatement) => {
                return Err(Error::invalid("a read takes exactly one SQL statement"))
            }
            Err(e) => {
                return Err(match self.capture.lock().refused.take() {
                    Some(why) => Error::new(Status::ReadOnly, why),
                    None => e.into(),
                })
            }
        };
        let read_set = match known {
            Some(set) => set,
            None => {
                // PRAGMA statements are not "read-only" to SQLite even when they only read
                // (those were checked above); the read-only open and `query_only` stop any that
                // would write.
                if !pragma && !stmt.readonly() {
                    return Err(read_only());
                }
                let captured: Box<[Box<str>]> =
                    std::mem::take(&mut self.capture.lock().tables).into_boxed_slice();
                let lookup = if tables.is_some() && !pragma {
                    lookup::classify(&self.db, sql, &captured)
                } else {
                    None
                };
                let set = Arc::new(ReadSet {
                    tables: captured,
                    lookup,
                });
                self.read_sets.put(sql.into(), set.clone());
                set
            }
        };
        bind(&mut stmt, Some(sql), params, None)?;
        // Generations are noted after prepare and before the first step (which takes the read
        // snapshot): a commit after this point makes the result uncacheable, never stale. A
        // point lookup with an integer key depends on its row only.
        let deps = tables.map(|t| {
            let rowid = read_set.lookup.as_ref().and_then(|l| match l.rowid {
                lookup::Rowid::Literal(v) => Some((&l.table, v)),
                lookup::Rowid::Param(i) => match crate::value::bound_value(&stmt, params, i) {
                    Some(crate::value::Value::Integer(v)) => Some((&l.table, *v)),
                    _ => None,
                },
            });
            match rowid {
                Some((table, v)) => t.snapshot_row(table, v),
                None => t.snapshot(read_set.tables.iter().map(|s| &**s)),
            }
        });
        // After the generations: a commit that moved them before this point has already
        // rewritten the WAL-index header, so a held snapshot older than it is replaced here.
        fresh_snapshot(&self.db, &mut self.held, wal)?;
        let rows = Rows::from_statement(&mut stmt)?;
        Ok((rows, deps))
    }
}

fn read_only() -> Error {
    Error::new(
        Status::ReadOnly,
        "reads run read-only statements only; submit writes with sw_writer_execute",
    )
}

thread_local! {
    static LAST_READER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The pool.
pub(crate) struct Readers {
    idle: Mutex<Vec<ReadConn>>,
    available: Condvar,
    opts: Options,
    opened: Mutex<usize>,
    /// Whether the database is a file (its connections may be in WAL mode and map the WAL
    /// index).
    file: bool,
    /// Whether connections may keep snapshots (WAL mode, as of the writer's last look).
    hold: AtomicBool,
    /// When the last sweep ran (as [`crate::signal::now_us`]).
    last_sweep: Mutex<Option<i64>>,
    session: Arc<Session>,
    /// A checkpoint needs the log to itself: new reads wait (under `idle`'s lock, on
    /// `available`) until it ends; reads in flight finish.
    held_back: AtomicBool,
}

/// New reads held back for a checkpoint (`Readers::hold_back`); they go on when this drops.
pub(crate) struct HoldBack<'a> {
    readers: &'a Readers,
    /// Every read connection was idle, its snapshot released, when the checkpoint began.
    pub(crate) drained: bool,
    pub(crate) started: Instant,
}

impl Drop for HoldBack<'_> {
    fn drop(&mut self) {
        let _idle = self.readers.idle.lock();
        self.readers.held_back.store(false, Ordering::Release);
        self.readers.available.notify_all();
    }
}

impl Readers {
    pub(crate) fn new(opts: &Options, session: Arc<Session>) -> Result<Readers> {
        // An immutable database is read without SQLite's shared memory (nothing to map). On a
        // LiteFS mount connections do not keep snapshots between reads either: a replica
        // applies a transaction only when it can take every WAL read lock, and held snapshots
        // kept replication off for seconds (tests/replicas.rs).
        let on_litefs = match &opts.location {
            crate::options::Location::File(p) => crate::replica::litefs_mount_of(p).is_some(),
            _ => false,
        };
        let file = !opts.in_memory() && !opts.immutable && !on_litefs;
        // One connection now, to fail early; the rest on demand.
        let first = ReadConn::open(opts, file)?;
        Ok(Readers {
            hold: AtomicBool::new(first.wal.is_some()),
            idle: Mutex::new(vec![first]),
            available: Condvar::new(),
            opts: opts.clone(),
            opened: Mutex::new(1),
            file,
            last_sweep: Mutex::new(None),
            session,
            held_back: AtomicBool::new(false),
        })
    }

    /// Before a statement that runs outside any transaction (VACUUM, `PRAGMA journal_mode`…):
    /// stop keeping snapshots and close the idle connections, whose locks would keep it from
    /// having the database to itself (in WAL mode every open connection holds a shared lock on
    /// the file). They are opened again on demand.
    pub(crate) fn before_alone(&self) {
        self.hold.store(false, Ordering::Relaxed);
        let closed = std::mem::take(&mut *self.idle.lock());
        if !closed.is_empty() {
            *self.opened.lock() -= closed.len();
        }
        drop(closed);
    }

    /// After that statement: keep snapshots again if the database is in WAL mode. Connections
    /// opened from now on map the WAL index of their own; one opened while the database was in
    /// another mode has none and reads in autocommit.
    pub(crate) fn after_alone(&self, wal: bool) {
        self.hold.store(wal && self.file, Ordering::Relaxed);
    }

    /// Called from the writer's threads now and then: release idle connections' snapshots
    /// older than [`MAX_HOLD`]. Never waits for the pool.
    pub(crate) fn sweep(&self) {
        self.sweep_at(crate::signal::now_us());
    }

    /// [`Readers::sweep`], with the time read by the caller (a group's end).
    pub(crate) fn sweep_at(&self, now_us: i64) {
        if !self.file {
            return;
        }
        let Some(mut last) = self.last_sweep.try_lock() else {
            return;
        };
        if last.is_some_and(|t| now_us - t < MAX_HOLD_US) {
            return;
        }
        *last = Some(now_us);
        drop(last);
        if let Some(mut idle) = self.idle.try_lock() {
            for c in idle.iter_mut() {
                if c.held
                    .as_ref()
                    .is_some_and(|h| now_us - h.since_us >= MAX_HOLD_US)
                {
                    c.end_snapshot();
                }
            }
        }
    }

    /// Run a read-only statement on a pooled connection. Returns whether it had to wait.
    pub(crate) fn run(
        &self,
        sql: &str,
        params: &[Param],
        tables: Option<&Tables>,
    ) -> Result<((Rows, Option<Deps>), bool)> {
        let (mut conn, waited) = self.checkout()?;
        let hold = self.hold.load(Ordering::Relaxed) && conn.wal.is_some();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            conn.apply_settings(&self.session)?;
            conn.run(sql, params, tables, hold)
                .map_err(|e| self.session.explain_read_error(e))
        }));
        if !hold || result.is_err() {
            conn.end_snapshot();
        }
        self.checkin(conn);
        match result {
            Ok(r) => r.map(|r| (r, waited)),
            Err(_) => Err(Error::new(Status::Panic, "a read panicked")),
        }
    }

    /// Hold back new reads and wait, at most `limit`, for the ones in flight to finish; every
    /// idle connection's snapshot is released. For a checkpoint that restarts the log: no
    /// read of this process may still use the old part of it.
    pub(crate) fn hold_back(&self, limit: Duration) -> HoldBack<'_> {
        let started = Instant::now();
        let deadline = started + limit;
        let mut idle = self.idle.lock();
        self.held_back.store(true, Ordering::Release);
        let drained = loop {
            for c in idle.iter_mut() {
                c.end_snapshot();
            }
            if idle.len() >= *self.opened.lock() {
                break true;
            }
            if self.available.wait_until(&mut idle, deadline).timed_out() {
                for c in idle.iter_mut() {
                    c.end_snapshot();
                }
                break idle.len() >= *self.opened.lock();
            }
        };
        HoldBack {
            readers: self,
            drained,
            started,
        }
    }

    fn checkout(&self) -> Result<(ReadConn, bool)> {
        let mut idle = self.idle.lock();
        let mut waited = false;
        while self.held_back.load(Ordering::Acquire) {
            self.available.wait(&mut idle);
            waited = true;
        }
        // The connection this thread used last is still warm in this core's caches; another
        // thread's would bring its memory over from the other core.
        let last = LAST_READER.with(|l| l.get());
        if let Some(pos) = idle.iter().position(|c| c.id == last) {
            return Ok((idle.swap_remove(pos), waited));
        }
        if let Some(c) = idle.pop() {
            return Ok((c, waited));
        }
        {
            let mut opened = self.opened.lock();
            if *opened < self.opts.readers {
                *opened += 1;
                drop(opened);
                drop(idle);
                return match ReadConn::open(&self.opts, self.file) {
                    Ok(c) => Ok((c, false)),
                    Err(e) => {
                        *self.opened.lock() -= 1;
                        Err(e)
                    }
                };
            }
        }
        loop {
            self.available.wait(&mut idle);
            if self.held_back.load(Ordering::Acquire) {
                continue;
            }
            if let Some(c) = idle.pop() {
                return Ok((c, true));
            }
        }
    }

    fn checkin(&self, conn: ReadConn) {
        LAST_READER.with(|l| l.set(conn.id));
        let mut idle = self.idle.lock();
        idle.push(conn);
        if self.held_back.load(Ordering::Acquire) {
            // The checkpoint waits for this one too.
            self.available.notify_all();
        } else {
            self.available.notify_one();
        }
    }

    /// In a forked child: close every connection, if all are idle (none is held by a thread of
    /// the parent, which does not exist here). False otherwise.
    pub(crate) fn release_inherited(&self) -> bool {
        let (Some(mut idle), Some(opened)) = (self.idle.try_lock(), self.opened.try_lock()) else {
            return false;
        };
        if *opened != idle.len() {
            return false;
        }
        idle.clear();
        true
    }

    /// Close every idle connection (writer close).
    pub(crate) fn close(&self) {
        self.idle.lock().clear();
    }
}
