//! The writer: one per database per process, shared by every handle that opens it.
//!
//! Owns the public Rust API ([`Writer`], [`Txn`]) and the per-database state behind it
//! ([`Engine`]: the lane, the readers, the cache, the signals, the metrics). Must never run SQL
//! that writes anywhere but on the lane, and never block a caller inside a callback.

mod busy;
mod changefeed;
mod checkpoint;
mod commit_hook;
mod conn;
pub(crate) mod engine;
mod fixed;
mod group;
mod lane;
mod ops;
mod queue;
mod registered;
mod rowlog;
mod sql_text;
mod stmts;
mod wal_hook;
use crate::sql;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::reentry::inside_callback;
pub use conn::{Statement, Txn, WriteResult, CHANGE_TABLE};
pub(crate) use engine::Engine;
pub(crate) use lane::{Notify, RawCallback};
use lane::{Waiter, Work};
use sql_text::SqlText;

use crate::cache::CacheStats;
use crate::error::{Error, Result, Status};
use crate::options::Options;
use crate::rows::Rows;
use crate::signal::metrics::{counter, gauge};
use crate::signal::{Poll, Signal};
use crate::value::{Packed, Param};

/// Writer statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Writes submitted and not yet acknowledged: those waiting in the queue plus the group
    /// being committed (so it can exceed `Queue Capacity` by up to `Max Batch`).
    pub queued: u64,
    /// Writes acknowledged OK.
    pub committed: u64,
    /// Writes acknowledged with an error.
    pub failed: u64,
    /// Commits on the write connection.
    pub transactions: u64,
    /// Waits for another process's lock.
    pub busy_retries: u64,
    /// Median submit-to-acknowledgement latency over recent writes, µs.
    pub latency_p50_us: u64,
    /// 99th percentile of the same, µs.
    pub latency_p99_us: u64,
}

/// A handle on the one writer of a database. Cheap to share across threads (`&Writer` is
/// `Sync`); each [`Writer::open`] returns its own handle, and the last handle to close shuts
/// the writer down after committing everything it accepted.
pub struct Writer {
    engine: Arc<Engine>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("location", &self.engine.opts.location)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// The SQL text this thread submitted last, checked, and whether it runs alone; shared by its
    /// next submissions of the same text.
    static LAST_SQL: std::cell::RefCell<Option<(SqlText, bool)>> = const { std::cell::RefCell::new(None) };
}

/// The job's copy of `sql` and whether it runs alone ([`check_sql`]). The usual case is one
/// statement submitted in a loop: the text is neither allocated, copied and freed nor checked
/// again per write (the checks parse it: about 5 % of a pipelined write's time). A text this
/// thread submits twice in a row is interned for the process (`writer/sql_text.rs`): its
/// copies are then plain pointers, the same for every thread, so the lane recognizes a run of
/// the statement by pointer and no thread touches a shared count per write.
fn checked_sql(sql: &str) -> Result<(SqlText, bool)> {
    let known = LAST_SQL
        .try_with(|last| {
            let mut last = last.try_borrow_mut().ok()?;
            let (text, alone) = last.as_mut().filter(|(text, _)| **text == *sql)?;
            if let SqlText::Shared(_) = text {
                if let Some(interned) = sql_text::intern(sql, *alone) {
                    *text = interned;
                }
            }
            Some((text.clone(), *alone))
        })
        .ok()
        .flatten();
    if let Some(known) = known {
        return Ok(known);
    }
    let (text, alone) = match sql_text::lookup(sql) {
        Some(interned) => interned,
        None => (SqlText::from(sql), check_sql(sql)?),
    };
    let _ = LAST_SQL.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some((text.clone(), alone));
        }
    });
    Ok((text, alone))
}

