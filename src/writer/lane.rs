//! The writer lane: the bounded queue, leadership, and group commit.
//!
//! Exactly one thread at a time leads the lane and holds the write connection. A blocking
//! submitter that finds the lane idle leads it itself — no hand-off to another thread, which on
//! this class of machine costs more than a commit. Others queue and park; when a leader finishes
//! its group it passes leadership to the next blocking submitter in line (who had to be woken
//! anyway) or to the lane's own library thread (the drainer), which also runs completion
//! callbacks, retries a foreign lock with backoff, and checks for other processes' commits.
//! Must never acknowledge a write before the COMMIT that holds it, and never let one job's
//! failure fail its neighbours.
//!
//! Departures from DESIGN.md, and why:
//! - Single-statement jobs run without a savepoint: SQLite already undoes a failed statement
//!   (statement journal), so `SAVEPOINT`/`RELEASE` per write would only cost. A failure that ends
//!   the whole transaction (`OR ROLLBACK`, `RAISE(ROLLBACK)`, I/O, full disk) fails that job
//!   alone and the rest of its group runs again in a new transaction.
//! - A leader whose own write is done may lead a few more groups (`MAX_EXTRA_GROUPS`), and yields
//!   the CPU once when far fewer writes are queued than the last group held (`grow_group`): on
//!   2 vCPUs the submitters a commit woke otherwise miss the next group (mean group 1.1 → 10–16).
//! - Transaction bodies run on their caller's thread, alone in their group (a body is never
//!   re-run, so it is not mixed with writes that may need to be).
//! - Consecutive writes of the same SQL in a group share one prepared statement.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

use super::conn::{Changes, External, Statement, WriteConn, WriteResult};
use super::{Shared, Txn};
use crate::cache::SCHEMA;
use crate::error::{Error, Result, Status};
use crate::reentry::{in_callback, inside_callback};
use crate::signal::Sampled;
use crate::value::Param;

/// A transaction body, run by its owner thread while it leads the lane.
pub(crate) type TxnFn<'a> = dyn FnMut(&mut Txn<'_>) -> Result<()> + 'a;
/// A completion callback for a queued write.
pub(crate) type Callback = Box<dyn FnOnce(Result<WriteResult>) + Send>;

pub(crate) enum Work {
    Exec {
        sql: Arc<str>,
        params: Vec<Param>,
        invalidate: Vec<String>,
        alone: bool,
    },
    Batch {
        statements: Vec<Statement>,
        transactional: bool,
    },
    Txn,
    Barrier,
    Raise {
        pattern: Box<str>,
    },
}

/// A completion callback without a closure: `call(a, b, result)`. The C ABI passes its function
/// pointer and userdata as `a` and `b`, so a queued write allocates nothing for its callback.
pub(crate) struct RawCallback {
    pub(crate) call: fn(usize, usize, Result<WriteResult>),
    pub(crate) a: usize,
    pub(crate) b: usize,
}

pub(crate) enum Notify {
    /// A blocking submitter (may be handed leadership).
    Wait(Arc<Waiter>),
    /// A flush: completes in order with callbacks, never leads.
    Barrier(Arc<Waiter>),
    /// A completion callback, run on the drainer thread.
    Call(Callback),
    /// A completion as a plain function and two words, run on the drainer thread.
    Raw(RawCallback),
    Nothing,
}

pub(crate) struct Job {
    pub(crate) work: Work,
    pub(crate) notify: Notify,
    pub(crate) submitted: Instant,
    pub(crate) op: u64,
    pub(crate) sampled: bool,
}

/// Groups a submitter may lead after its own write is acknowledged.
const MAX_EXTRA_GROUPS: usize = 8;

impl Job {
    /// Writes count in the statistics; flush barriers and persisted signals do not.
    fn is_write(&self) -> bool {
        matches!(
            self.work,
            Work::Exec { .. } | Work::Batch { .. } | Work::Txn
        )
    }
}

const PENDING: u8 = 0;
const DONE: u8 = 1;
const LEAD: u8 = 2;

/// Where a blocking submitter parks.
pub(crate) struct Waiter {
    state: AtomicU8,
    result: Mutex<Option<Result<WriteResult>>>,
    thread: Thread,
}

impl Waiter {
    pub(crate) fn new() -> Arc<Waiter> {
        Arc::new(Waiter {
            state: AtomicU8::new(PENDING),
            result: Mutex::new(None),
            thread: std::thread::current(),
        })
    }

    fn finish(&self, result: Result<WriteResult>) {
        *self.result.lock() = Some(result);
        self.state.store(DONE, Ordering::Release);
    }

