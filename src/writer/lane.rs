//! The writer lane: the bounded queue, leadership and hand-off — a state machine, no SQL.
//!
//! Exactly one thread at a time leads the lane: it takes groups of jobs from the queue and has
//! a [`Runner`] (the engine, in `group.rs`) run them on the write connection. A blocking
//! submitter that finds the lane idle leads it itself — no hand-off to another thread, which on
//! this class of machine costs more than a commit. Others queue and wait (yielding the CPU
//! while groups are short, parked otherwise); when a leader finishes a group it passes
//! leadership to the next blocking submitter in line (who had to be woken anyway) or to the
//! lane's own library thread (the drainer), which also runs completion callbacks and waits out
//! another process's lock. Must never acknowledge a job before its group's
//! [`Runner::run_group`] returned, never run a job twice, and never leave a queued job with
//! nobody leading.
//!
//! # Who moves what
//!
//! `State::leading` is true exactly while one thread runs groups or has been told to
//! ([`WaiterState::Lead`]) and is on its way. Every change of it happens under the state lock:
//!
//! | transition | by | when |
//! |---|---|---|
//! | `leading` false → true | a blocking submitter | it queued its job and found nobody leading: it leads at once (with nothing queued after small groups, it runs its job without queueing it: `lead_lone`) |
//! | `leading` false → true | the drainer | it finds jobs queued and nobody leading (async jobs, requeued groups) |
//! | `leading` true → false | the leader | the queue is empty, or its group met another process's lock (the drainer takes the queue back) |
//! | `leading` stays true, leader changes | the leader | it passes the lane to the blocking submitter at the front: that waiter goes Pending → Lead |
//!
//! A waiter (one per blocking submitter thread) moves:
//!
//! | transition | by | when |
//! |---|---|---|
//! | Pending → Done | the leader that ran its job | after storing its result; then the waiter is woken |
//! | Pending → Lead | the leader handing over | the waiter's job is at the front of the queue (or its transaction is) |
//! | Lead → Pending | the waiter itself | before it starts leading |
//!
//! Two rules keep transactions safe. A transaction body lives on its submitter's stack, so only
//! that thread can run it: when a transaction job reaches the front of the queue, whoever leads
//! hands the lane to its owner (`take` returns `HandTo`). And a group holding a transaction is
//! never left to the drainer when another process holds the lock: its owner waits it out
//! itself (`submitter && !owns_txn` in `group.rs`).
//!
//! Departures from DESIGN.md, and why:
//! - A leader whose own job is done may lead a few more groups (`MAX_EXTRA_GROUPS`) — unless
//!   the submitter of the next job is yielding, not parked, which then takes over (handing it
//!   the lane costs a store; leading on made every leader's own write wait for others': 4
//!   blocking writers went from 61–75k writes/s, p99 150–280 µs, to 92–94k, p99 76–79 µs, and
//!   the W4 mix gained 8 %) — and yields
//!   the CPU once when far fewer jobs are queued than the last group held (`grow_group`): on
//!   2 vCPUs the submitters a commit woke otherwise miss the next group (mean group 1.1 → 10–16).
//! - Transaction bodies run on their caller's thread, alone in their group (a body is never
//!   re-run, so it is not mixed with writes that may need to be).
//! - A queued blocking submitter waits by yielding the CPU, not parked, while groups are short
//!   (`await_result`): waking parked submitters was a third of each group's time, and the
//!   reason 4 writers ran slower than 4 plain connections.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::conn::Txn;
use super::conn::{Statement, WriteResult};
use super::queue::{Grouped, Queue};
use super::sql_text::SqlText;
use crate::error::{Error, Result, Status};
use crate::reentry::{in_callback, inside_callback};
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::value::Packed;

/// A transaction body, run by its owner thread while it leads the lane.
pub(crate) type TxnFn<'a> = dyn FnMut(&mut Txn<'_>) -> Result<()> + 'a;
/// A completion callback for a queued write.
pub(crate) type Callback = Box<dyn FnOnce(Result<WriteResult>) + Send>;

/// What a job asks the writer to do.
pub(crate) enum Work {
    /// Run SQL (one statement, or several in a savepoint); invalidate `invalidate` after the
    /// commit. `alone`: cannot run in a transaction (VACUUM, PRAGMA, ...), runs by itself.
    Exec {
        sql: SqlText,
        /// Packed into the job (see `value/packed.rs`).
        params: Packed,
        invalidate: Vec<String>,
        alone: bool,
    },
    /// Several statements as one job.
    Batch {
        statements: Vec<Statement>,
        transactional: bool,
    },
    /// A transaction body (passed to `submit_wait`, run by its owner).
    Txn,
    /// A flush: done when every job before it is.
    Barrier,
    /// A persisted `cache.invalidate:<pattern>` signal.
    Raise { pattern: Box<str> },
    /// A checkpoint that restarts the WAL (the writer's own job, `checkpoint.rs`).
    Checkpoint,
}

/// A completion without a closure: the C layer's function pointer and userdata, and the C
/// layer's own function that calls them. A queued write from C allocates nothing for its
/// callback; only the C layer knows (and converts back) what `function` points to.
pub(crate) struct RawCallback {
    pub(crate) deliver: fn(&RawCallback, Result<WriteResult>),
    pub(crate) function: *const (),
    pub(crate) userdata: *mut std::ffi::c_void,
}

// SAFETY: the C ABI requires completion callbacks and their userdata to be callable from the
// writer's thread (documented on `sw_writer_enqueue`); nothing here dereferences them.
#[allow(unsafe_code)]
unsafe impl Send for RawCallback {}

/// Who hears about a job's result.
pub(crate) enum Notify {
    /// A blocking submitter (may be handed leadership).
    Wait(Arc<Waiter>),
    /// A flush: completes in order with callbacks, never leads.
    Barrier(Arc<Waiter>),
    /// A completion callback, run on the drainer thread.
    Call(Callback),
    /// A C completion, run on the drainer thread.
    Raw(RawCallback),
    Nothing,
}

/// One queued job.
pub(crate) struct Job {
    pub(crate) work: Work,
    pub(crate) notify: Notify,
    /// When it was queued, in microseconds since the Unix epoch on the signals' monotonic
    /// clock (`signal::now_us`): latencies and timestamps are subtractions on the writer.
    pub(crate) submitted_us: i64,
    /// The operation id (`sw_writer_operations_json`): given by the lane when it accepts the
    /// job (0 until then).
    pub(crate) op: u64,
    /// Whether its per-write signals are emitted (`Sample Rate`).
    pub(crate) sampled: bool,
}

impl Job {
    /// Writes count in the statistics; flush barriers and persisted signals do not.
    pub(crate) fn is_write(&self) -> bool {
        matches!(
            self.work,
            Work::Exec { .. } | Work::Batch { .. } | Work::Txn
        )
    }

    fn is_waited_by(&self, me: Option<&Arc<Waiter>>) -> bool {
        match (&self.notify, me) {
            (Notify::Wait(w), Some(me)) => Arc::ptr_eq(w, me),
            _ => false,
        }
    }
}

impl Grouped for Job {
    fn runs_alone(&self) -> bool {
        matches!(
            self.work,
            Work::Txn | Work::Exec { alone: true, .. } | Work::Checkpoint
        )
    }
}

/// What the lane needs from whoever runs its groups (the engine; a fake in the unit tests).
pub(crate) trait Runner {
    /// Run one group on the write connection and record it (statistics, signals, operation
    /// tracking) before returning, so before anyone is woken: one result per job, in order,
    /// and when the group ended (microseconds since the Unix epoch, as
    /// [`crate::signal::now_us`]). `None` when another process holds the write lock and
    /// `submitter` is true: the lane then leaves the waiting to the drainer. `txn` is the
    /// leader's own transaction body, if its job is in the group. `started_us`: when the lane
    /// took the group (one clock reading per group).
    fn run_group(
        &self,
        jobs: &[Job],
        txn: Option<&mut TxnFn<'_>>,
        submitter: bool,
        started_us: i64,
    ) -> Option<(Vec<Result<WriteResult>>, i64)>;
    /// The drainer's periodic tick while idle (every `Invalidation Poll`, or once a second).
    /// `leading`: the drainer holds the lane for it, and may use the write connection.
    fn idle_tick(&self, leading: bool);
    /// The queue was full (`len` jobs) when a job arrived.
    fn queue_full(&self, len: usize);
    /// A submitter that waited for room got it.
    fn queue_recovered(&self, waited: Duration);
}