fn check_sql(sql: &str) -> Result<bool> {
    sql::require_statement(sql)?;
    crate::session::Session::check_write(sql)?;
    match sql::classify(sql) {
        sql::Kind::Grouped => Ok(false),
        sql::Kind::Alone => Ok(true),
        sql::Kind::TransactionControl => Err(Error::invalid(format!(
            "{} is transaction control; use a transaction or a batch instead",
            sql::first_keyword(sql)
        ))),
    }
}

impl Writer {
    /// Open (or join) the writer of the database named by `connection_string`.
    pub fn open(connection_string: &str) -> Result<Writer> {
        let engine = crate::registry::acquire(connection_string)?;
        Ok(Writer {
            engine,
            closed: AtomicBool::new(false),
        })
    }

    #[inline]
    fn live(&self) -> Result<&Engine> {
        if self.closed.load(Ordering::Acquire) || self.engine.closed.load(Ordering::Acquire) {
            return Err(Error::closed());
        }
        if self.engine.generation() != crate::process::generation() {
            return Err(Error::misuse(
                "this writer was opened before this process was forked: it belongs to the parent process (its threads do not exist here). Close it and open the database again in the child",
            ));
        }
        Ok(&self.engine)
    }

    /// [`Writer::live`], for a write: a writer opened read-only refuses it before it is queued.
    #[inline]
    fn writable(&self) -> Result<&Engine> {
        let shared = self.live()?;
        if shared.opts.mode == crate::options::OpenMode::ReadOnly {
            return Err(Error::new(
                Status::ReadOnly,
                if shared.opts.immutable {
                    "the database was opened Immutable (read-only): writes are refused"
                } else {
                    "the database was opened with Mode=ReadOnly: writes are refused"
                },
            ));
        }
        // On a LiteFS replica: READONLY naming the primary, before anything is queued.
        shared.site.check_write(&shared.opts, &shared.signals)?;
        Ok(shared)
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.engine.opts
    }

    /// Run a write and wait until it is committed.
    pub fn execute(&self, sql: &str, params: &[Param]) -> Result<WriteResult> {
        self.execute_and_invalidate(sql, params, &[] as &[&str])
    }

    /// Run a write, wait until it is committed, then invalidate `keys` (globs allowed) before
    /// returning; no read that started before the commit can put an old value back.
    pub fn execute_and_invalidate<S: AsRef<str>>(
        &self,
        sql: &str,
        params: &[Param],
        keys: &[S],
    ) -> Result<WriteResult> {
        let invalidate = keys.iter().map(|k| k.as_ref().to_owned()).collect();
        self.execute_packed(sql, Packed::from_params(params)?, invalidate)
    }

    /// [`Writer::execute_and_invalidate`] with the parameters already packed (the C ABI packs
    /// them straight from its own array).
    pub(crate) fn execute_packed(
        &self,
        sql: &str,
        params: Packed,
        invalidate: Vec<String>,
    ) -> Result<WriteResult> {
        let (shared, work) = self.exec_work(sql, params, invalidate)?;
        shared.submit_wait(work, None)
    }

    /// The job that runs `sql` with `params` (checked once per text), and the writer to give
    /// it to (refused on a read-only or closed writer).
    fn exec_work(
        &self,
        sql: &str,
        params: Packed,
        invalidate: Vec<String>,
    ) -> Result<(&Engine, Work)> {
        let shared = self.writable()?;
        let (sql, alone) = checked_sql(sql)?;
        let work = Work::Exec {
            sql,
            params,
            invalidate,
            alone,
        };
        Ok((shared, work))
    }

