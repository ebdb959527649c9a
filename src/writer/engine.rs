//! The engine: everything one database's writer owns, shared by all its handles.
//!
//! Owns the write connection, the lane, the read pool, the cache, the signals, the metrics and
//! the drainer thread of one database, and the order in which they are opened and shut down.
//! Must never be reached from a handle of another fork generation (see `process.rs`) and never
//! drop a connection while a thread may still use it.
//!
//! # Lock order
//!
//! Locks are taken in this order (a thread holding one may take those below it, never above):
//!
//! 1. the registry (`registry.rs`), only around map updates — never while opening or closing;
//! 2. the lane's state (`lane.rs`), never across running a group or a callback;
//! 3. the write connection (`Engine::conn`), held for a whole group, or by the drainer's idle
//!    tick while it leads;
//! 4. the read pool's idle list and its counters (`read.rs`), briefly;
//! 5. the cache (`cache.rs`), the operation lists (`ops.rs`), a waiter's result slot;
//! 6. the signal ring (`signal.rs`): a leaf; publishing to subscribers never blocks (`try_send`),
//!    so signals may be emitted under any of the above.
//!
//! # Threads
//!
//! - Submitters: block in `Lane::submit_wait` (yielding or parked, or leading the lane and
//!   running groups on their own thread); never inside a callback (MISUSE instead).
//! - The drainer (`sw-writer`, one per engine): leads when no submitter does, runs completion
//!   callbacks, waits out another process's lock with backoff, ticks the read pool and the
//!   check for other processes' commits. Blocks only on the lane's condition variable, the write
//!   connection and SQLite.
//! - Subscription dispatchers (`signal.rs`, one per subscription): run subscriber callbacks;
//!   block only on their own queue.
//! - Readers: any thread calling `query`/`read`, on a pooled read connection; they block only
//!   for a free connection, and, when a read-only connection meets a hot rollback journal, for
//!   the write connection, which rolls the journal back ([`Engine::run_read`]).
//!
//! # Closing
//!
//! `Writer::close` marks its handle closed (`Writer::closed`); the registry counts handles and
//! the last one calls [`Engine::shutdown`], which sets `Engine::closed` (no new reads or
//! writes through any handle), then `Lane::begin_close` (submissions get CLOSED), queues a
//! barrier and waits for it (everything accepted commits, callbacks fire), stops and joins the
//! drainer (`Lane::stop_drainer`), closes the read connections (their snapshots would keep the
//! checkpoint from restarting the WAL), unregisters from the change table, checkpoints, and
//! closes the write connection. `Writer::closed`, `Engine::closed` and the lane's `closing`
//! and `stopped` are the only closing flags.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::conn::{self, WriteConn};
use super::lane::{Job, Lane, LaneConfig, Notify, Waiter, Work};
use super::ops::Operations;
use crate::cache::Cache;
use crate::error::{Error, Result, Status};
use crate::options::Options;
use crate::read::Readers;
use crate::rows::Rows;
use crate::session::Session;
use crate::signal::metrics::Metrics;
use crate::signal::{Sampled, Signals};
use crate::sync::Mutex;
use crate::value::Param;

/// How many times a read that meets a hot rollback journal has the write connection roll it
/// back before the read fails ([`Engine::read_past_hot_journal`]).
const HOT_JOURNAL_TRIES: usize = 3;

/// Whether `e` is a read-only connection's refusal to roll back a hot journal.
fn is_hot_journal(e: &Error) -> bool {
    e.sqlite_code() == rusqlite::ffi::SQLITE_READONLY_ROLLBACK
}

/// One database's writer.
pub(crate) struct Engine {
    pub(crate) opts: Options,
    pub(crate) lane: Lane,
    /// The write connection: used by whoever leads the lane. `None` once closed (or released
    /// in a forked child).
    pub(crate) conn: Mutex<Option<WriteConn>>,
    /// When the writer checkpoints the WAL (`WAL Limit`).
    pub(crate) wal: super::checkpoint::Policy,
    /// Connection settings and TEMP objects every connection must agree on.
    pub(crate) session: Arc<Session>,
    pub(crate) readers: Readers,
    pub(crate) cache: Cache,
    pub(crate) signals: Arc<Signals>,
    pub(crate) metrics: Metrics,
    /// The last `Max Tracked Writes` finished operations, and the group running now.
    pub(crate) ops: Operations,
    drainer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Set by the first `shutdown`: every handle then returns CLOSED.
    pub(crate) closed: AtomicBool,
    /// The fork generation this writer was opened in (`process::generation`).
    generation: u64,
    /// The database's LiteFS watch, if it is on a LiteFS mount (writes on a replica refused).
    pub(crate) site: crate::replica::Site,
}

