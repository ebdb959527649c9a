//! The read side: a pool of read-only connections.
//!
//! Owns `Readers` connections opened `SQLITE_OPEN_READONLY` with `PRAGMA query_only=1`, each with
//! its own statement cache and its own record of which tables each SQL text reads (from SQLite's
//! authorizer, captured when the statement is prepared). Must never run a statement that writes:
//! those are refused with `SW_STATUS_READONLY` before they run.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use lru::LruCache;
use parking_lot::{Condvar, Mutex};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, OpenFlags};

use crate::cache::{Deps, Tables};
use crate::error::{Error, Result, Status};
use crate::options::Options;
use crate::rows::Rows;
use crate::value::{bind, Param};

/// Tables a statement reads, as captured by the authorizer.
type TableList = Arc<[Box<str>]>;

struct ReadConn {
    /// Identity, for giving a thread back the connection it used last.
    id: usize,
    db: Connection,
    capture: Arc<Mutex<Vec<Box<str>>>>,
    read_sets: LruCache<Box<str>, TableList>,
}

const STATEMENT_CACHE: usize = 64;

impl ReadConn {
    fn open(opts: &Options) -> Result<ReadConn> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut db = Connection::open_with_flags(opts.sqlite_target(), flags)
            .map_err(|e| Error::from(e).context("opening a read connection"))?;
        // Readers wait briefly for a commit in progress (in-memory and rollback-journal
        // databases); in WAL mode they never wait.
        db.busy_timeout(opts.busy_timeout.min(Duration::from_secs(5)))?;
        db.execute_batch("PRAGMA query_only=1")?;
        db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let capture: Arc<Mutex<Vec<Box<str>>>> = Arc::default();
        let sink = capture.clone();
        db.authorizer(Some(move |ctx: AuthContext<'_>| {
            if let AuthAction::Read { table_name, .. } = ctx.action {
                let mut tables = sink.lock();
                if !tables.iter().any(|t| t.eq_ignore_ascii_case(table_name)) {
                    tables.push(table_name.into());
                }
            }
            Authorization::Allow
        }))?;
        static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        Ok(ReadConn {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            db,
            capture,
            // Larger than the statement cache, so a cached statement always has its read set.
            read_sets: LruCache::new(
                NonZeroUsize::new(STATEMENT_CACHE * 4).unwrap_or(NonZeroUsize::MIN),
            ),
        })
    }

    fn run(
        &mut self,
        sql: &str,
        params: &[Param],
        tables: Option<&Tables>,
    ) -> Result<(Rows, Option<Deps>)> {
        let known = self.read_sets.get(sql).cloned();
        if known.is_none() {
            self.capture.lock().clear();
        }
        let mut stmt = match self.db.prepare_cached(sql) {
            Ok(s) => s,
            Err(rusqlite::Error::MultipleStatement) => {
                return Err(Error::invalid("a read takes exactly one SQL statement"))
            }
            Err(e) => return Err(e.into()),
        };
        // PRAGMA statements are not "read-only" to SQLite even when they only read; the
        // read-only open and `query_only` stop any that would write.
        let reads_only = if crate::writer::sql::first_keyword(sql) == "PRAGMA" {
            crate::writer::sql::pragma_only_reads(sql)
        } else {
            stmt.readonly()
        };
        if !reads_only {
            return Err(Error::new(
                Status::ReadOnly,
                "reads run read-only statements only; submit writes with sw_writer_execute",
            ));
        }
        let read_set = match known {
            Some(set) => set,
            None => {
                let set: TableList = std::mem::take(&mut *self.capture.lock()).into();
                self.read_sets.put(sql.into(), set.clone());
                set
            }
        };
        bind(&mut stmt, params, None)?;
        // Generations are noted after prepare and before the first step (which takes the read
        // snapshot): a commit after this point makes the result uncacheable, never stale.
        let deps = tables.map(|t| t.snapshot(read_set.iter().map(|s| &**s)));
        let rows = Rows::from_statement(&mut stmt)?;
        Ok((rows, deps))
    }
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
}

impl Readers {
    pub(crate) fn new(opts: &Options) -> Result<Readers> {
        // One connection now, to fail early; the rest on demand.
        let first = ReadConn::open(opts)?;
        Ok(Readers {
            idle: Mutex::new(vec![first]),
            available: Condvar::new(),
            opts: opts.clone(),
            opened: Mutex::new(1),
        })
    }

    /// Run a read-only statement on a pooled connection. Returns whether it had to wait.
    pub(crate) fn run(
        &self,
        sql: &str,
        params: &[Param],
        tables: Option<&Tables>,
    ) -> Result<((Rows, Option<Deps>), bool)> {
        let (mut conn, waited) = self.checkout()?;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            conn.run(sql, params, tables)
        }));
        self.checkin(conn);
        match result {
            Ok(r) => r.map(|r| (r, waited)),
            Err(_) => Err(Error::new(Status::Panic, "a read panicked")),
        }
    }

    fn checkout(&self) -> Result<(ReadConn, bool)> {
        let mut idle = self.idle.lock();
        // The connection this thread used last is still warm in this core's caches; another
        // thread's would bring its memory over from the other core.
        let last = LAST_READER.with(|l| l.get());
        if let Some(pos) = idle.iter().position(|c| c.id == last) {
            return Ok((idle.swap_remove(pos), false));
        }
        if let Some(c) = idle.pop() {
            return Ok((c, false));
        }
        {
            let mut opened = self.opened.lock();
            if *opened < self.opts.readers {
                *opened += 1;
                drop(opened);
                drop(idle);
                return match ReadConn::open(&self.opts) {
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
            if let Some(c) = idle.pop() {
                return Ok((c, true));
            }
        }
    }

    fn checkin(&self, conn: ReadConn) {
        LAST_READER.with(|l| l.set(conn.id));
        self.idle.lock().push(conn);
        self.available.notify_one();
    }

    /// Close every idle connection (writer close).
    pub(crate) fn close(&self) {
        self.idle.lock().clear();
    }
}