    /// Run a write on this thread and return once it is committed, as [`Writer::execute`] does,
    /// when the writer is idle (no group running or queued, and recent groups held one write
    /// each: nobody else is writing); `Ok(None)`, with nothing queued or run, when the write
    /// would first have to wait for others' writes or should join their groups, or when this
    /// thread is inside a completion or transaction callback. An error is the write's own (as
    /// [`Writer::execute`] reports it); the write is not queued then either. For callers with a
    /// better place to wait than a blocked thread, who [`enqueue`](Writer::enqueue) the write
    /// when this declines: an idle writer then costs them no hand-off to another thread and
    /// back.
    ///
    /// ```
    /// # use singlewriter::{params, Writer};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let w = Writer::open(&dir.path().join("doc.db").display().to_string())?;
    /// w.execute("CREATE TABLE log(line TEXT)", &[])?;
    /// match w.execute_if_idle("INSERT INTO log(line) VALUES (?1)", &params!["now"])? {
    ///     Some(r) => assert_eq!(r.rows_affected, 1), // committed, on this thread
    ///     None => w.enqueue("INSERT INTO log(line) VALUES (?1)", params!["now"], None)?,
    /// }
    /// # Ok::<(), singlewriter::Error>(())
    /// ```
    pub fn execute_if_idle(&self, sql: &str, params: &[Param]) -> Result<Option<WriteResult>> {
        self.execute_packed_if_idle(sql, Packed::from_params(params)?)
    }

    /// [`Writer::execute_if_idle`] with the parameters already packed.
    pub(crate) fn execute_packed_if_idle(
        &self,
        sql: &str,
        params: Packed,
    ) -> Result<Option<WriteResult>> {
        let (shared, work) = self.exec_work(sql, params, vec![])?;
        shared.run_if_idle(work, None).transpose()
    }

    /// Run a write on this thread when the writer is idle, as [`Writer::execute_if_idle`] does
    /// (`Ok(Some(result))`; `callback` is not called); otherwise queue it, as
    /// [`Writer::enqueue`] does (`Ok(None)`; `callback` runs exactly once on the writer's
    /// library thread after the commit). Unlike `execute_if_idle`, it never waits for another
    /// process: a write that started here and found another process holding the database's
    /// write lock is queued (`Ok(None)`), and the writer's own thread waits for the lock.
    /// Statements that run alone (VACUUM, PRAGMA, ...) are always queued. Inside a transaction
    /// or completion callback it queues (a full queue fails at once there). An error is the
    /// write's own when it ran here, or [`Writer::enqueue`]'s when it could not be queued;
    /// `callback` is not called then.
    ///
    /// For callers with a better place to wait than a blocked thread (an awaited write): one
    /// call either finishes the write with no hand-off to another thread and back, or queues it.
    ///
    /// ```
    /// # use singlewriter::{params, Writer};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let w = Writer::open(&dir.path().join("doc.db").display().to_string())?;
    /// w.execute("CREATE TABLE log(line TEXT)", &[])?;
    /// let (done, acked) = std::sync::mpsc::channel();
    /// let callback = Box::new(move |r: singlewriter::Result<singlewriter::WriteResult>| {
    ///     drop(done.send(r.map(|r| r.rows_affected)))
    /// });
    /// match w.execute_or_enqueue("INSERT INTO log(line) VALUES (?1)", &params!["now"], Some(callback))? {
    ///     Some(r) => assert_eq!(r.rows_affected, 1),   // committed, on this thread
    ///     None => assert_eq!(acked.recv().unwrap()?, 1), // queued; the callback reports
    /// }
    /// # Ok::<(), singlewriter::Error>(())
    /// ```
    pub fn execute_or_enqueue(
        &self,
        sql: &str,
        params: &[Param],
        callback: Option<Box<dyn FnOnce(Result<WriteResult>) + Send>>,
    ) -> Result<Option<WriteResult>> {
        let notify = match callback {
            Some(cb) => Notify::Call(cb),
            None => Notify::Nothing,
        };
        self.execute_packed_or_enqueue(sql, Packed::from_params(params)?, notify)
    }

    /// [`Writer::execute_or_enqueue`] with the parameters already packed.
    pub(crate) fn execute_packed_or_enqueue(
        &self,
        sql: &str,
        params: Packed,
        later: Notify,
    ) -> Result<Option<WriteResult>> {
        let (shared, work) = self.exec_work(sql, params, vec![])?;
        shared.run_if_idle(work, Some(later)).transpose()
    }