impl Engine {
    /// Open the database: the write connection, the first read connection, the cache, and
    /// the drainer thread.
    pub(crate) fn open(opts: Options) -> Result<Arc<Engine>> {
        let signals = Arc::new(Signals::new(opts.signal_capacity, opts.sample_rate));
        let session = Arc::new(Session::new(&opts.pragmas));
        let conn = WriteConn::open(&opts, &signals, &session)
            .map_err(|e| conn::explain_open_error(&opts, e))?;
        let readers =
            Readers::new(&opts, session.clone()).map_err(|e| conn::explain_open_error(&opts, e))?;
        signals.emit("connection.open.read", "");
        let cache = Cache::new(
            opts.cache_size,
            opts.cache_ttl,
            opts.hot_key_ttl,
            opts.hot_access_threshold,
            signals.clone(),
        );
        let wal = super::checkpoint::Policy::new(&conn, opts.wal_limit);
        let engine = Arc::new(Engine {
            wal,
            lane: Lane::new(LaneConfig {
                capacity: opts.queue_capacity,
                max_batch: opts.max_batch,
                enqueue_timeout: opts.enqueue_timeout,
                poll: opts.invalidation_poll,
            }),
            conn: Mutex::new(Some(conn)),
            session,
            readers,
            cache,
            signals,
            metrics: Metrics::new(),
            ops: Operations::new(opts.max_tracked_writes),
            drainer: Mutex::new(None),
            closed: AtomicBool::new(false),
            generation: crate::process::generation(),
            site: Default::default(),
            opts,
        });
        let worker = engine.clone();
        let handle = std::thread::Builder::new()
            .name("sw-writer".into())
            .spawn(move || worker.lane.drain(&*worker))
            .map_err(|e| {
                Error::new(
                    Status::Error,
                    format!("cannot start the writer thread: {e}"),
                )
            })?;
        *engine.drainer.lock() = Some(handle);
        engine.signals.emit("writer.open", "");
        Ok(engine)
    }

    /// A job for the lane, with its operation id and whether its signals are sampled.
    fn new_job(&self, work: Work, notify: Notify) -> Job {
        Job {
            work,
            notify,
            submitted_us: crate::signal::now_us(),
            // Numbered by the lane when it accepts the job.
            op: 0,
            sampled: self.signals.sampled(Sampled::Write),
        }
    }

    /// Queue a job whose completion goes to `notify` on the drainer thread.
    pub(crate) fn submit_async(&self, work: Work, notify: Notify) -> Result<()> {
        self.lane.submit_async(self, self.new_job(work, notify))
    }

    /// Submit a job and wait for its result (MISUSE inside a callback).
    pub(crate) fn submit_wait(
        &self,
        work: Work,
        txn: Option<&mut super::lane::TxnFn<'_>>,
    ) -> Result<super::conn::WriteResult> {
        self.lane.submit_wait(self, |n| self.new_job(work, n), txn)
    }

    /// Run a job on this thread if the lane is idle; otherwise `None`, and the job is queued
    /// with `later` or, without it, not at all (see [`Lane::run_if_idle`]). With `later`, work
    /// that runs alone is always queued: it waits out another process's lock on the thread
    /// that runs it.
    pub(crate) fn run_if_idle(
        &self,
        work: Work,
        later: Option<Notify>,
    ) -> Option<Result<super::conn::WriteResult>> {
        match later {
            Some(notify) if matches!(work, Work::Exec { alone: true, .. }) => {
                self.submit_async(work, notify).err().map(Err)
            }
            later => self
                .lane
                .run_if_idle(self, |n| self.new_job(work, n), later),
        }
    }

    /// Queue a flush barrier for `waiter`; `while_closing` lets close queue its own.
    pub(crate) fn barrier(&self, waiter: Arc<Waiter>, while_closing: bool) -> Result<()> {
        let job = self.new_job(Work::Barrier, Notify::Barrier(waiter));
        self.lane.barrier(self, job, while_closing)
    }

    /// Run a read on the pool with its signals (`start` and `read.done`, sampled) and counters;
    /// `track` notes the tables' generations for the cache.
    pub(crate) fn run_read(
        &self,
        before: Option<&'static str>,
        start: &'static str,
        key: impl crate::signal::IntoKey + Copy,
        sql: &str,
        params: &[Param],
        track: bool,
    ) -> Result<(Rows, Option<crate::cache::Deps>)> {
        let sampled = self.signals.sampled(Sampled::Read);
        let started = crate::signal::now_us();
        // `before` (the cache's `cache.miss`, already sampled) goes with the start signal.
        match (before, sampled) {
            (Some(first), true) => self.signals.emit_read_two(started, first, start, key),
            (Some(first), false) => self.signals.emit_read(started, first, key, -1, -1),
            (None, true) => self.signals.emit_read(started, start, key, -1, -1),
            (None, false) => {}
        }
        let tables = track.then_some(&*self.cache.tables);
        let ((rows, deps), waited) = match self.readers.run(sql, params, tables) {
            Err(e) if is_hot_journal(&e) => self.read_past_hot_journal(sql, params, tables, e)?,
            r => r?,
        };
        self.metrics.reads.fetch_add(1, Ordering::Relaxed);
        if waited {
            self.metrics.reader_waits.fetch_add(1, Ordering::Relaxed);
        }
        if sampled {
            let done = crate::signal::now_us();
            let micros = (done - started).max(0);
            self.signals
                .emit_read(done, "read.done", key, micros, rows.row_count() as i64);
        }
        Ok((rows, deps))
    }