/// Groups a submitter may lead after its own job is acknowledged.
const MAX_EXTRA_GROUPS: usize = 8;

/// A blocking submitter waits for its result by yielding the CPU instead of parking when
/// recent groups took at most this long, for three groups' time but at most
/// [`YIELD_FOR_AT_MOST`] (see [`Lane::await_result`]).
const YIELD_WHEN_GROUPS_UNDER: Duration = Duration::from_micros(150);
const YIELD_FOR_AT_MOST: Duration = Duration::from_micros(300);

/// Where a blocking submitter is in the protocol (see the table at the top).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum WaiterState {
    /// Queued (or not submitted yet); waits.
    Pending = 0,
    /// Its result is stored: take it and return.
    Done = 1,
    /// It was handed the lane: lead, then wait again.
    Lead = 2,
}

/// Where a blocking submitter waits. One per thread, reused.
pub(crate) struct Waiter {
    state: AtomicU8,
    result: Mutex<Option<Result<WriteResult>>>,
    thread: Thread,
    /// Whether its thread is yielding in [`Lane::await_result`] (not parked): handing it the
    /// lane costs a store, not a wake-up.
    yielding: AtomicBool,
}

impl Waiter {
    pub(crate) fn new() -> Arc<Waiter> {
        Arc::new(Waiter {
            state: AtomicU8::new(WaiterState::Pending as u8),
            result: Mutex::new(None),
            thread: std::thread::current(),
            yielding: AtomicBool::new(false),
        })
    }

    /// This thread's waiter (reused), reset for a new submission: Pending, no result.
    fn own() -> Arc<Waiter> {
        let waiter = WAITER
            .try_with(Arc::clone)
            .unwrap_or_else(|_| Waiter::new());
        waiter.set_state(WaiterState::Pending);
        *waiter.result.lock() = None;
        waiter
    }

    fn state(&self) -> WaiterState {
        match self.state.load(Ordering::Acquire) {
            1 => WaiterState::Done,
            2 => WaiterState::Lead,
            _ => WaiterState::Pending,
        }
    }