    /// Queue a write; `callback` runs exactly once on the writer's library thread, after the
    /// commit (or with `SW_STATUS_CLOSED` if the writer closes first).
    ///
    /// ```
    /// # use singlewriter::{params, Writer};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let w = Writer::open(&dir.path().join("doc.db").display().to_string())?;
    /// w.execute("CREATE TABLE log(line TEXT)", &[])?;
    /// let (done, acked) = std::sync::mpsc::channel();
    /// w.enqueue(
    ///     "INSERT INTO log(line) VALUES (?1)",
    ///     params!["queued"],
    ///     Some(Box::new(move |r| drop(done.send(r.map(|r| r.rows_affected))))),
    /// )?;
    /// assert_eq!(acked.recv().unwrap()?, 1); // called after the commit
    /// w.enqueue("INSERT INTO log(line) VALUES ('fire and forget')", vec![], None)?;
    /// w.flush(None)?; // every write submitted before is acknowledged
    /// # Ok::<(), singlewriter::Error>(())
    /// ```
    pub fn enqueue(
        &self,
        sql: &str,
        params: Vec<Param>,
        callback: Option<Box<dyn FnOnce(Result<WriteResult>) + Send>>,
    ) -> Result<()> {
        let notify = match callback {
            Some(cb) => Notify::Call(cb),
            None => Notify::Nothing,
        };
        // Packed here, so the list and its texts are freed by the thread that allocated them
        // and the writer reads one buffer inside the job.
        let packed = Packed::from_params(&params[..])?;
        drop(params);
        self.enqueue_notify(sql, packed, notify)
    }

    /// [`Writer::enqueue`] with the completion already in the lane's form (the C ABI passes
    /// its callback and userdata as a [`RawCallback`], with no allocation per write).
    pub(crate) fn enqueue_notify(&self, sql: &str, params: Packed, notify: Notify) -> Result<()> {
        let (shared, work) = self.exec_work(sql, params, vec![])?;
        shared.submit_async(work, notify)
    }

    /// Run several statements as one job: all-or-nothing when `transactional`, otherwise the
    /// statements before the first failure are kept and the failure is reported.
    ///
    /// ```
    /// # use singlewriter::{params, Statement, Writer};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let w = Writer::open(&dir.path().join("doc.db").display().to_string())?;
    /// w.execute("CREATE TABLE t(x INTEGER UNIQUE)", &[])?;
    /// let total = w.batch(
    ///     vec![
    ///         Statement::new("INSERT INTO t(x) VALUES (?1)", params![1]),
    ///         Statement::new("INSERT INTO t(x) VALUES (?1)", params![2]),
    ///     ],
    ///     true,
    /// )?;
    /// assert_eq!(total.rows_affected, 2);
    /// // A failing statement undoes the whole transactional batch.
    /// let dup = vec![
    ///     Statement::new("INSERT INTO t(x) VALUES (3)", vec![]),
    ///     Statement::new("INSERT INTO t(x) VALUES (1)", vec![]),
    /// ];
    /// assert!(w.batch(dup, true).is_err());
    /// assert_eq!(w.query("SELECT count(*) FROM t", &[])?.get(0, 0).map(|v| v.as_i64()), Some(2));
    /// # Ok::<(), singlewriter::Error>(())
    /// ```
    pub fn batch(&self, statements: Vec<Statement>, transactional: bool) -> Result<WriteResult> {
        let shared = self.writable()?;
        if statements.is_empty() {
            return Ok(WriteResult::default());
        }
        for (i, s) in statements.iter().enumerate() {
            if check_sql(&s.sql).map_err(|e| e.context(&format!("batch statement {}", i + 1)))? {
                return Err(Error::invalid(format!(
                    "batch statement {} ({}) cannot run inside a transaction; submit it with execute",
                    i + 1,
                    sql::first_keyword(&s.sql)
                )));
            }
        }
        shared.submit_wait(
            Work::Batch {
                statements,
                transactional,
            },
            None,
        )
    }