    /// A read-only connection found a hot rollback journal and may not roll it back
    /// (SQLITE_READONLY_ROLLBACK): the write connection does, and the read runs again. The
    /// journal is either one a writer that died mid-transaction left behind (another process
    /// killed while writing: every read would fail until this process writes), or a live
    /// writer's that SQLite took for hot (its check for a journal and for the writer's lock race
    /// with the writer deleting the journal and unlocking, SQLite's ticket #3883): a plain
    /// read-write connection rolls back the first and shrugs off the second, and so must a read
    /// here.
    fn read_past_hot_journal(
        &self,
        sql: &str,
        params: &[Param],
        tables: Option<&crate::cache::Tables>,
        mut err: Error,
    ) -> Result<((Rows, Option<crate::cache::Deps>), bool)> {
        for _ in 0..HOT_JOURNAL_TRIES {
            self.roll_back_hot_journal()?;
            match self.readers.run(sql, params, tables) {
                Err(e) if is_hot_journal(&e) => err = e,
                r => return r,
            }
        }
        Err(err.context(&format!(
            "the database's rollback journal stayed hot after the write connection rolled it back {HOT_JOURNAL_TRIES} times"
        )))
    }

    /// Roll back a hot rollback journal with the write connection (see
    /// [`Engine::read_past_hot_journal`]).
    fn roll_back_hot_journal(&self) -> Result<()> {
        let hot = conn::HOT_JOURNAL;
        // Inside a transaction body or a callback this thread may be the one holding the write
        // connection (the re-entry rule of `reentry.rs`): no wait for it there.
        let mut guard = if crate::reentry::inside_callback() {
            self.conn.try_lock().ok_or_else(|| {
                Error::new(
                    Status::Busy,
                    format!("{hot}, and the write connection, which may, is held by the transaction or callback this read runs in"),
                )
            })?
        } else {
            self.conn.lock()
        };
        let conn = guard.as_mut().ok_or_else(Error::closed)?;
        conn.roll_back_hot_journal().map_err(|e| {
            if is_hot_journal(&e) {
                // `Mode=ReadOnly` (or read-only media): no connection here may write.
                e.context(&format!("{hot}, and this writer opened the database read-only (Mode=ReadOnly or a read-only file): open it read-write once, anywhere, to roll the journal back"))
            } else {
                e.context(&format!("{hot}, and the write connection could not roll it back"))
            }
        })
    }

    /// The fork generation this writer was opened in.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// In a forked child: close this inherited writer's SQLite connections without using them
    /// (no checkpoint, no commit), so SQLite drops its copy of their lock state and the
    /// database can be opened afresh in the child. False when a connection cannot be reached
    /// safely: held by a thread of the parent (which does not exist here), or inside a write
    /// transaction (rolling it back would rewrite the shared WAL index under the parent).
    pub(crate) fn release_inherited(&self) -> bool {
        let Some(mut conn) = self.conn.try_lock() else {
            return false;
        };
        if conn.as_ref().is_some_and(|c| c.in_transaction()) {
            return false;
        }
        if !self.readers.release_inherited() {
            return false;
        }
        drop(conn.take());
        true
    }

    /// Close: stop accepting, drain and commit everything accepted, checkpoint, close (see
    /// "Closing" above). Only the first call does anything.
    pub(crate) fn shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.lane.begin_close();
        let waiter = Waiter::new();
        if self.barrier(waiter.clone(), true).is_ok() {
            let _ = waiter.wait_until(None);
        }
        self.lane.stop_drainer();
        if let Some(h) = self.drainer.lock().take() {
            let _ = h.join();
        }
        // Readers first: their snapshots would keep the checkpoint from truncating the WAL.
        self.readers.close();
        if let Some(mut conn) = self.conn.lock().take() {
            conn.unregister();
            // With `Checkpoints=External` the frames are another program's to copy first.
            if self.opts.checkpoints == crate::options::Checkpoints::Writer {
                conn.checkpoint();
            }
        }
        self.signals.emit("writer.close", "");
        self.signals.unsubscribe_all();
    }
}