    /// Store the result without publishing it yet: DONE is set just before the wake-up.
    fn set_result(&self, result: Result<WriteResult>) {
        *self.result.lock() = Some(result);
    }

    fn wake(&self) {
        self.thread.unpark();
    }

    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> Option<Result<WriteResult>> {
        loop {
            if self.state.load(Ordering::Acquire) == DONE {
                return self.result.lock().take();
            }
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    std::thread::park_timeout(d - now);
                }
            }
        }
    }
}

thread_local! {
    static WAITER: Arc<Waiter> = Waiter::new();
}

#[derive(Default)]
pub(crate) struct State {
    queue: VecDeque<Job>,
    leading: bool,
    pub(crate) closing: bool,
    stopped: bool,
    drainer_idle: bool,
    space_waiters: usize,
    /// Completions for the drainer to deliver, in order.
    completions: VecDeque<(Notify, Result<WriteResult>)>,
    delivering: bool,
}

pub(crate) struct Lane {
    pub(crate) state: Mutex<State>,
    space: Condvar,
    drainer_wake: Condvar,
    pub(crate) conn: Mutex<Option<WriteConn>>,
}

impl Lane {
    pub(crate) fn new(conn: WriteConn) -> Lane {
        Lane {
            state: Mutex::new(State::default()),
            space: Condvar::new(),
            drainer_wake: Condvar::new(),
            conn: Mutex::new(Some(conn)),
        }
    }

    fn wake_drainer(&self, st: &State) {
        if st.drainer_idle {
            self.drainer_wake.notify_one();
        }
    }
}

enum Taken {
    Empty,
    HandTo(Arc<Waiter>),
    Jobs(Vec<Job>),
}

fn is_own(job: &Job, me: Option<&Arc<Waiter>>) -> bool {
    match (&job.notify, me) {
        (Notify::Wait(w), Some(me)) => Arc::ptr_eq(w, me),
        _ => false,
    }
}

fn runs_alone(job: &Job) -> bool {
    matches!(job.work, Work::Txn | Work::Exec { alone: true, .. })
}

impl Shared {
    /// Wait for room in the queue (up to `Enqueue Timeout`), or fail.
    fn make_room(
        &self,
        st: &mut crate::sync::MutexGuard<'_, State>,
        may_block: bool,
    ) -> Result<()> {
        if st.closing {
            return Err(Error::closed());
        }
        let cap = self.opts.queue_capacity;
        if st.queue.len() < cap {
            return Ok(());
        }
        self.metrics.queue_full.fetch_add(1, Ordering::Relaxed);
        self.signals.emit_full(
            "backpressure.full",
            "",
            Status::QueueFull,
            -1,
            st.queue.len() as i64,
        );
        let full = || {
            Error::new(
                Status::QueueFull,
                format!("the write queue is full ({cap} writes) and stayed full for the Enqueue Timeout"),
            )
        };
        if !may_block || self.opts.enqueue_timeout.is_zero() {
            return Err(full());
        }
        let deadline = Instant::now() + self.opts.enqueue_timeout;
        let started = Instant::now();
        st.space_waiters += 1;
        let outcome = loop {
            let timed_out = self.lane.space.wait_until(st, deadline).timed_out();
            if st.closing {
                break Err(Error::closed());
            }
            if st.queue.len() < cap {
                break Ok(());
            }
            if timed_out {
                break Err(full());
            }
        };
        st.space_waiters -= 1;
        if outcome.is_ok() {
            self.signals.emit_full(
                "backpressure.recovered",
                "",
                Status::Ok,
                started.elapsed().as_micros() as i64,
                -1,
            );
        }
        outcome
    }

    fn new_job(&self, work: Work, notify: Notify) -> Job {
        let sampled = self.signals.sampled(Sampled::Write);
        let op = self.next_op.fetch_add(1, Ordering::Relaxed);
        Job {
            work,
            notify,
            submitted: Instant::now(),
            op,
            sampled,
        }
    }

    /// Queue a write whose completion runs `callback` on the drainer thread. Never blocks when
    /// called from a callback (a full queue then fails at once).
    pub(crate) fn submit_async(&self, work: Work, notify: Notify) -> Result<()> {
        let job = self.new_job(work, notify);
        let mut st = self.lane.state.lock();
        self.make_room(&mut st, !inside_callback())?;
        self.note_enqueued(&job);
        st.queue.push_back(job);
        if !st.leading {
            self.lane.wake_drainer(&st);
        }
        Ok(())
    }