    /// Run `body` inside a transaction on the write connection, on the calling thread, while it
    /// holds the lane. `Ok` commits (with the writes grouped with it); `Err` rolls back and is
    /// returned. Blocking writer calls inside `body` fail with `SW_STATUS_MISUSE`.
    ///
    /// ```
    /// # use singlewriter::{params, Error, Status, Writer};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let w = Writer::open(&dir.path().join("doc.db").display().to_string())?;
    /// w.execute("CREATE TABLE t(x INTEGER)", &[])?;
    /// let count = w.transaction(|tx| {
    ///     tx.execute("INSERT INTO t(x) VALUES (?1)", &params![7])?;
    ///     let rows = tx.query("SELECT count(*) FROM t", &[])?; // sees its own insert
    ///     Ok(rows.get(0, 0).map(|v| v.as_i64()).unwrap_or(0))
    /// })?;
    /// assert_eq!(count, 1);
    /// let undone: Result<(), Error> = w.transaction(|tx| {
    ///     tx.execute("INSERT INTO t(x) VALUES (8)", &[])?;
    ///     Err(Error::new(Status::Rollback, "changed my mind"))
    /// });
    /// assert!(undone.is_err()); // and the insert of 8 is rolled back
    /// assert_eq!(w.query("SELECT count(*) FROM t", &[])?.get(0, 0).map(|v| v.as_i64()), Some(1));
    /// # Ok::<(), singlewriter::Error>(())
    /// ```
    pub fn transaction<T>(&self, body: impl FnOnce(&mut Txn<'_>) -> Result<T>) -> Result<T> {
        let shared = self.writable()?;
        let mut body = Some(body);
        let mut value = None;
        let mut run = |t: &mut Txn<'_>| -> Result<()> {
            let f = body
                .take()
                .ok_or_else(|| Error::new(Status::Error, "transaction body ran twice"))?;
            value = Some(f(t)?);
            Ok(())
        };
        shared.submit_wait(Work::Txn, Some(&mut run))?;
        value.ok_or_else(|| Error::new(Status::Error, "transaction body did not run"))
    }

    /// Wait until every write submitted before this call is acknowledged (committed or
    /// failed, callbacks run). Each write reports its own outcome; `flush` does not repeat
    /// their failures: it fails only for its own reasons — [`Status::Timeout`] when `timeout`
    /// passes first (the writes stay queued), [`Status::Closed`], [`Status::Misuse`] inside a
    /// callback.
    pub fn flush(&self, timeout: Option<Duration>) -> Result<()> {
        let shared = self.live()?;
        if inside_callback() {
            return Err(Error::misuse(
                "flush from inside a transaction or callback would deadlock",
            ));
        }
        shared.signals.emit("write.flush.start", "");
        let started = Instant::now();
        let waiter = Waiter::new();
        shared.barrier(waiter.clone(), false)?;
        match waiter.wait_until(timeout.map(|t| started + t)) {
            Some(r) => {
                shared.signals.emit_full(
                    "write.flush.done",
                    "",
                    Status::Ok,
                    started.elapsed().as_micros() as i64,
                    -1,
                );
                r.map(|_| ())
            }
            None => Err(Error::new(
                Status::Timeout,
                format!(
                    "flush timed out after {} ms; earlier writes are still queued",
                    started.elapsed().as_millis()
                ),
            )),
        }
    }

    /// Run a read-only query on a read connection (uncached).
    pub fn query(&self, sql: &str, params: &[Param]) -> Result<Arc<Rows>> {
        let shared = self.live()?;
        sql::require_statement(sql)?;
        let (rows, _) = shared.run_read(None, "query.start", "", sql, params, false)?;
        Ok(Arc::new(rows))
    }