    fn set_state(&self, s: WaiterState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// Store the result and publish it (Pending → Done).
    fn finish(&self, result: Result<WriteResult>) {
        *self.result.lock() = Some(result);
        self.set_state(WaiterState::Done);
    }

    /// Store the result without publishing it yet: Done is set just before the wake-up.
    fn set_result(&self, result: Result<WriteResult>) {
        *self.result.lock() = Some(result);
    }

    fn wake(&self) {
        self.thread.unpark();
    }

    /// Park until Done (or `deadline`); the result, `None` on timeout.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> Option<Result<WriteResult>> {
        loop {
            if self.state() == WaiterState::Done {
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

/// The lane's state, under one lock.
#[derive(Default)]
struct State {
    queue: Queue<Job>,
    /// One thread runs groups, or has been told to (see the table at the top).
    leading: bool,
    /// No new submissions (closing); the queue still drains.
    closing: bool,
    /// The drainer exits once nothing is left.
    stopped: bool,
    /// The drainer waits on `drainer_wake` (a notify is only needed then).
    drainer_idle: bool,
    /// Submitters waiting on `space` for room in the queue.
    space_waiters: usize,
    /// Completions for the drainer to deliver, in commit order.
    completions: VecDeque<(Notify, Result<WriteResult>)>,
    /// The last group's list, emptied, for the next group (a group allocates no list).
    spare: VecDeque<Job>,
    /// The last operation id given (see [`State::accept`]; ids start at 1).
    last_op: u64,
    /// Writes accepted so far.
    accepted_writes: u64,
}

impl State {
    /// Number `job` (unless its submitter did) and count it, under the lane's lock. The id and
    /// the count live in the state each submission locks anyway: as shared atomic counters
    /// each cost every submission a cache-line transfer between the cores (`perf annotate` of
    /// W2, 16 producers: the two increments were 2 % of all samples).
    fn accept(&mut self, job: &mut Job) {
        if job.op == 0 {
            self.last_op += 1;
            job.op = self.last_op;
        }
        if job.is_write() {
            self.accepted_writes += 1;
        }
    }
}

/// What the lane is configured with.
pub(crate) struct LaneConfig {
    /// `Queue Capacity`.
    pub(crate) capacity: usize,
    /// `Max Batch`.
    pub(crate) max_batch: usize,
    /// `Enqueue Timeout`.
    pub(crate) enqueue_timeout: Duration,
    /// `Invalidation Poll` (0: the drainer still ticks once a second).
    pub(crate) poll: Duration,
}

/// The queue and its leadership.
pub(crate) struct Lane {
    config: LaneConfig,
    state: Mutex<State>,
    space: Condvar,
    drainer_wake: Condvar,
    /// Size of the last group run (see `grow_group`).
    last_group: AtomicUsize,
    /// Recent groups' mean size × 1024, a running average (weight 1/16; see
    /// [`Lane::run_if_idle`]). The scale keeps the integer average from sticking above one
    /// write per group once groups are single again.
    mean_group_x1024: AtomicUsize,
    /// Recent groups' time from start to everyone woken, in ns (a running average; see
    /// [`Lane::await_result`]).
    group_ns: AtomicU64,
    /// Waits that yielded, and waits that parked at once (for the tests).
    #[cfg(test)]
    waits: [AtomicU64; 2],
}

/// What became of a job run by [`Lane::lead_lone`].
enum Lone {
    /// It ran: its result.
    Ran(Result<WriteResult>),
    /// It met another process's write lock and was queued for the drainer: waited for by this
    /// thread's waiter (`Some`), or with the notification taken out of `later` (`None`).
    Queued(Option<Arc<Waiter>>),
}

enum Taken {
    Empty,
    HandTo(Arc<Waiter>),
    Jobs(VecDeque<Job>),
}

impl Lane {
    pub(crate) fn new(config: LaneConfig) -> Lane {
        Lane {
            config,
            state: Mutex::new(State::default()),
            space: Condvar::new(),
            drainer_wake: Condvar::new(),
            last_group: AtomicUsize::new(0),
            mean_group_x1024: AtomicUsize::new(1024),
            group_ns: AtomicU64::new(0),
            #[cfg(test)]
            waits: Default::default(),
        }
    }

    /// Writes accepted into the queue (or run at once) so far.
    pub(crate) fn accepted_writes(&self) -> u64 {
        self.state.lock().accepted_writes
    }

    fn wake_drainer(&self, st: &State) {
        if st.drainer_idle {
            self.drainer_wake.notify_one();
        }
    }

    /// Wait for room in the queue (up to `Enqueue Timeout`), or fail.
    fn make_room<R: Runner>(
        &self,
        runner: &R,
        st: &mut MutexGuard<'_, State>,
        may_block: bool,
    ) -> Result<()> {
        if st.closing {
            return Err(Error::closed());
        }
        let cap = self.config.capacity;
        if st.queue.len() < cap {
            return Ok(());
        }
        runner.queue_full(st.queue.len());
        let full = || {
            Error::new(
                Status::QueueFull,
                format!("the write queue is full ({cap} writes) and stayed full for the Enqueue Timeout"),
            )
        };
        if !may_block || self.config.enqueue_timeout.is_zero() {
            return Err(full());
        }
        let started = Instant::now();
        let deadline = started + self.config.enqueue_timeout;
        st.space_waiters += 1;
        let outcome = loop {
            let timed_out = self.space.wait_until(st, deadline).timed_out();
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
            runner.queue_recovered(started.elapsed());
        }
        outcome
    }

    /// Queue a job whose completion runs on the drainer thread. Never blocks when called from
    /// a callback (a full queue then fails at once).
    pub(crate) fn submit_async<R: Runner>(&self, runner: &R, job: Job) -> Result<()> {
        // Asked before the lock is taken, to keep the lock short.
        let may_block = !inside_callback();
        let mut st = self.state.lock();
        self.push_async(runner, &mut st, job, may_block)
    }

    /// Queue an async job under the lane's lock: room first (waiting for it when `may_block`),
    /// then the drainer woken unless someone leads.
    fn push_async<R: Runner>(
        &self,
        runner: &R,
        st: &mut MutexGuard<'_, State>,
        job: Job,
        may_block: bool,
    ) -> Result<()> {
        self.make_room(runner, st, may_block)?;
        let mut job = job;
        st.accept(&mut job);
        st.queue.push_back(job);
        if !st.leading {
            self.wake_drainer(st);
        }
        Ok(())
    }

    /// Submit a job built by `make` (given this thread's waiter) and wait for its result,
    /// leading the lane when it is idle. MISUSE from inside a callback.
    pub(crate) fn submit_wait<R: Runner>(
        &self,
        runner: &R,
        make: impl FnOnce(Notify) -> Job,
        txn: Option<&mut TxnFn<'_>>,
    ) -> Result<WriteResult> {
        if inside_callback() {
            return Err(Error::misuse(
                "a blocking writer call from inside a transaction or callback would deadlock",
            ));
        }
        // A job that will likely run alone needs no waiter (see `lead_lone`); others get this
        // thread's before the lane's lock is taken, to keep that short.
        let likely_lone = self.last_group.load(Ordering::Relaxed) <= 2;
        let early = (!likely_lone).then(Waiter::own);
        let mut job = make(match &early {
            Some(w) => Notify::Wait(w.clone()),
            None => Notify::Nothing,
        });
        let mut txn = txn;
        let (waiter, lead_now) = {
            let mut st = self.state.lock();
            self.make_room(runner, &mut st, true)?;
            st.accept(&mut job);
            if self.lone(&st) {
                st.leading = true;
                drop(st);
                return match self.lead_lone(runner, job, txn.as_deref_mut(), &mut None) {
                    Lone::Ran(result) => result,
                    // Met another process's lock: queued for the drainer, waited for here.
                    Lone::Queued(Some(waiter)) => self.await_own(runner, &waiter, txn),
                    Lone::Queued(None) => Err(Error::new(Status::Error, "lost acknowledgement")),
                };
            }
            let waiter = early.unwrap_or_else(|| {
                let w = Waiter::own();
                job.notify = Notify::Wait(w.clone());
                w
            });
            st.queue.push_back(job);
            (waiter, !std::mem::replace(&mut st.leading, true))
        };
        if lead_now {
            self.lead(runner, Some(&waiter), txn.as_deref_mut(), &mut None);
        }
        self.await_own(runner, &waiter, txn)
    }

    /// Whether a job submitted now would make a group of one, run as soon as it is queued:
    /// nobody leads, nothing is queued, and the last group was too small for
    /// [`grow_group`](Lane::grow_group) to wait for more.
    fn lone(&self, st: &State) -> bool {
        !st.leading && st.queue.is_empty() && self.last_group.load(Ordering::Relaxed) <= 2
    }

    /// Run `job`, this thread's own, as a group of one on the lane this thread just took
    /// ([`Lane::lone`] held): what [`Lane::lead`] does with a queue of that one job, without
    /// queueing it (no lock, no moves of the job, no result passed through a waiter: the job
    /// needs none). Writes queued meanwhile are led on as by a leader whose own job is done.
    /// When the group meets another process's write lock, the job is queued for the drainer,
    /// with the notification taken out of `later` when it holds one (as [`Lane::lead`] does),
    /// else waited for by this thread's waiter.
    fn lead_lone<R: Runner>(
        &self,
        runner: &R,
        mut job: Job,
        txn: Option<&mut TxnFn<'_>>,
        later: &mut Option<Notify>,
    ) -> Lone {
        self.note_group_size(1);
        let started_us = crate::signal::now_us();
        let Some((results, done_us)) =
            runner.run_group(std::slice::from_ref(&job), txn, true, started_us)
        else {
            let waiter = match later.take() {
                Some(notify) => {
                    job.notify = notify;
                    None
                }
                None => match &job.notify {
                    Notify::Wait(w) => Some(w.clone()),
                    _ => {
                        let w = Waiter::own();
                        job.notify = Notify::Wait(w.clone());
                        Some(w)
                    }
                },
            };
            let mut st = self.state.lock();
            st.queue.push_front(job);
            st.leading = false;
            self.drainer_wake.notify_one();
            return Lone::Queued(waiter);
        };
        self.note_group_time(done_us - started_us);
        drop(job);
        let result = results
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(Error::new(Status::Error, "write did not run")));
        {
            let mut st = self.state.lock();
            if st.queue.is_empty() {
                st.leading = false;
                return Lone::Ran(result);
            }
        }
        // This thread's waiter, referred to by none of the queued jobs.
        self.lead_from(runner, Some(&Waiter::own()), None, later, 1);
        Lone::Ran(result)
    }

    /// Run a job built by `make` on this thread when the lane is idle (nobody leads, nothing
    /// is queued) and recent groups held one write each (a lone writer), as
    /// [`Lane::submit_wait`] does when it finds the lane idle. For callers that have somewhere
    /// better to wait than a blocked thread (an awaited write in .NET).
    ///
    /// When it would have to wait for others or join their groups, or this thread is inside a
    /// callback (where it may not wait): `None`, and the job is queued with `later` (as
    /// [`Lane::submit_async`] queues it; an error if it cannot be), or, without `later`,
    /// nothing is queued. With `later`, a job that started here but met another process's
    /// write lock is queued with `later` as well (`None`): the drainer waits for that lock, not
    /// this thread. Without it, this thread waits for it, as [`Lane::submit_wait`] does.
    pub(crate) fn run_if_idle<R: Runner>(
        &self,
        runner: &R,
        make: impl FnOnce(Notify) -> Job,
        mut later: Option<Notify>,
    ) -> Option<Result<WriteResult>> {
        let in_callback = inside_callback();
        let waiter = {
            let mut st = self.state.lock();
            if st.closing {
                return Some(Err(Error::closed()));
            }
            // Also while recent groups held more than one write (on average over about the
            // last 16, above 1.125): others write concurrently, and writes run here at once
            // would each make a group of their own (async callers on few cores take turns
            // finding the lane idle: .NET W1 with 16 producers fell from 218k to 82k writes/s,
            // 1.3 writes per commit, when only the lane's state was asked). Queued, a write
            // joins their group.
            if in_callback
                || st.leading
                || !st.queue.is_empty()
                || self.mean_group_x1024.load(Ordering::Relaxed) > 1024 + 128
            {
                let job = make(later.take()?);
                return self
                    .push_async(runner, &mut st, job, !in_callback)
                    .err()
                    .map(Err);
            }
            let lone = self.lone(&st);
            st.leading = true;
            if lone {
                let mut job = make(Notify::Nothing);
                st.accept(&mut job);
                drop(st);
                return match self.lead_lone(runner, job, None, &mut later) {
                    Lone::Ran(result) => Some(result),
                    Lone::Queued(Some(waiter)) => Some(self.await_own(runner, &waiter, None)),
                    // Met another process's lock: queued with `later`, left to the drainer.
                    Lone::Queued(None) => None,
                };
            }
            // Only now: inside a transaction body this thread's waiter is its own submission's.
            let waiter = Waiter::own();
            let mut job = make(Notify::Wait(waiter.clone()));
            st.accept(&mut job);
            st.queue.push_back(job);
            waiter
        };
        let offered = later.is_some();
        self.lead(runner, Some(&waiter), None, &mut later);
        if offered && later.is_none() {
            // Met another process's lock: queued with `later`, left to the drainer.
            return None;
        }
        Some(self.await_own(runner, &waiter, None))
    }

    /// The end of a blocking submission: wait for `waiter`'s result, leading when handed the
    /// lane.
    fn await_own<R: Runner>(
        &self,
        runner: &R,
        waiter: &Arc<Waiter>,
        mut txn: Option<&mut TxnFn<'_>>,
    ) -> Result<WriteResult> {
        loop {
            match waiter.state() {
                WaiterState::Done => {
                    return waiter
                        .result
                        .lock()
                        .take()
                        .unwrap_or_else(|| Err(Error::new(Status::Error, "lost acknowledgement")))
                }
                WaiterState::Lead => {
                    waiter.set_state(WaiterState::Pending);
                    self.lead(runner, Some(waiter), txn.as_deref_mut(), &mut None);
                }
                WaiterState::Pending => self.await_result(waiter),
            }
        }
    }

    /// Wait, as a queued blocking submitter, until `waiter` leaves Pending (or spuriously).
    ///
    /// When recent groups were short ([`YIELD_WHEN_GROUPS_UNDER`]), the wait yields the CPU in
    /// a loop, for about three groups' time, before it parks. Waking a parked thread is
    /// the most expensive step of a group on this class of machine: measured in the W4 mix on
    /// 2 vCPUs, each wake cost the leader 8.5 µs of CPU in the futex call and 11 µs more
    /// preempted, a third of the group's time, and a longer group makes more followers to
    /// wake. A follower that yields is not parked, so the leader's wake is an atomic store,
    /// and the CPU it yields serves the application's other threads (or the leader) in the
    /// meantime. Groups that take longer (Synchronous=FULL waits for the disk) park at once:
    /// yielding through a millisecond fsync only burned CPU (W1, 16 writers, FULL: same
    /// writes/s for 80 % more CPU).
    fn await_result(&self, waiter: &Waiter) {
        let group = Duration::from_nanos(self.group_ns.load(Ordering::Relaxed));
        let yields = group <= YIELD_WHEN_GROUPS_UNDER;
        #[cfg(test)]
        self.waits[usize::from(!yields)].fetch_add(1, Ordering::Relaxed);
        if yields {
            let budget = (group * 3).clamp(Duration::from_micros(20), YIELD_FOR_AT_MOST);
            let started = Instant::now();
            waiter.yielding.store(true, Ordering::Relaxed);
            while waiter.state() == WaiterState::Pending {
                if started.elapsed() >= budget {
                    break;
                }
                std::thread::yield_now();
            }
            waiter.yielding.store(false, Ordering::Relaxed);
            if waiter.state() != WaiterState::Pending {
                return;
            }
        }
        std::thread::park();
    }

    /// Fold one group's time (microseconds) into the running average (weight 1/8).
    fn note_group_time(&self, took_us: i64) {
        let ns = (took_us.max(0) as u64).saturating_mul(1_000);
        let old = self.group_ns.load(Ordering::Relaxed);
        let new = if old == 0 { ns } else { old - old / 8 + ns / 8 };
        self.group_ns.store(new, Ordering::Relaxed);
    }

    /// The next group: jobs that run alone are taken alone, others up to `Max Batch` together.
    /// A transaction at the front that is not `me`'s goes to its owner instead.
    fn take(&self, st: &mut State, me: Option<&Arc<Waiter>>) -> Taken {
        let Some(front) = st.queue.front() else {
            return Taken::Empty;
        };
        if matches!(front.work, Work::Txn) && !front.is_waited_by(me) {
            if let Notify::Wait(w) = &front.notify {
                return Taken::HandTo(w.clone());
            }
        }
        let mut jobs = std::mem::take(&mut st.spare);
        st.queue.take_group(self.config.max_batch, &mut jobs);
        self.made_room(st);
        Taken::Jobs(jobs)
    }

    /// Keep an emptied group list for the next group when it is larger than the one kept, at
    /// most twice `Max Batch` in size: a group can be handed the queue's own list
    /// ([`Queue::take_group`]), which an overload may have grown to `Queue Capacity`.
    fn keep_spare(&self, st: &mut State, list: &mut VecDeque<Job>) {
        debug_assert!(list.is_empty());
        if list.capacity() > st.spare.capacity() {
            list.shrink_to(2 * self.config.max_batch);
            st.spare = std::mem::take(list);
        }
    }

    /// Wake the submitters waiting for room, after jobs left the queue.
    fn made_room(&self, st: &State) {
        if st.space_waiters > 0 {
            self.space.notify_all();
        }
    }

    /// When far fewer jobs are queued than the last group held, the submitters the last commit
    /// woke are still on their way back (on a machine with fewer cores than submitters they
    /// wait for a CPU). Yield the CPU once so they can queue, and take them into this group: a
    /// commit costs far more than a yield. No timed wait is ever added.
    fn grow_group(&self, mut jobs: VecDeque<Job>) -> VecDeque<Job> {
        let last = self.last_group.load(Ordering::Relaxed);
        let alone = jobs.front().is_some_and(Job::runs_alone);
        if !alone && jobs.len() * 2 < last && jobs.len() < self.config.max_batch {
            std::thread::yield_now();
            let mut st = self.state.lock();
            st.queue.take_more(self.config.max_batch, &mut jobs);
            self.made_room(&st);
        }
        self.note_group_size(jobs.len());
        jobs
    }

    /// Note the size of a group about to run (see `last_group`, `mean_group_x1024`).
    fn note_group_size(&self, n: usize) {
        self.last_group.store(n, Ordering::Relaxed);
        let mean = self.mean_group_x1024.load(Ordering::Relaxed);
        let n = n.min(1 << 16) * 1024;
        self.mean_group_x1024
            .store(mean - mean / 16 + n / 16, Ordering::Relaxed);
    }

    /// Lead the lane. `me` is the leading submitter's waiter (None for the drainer); a
    /// submitter leads until its own job is acknowledged (and a few groups more), the drainer
    /// until the queue is empty. When a group meets another process's lock and `later` holds a
    /// notification, `me`'s job goes back to the queue with it (taken out of `later`) instead
    /// of with `me` waiting for it ([`Lane::run_if_idle`]).
    fn lead<R: Runner>(
        &self,
        runner: &R,
        me: Option<&Arc<Waiter>>,
        txn: Option<&mut TxnFn<'_>>,
        later: &mut Option<Notify>,
    ) {
        self.lead_from(runner, me, txn, later, 0);
    }

    /// [`Lane::lead`] by a submitter that already led `done` groups since its own job was
    /// acknowledged (its own group counts; 0: its job is still to run).
    fn lead_from<R: Runner>(
        &self,
        runner: &R,
        me: Option<&Arc<Waiter>>,
        mut txn: Option<&mut TxnFn<'_>>,
        later: &mut Option<Notify>,
        done: usize,
    ) {
        let drainer = me.is_none();
        let mut extra_groups = done;
        let mut own_done = done > 0;
        let mut spare = VecDeque::new();
        loop {
            let taken = {
                let mut st = self.state.lock();
                self.keep_spare(&mut st, &mut spare);
                // A submitter whose own job is done passes the lane to the next one while that
                // one is yielding, not parked: it takes over at the cost of a store, and its
                // group runs on its own thread while this one returns to its caller.
                if own_done && !drainer {
                    if let Some(next) = Self::yielding_front(&st) {
                        next.set_state(WaiterState::Lead);
                        drop(st);
                        next.wake();
                        return;
                    }
                }
                match self.take(&mut st, me) {
                    Taken::Empty => {
                        st.leading = false;
                        return;
                    }
                    Taken::HandTo(w) => {
                        // `leading` stays true: it passes to the transaction's owner.
                        w.set_state(WaiterState::Lead);
                        drop(st);
                        w.wake();
                        return;
                    }
                    Taken::Jobs(jobs) => jobs,
                }
            };
            let mut taken = self.grow_group(taken);
            let started_us = crate::signal::now_us();
            let Some((results, done_us)) = runner.run_group(
                taken.make_contiguous(),
                txn.as_deref_mut(),
                !drainer,
                started_us,
            ) else {
                // Another process holds the lock: the drainer waits for it.
                let mut st = self.state.lock();
                for mut job in taken.into_iter().rev() {
                    if later.is_some() && job.is_waited_by(me) {
                        job.notify = later.take().expect("checked above");
                    }
                    st.queue.push_front(job);
                }
                st.leading = false;
                self.drainer_wake.notify_one();
                return;
            };
            own_done |= taken.iter().any(|j| j.is_waited_by(me));
            // A submitter whose job is done may lead a few more groups before passing the lane
            // on: each pass costs a thread switch in which nothing commits.
            let keep = drainer || !own_done || extra_groups < MAX_EXTRA_GROUPS;
            if own_done {
                extra_groups += 1;
            }
            self.note_group_time(done_us - started_us);
            let still_leading;
            (still_leading, spare) = self.finish_group(taken, results, me, keep);
            if !still_leading {
                return;
            }
        }
    }

    /// The waiter of the job at the front of the queue when it is a blocking submitter
    /// yielding in [`Lane::await_result`] (not parked).
    fn yielding_front(st: &State) -> Option<Arc<Waiter>> {
        match st.queue.front().map(|j| &j.notify) {
            Some(Notify::Wait(w)) if w.yielding.load(Ordering::Relaxed) => Some(w.clone()),
            _ => None,
        }
    }

    /// Deliver a group's (recorded) results: pass the lane on when `keep` is false (or the
    /// queue is empty), then wake the waiters; callbacks and flushes go to the drainer in order
    /// (the drainer runs them itself). Returns whether this thread still leads, and the
    /// group's list emptied when it is not kept in the lane already.
    fn finish_group(
        &self,
        mut jobs: VecDeque<Job>,
        results: Vec<Result<WriteResult>>,
        me: Option<&Arc<Waiter>>,
        keep: bool,
    ) -> (bool, VecDeque<Job>) {
        let drainer = me.is_none();
        // Allocated only when another submitter is to be woken (not for a lone write).
        let mut wake = Vec::new();
        // Allocated only for completions (not for blocking writes).
        let mut deferred = Vec::new();
        let n = jobs.len();
        // Each job's notification is taken out of it in place (a job is moved no further).
        for (job, result) in jobs.iter_mut().zip(results) {
            match std::mem::replace(&mut job.notify, Notify::Nothing) {
                Notify::Wait(w) if me.is_some_and(|m| Arc::ptr_eq(m, &w)) => w.finish(result),
                Notify::Wait(w) => {
                    w.set_result(result);
                    wake.push(w);
                }
                Notify::Nothing => {}
                other => {
                    if deferred.capacity() == 0 {
                        deferred.reserve_exact(n);
                    }
                    deferred.push((other, result))
                }
            }
        }
        let mut still_leading = true;
        let mut next_leader = None;
        // The drainer delivers its own group's completions below, after earlier groups'.
        if !drainer {
            // The jobs are dropped outside the lane's lock (a submitter's groups are small);
            // their list is kept for the next group.
            jobs.clear();
            let mut st = self.state.lock();
            self.keep_spare(&mut st, &mut jobs);
            st.completions.extend(deferred.drain(..));
            if !keep || st.queue.is_empty() {
                // Pass the lane on before waking anyone, so the next group starts at once.
                still_leading = false;
                match st.queue.front().map(|j| &j.notify) {
                    Some(Notify::Wait(w)) => {
                        w.set_state(WaiterState::Lead);
                        next_leader = Some(w.clone());
                    }
                    _ => st.leading = false,
                }
            }
            if !st.completions.is_empty() || (!st.leading && !st.queue.is_empty()) {
                self.wake_drainer(&st);
            }
        }
        if let Some(w) = next_leader {
            w.wake();
        }
        for w in wake {
            w.set_state(WaiterState::Done);
            w.wake();
        }
        if drainer {
            // Earlier groups' completions first, then this group's (while the drainer leads,
            // no other group can add any).
            self.deliver_completions();
            Self::deliver(deferred);
            jobs.clear();
        }
        (still_leading, jobs)
    }

    /// Run queued completions on this (the drainer) thread, in order.
    fn deliver_completions(&self) {
        loop {
            let batch = {
                let mut st = self.state.lock();
                if st.completions.is_empty() {
                    return;
                }
                std::mem::take(&mut st.completions)
            };
            Self::deliver(batch);
        }
    }

    /// Run completions on this (the drainer) thread, in order, all marked as inside a
    /// callback (one mark for the batch, not one per completion).
    fn deliver(batch: impl IntoIterator<Item = (Notify, Result<WriteResult>)>) {
        in_callback(|| {
            for (notify, result) in batch {
                match notify {
                    Notify::Call(cb) => {
                        let _ = catch_unwind(AssertUnwindSafe(|| cb(result)));
                    }
                    Notify::Raw(r) => {
                        let _ = catch_unwind(AssertUnwindSafe(|| (r.deliver)(&r, result)));
                    }
                    Notify::Barrier(w) | Notify::Wait(w) => {
                        w.finish(result);
                        w.wake();
                    }
                    Notify::Nothing => {}
                }
            }
        })
    }

    /// The drainer thread's body: leads when no submitter does, delivers completions, waits
    /// out foreign locks, ticks the runner while idle. Returns after `stop_drainer` once
    /// nothing is left.
    pub(crate) fn drain<R: Runner>(&self, runner: &R) {
        let poll = self.config.poll;
        let mut st = self.state.lock();
        loop {
            if !st.completions.is_empty() {
                drop(st);
                self.deliver_completions();
                st = self.state.lock();
                continue;
            }
            if !st.leading && !st.queue.is_empty() {
                st.leading = true;
                drop(st);
                self.lead(runner, None, None, &mut None);
                st = self.state.lock();
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
            let timed_out = self.drainer_wake.wait_for(&mut st, timeout).timed_out();
            st.drainer_idle = false;
            if !timed_out {
                continue;
            }
            // Idle: hold the lane for the tick when nobody else wants it.
            let lead = !poll.is_zero() && !st.leading && st.queue.is_empty() && !st.stopped;
            if lead {
                st.leading = true;
            }
            drop(st);
            runner.idle_tick(lead);
            st = self.state.lock();
            if lead {
                st.leading = false;
            }
        }
    }

    /// The first `limit` queued jobs, passed to `f`.
    pub(crate) fn with_queued<T>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &Job>) -> T) -> T {
        let st = self.state.lock();
        let mut queued = st.queue.iter();
        f(&mut queued)
    }

    /// Put one of the writer's own jobs first in line (never refused: it is not a caller's).
    pub(crate) fn push_front(&self, mut job: Job) {
        let mut st = self.state.lock();
        st.accept(&mut job);
        st.queue.push_front(job);
        if !st.leading {
            self.wake_drainer(&st);
        }
    }

    /// Stop the drainer once the queue is empty.
    pub(crate) fn stop_drainer(&self) {
        let mut st = self.state.lock();
        st.stopped = true;
        self.drainer_wake.notify_one();
    }

    /// Begin closing: later submissions get `SW_STATUS_CLOSED`.
    pub(crate) fn begin_close(&self) {
        let mut st = self.state.lock();
        st.closing = true;
        self.space.notify_all();
    }

    /// Queue a flush barrier; `while_closing` lets close queue its own.
    pub(crate) fn barrier<R: Runner>(
        &self,
        runner: &R,
        mut job: Job,
        while_closing: bool,
    ) -> Result<()> {
        let mut st = self.state.lock();
        if !while_closing {
            self.make_room(runner, &mut st, true)?;
        }
        st.accept(&mut job);
        st.queue.push_back(job);
        if !st.leading {
            // Notified even when not idle yet: the drainer may be about to wait.
            self.drainer_wake.notify_one();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A runner without SQLite: records which jobs ran, in which groups, on which threads.
    #[derive(Default)]
    struct Fake {
        /// (op, group number) of every job run.
        ran: Mutex<Vec<(u64, u64)>>,
        groups: AtomicU64,
        /// How many more groups meet "another process's lock" (for submitters).
        foreign_lock: AtomicU64,
        /// Groups that met it.
        met_foreign: AtomicU64,
        /// Sleep in each group (a slow commit).
        group_time: Duration,
        recorded: AtomicU64,
        ticks: AtomicU64,
        full: AtomicU64,
        /// While set, a group waits before it runs (the test holds the lane).
        hold: AtomicBool,
        /// (op, thread) of every job run.
        threads: Mutex<Vec<(u64, std::thread::ThreadId)>>,
    }

    impl Runner for Fake {
        fn run_group(
            &self,
            jobs: &[Job],
            txn: Option<&mut TxnFn<'_>>,
            submitter: bool,
            _started_us: i64,
        ) -> Option<(Vec<Result<WriteResult>>, i64)> {
            if submitter
                && self
                    .foreign_lock
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
            {
                self.met_foreign.fetch_add(1, Ordering::AcqRel);
                return None;
            }
            let g = self.groups.fetch_add(1, Ordering::AcqRel);
            while self.hold.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            std::thread::sleep(self.group_time);
            let here = std::thread::current().id();
            self.threads
                .lock()
                .extend(jobs.iter().map(|j| (j.op, here)));
            let mut ran = self.ran.lock();
            let mut txn = txn;
            let results: Vec<_> = jobs
                .iter()
                .map(|j| {
                    ran.push((j.op, g));
                    if matches!(j.work, Work::Txn) {
                        // Only the owner leads a group holding its transaction.
                        assert!(txn.take().is_some(), "a transaction ran without its body");
                    }
                    Ok(WriteResult {
                        rows_affected: j.op as i64,
                        last_insert_rowid: g as i64,
                    })
                })
                .collect();
            self.recorded.fetch_add(jobs.len() as u64, Ordering::AcqRel);
            Some((results, crate::signal::now_us()))
        }
        fn idle_tick(&self, _leading: bool) {
            self.ticks.fetch_add(1, Ordering::AcqRel);
        }
        fn queue_full(&self, _len: usize) {
            self.full.fetch_add(1, Ordering::AcqRel);
        }
        fn queue_recovered(&self, _waited: Duration) {}
    }

    static OP: AtomicU64 = AtomicU64::new(1);

    /// A fake runner whose groups each take `group_time` (a slow commit).
    fn slow_fake(group_time: Duration) -> Arc<Fake> {
        Arc::new(Fake {
            group_time,
            ..Fake::default()
        })
    }

    fn job(work: Work, notify: Notify) -> Job {
        Job {
            work,
            notify,
            submitted_us: crate::signal::now_us(),
            op: OP.fetch_add(1, Ordering::Relaxed),
            sampled: false,
        }
    }

    fn exec() -> Work {
        Work::Exec {
            sql: SqlText::from("x"),
            params: Packed::new(),
            invalidate: vec![],
            alone: false,
        }
    }

    fn lane(capacity: usize, max_batch: usize) -> Arc<Lane> {
        Arc::new(Lane::new(LaneConfig {
            capacity,
            max_batch,
            enqueue_timeout: Duration::from_millis(200),
            poll: Duration::from_millis(5),
        }))
    }

    /// Run `body` with a drainer thread for `lane`; stop and join it afterwards.
    fn with_drainer<T>(lane: &Arc<Lane>, fake: &Arc<Fake>, body: impl FnOnce() -> T) -> T {
        let (l, f) = (lane.clone(), fake.clone());
        let drainer = std::thread::spawn(move || l.drain(&*f));
        let out = body();
        lane.stop_drainer();
        drainer.join().unwrap();
        out
    }

    #[test]
    fn a_lone_blocking_submitter_runs_its_own_group_on_its_own_thread() {
        let (lane, fake) = (lane(16, 8), Arc::new(Fake::default()));
        // No drainer at all: the submitter must lead itself.
        let r = lane.submit_wait(&*fake, |n| job(exec(), n), None).unwrap();
        assert_eq!(fake.groups.load(Ordering::Acquire), 1);
        assert!(r.rows_affected > 0);
        assert!(!lane.state.lock().leading, "the lane is idle again");
    }

    #[test]
    fn only_a_submitter_after_small_groups_runs_its_job_without_queueing_it() {
        let (lane, fake) = (lane(16, 8), Arc::new(Fake::default()));
        assert!(
            lane.lone(&lane.state.lock()),
            "an idle lane after no groups"
        );
        // After a larger group, submitters the commit woke are on their way back: the next one
        // goes through the queue, where `grow_group` waits for them once.
        lane.note_group_size(3);
        assert!(!lane.lone(&lane.state.lock()));
        lane.note_group_size(2);
        assert!(lane.lone(&lane.state.lock()));
        lane.state
            .lock()
            .queue
            .push_back(job(exec(), Notify::Nothing));
        assert!(!lane.lone(&lane.state.lock()), "a queued job goes first");
        lane.state.lock().queue.clear();
        lane.state.lock().leading = true;
        assert!(!lane.lone(&lane.state.lock()), "somebody leads");
        lane.state.lock().leading = false;
        // Run without queueing: the job's result comes back directly, acknowledged once.
        let r = lane.submit_wait(&*fake, |n| job(exec(), n), None).unwrap();
        assert!(r.rows_affected > 0);
        assert_eq!(fake.recorded.load(Ordering::Acquire), 1);
        assert!(!lane.state.lock().leading && lane.state.lock().queue.is_empty());
    }

    #[test]
    fn groups_take_the_queue_in_order_and_an_overloads_list_is_not_kept_at_its_size() {
        let (lane, fake) = (lane(4096, 8), Arc::new(Fake::default()));
        // Queued while nobody drains: the queue's list grows to 1,000 jobs, then drains in
        // groups of 8, the last of which is handed the queue's list itself.
        let first = OP.load(Ordering::Relaxed);
        for _ in 0..1000 {
            lane.submit_async(&*fake, job(exec(), Notify::Nothing))
                .unwrap();
        }
        with_drainer(&lane, &fake, || {});
        let ran = fake.ran.lock().clone();
        assert_eq!(ran.len(), 1000);
        let mut sizes = std::collections::BTreeMap::new();
        for (i, (op, group)) in ran.iter().enumerate() {
            assert!(
                *op >= first && *op - first == i as u64,
                "out of order at {i}"
            );
            *sizes.entry(*group).or_insert(0) += 1;
        }
        assert!(sizes.values().all(|&n| n <= 8), "a group above Max Batch");
        let st = lane.state.lock();
        assert!(st.queue.is_empty());
        assert!(
            st.spare.capacity() <= 16,
            "kept a list of {} jobs",
            st.spare.capacity()
        );
    }

    /// `threads` submitters run `each` blocking jobs through groups that take `group_time`;
    /// every job runs once and its submitter gets its own result. Returns the lane's waits
    /// (yielded, parked at once).
    fn blocking_jobs_run_once(group_time: Duration, threads: usize, each: usize) -> [u64; 2] {
        // Groups take time, like commits: submitters arriving meanwhile share the next one.
        let (lane, fake) = (lane(1024, 16), slow_fake(group_time));
        with_drainer(&lane, &fake, || {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        for _ in 0..each {
                            let mut mine = 0;
                            let r = lane
                                .submit_wait(
                                    &*fake,
                                    |n| {
                                        let j = job(exec(), n);
                                        mine = j.op;
                                        j
                                    },
                                    None,
                                )
                                .unwrap();
                            assert_eq!(r.rows_affected, mine as i64, "someone else's result");
                        }
                    });
                }
            });
        });
        let total = threads * each;
        let ran = fake.ran.lock();
        assert_eq!(ran.len(), total);
        let mut ops: Vec<u64> = ran.iter().map(|(op, _)| *op).collect();
        ops.sort_unstable();
        ops.dedup();
        assert_eq!(ops.len(), total, "a job ran twice");
        assert_eq!(fake.recorded.load(Ordering::Acquire), total as u64);
        assert!(
            fake.groups.load(Ordering::Acquire) < total as u64,
            "jobs were grouped ({} groups)",
            fake.groups.load(Ordering::Acquire)
        );
        [0, 1].map(|i| lane.waits[i].load(Ordering::Relaxed))
    }

    #[test]
    fn every_blocking_job_runs_exactly_once_and_its_submitter_gets_its_own_result() {
        // Short groups: queued submitters wait by yielding.
        let [yielded, _] = blocking_jobs_run_once(Duration::from_micros(20), 8, 200);
        assert!(yielded > 0, "no submitter waited by yielding");
        // Groups as slow as an fsync: queued submitters park at once, never yield.
        let [yielded, parked] = blocking_jobs_run_once(Duration::from_millis(1), 8, 20);
        assert!(parked > 0, "no submitter parked");
        // Only waits before the first group was timed may yield: one per thread, twice with
        // a spurious wake-up (of 160 waits, all would yield if 1 ms counted as short).
        assert!(yielded <= 16, "{yielded} waits yielded through 1 ms groups");
    }

    /// Queue a flush barrier on `lane` and wait for it (at most 20 s): whether it finished.
    fn flush(lane: &Lane, fake: &Fake) -> bool {
        let w = Waiter::new();
        lane.barrier(fake, job(Work::Barrier, Notify::Barrier(w.clone())), false)
            .unwrap();
        w.wait_until(Some(Instant::now() + Duration::from_secs(20)))
            .is_some()
    }

    /// A completion that sends its result (and the thread it ran on) to `tx`.
    fn sending(tx: &std::sync::mpsc::Sender<(bool, std::thread::ThreadId)>) -> Notify {
        let tx = tx.clone();
        Notify::Call(Box::new(move |r| {
            let _ = tx.send((r.is_ok(), std::thread::current().id()));
        }))
    }

    /// A completion that counts into `count`: 1 for a success, 1 << 32 for a failure (counted,
    /// not asserted: a panic in a completion is caught).
    fn counting(count: &Arc<AtomicU64>) -> Notify {
        let count = count.clone();
        Notify::Call(Box::new(move |r| {
            let n = if r.is_ok() { 1 } else { 1 << 32 };
            count.fetch_add(n, Ordering::AcqRel);
        }))
    }

    #[test]
    fn run_if_idle_with_a_later_completion_queues_instead_of_waiting() {
        let (lane, fake) = (lane(1024, 64), Arc::new(Fake::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let me = std::thread::current().id();
        // Idle: it runs here; the completion is dropped uncalled.
        let ran = lane.run_if_idle(&*fake, |n| job(exec(), n), Some(sending(&tx)));
        assert!(ran.is_some_and(|r| r.is_ok()));
        // Another process's lock: no drainer runs yet, so had this thread waited for the lock
        // it would wait forever. It returns with the job queued under the completion instead.
        fake.foreign_lock.store(1, Ordering::Release);
        assert!(lane
            .run_if_idle(&*fake, |n| job(exec(), n), Some(sending(&tx)))
            .is_none());
        assert_eq!(fake.ran.lock().len(), 1, "not run yet");
        // Busy (a job queued, nobody leading): queued behind it under its completion.
        assert!(lane
            .run_if_idle(&*fake, |n| job(exec(), n), Some(sending(&tx)))
            .is_none());
        with_drainer(&lane, &fake, || {
            for _ in 0..2 {
                let (ok, on) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
                assert!(ok);
                assert_ne!(on, me, "completions run on the drainer");
            }
        });
        assert!(
            rx.try_recv().is_err(),
            "each completion ran once, the first none"
        );
        assert_eq!(fake.ran.lock().len(), 3);
        // Without one, the foreign lock is waited out as before (by the drainer here).
        fake.foreign_lock.store(1, Ordering::Release);
        let r = with_drainer(&lane, &fake, || {
            lane.run_if_idle(&*fake, |n| job(exec(), n), None)
        });
        assert!(r.is_some_and(|r| r.is_ok()));
        assert_eq!(fake.ran.lock().len(), 4);
    }

    #[test]
    fn run_if_idle_runs_alone_on_an_idle_lane_and_declines_while_others_write() {
        let (lane, fake) = (lane(100_000, 64), Arc::new(Fake::default()));
        // Idle, nothing written yet: it runs on this thread.
        assert!(lane
            .run_if_idle(&*fake, |n| job(exec(), n), None)
            .unwrap()
            .is_ok());
        // Others writing: queued before the drainer starts, so it takes them in groups of 64.
        for _ in 0..2000 {
            lane.submit_async(&*fake, job(exec(), Notify::Nothing))
                .unwrap();
        }
        with_drainer(&lane, &fake, || {
            // Declined, nothing queued, even once the lane is idle again.
            assert!(flush(&lane, &fake), "the flush finished");
            let ran = fake.ran.lock().len();
            assert!(lane.run_if_idle(&*fake, |n| job(exec(), n), None).is_none());
            assert_eq!(fake.ran.lock().len(), ran, "a declined job is not run");
            // Lone writes again (groups of one): it runs here again within a few dozen.
            let mut alone = 0;
            while lane.run_if_idle(&*fake, |n| job(exec(), n), None).is_none() {
                assert!(lane.submit_wait(&*fake, |n| job(exec(), n), None).is_ok());
                alone += 1;
                assert!(alone < 200, "still declined after {alone} lone writes");
            }
        });
    }

    #[test]
    fn async_completions_run_once_in_order_on_the_drainer() {
        let (lane, fake) = (lane(100_000, 64), Arc::new(Fake::default()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        with_drainer(&lane, &fake, || {
            for i in 0..2000u64 {
                let seen = seen.clone();
                lane.submit_async(
                    &*fake,
                    job(
                        exec(),
                        Notify::Call(Box::new(move |r| {
                            seen.lock()
                                .push((i, r.is_ok(), std::thread::current().id()));
                        })),
                    ),
                )
                .unwrap();
            }
            assert!(flush(&lane, &fake), "the flush finished");
        });
        // (Asserting inside a callback would prove nothing: its panic is caught.)
        let seen = seen.lock();
        let order: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(
            order,
            (0..2000).collect::<Vec<_>>(),
            "every callback, once, in order"
        );
        assert!(seen.iter().all(|s| s.1), "every write succeeded");
        let threads: std::collections::HashSet<_> = seen.iter().map(|s| s.2).collect();
        assert_eq!(threads.len(), 1, "callbacks on one thread");
        assert_ne!(
            seen[0].2,
            std::thread::current().id(),
            "callbacks on the drainer"
        );
    }

    #[test]
    fn a_group_that_meets_a_foreign_lock_is_left_to_the_drainer() {
        let (lane, fake) = (lane(16, 8), Arc::new(Fake::default()));
        fake.foreign_lock.store(3, Ordering::Release);
        let r = with_drainer(&lane, &fake, || {
            lane.submit_wait(&*fake, |n| job(exec(), n), None)
        });
        assert!(r.is_ok());
        assert_eq!(fake.ran.lock().len(), 1);
    }

    #[test]
    fn a_transaction_is_run_by_its_owner_even_when_another_thread_leads() {
        let (lane, fake) = (lane(1024, 16), Arc::new(Fake::default()));
        with_drainer(&lane, &fake, || {
            std::thread::scope(|s| {
                for t in 0..6 {
                    let (lane, fake) = (&lane, &fake);
                    s.spawn(move || {
                        for _ in 0..300 {
                            if t % 2 == 0 {
                                let mut body = |_: &mut Txn<'_>| -> Result<()> { Ok(()) };
                                lane.submit_wait(&**fake, |n| job(Work::Txn, n), Some(&mut body))
                                    .unwrap();
                            } else {
                                lane.submit_wait(&**fake, |n| job(exec(), n), None).unwrap();
                            }
                        }
                    });
                }
            });
        });
        assert_eq!(fake.ran.lock().len(), 1800);
    }

    #[test]
    fn a_full_queue_fails_at_once_from_a_callback_and_after_the_timeout_otherwise() {
        let (lane, fake) = (lane(2, 8), Arc::new(Fake::default()));
        // No drainer: nothing takes the jobs.
        lane.submit_async(&*fake, job(exec(), Notify::Nothing))
            .unwrap();
        lane.submit_async(&*fake, job(exec(), Notify::Nothing))
            .unwrap();
        let started = Instant::now();
        let e = lane
            .submit_async(&*fake, job(exec(), Notify::Nothing))
            .unwrap_err();
        assert_eq!(e.status(), Status::QueueFull);
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "waited the Enqueue Timeout"
        );
        let e = in_callback(|| {
            lane.submit_async(&*fake, job(exec(), Notify::Nothing))
                .unwrap_err()
        });
        assert_eq!(e.status(), Status::QueueFull);
        assert_eq!(fake.full.load(Ordering::Acquire), 2);
        // A blocking submitter waiting for room gets it when the drainer takes the queue.
        let r = with_drainer(&lane, &fake, || {
            lane.submit_wait(&*fake, |n| job(exec(), n), None)
        });
        assert!(r.is_ok());
    }

    #[test]
    fn closing_refuses_new_jobs_and_drains_the_queued_ones() {
        let (lane, fake) = (lane(1024, 8), Arc::new(Fake::default()));
        for _ in 0..50 {
            lane.submit_async(&*fake, job(exec(), Notify::Nothing))
                .unwrap();
        }
        lane.begin_close();
        let e = lane
            .submit_wait(&*fake, |n| job(exec(), n), None)
            .unwrap_err();
        assert_eq!(e.status(), Status::Closed);
        let w = Waiter::new();
        lane.barrier(&*fake, job(Work::Barrier, Notify::Barrier(w.clone())), true)
            .unwrap();
        with_drainer(&lane, &fake, || {
            assert!(w
                .wait_until(Some(Instant::now() + Duration::from_secs(20)))
                .is_some());
        });
        assert_eq!(fake.ran.lock().len(), 51);
    }

    #[test]
    fn a_leader_whose_own_write_is_done_hands_the_lane_to_a_yielding_submitter() {
        // A leads its own write; B queues behind it and yields (groups are short). Once A's
        // write is done, B runs its own group on its own thread, and A returns. B yields for
        // at most a few hundred microseconds before it parks (and is then led by A, as
        // before), so on a loaded machine the hand-over is tried until it happens once.
        let (lane, fake) = (lane(16, 8), Arc::new(Fake::default()));
        let mut handed = 0;
        let started = Instant::now();
        while handed == 0 && started.elapsed() < Duration::from_secs(10) {
            // Recent groups short (under `YIELD_WHEN_GROUPS_UNDER`; the held ones below are
            // not): a queued submitter yields, for up to 300 µs.
            lane.group_ns.store(100_000, Ordering::Relaxed);
            fake.hold.store(true, Ordering::Release);
            let before = fake.groups.load(Ordering::Acquire);
            let handed_over = std::thread::scope(|s| {
                let a = s.spawn(|| lane.submit_wait(&*fake, |n| job(exec(), n), None));
                while fake.groups.load(Ordering::Acquire) == before {
                    std::thread::yield_now();
                }
                let b = s.spawn(|| {
                    let r = lane.submit_wait(&*fake, |n| job(exec(), n), None);
                    (r, std::thread::current().id())
                });
                // Release A's group once B is queued and yielding (or after 50 ms).
                let started = Instant::now();
                while started.elapsed() < Duration::from_millis(50)
                    && Lane::yielding_front(&lane.state.lock()).is_none()
                {
                    std::thread::yield_now();
                }
                fake.hold.store(false, Ordering::Release);
                a.join().unwrap().unwrap();
                let (r, id) = b.join().unwrap();
                let r = r.unwrap();
                let ran_on = fake
                    .threads
                    .lock()
                    .iter()
                    .find(|(op, _)| *op as i64 == r.rows_affected)
                    .map(|(_, t)| *t);
                ran_on == Some(id)
            });
            handed += usize::from(handed_over);
            assert!(!lane.state.lock().leading, "the lane is idle again");
        }
        assert!(
            handed > 0,
            "B's write never ran on B's thread: A led it every time"
        );
    }

    /// The hand-off chain under slow groups and many more submitters than cores: every
    /// submitter finishes (a lost wake-up or an orphaned LEAD hangs this test).
    #[test]
    fn hand_offs_never_strand_a_submitter() {
        let (lane, fake) = (lane(64, 4), slow_fake(Duration::from_micros(200)));
        with_drainer(&lane, &fake, || {
            std::thread::scope(|s| {
                for t in 0..16 {
                    let (lane, fake) = (&lane, &fake);
                    s.spawn(move || {
                        for i in 0..100 {
                            if (t + i) % 7 == 0 {
                                lane.submit_async(&**fake, job(exec(), Notify::Nothing))
                                    .unwrap();
                            } else {
                                lane.submit_wait(&**fake, |n| job(exec(), n), None).unwrap();
                            }
                        }
                    });
                }
            });
            let w = Waiter::new();
            lane.barrier(
                &*fake,
                job(Work::Barrier, Notify::Barrier(w.clone())),
                false,
            )
            .unwrap();
            assert!(w
                .wait_until(Some(Instant::now() + Duration::from_secs(30)))
                .is_some());
        });
        assert_eq!(fake.ran.lock().len(), 1601, "1600 writes and the barrier");
    }

    #[test]
    fn a_later_completion_never_goes_to_another_submitters_job() {
        // A runs its write here and leads on; B's write, queued meanwhile, makes A's next group,
        // which meets another process's lock. B's job goes back to the queue still B's (the
        // drainer runs it); A's completion stays unused and A reports its write as run here.
        let (lane, fake) = (lane(64, 8), slow_fake(Duration::from_millis(500)));
        let (tx, rx) = std::sync::mpsc::channel();
        let called = Arc::new(AtomicU64::new(0));
        let ran_here = with_drainer(&lane, &fake, || {
            std::thread::scope(|s| {
                let a = s.spawn(|| {
                    lane.run_if_idle(&*fake, |n| job(exec(), n), Some(counting(&called)))
                });
                let until = |what: &str, done: &dyn Fn() -> bool| {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !done() {
                        assert!(Instant::now() < deadline, "{what}");
                        std::thread::sleep(Duration::from_millis(1));
                    }
                };
                until("A's group started", &|| {
                    fake.groups.load(Ordering::Acquire) == 1
                });
                let (lane2, fake2) = (lane.clone(), fake.clone());
                // Not scoped: were B's job given A's completion, B would wait forever.
                std::thread::spawn(move || {
                    let _ = tx.send(lane2.submit_wait(&*fake2, |n| job(exec(), n), None));
                });
                until("B's write queued", &|| lane.with_queued(|q| q.count()) == 1);
                // While A's group still runs (half a second): A's next group meets the lock.
                fake.foreign_lock.store(1, Ordering::Release);
                a.join().unwrap()
            })
        });
        let b = rx.recv_timeout(Duration::from_secs(20));
        assert!(
            b.is_ok_and(|r| r.is_ok()),
            "B's write was acknowledged to B"
        );
        assert!(ran_here.is_some_and(|r| r.is_ok()), "A's write ran here");
        assert_eq!(called.load(Ordering::Acquire), 0, "A's completion unused");
        assert_eq!(fake.met_foreign.load(Ordering::Acquire), 1);
        assert_eq!(fake.ran.lock().len(), 2);
    }

    #[test]
    fn writes_run_here_or_queued_are_each_acknowledged_once_through_foreign_locks() {
        let (lane, fake) = (lane(64, 4), slow_fake(Duration::from_micros(50)));
        let (ran_here, called) = (AtomicU64::new(0), Arc::new(AtomicU64::new(0)));
        with_drainer(&lane, &fake, || {
            std::thread::scope(|s| {
                for t in 0..8u64 {
                    let (lane, fake, ran_here, called) = (&lane, &fake, &ran_here, &called);
                    s.spawn(move || {
                        for i in 0..200u64 {
                            if (t * 200 + i) % 5 == 0 {
                                // Another process's lock for the next group a submitter leads.
                                fake.foreign_lock.fetch_add(1, Ordering::AcqRel);
                            }
                            if i % 5 == 4 {
                                lane.submit_wait(&**fake, |n| job(exec(), n), None).unwrap();
                                continue;
                            }
                            if let Some(r) = lane.run_if_idle(
                                &**fake,
                                |n| job(exec(), n),
                                Some(counting(called)),
                            ) {
                                assert!(r.is_ok());
                                ran_here.fetch_add(1, Ordering::AcqRel);
                            }
                        }
                    });
                }
            });
            assert!(flush(&lane, &fake), "the flush finished");
        });
        let (here, later) = (
            ran_here.load(Ordering::Acquire),
            called.load(Ordering::Acquire),
        );
        assert_eq!(later >> 32, 0, "completions with an error");
        assert_eq!(
            here + later,
            8 * 160,
            "ran here {here}, called back {later}"
        );
        assert!(later > 0, "some writes were queued");
        assert!(
            fake.met_foreign.load(Ordering::Acquire) > 0,
            "groups met another process's lock"
        );
        let ran = fake.ran.lock();
        assert_eq!(
            ran.len(),
            8 * 200 + 1,
            "every write and the flush ran, once"
        );
        let mut ops: Vec<u64> = ran.iter().map(|(op, _)| *op).collect();
        ops.sort_unstable();
        ops.dedup();
        assert_eq!(ops.len(), ran.len(), "no job ran twice");
    }
}