    fn note_enqueued(&self, job: &Job) {
        // `write.enqueue` is emitted by the lane with the submission's timestamp, together
        // with the group's other signals (one lock per group, not three per write).
        if job.is_write() {
            self.metrics.enqueued.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Submit a write and wait for its acknowledgement, leading the lane when it is idle.
    pub(crate) fn submit_wait(
        &self,
        work: Work,
        txn: Option<&mut TxnFn<'_>>,
    ) -> Result<WriteResult> {
        if inside_callback() {
            return Err(Error::misuse(
                "a blocking writer call from inside a transaction or callback would deadlock",
            ));
        }
        let waiter = WAITER.with(Arc::clone);
        waiter.state.store(PENDING, Ordering::Relaxed);
        *waiter.result.lock() = None;
        let job = self.new_job(work, Notify::Wait(waiter.clone()));
        let mut txn = txn;
        let lead_now = {
            let mut st = self.lane.state.lock();
            self.make_room(&mut st, true)?;
            self.note_enqueued(&job);
            st.queue.push_back(job);
            let lead = !st.leading;
            st.leading = true;
            lead
        };
        if lead_now {
            self.lead(Some(&waiter), txn.as_deref_mut());
        }
        loop {
            match waiter.state.load(Ordering::Acquire) {
                DONE => {
                    return waiter
                        .result
                        .lock()
                        .take()
                        .unwrap_or_else(|| Err(Error::new(Status::Error, "lost acknowledgement")))
                }
                LEAD => {
                    waiter.state.store(PENDING, Ordering::Relaxed);
                    self.lead(Some(&waiter), txn.as_deref_mut());
                }
                _ => std::thread::park(),
            }
        }
    }

    fn take(&self, st: &mut State, me: Option<&Arc<Waiter>>) -> Taken {
        let Some(front) = st.queue.front() else {
            return Taken::Empty;
        };
        if matches!(front.work, Work::Txn) && !is_own(front, me) {
            if let Notify::Wait(w) = &front.notify {
                return Taken::HandTo(w.clone());
            }
        }
        let mut jobs = Vec::new();
        if runs_alone(front) {
            jobs.extend(st.queue.pop_front());
        } else {
            while jobs.len() < self.opts.max_batch {
                match st.queue.front() {
                    Some(j) if !runs_alone(j) => jobs.extend(st.queue.pop_front()),
                    _ => break,
                }
            }
        }
        if st.space_waiters > 0 {
            self.lane.space.notify_all();
        }
        Taken::Jobs(jobs)
    }

    /// When far fewer writes are queued than the last group held, the submitters that the last
    /// commit woke are still on their way back (on a machine with fewer cores than submitters
    /// they wait for a CPU). Yield the CPU once so they can queue, and take them into this
    /// group: a commit costs far more than a yield. No timed wait is ever added.
    fn grow_group(&self, mut jobs: Vec<Job>) -> Vec<Job> {
        let last = self.last_group.load(Ordering::Relaxed);
        let alone = jobs.first().is_some_and(runs_alone);
        if !alone && jobs.len() * 2 < last && jobs.len() < self.opts.max_batch {
            std::thread::yield_now();
            let mut st = self.lane.state.lock();
            while jobs.len() < self.opts.max_batch {
                match st.queue.front() {
                    Some(j) if !runs_alone(j) => jobs.extend(st.queue.pop_front()),
                    _ => break,
                }
            }
            if st.space_waiters > 0 {
                self.lane.space.notify_all();
            }
        }
        self.last_group.store(jobs.len(), Ordering::Relaxed);
        jobs
    }

    /// Lead the lane. `me` is the leading submitter's waiter (None for the drainer); a
    /// submitter leads until its own job is acknowledged, the drainer until the queue is empty.
    pub(crate) fn lead(&self, me: Option<&Arc<Waiter>>, mut txn: Option<&mut TxnFn<'_>>) {
        let drainer = me.is_none();
        let mut extra_groups = 0;
        let mut own_done = false;
        loop {
            let taken = {
                let mut st = self.lane.state.lock();
                match self.take(&mut st, me) {
                    Taken::Empty => {
                        st.leading = false;
                        return;
                    }
                    Taken::HandTo(w) => {
                        w.state.store(LEAD, Ordering::Release);
                        drop(st);
                        w.wake();
                        return;
                    }
                    Taken::Jobs(jobs) => jobs,
                }
            };
            let taken = self.grow_group(taken);
            let results = match self.run_group(&taken, txn.as_deref_mut(), !drainer) {
                Some(results) => results,
                None => {
                    // Another process holds the lock: let the drainer wait for it.
                    let mut st = self.lane.state.lock();
                    for job in taken.into_iter().rev() {
                        st.queue.push_front(job);
                    }
                    st.leading = false;
                    self.lane.drainer_wake.notify_one();
                    return;
                }
            };
            own_done |= taken.iter().any(|j| is_own(j, me));
            // A submitter whose write is done may lead a few more groups before passing the
            // lane on: each pass costs a thread switch in which nothing commits.
            let keep = drainer || !own_done || extra_groups < MAX_EXTRA_GROUPS;
            if own_done {
                extra_groups += 1;
            }
            if !self.finish_group(taken, results, me, keep) {
                return;
            }
        }
    }

    /// Deliver a committed group's results: record them, pass leadership on when `keep` is
    /// false (or the queue is empty), then wake the waiters; callbacks and flushes go to the
    /// drainer in order (the drainer runs them itself). Returns whether this thread still leads.
    fn finish_group(
        &self,
        jobs: Vec<Job>,
        results: Vec<Result<WriteResult>>,
        me: Option<&Arc<Waiter>>,
        keep: bool,
    ) -> bool {
        let drainer = me.is_none();
        let mut wake = Vec::with_capacity(jobs.len());
        let mut deferred = Vec::new();
        // One clock reading for the whole group.
        let done_us = crate::signal::now_us();
        let done_at = Instant::now();
        self.track_done(&jobs, &results, done_us, done_at);
        let mut batch = Vec::new();
        // Counted here, published once per group.
        let mut latencies = Vec::with_capacity(jobs.len());
        let (mut committed, mut failed) = (0u64, 0u64);
        for (job, result) in jobs.into_iter().zip(results) {
            let latency = done_at.saturating_duration_since(job.submitted).as_micros() as i64;
            match &result {
                _ if !job.is_write() => {}
                Ok(r) => {
                    latencies.push(latency as u64);
                    committed += 1;
                    if job.sampled {
                        batch.push((
                            "write.done",
                            crate::signal::no_key(),
                            Status::Ok,
                            latency,
                            r.rows_affected,
                            done_us,
                        ));
                    }
                }
                Err(e) => {
                    latencies.push(latency as u64);
                    failed += 1;
                    batch.push((
                        "write.error",
                        Arc::from(e.message()),
                        e.status(),
                        latency,
                        -1,
                        done_us,
                    ));
                }
            }
            match job.notify {
                Notify::Wait(w) if me.is_some_and(|m| Arc::ptr_eq(m, &w)) => w.finish(result),
                Notify::Wait(w) => {
                    w.set_result(result);
                    wake.push(w);
                }
                Notify::Nothing => {}
                other => deferred.push((other, result)),
            }
        }
        self.metrics.latency.record_all(&latencies);
        if committed > 0 {
            self.metrics
                .committed
                .fetch_add(committed, Ordering::Relaxed);
        }
        if failed > 0 {
            self.metrics.failed.fetch_add(failed, Ordering::Relaxed);
        }
        self.signals.emit_all(batch);
        let mut still_leading = true;
        let mut next_leader = None;
        if !drainer {
            let mut st = self.lane.state.lock();
            st.completions.extend(deferred.drain(..));
            if !keep || st.queue.is_empty() {
                // Pass the lane on before waking anyone, so the next group starts at once.
                still_leading = false;
                match st.queue.front().map(|j| &j.notify) {
                    None => st.leading = false,
                    Some(Notify::Wait(w)) => {
                        w.state.store(LEAD, Ordering::Release);
                        next_leader = Some(w.clone());
                    }
                    Some(_) => st.leading = false,
                }
            }
            if !st.completions.is_empty() || (!st.leading && !st.queue.is_empty()) {
                self.lane.wake_drainer(&st);
            }
        }
        if let Some(w) = next_leader {
            w.wake();
        }
        for w in wake {
            w.state.store(DONE, Ordering::Release);
            w.wake();
        }
        if drainer {
            // Earlier groups' completions first, then this group's.
            let mut st = self.lane.state.lock();
            st.completions.extend(deferred);
            drop(st);
            self.deliver_completions();
        }
        still_leading
    }

    /// Run queued completions on this (the drainer) thread, in order.
    pub(crate) fn deliver_completions(&self) {
        loop {
            let batch: Vec<_> = {
                let mut st = self.lane.state.lock();
                if st.completions.is_empty() {
                    st.delivering = false;
                    return;
                }
                st.delivering = true;
                st.completions.drain(..).collect()
            };
            for (notify, result) in batch {
                match notify {
                    Notify::Call(cb) => {
                        let _ = catch_unwind(AssertUnwindSafe(|| in_callback(|| cb(result))));
                    }
                    Notify::Raw(r) => {
                        let _ = catch_unwind(AssertUnwindSafe(|| {
                            in_callback(|| (r.call)(r.a, r.b, result))
                        }));
                    }
                    Notify::Barrier(w) | Notify::Wait(w) => {
                        w.finish(result);
                        w.wake();
                    }
                    Notify::Nothing => {}
                }
            }
        }
    }

    /// Execute one group. `None` when another process holds the lock and this submitter should
    /// leave the waiting to the drainer.
    ///
    /// A flush's barrier succeeds whenever its group ran to an end: it reports that every write
    /// before it was acknowledged, each with its own result — not the outcome of the group it
    /// happened to share (a full disk or a foreign lock fails the writes, not the flush).
    fn run_group(
        &self,
        jobs: &[Job],
        txn: Option<&mut TxnFn<'_>>,
        submitter: bool,
    ) -> Option<Vec<Result<WriteResult>>> {
        let mut results = self.run_group_jobs(jobs, txn, submitter)?;
        for (job, r) in jobs.iter().zip(results.iter_mut()) {
            if matches!(job.work, Work::Barrier) {
                *r = Ok(WriteResult::default());
            }
        }
        Some(results)
    }

    fn run_group_jobs(
        &self,
        jobs: &[Job],
        mut txn: Option<&mut TxnFn<'_>>,
        submitter: bool,
    ) -> Option<Vec<Result<WriteResult>>> {
        let mut guard = self.lane.conn.lock();
        let Some(conn) = guard.as_mut() else {
            return Some(jobs.iter().map(|_| Err(Error::closed())).collect());
        };
        let group_start = Instant::now();
        let now = crate::signal::now_us();
        let mut batch = Vec::new();
        for job in jobs.iter().filter(|j| j.sampled) {
            let submitted = now
                - group_start
                    .saturating_duration_since(job.submitted)
                    .as_micros() as i64;
            batch.push((
                "write.enqueue",
                crate::signal::no_key(),
                Status::Ok,
                -1,
                -1,
                submitted.max(1),
            ));
            batch.push((
                "write.start",
                crate::signal::no_key(),
                Status::Ok,
                -1,
                -1,
                now,
            ));
        }
        self.signals.emit_all(batch);
        self.track_running(jobs);
        if let [Job {
            work:
                Work::Exec {
                    sql,
                    params,
                    alone: true,
                    ..
                },
            ..
        }] = jobs
        {
            // The statement may change the journal mode or need the database to itself:
            // idle read connections close first, and readers keep snapshots again only if the
            // database is still in WAL mode afterwards.
            self.readers.before_alone();
            let result = catch_unwind(AssertUnwindSafe(|| {
                self.with_busy_retry(|| conn.execute_alone(sql, params))
            }))
            .unwrap_or_else(|_| Err(panicked()));
            self.readers.after_alone(conn.in_wal_mode());
            self.cache.tables.bump([SCHEMA]);
            self.metrics.transactions.fetch_add(1, Ordering::Relaxed);
            return Some(vec![result]);
        }
        if jobs.iter().all(|j| matches!(j.work, Work::Barrier)) {
            return Some(jobs.iter().map(|_| Ok(WriteResult::default())).collect());
        }
        let owns_txn = jobs.iter().any(|j| matches!(j.work, Work::Txn));
        let mut results: Vec<Option<Result<WriteResult>>> = jobs.iter().map(|_| None).collect();
        let mut failed_hard = vec![false; jobs.len()];
        let changes = loop {
            // BEGIN IMMEDIATE, waiting out another process's lock.
            let mut waited: Option<Instant> = None;
            loop {
                match conn.begin() {
                    Ok(()) => break,
                    Err(e) if e.status() == Status::Busy => {
                        self.metrics.busy_retries.fetch_add(1, Ordering::Relaxed);
                        let since = *waited.get_or_insert_with(|| {
                            self.signals.emit("busy.wait", "");
                            Instant::now()
                        });
                        if submitter && !owns_txn {
                            return None;
                        }
                        if since.elapsed() >= self.opts.busy_timeout {
                            self.signals.emit_full(
                                "busy.timeout",
                                "",
                                Status::Busy,
                                since.elapsed().as_micros() as i64,
                                -1,
                            );
                            let err = Error::new(Status::Busy, format!(
                                "another connection held the write lock for longer than the Busy Timeout ({} ms)",
                                self.opts.busy_timeout.as_millis()
                            ))
                            .with_sqlite_code(e.sqlite_code());
                            return Some(jobs.iter().map(|_| Err(err.clone())).collect());
                        }
                        std::thread::sleep(backoff(since.elapsed()));
                    }
                    Err(e) => return Some(jobs.iter().map(|_| Err(e.clone())).collect()),
                }
            }
            if let Some(since) = waited {
                self.signals.emit_full(
                    "busy.recovered",
                    "",
                    Status::Ok,
                    since.elapsed().as_micros() as i64,
                    -1,
                );
            }
            if conn.external_checks_enabled()
                && !self.opts.invalidation_poll.is_zero()
                && conn.last_external_check.elapsed() >= self.opts.invalidation_poll
            {
                if let Ok(ext) = conn.check_external() {
                    self.apply_external(ext);
                }
            }
            let mut changes = Changes::default();
            let mut restart = false;
            let mut i = 0;
            while i < jobs.len() {
                if failed_hard[i] {
                    i += 1;
                    continue;
                }
                // Consecutive writes of the same SQL run on one prepared statement.
                let run = same_sql_run(&jobs[i..], &failed_hard[i..]);
                if run > 1 {
                    let sql: &str = match &jobs[i].work {
                        Work::Exec { sql, .. } => sql,
                        _ => "",
                    };
                    let params: Vec<&[Param]> = jobs[i..i + run].iter().map(exec_params).collect();
                    let rs = catch_unwind(AssertUnwindSafe(|| {
                        conn.execute_run(sql, &params, &mut changes)
                    }))
                    .unwrap_or_else(|_| vec![Err(panicked())]);
                    let done = rs.len();
                    for (k, r) in rs.into_iter().enumerate() {
                        results[i + k] = Some(r);
                    }
                    if !conn.in_transaction() {
                        let last = i + done - 1;
                        failed_hard[last] = true;
                        if results[last].as_ref().is_some_and(|r| r.is_ok()) {
                            results[last] = Some(Err(Error::new(
                                Status::Error,
                                "the statement ended the group transaction",
                            )));
                        }
                        restart = true;
                        break;
                    }
                    i += run;
                    continue;
                }
                let job = &jobs[i];
                let r = catch_unwind(AssertUnwindSafe(|| {
                    self.run_job(conn, job, txn.as_deref_mut(), &mut changes)
                }))
                .unwrap_or_else(|_| Err(panicked()));
                if !conn.in_transaction() {
                    // This job's failure ended the whole transaction: it alone fails, the
                    // others run again in a new one.
                    failed_hard[i] = true;
                    results[i] = Some(Err(r.err().unwrap_or_else(|| {
                        Error::new(Status::Error, "the statement ended the group transaction")
                    })));
                    restart = true;
                    break;
                }
                results[i] = Some(r);
                i += 1;
            }
            if restart {
                for (i, r) in results.iter_mut().enumerate() {
                    if !failed_hard[i] {
                        *r = None;
                    }
                }
                if jobs.iter().zip(&failed_hard).all(|(_, f)| *f) {
                    break Changes::default();
                }
                if owns_txn {
                    // A transaction body is not re-run; the group was that body alone.
                    break Changes::default();
                }
                continue;
            }
            let commit_start = Instant::now();
            match conn.commit(&changes) {
                Ok(()) => {
                    self.metrics
                        .commit_time
                        .record(commit_start.elapsed().as_micros() as u64);
                    break changes;
                }
                Err(e) => {
                    let e = e.context("COMMIT failed; nothing of this group was kept");
                    for (i, r) in results.iter_mut().enumerate() {
                        if !failed_hard[i] {
                            *r = Some(Err(e.clone()));
                        }
                    }
                    break Changes::default();
                }
            }
        };
        drop(guard);
        self.readers.sweep();
        self.metrics.transactions.fetch_add(1, Ordering::Relaxed);
        self.metrics.group_size.record(jobs.len() as u64);
        let results: Vec<Result<WriteResult>> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::new(Status::Error, "write did not run"))))
            .collect();
        // Make the group visible to the cache before anyone is acknowledged.
        if !changes.is_empty() {
            self.cache.tables.bump(changes.tables.iter().map(|t| &**t));
            if changes.schema {
                self.cache.tables.bump([SCHEMA]);
            }
            for pattern in &changes.raised {
                self.cache.invalidate(pattern, "cache.invalidate");
            }
        }
        for (job, r) in jobs.iter().zip(&results) {
            if let (Work::Exec { invalidate, .. }, Ok(_)) = (&job.work, r) {
                for key in invalidate {
                    self.cache.invalidate(key, "cache.invalidate");
                }
            }
            if matches!(job.work, Work::Txn) && job.sampled {
                let name = if r.is_ok() {
                    "tx.commit"
                } else {
                    "tx.rollback"
                };
                self.signals.emit(name, "");
            }
        }
        self.signals.emit_full(
            "group.commit",
            "",
            Status::Ok,
            group_start.elapsed().as_micros() as i64,
            jobs.len() as i64,
        );
        Some(results)
    }

    fn with_busy_retry<T>(&self, mut f: impl FnMut() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        loop {
            match f() {
                Err(e)
                    if e.status() == Status::Busy && start.elapsed() < self.opts.busy_timeout =>
                {
                    self.metrics.busy_retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(backoff(start.elapsed()));
                }
                other => return other,
            }
        }
    }

    fn run_job(
        &self,
        conn: &mut WriteConn,
        job: &Job,
        txn: Option<&mut TxnFn<'_>>,
        changes: &mut Changes,
    ) -> Result<WriteResult> {
        match &job.work {
            Work::Exec { sql, params, .. } => conn.execute(sql, params, changes),
            Work::Batch {
                statements,
                transactional,
            } => self.run_batch(conn, statements, *transactional, job.sampled, changes),
            Work::Txn => {
                let Some(body) = txn else {
                    return Err(Error::new(Status::Error, "transaction body missing"));
                };
                if job.sampled {
                    self.signals.emit("tx.begin", "");
                }
                conn.savepoint(|c| {
                    let mut t = Txn {
                        conn: c,
                        changes,
                        rows: 0,
                    };
                    let outcome = catch_unwind(AssertUnwindSafe(|| in_callback(|| body(&mut t))))
                        .unwrap_or_else(|_| Err(panicked()));
                    outcome.map(|()| WriteResult {
                        rows_affected: t.rows,
                        last_insert_rowid: 0,
                    })
                })
            }
            Work::Barrier => Ok(WriteResult::default()),
            Work::Raise { pattern } => {
                changes.raised.push(pattern.clone());
                Ok(WriteResult::default())
            }
        }
    }

    fn run_batch(
        &self,
        conn: &mut WriteConn,
        statements: &[Statement],
        transactional: bool,
        sampled: bool,
        changes: &mut Changes,
    ) -> Result<WriteResult> {
        let n = statements.len();
        let mut total = WriteResult::default();
        let run_one = |c: &mut WriteConn,
                       i: usize,
                       s: &Statement,
                       changes: &mut Changes|
         -> Result<WriteResult> {
            let item_sampled = sampled && self.signals.sampled(Sampled::BatchItem);
            if item_sampled {
                self.signals
                    .emit_full("batch.item.start", "", Status::Ok, -1, i as i64);
            }
            let started = Instant::now();
            let r = c.execute(&s.sql, &s.params, changes);
            if item_sampled {
                let (status, rows) = match &r {
                    Ok(r) => (Status::Ok, r.rows_affected),
                    Err(e) => (e.status(), -1),
                };
                self.signals.emit_full(
                    "batch.item.done",
                    "",
                    status,
                    started.elapsed().as_micros() as i64,
                    rows,
                );
            }
            r
        };
        if transactional {
            if sampled {
                self.signals.emit("tx.begin", "");
            }
            let r = conn.savepoint(|c| {
                for (i, s) in statements.iter().enumerate() {
                    let r = run_one(c, i, s, changes).map_err(|e| {
                        e.context(&format!(
                            "batch statement {} of {n} failed; the batch was rolled back",
                            i + 1
                        ))
                    })?;
                    total.add(r);
                }
                Ok(total)
            });
            if sampled {
                self.signals.emit(
                    if r.is_ok() {
                        "tx.commit"
                    } else {
                        "tx.rollback"
                    },
                    "",
                );
            }
            r
        } else {
            // Each statement is atomic by itself (a multi-statement text gets its own savepoint
            // in `execute`), so a failure keeps what came before it.
            for (i, s) in statements.iter().enumerate() {
                let r = run_one(conn, i, s, changes).map_err(|e| {
                    e.context(&format!(
                        "batch statement {} of {n} failed; the {i} before it were kept",
                        i + 1
                    ))
                })?;
                total.add(r);
            }
            Ok(total)
        }
    }

    /// Apply what the check for other processes' commits found.
    pub(crate) fn apply_external(&self, ext: External) {
        if !ext.tables.is_empty() {
            self.cache.tables.bump(ext.tables.iter().map(|t| &**t));
            for t in &ext.tables {
                self.signals
                    .emit("cache.invalidate.external", format!("table:{t}"));
            }
        }
        for pattern in &ext.raised {
            self.cache.invalidate(pattern, "cache.invalidate.external");
        }
        if ext.everything {
            self.cache.tables.bump_all();
            self.signals.emit("cache.invalidate.external", "*");
        }
    }

    /// The drainer thread: leads when no submitter does, delivers completions, waits out
    /// foreign locks, and checks for other processes' commits while the lane is idle.
    pub(crate) fn drain(self: &Arc<Shared>) {
        let poll = self.opts.invalidation_poll;
        let mut st = self.lane.state.lock();
        loop {
            if !st.completions.is_empty() {
                drop(st);
                self.deliver_completions();
                st = self.lane.state.lock();
                continue;
            }
            if !st.leading && !st.queue.is_empty() {
                st.leading = true;
                drop(st);
                self.lead(None, None);
                st = self.lane.state.lock();
                continue;
            }
            if st.stopped {
                return;
            }
            st.drainer_idle = true;
            // Also a safety net: an idle drainer looks at the queue at least once a second.
            let timeout = if poll.is_zero() {
                Duration::from_secs(1)
            } else {
                poll
            };
            let timed_out = self
                .lane
                .drainer_wake
                .wait_for(&mut st, timeout)
                .timed_out();
            st.drainer_idle = false;
            if timed_out {
                self.readers.sweep();
            }
            if timed_out && !poll.is_zero() && !st.leading && st.queue.is_empty() && !st.stopped {
                st.leading = true;
                drop(st);
                if let Some(conn) = self.lane.conn.lock().as_mut() {
                    if conn.external_checks_enabled() {
                        if let Ok(ext) = conn.check_external() {
                            self.apply_external(ext);
                        }
                    }
                }
                st = self.lane.state.lock();
                st.leading = false;
            }
        }
    }

    /// The first `limit` queued jobs: (id, kind, sql, µs since submitted).
    pub(crate) fn queued_ops(
        &self,
        limit: usize,
    ) -> Vec<(u64, &'static str, Option<Arc<str>>, u64)> {
        let st = self.lane.state.lock();
        st.queue
            .iter()
            .take(limit)
            .map(|j| {
                let (kind, sql) = super::kind_of(&j.work);
                (j.op, kind, sql, j.submitted.elapsed().as_micros() as u64)
            })
            .collect()
    }

    /// Stop the drainer once the queue is empty.
    pub(crate) fn stop_drainer(&self) {
        let mut st = self.lane.state.lock();
        st.stopped = true;
        self.lane.drainer_wake.notify_one();
    }

    /// Begin closing: later submissions get `SW_STATUS_CLOSED`.
    pub(crate) fn begin_close(&self) {
        let mut st = self.lane.state.lock();
        st.closing = true;
        self.lane.space.notify_all();
    }

    /// Queue a barrier even while closing (close's own drain).
    pub(crate) fn barrier(&self, waiter: Arc<Waiter>, bypass_closing: bool) -> Result<()> {
        let job = self.new_job(Work::Barrier, Notify::Barrier(waiter));
        let mut st = self.lane.state.lock();
        if !bypass_closing {
            self.make_room(&mut st, true)?;
        }
        st.queue.push_back(job);
        if !st.leading {
            self.lane.wake_drainer(&st);
            self.lane.drainer_wake.notify_one();
        }
        Ok(())
    }
}

/// How many jobs from the first on are plain writes of the same SQL (none failed before).
fn same_sql_run(jobs: &[Job], failed: &[bool]) -> usize {
    let Some(Job {
        work:
            Work::Exec {
                sql: first,
                alone: false,
                ..
            },
        ..
    }) = jobs.first()
    else {
        return 0;
    };
    jobs.iter()
        .zip(failed)
        .take_while(|(j, f)| {
            !**f && matches!(&j.work, Work::Exec { sql, alone: false, .. } if Arc::ptr_eq(sql, first) || **sql == **first)
        })
        .count()
}

fn exec_params(job: &Job) -> &[Param] {
    match &job.work {
        Work::Exec { params, .. } => params,
        _ => &[],
    }
}

fn panicked() -> Error {
    Error::new(
        Status::Panic,
        "the write panicked; it was rolled back and the writer lives on",
    )
}

fn backoff(waited: Duration) -> Duration {
    let ms = waited.as_millis() as u64;
    Duration::from_micros(match ms {
        0..=4 => 500,
        5..=49 => 2_000,
        _ => 10_000,
    })
}