    /// Serve `key` from the cache when fresh; otherwise run the query (once for concurrent
    /// misses) and cache its result.
    ///
    /// A hit returns the cached result set, or, once a small result (at most 64 values) was
    /// read 64 times, an identical copy of it kept for the calling thread, so that threads
    /// hitting one key do not share a reference count.
    ///
    /// ```
    /// # use singlewriter::{params, Writer};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let w = Writer::open(&dir.path().join("doc.db").display().to_string())?;
    /// w.execute("CREATE TABLE users(name TEXT)", &[])?;
    /// w.execute("INSERT INTO users(name) VALUES (?1)", &params!["Alice"])?;
    /// let sql = "SELECT count(*) FROM users";
    /// let first = w.read("users:count", sql, &[])?; // a miss: runs the query
    /// let again = w.read("users:count", sql, &[])?; // a hit: the cached result set
    /// assert_eq!(again.get(0, 0).map(|v| v.as_i64()), first.get(0, 0).map(|v| v.as_i64()));
    /// w.execute("INSERT INTO users(name) VALUES ('Bob')", &[])?; // invalidates reads of `users`
    /// let fresh = w.read("users:count", sql, &[])?;
    /// assert_eq!(fresh.get(0, 0).map(|v| v.as_i64()), Some(2));
    /// assert_eq!(w.cache_stats()?.hits, 1);
    /// # Ok::<(), singlewriter::Error>(())
    /// ```
    pub fn read(&self, key: &str, sql: &str, params: &[Param]) -> Result<Arc<Rows>> {
        self.read_with(key, sql, || Ok(std::borrow::Cow::Borrowed(params)))
    }

    /// [`Writer::read`] with parameters built only on a miss (a hit never needs them).
    pub(crate) fn read_with<'p>(
        &self,
        key: &str,
        sql: &str,
        params: impl FnOnce() -> Result<std::borrow::Cow<'p, [Param]>>,
    ) -> Result<Arc<Rows>> {
        let shared = self.live()?;
        sql::require_statement(sql)?;
        shared.cache.read(key, |key, track, miss| {
            let params = params()?;
            let before = miss.then_some("cache.miss");
            shared.run_read(before, "read.start", key, sql, &params, track)
        })
    }

    /// Drop cached entries by key or glob (`users:*`).
    pub fn invalidate(&self, key_or_glob: &str) -> Result<usize> {
        let shared = self.live()?;
        Ok(shared.cache.invalidate(key_or_glob, "cache.invalidate"))
    }

    /// Raise a signal. `cache.invalidate:<key or glob>` is persisted through the lane (ordered
    /// after the writes before it) and invalidates those keys in every writer of this database,
    /// in this process and in other processes. Any other signal is recorded locally.
    pub fn raise(&self, signal: &str) -> Result<()> {
        let shared = self.live()?;
        let (name, key) = signal.split_once(':').unwrap_or((signal, ""));
        if name.is_empty() {
            return Err(Error::invalid("the signal name is empty"));
        }
        if name == "cache.invalidate" {
            if key.is_empty() {
                return Err(Error::invalid(
                    "cache.invalidate needs a key or glob: cache.invalidate:<key>",
                ));
            }
            if shared.opts.in_memory() || shared.opts.mode == crate::options::OpenMode::ReadOnly {
                // Nothing to persist it in, and no other process to tell.
                shared.cache.invalidate(key, "cache.invalidate");
                return Ok(());
            }
            // On a LiteFS replica: READONLY naming the primary, before anything is queued.
            shared.site.check_write(&shared.opts, &shared.signals)?;
            return shared
                .submit_wait(
                    Work::Raise {
                        pattern: key.into(),
                    },
                    None,
                )
                .map(|_| ());
        }
        shared.signals.emit(name.to_owned(), key);
        Ok(())
    }

    /// Statistics.
    pub fn stats(&self) -> Result<Stats> {
        let shared = self.live()?;
        let m = &shared.metrics;
        let p = m.latency.recent_percentiles(&[50.0, 99.0]);
        let queued = shared
            .lane
            .accepted_writes()
            .saturating_sub(m.committed.load(Ordering::Relaxed) + m.failed.load(Ordering::Relaxed));
        Ok(Stats {
            queued,
            committed: m.committed.load(Ordering::Relaxed),
            failed: m.failed.load(Ordering::Relaxed),
            transactions: m.transactions.load(Ordering::Relaxed),
            busy_retries: m.busy_retries.load(Ordering::Relaxed),
            latency_p50_us: p[0],
            latency_p99_us: p[1],
        })
    }

    /// Cache statistics.
    pub fn cache_stats(&self) -> Result<CacheStats> {
        Ok(self.live()?.cache.stats())
    }

    /// Signals held after `after_seq` matching `pattern` (all when `None`), oldest first.
    ///
    /// ```
    /// # use singlewriter::Writer;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let w = Writer::open(&dir.path().join("doc.db").display().to_string())?;
    /// w.execute("CREATE TABLE t(x)", &[])?;
    /// let poll = w.poll_signals(Some("write.*"), 0)?;
    /// assert!(poll.signals.iter().any(|s| s.name == "write.done"));
    /// assert_eq!(poll.missed, 0);
    /// // Next time, only what came after the last one seen.
    /// let last = poll.signals.last().map_or(0, |s| s.seq);
    /// w.execute("INSERT INTO t(x) VALUES (1)", &[])?;
    /// let newer = w.poll_signals(Some("write.*"), last)?;
    /// assert!(newer.signals.iter().all(|s| s.seq > last));
    /// # Ok::<(), singlewriter::Error>(())
    /// ```
    pub fn poll_signals(&self, pattern: Option<&str>, after_seq: u64) -> Result<Poll> {
        Ok(self.live()?.signals.poll(pattern, after_seq))
    }

    /// Call `callback` for every signal matching `pattern`, on a dispatcher thread of its own.
    /// `on_end` runs once after the last callback (unsubscribe or writer close).
    ///
    /// ```
    /// # use singlewriter::Writer;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let w = Writer::open(&dir.path().join("doc.db").display().to_string())?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let id = w.subscribe(
    ///     "write.done",
    ///     Box::new(move |s| drop(tx.send((s.name.to_string(), s.status)))),
    ///     None,
    /// )?;
    /// w.execute("CREATE TABLE t(x)", &[])?;
    /// let (name, status) = rx.recv().unwrap(); // delivered on the dispatcher thread
    /// assert_eq!((name.as_str(), status), ("write.done", singlewriter::Status::Ok));
    /// w.unsubscribe(id)?;
    /// # Ok::<(), singlewriter::Error>(())
    /// ```
    pub fn subscribe(
        &self,
        pattern: &str,
        callback: Box<dyn Fn(&Signal) + Send + Sync>,
        on_end: Option<Box<dyn FnOnce() + Send>>,
    ) -> Result<u64> {
        self.live()?.signals.subscribe(pattern, callback, on_end)
    }

    /// End a subscription.
    pub fn unsubscribe(&self, subscription: u64) -> Result<()> {
        self.live()?.signals.unsubscribe(subscription)
    }

    /// Signals dropped for a subscription because its queue was full.
    pub fn subscription_dropped(&self, subscription: u64) -> Result<u64> {
        self.live()?
            .signals
            .dropped_for(subscription)
            .ok_or_else(|| Error::invalid(format!("no subscription {subscription}")))
    }

    /// The recent operations as a JSON array: the last `Max Tracked Writes` finished ones
    /// (committed, failed), then those running, then up to that many queued.
    pub fn operations_json(&self) -> Result<String> {
        let engine = self.live()?;
        Ok(engine.ops.json(&engine.lane))
    }

    /// Metrics in the Prometheus text exposition format.
    pub fn metrics_text(&self) -> Result<String> {
        let shared = self.live()?;
        let s = self.stats()?;
        let c = shared.cache.stats();
        let m = &shared.metrics;
        let mut out = String::new();
        gauge(
            &mut out,
            "singlewriter_queue_depth",
            "Writes waiting now.",
            s.queued,
        );
        counter(
            &mut out,
            "singlewriter_writes_enqueued_total",
            "Writes submitted.",
            shared.lane.accepted_writes(),
        );
        counter(
            &mut out,
            "singlewriter_writes_committed_total",
            "Writes acknowledged OK.",
            s.committed,
        );
        counter(
            &mut out,
            "singlewriter_writes_failed_total",
            "Writes acknowledged with an error.",
            s.failed,
        );
        counter(
            &mut out,
            "singlewriter_transactions_total",
            "Commits on the write connection.",
            s.transactions,
        );
        counter(
            &mut out,
            "singlewriter_busy_retries_total",
            "Waits for another process's lock.",
            s.busy_retries,
        );
        counter(
            &mut out,
            "singlewriter_queue_full_total",
            "Submissions that found the queue full.",
            m.queue_full.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "singlewriter_reads_total",
            "Queries run on read connections.",
            m.reads.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "singlewriter_reader_waits_total",
            "Reads that waited for a free read connection.",
            m.reader_waits.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "singlewriter_cache_hits_total",
            "Reads served from the cache.",
            c.hits,
        );
        counter(
            &mut out,
            "singlewriter_cache_misses_total",
            "Reads that ran the query.",
            c.misses,
        );
        counter(
            &mut out,
            "singlewriter_cache_evictions_total",
            "Entries evicted by the size bound.",
            c.evictions,
        );
        counter(
            &mut out,
            "singlewriter_cache_invalidations_total",
            "Entries invalidated.",
            c.invalidations,
        );
        gauge(
            &mut out,
            "singlewriter_cache_entries",
            "Entries cached now.",
            c.entries,
        );
        counter(
            &mut out,
            "singlewriter_signals_dropped_total",
            "Signals dropped by full subscriber queues.",
            shared.signals.dropped.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "singlewriter_wal_bytes",
            "WAL size after this writer's last commit (0 when the writer does not checkpoint by size).",
            shared.wal.wal_bytes(),
        );
        counter(
            &mut out,
            "singlewriter_checkpoints_total",
            "Checkpoints that restarted the WAL.",
            m.checkpoints.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "singlewriter_checkpoints_blocked_total",
            "Checkpoints that could not restart the WAL (another connection still used it).",
            m.checkpoints_blocked.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "singlewriter_checkpoint_frames_total",
            "WAL frames copied into the database by the writer's checkpoints.",
            m.checkpoint_frames.load(Ordering::Relaxed),
        );
        m.reads_held_back.expose(
            &mut out,
            "singlewriter_reads_held_back_seconds",
            "How long new reads waited for each checkpoint.",
        );
        m.latency.expose(
            &mut out,
            "singlewriter_write_latency_seconds",
            "Submit to acknowledgement.",
        );
        m.commit_time
            .expose(&mut out, "singlewriter_commit_seconds", "Time of COMMIT.");
        m.group_size.expose_raw(
            &mut out,
            "singlewriter_group_size",
            "Writes per committed group.",
        );
        Ok(out)
    }

    /// Close this handle. The last handle of a database commits everything accepted, then
    /// closes the database. Closing twice is an error (`SW_STATUS_CLOSED`), never a crash.
    pub fn close(&self) -> Result<()> {
        if inside_callback() {
            return Err(Error::misuse(
                "closing from inside a transaction or callback would deadlock",
            ));
        }
        if self.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::new(Status::Closed, "this handle is already closed"));
        }
        // In a forked child, a writer inherited from the parent is only let go of: its
        // writes belong to the parent, which drains them (`registry::release` leaves it alone).
        crate::registry::release(&self.engine);
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            crate::registry::release(&self.engine);
        }
    }
}
