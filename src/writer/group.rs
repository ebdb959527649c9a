//! One group on the write connection: BEGIN, the jobs, a restart when one ends the
//! transaction, COMMIT, and publishing the changes to the cache before anyone is acknowledged.
//!
//! Owns [`Runner`] for the engine: what the lane asks of it. Must never acknowledge a job
//! before the COMMIT that holds it, never let one job's failure fail its neighbours, and never
//! leave a group holding a transaction to the drainer (its body is on its owner's stack).
//!
//! Departures from DESIGN.md, and why:
//! - Single-statement jobs run without a savepoint: SQLite already undoes a failed statement
//!   (statement journal), so `SAVEPOINT`/`RELEASE` per write would only cost. A failure that ends
//!   the whole transaction (`OR ROLLBACK`, `RAISE(ROLLBACK)`, I/O, full disk) fails that job
//!   alone and the rest of its group runs again in a new transaction.
//! - Consecutive writes of the same SQL in a group share one prepared statement.
//! - A group of one write (INSERT, REPLACE, UPDATE or DELETE, one statement) runs without
//!   BEGIN/COMMIT in WAL mode while no other process of this library needs change rows and no
//!   look at other processes' commits is due: SQLite commits it in its own step, and the cache's
//!   counters move inside that commit (`commit_hook.rs`), where a group's move right before its
//!   COMMIT. It saves SQLite's BEGIN and COMMIT (about 1,070 of a lone write's 16,790
//!   instructions). A write that meets another connection's lock has done nothing and runs in
//!   a transaction of its own, which waits the lock out.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::busy;
use super::conn::Txn;
use super::conn::{Changes, External, RowLog, Statement, WriteConn, WriteResult};
use super::engine::Engine;
use super::lane::{Job, Runner, TxnFn, Work};
use crate::cache::{Change, Tables, SCHEMA};
use crate::error::{Error, Result, Status};
use crate::reentry::in_callback;
use crate::signal::{Burst, Sampled};
use crate::value::Packed;

impl Runner for Engine {
    fn run_group(
        &self,
        jobs: &[Job],
        txn: Option<&mut TxnFn<'_>>,
        submitter: bool,
        started_us: i64,
    ) -> Option<(Vec<Result<WriteResult>>, i64)> {
        let (mut results, end) = self.run_group_jobs(jobs, txn, submitter, started_us)?;
        for (job, r) in jobs.iter().zip(results.iter_mut()) {
            if matches!(job.work, Work::Barrier) {
                *r = Ok(WriteResult::default());
            }
        }
        self.record_group(jobs, &results, end.at_us, end.signals);
        Some((results, end.at_us))
    }

    fn idle_tick(&self, leading: bool) {
        self.readers.sweep();
        self.wal.schedule(&self.lane);
        if !leading {
            return;
        }
        if let Some(conn) = self.conn.lock().as_mut() {
            if conn.external_checks_enabled() {
                if let Ok(ext) = conn.check_external() {
                    self.apply_external(ext);
                }
            }
        }
    }

    fn queue_full(&self, len: usize) {
        self.metrics.queue_full.fetch_add(1, Ordering::Relaxed);
        self.signals
            .emit_full("backpressure.full", "", Status::QueueFull, -1, len as i64);
    }

    fn queue_recovered(&self, waited: Duration) {
        self.signals.emit_full(
            "backpressure.recovered",
            "",
            Status::Ok,
            waited.as_micros() as i64,
            -1,
        );
    }
}

impl Engine {
    /// Record a finished group (ended at `done_us`) before anyone is woken: the operations
    /// list, the statistics, and its closing signals: `burst` (the group's own) and each
    /// write's, in one burst.
    fn record_group(
        &self,
        jobs: &[Job],
        results: &[Result<WriteResult>],
        done_us: i64,
        mut burst: Burst,
    ) {
        self.ops.track_done(jobs, results, done_us);
        // Counted here, published once per group (in chunks: no list to allocate).
        let mut latencies = self.metrics.latency.chunks();
        let (mut committed, mut failed) = (0u64, 0u64);
        for (job, result) in jobs.iter().zip(results) {
            if !job.is_write() {
                continue;
            }
            let latency = (done_us - job.submitted_us).max(0);
            latencies.push(latency as u64);
            match result {
                Ok(r) => {
                    committed += 1;
                    if job.sampled {
                        burst.item("write.done", done_us, latency, r.rows_affected);
                    }
                }
                Err(e) => {
                    failed += 1;
                    burst.one((
                        "write.error",
                        Some(Arc::from(e.message())),
                        e.status(),
                        latency,
                        -1,
                        done_us,
                    ));
                }
            }
        }
        drop(latencies);
        if committed > 0 {
            self.metrics
                .committed
                .fetch_add(committed, Ordering::Relaxed);
        }
        if failed > 0 {
            self.metrics.failed.fetch_add(failed, Ordering::Relaxed);
        }
        self.signals.emit_burst(burst);
    }

    /// Execute one group. `None` when another process holds the lock and this submitter should
    /// leave the waiting to the drainer.
    ///
    /// A flush's barrier succeeds whenever its group ran to an end: it reports that every write
    /// before it was acknowledged, each with its own result — not the outcome of the group it
    /// happened to share (a full disk or a foreign lock fails the writes, not the flush).
    fn run_group_jobs(
        &self,
        jobs: &[Job],
        txn: Option<&mut TxnFn<'_>>,
        submitter: bool,
        group_start: i64,
    ) -> Option<(Vec<Result<WriteResult>>, Ended)> {
        let ended = |results| Some((results, Ended::now()));
        let mut guard = self.conn.lock();
        let Some(conn) = guard.as_mut() else {
            return ended(jobs.iter().map(|_| Err(Error::closed())).collect());
        };
        let now = group_start;
        // Every job of the group was queued before any started: the group's `write.enqueue`
        // signals (with the submission times), then its `write.start` signals, each one run.
        let mut burst = Burst::default();
        let mut started = 0;
        for job in jobs.iter().filter(|j| j.sampled) {
            burst.item("write.enqueue", job.submitted_us.max(1), -1, -1);
            started += 1;
        }
        burst.same("write.start", now, started);
        self.signals.emit_burst(burst);
        self.ops.track_running(jobs);
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
            // It commits by itself, in autocommit: every entry is stale from before it runs
            // until after it has committed (cache/tables.rs).
            let change = self.cache.tables.begin([SCHEMA], std::iter::empty());
            let result = catch_unwind(AssertUnwindSafe(|| {
                self.with_busy_retry(|| conn.execute_alone(sql, params))
            }))
            .unwrap_or_else(|_| Err(panicked()));
            self.readers.after_alone(conn.in_wal_mode());
            if result.is_ok() {
                self.session.note_write(sql);
            }
            drop(change);
            self.metrics.transactions.fetch_add(1, Ordering::Relaxed);
            return ended(vec![result]);
        }
        if let [Job {
            work: Work::Checkpoint,
            ..
        }] = jobs
        {
            let cx = super::checkpoint::Context {
                readers: &self.readers,
                metrics: &self.metrics,
                signals: &self.signals,
            };
            return ended(vec![self.wal.run(&cx, conn)]);
        }
        if jobs.iter().all(|j| matches!(j.work, Work::Barrier)) {
            return ended(jobs.iter().map(|_| Ok(WriteResult::default())).collect());
        }
        let mut results: Vec<Option<Result<WriteResult>>> = jobs.iter().map(|_| None).collect();
        // Jobs whose failure ended the transaction (not run again); a small group's on the stack.
        let mut failed_small = [false; 64];
        let mut failed_large = Vec::new();
        let failed_hard: &mut [bool] = if jobs.len() <= failed_small.len() {
            &mut failed_small[..jobs.len()]
        } else {
            failed_large.resize(jobs.len(), false);
            &mut failed_large
        };
        let mut change = None;
        let mut commit_error = None;
        // When the COMMIT returned: the group's end for its signal and the readers' sweep.
        let mut commit_end = None;
        if self.cache.tables.rows_wanted() {
            // Before the transaction begins: the hook reports all of its rows or none.
            conn.log_rows();
        }
        // A lone write commits by itself, without BEGIN/COMMIT, when nothing needs to share its
        // transaction.
        let lone = match txn {
            None => self.run_in_autocommit(conn, jobs, group_start),
            Some(_) => None,
        };
        let mut changes = if let Some(lone) = lone {
            results[0] = Some(lone.result);
            change = lone.change;
            commit_end = lone.commit_end;
            lone.changes
        } else {
            match self.run_in_transaction(
                conn,
                jobs,
                txn,
                submitter,
                group_start,
                failed_hard,
                &mut results,
            ) {
                Transaction::Committed {
                    changes,
                    change: moved,
                    commit_end: end,
                } => {
                    change = moved;
                    commit_end = Some(end);
                    changes
                }
                Transaction::CommitFailed(status) => {
                    commit_error = Some(status);
                    Changes::default()
                }
                Transaction::NothingLeft => Changes::default(),
                Transaction::LeaveToDrainer => return None,
                Transaction::BeginFailed(e) => {
                    return ended(jobs.iter().map(|_| Err(e.clone())).collect())
                }
            }
        };
        let raised = std::mem::take(&mut changes.raised);
        conn.keep_changes(changes);
        drop(guard);
        let group_end = commit_end.unwrap_or_else(crate::signal::now_us);
        self.readers.sweep_at(group_end);
        self.wal.schedule(&self.lane);
        if commit_error.is_none() {
            self.metrics.transactions.fetch_add(1, Ordering::Relaxed);
        }
        self.metrics.group_size.record(jobs.len() as u64);
        let results: Vec<Result<WriteResult>> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::new(Status::Error, "write did not run"))))
            .collect();
        // Make the group visible to the cache before anyone is acknowledged.
        drop(change);
        if !raised.is_empty() {
            for pattern in &raised {
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
        // `group.commit` opens the group's closing burst; each write's signals follow it.
        let mut signals = Burst::default();
        let took = (group_end - group_start).max(0);
        match commit_error {
            None => signals.item("group.commit", group_end, took, jobs.len() as i64),
            Some(status) => signals.one((
                "group.commit",
                None,
                status,
                took,
                jobs.len() as i64,
                group_end,
            )),
        }
        Some((
            results,
            Ended {
                at_us: group_end,
                signals,
            },
        ))
    }

    /// Run a group of one write (one INSERT, REPLACE, UPDATE or DELETE) without BEGIN/COMMIT,
    /// when nothing needs to share its transaction ([`WriteConn::may_autocommit`]): SQLite
    /// commits it in its own step, and the cache's counters move inside that commit
    /// (`commit_hook.rs`), where a group's move right before its COMMIT. `None` when it cannot
    /// run so, with nothing run (the group then runs in a transaction of its own).
    fn run_in_autocommit<'t>(
        &'t self,
        conn: &mut WriteConn,
        jobs: &[Job],
        group_start: i64,
    ) -> Option<Autocommitted<'t>> {
        let [Job {
            work:
                Work::Exec {
                    sql,
                    params,
                    alone: false,
                    ..
                },
            ..
        }] = jobs
        else {
            return None;
        };
        if !conn.may_autocommit(group_start, self.opts.invalidation_poll) {
            return None;
        }
        let tables = &self.cache.tables;
        let mut change = None;
        let mut commit_start = None;
        let mut on_commit = |changes: &Changes, rows: Option<&RowLog>| {
            change = begin_change(tables, changes, rows);
            commit_start = Some(crate::signal::now_us());
        };
        let (result, changes) = catch_unwind(AssertUnwindSafe(|| {
            conn.execute_autocommit(sql, params, &mut on_commit)
        }))
        .unwrap_or_else(|_| Some((Err(panicked()), Changes::default())))?;
        // The commit's time, as a group's COMMIT statement's: from SQLite's call into the commit
        // hook to the end of the step.
        let mut commit_end = None;
        if let (Some(start), Ok(_)) = (commit_start, &result) {
            let end = crate::signal::now_us();
            self.metrics.commit_time.record((end - start).max(0) as u64);
            commit_end = Some(end);
        }
        Some(Autocommitted {
            result,
            changes,
            change,
            commit_end,
        })
    }

    /// Run a group in a transaction of its own: BEGIN IMMEDIATE (waiting out another process's
    /// lock), the jobs, and COMMIT, with the cache's counters moved right before it. A job whose
    /// failure ends the transaction fails alone (`failed_hard`) and the others run again in a
    /// new one; each job's result goes to `results`.
    #[allow(clippy::too_many_arguments)]
    fn run_in_transaction<'t>(
        &'t self,
        conn: &mut WriteConn,
        jobs: &[Job],
        mut txn: Option<&mut TxnFn<'_>>,
        submitter: bool,
        group_start: i64,
        failed_hard: &mut [bool],
        results: &mut [Option<Result<WriteResult>>],
    ) -> Transaction<'t> {
        let owns_txn = jobs.iter().any(|j| matches!(j.work, Work::Txn));
        loop {
            // A submitter leaves a group to the drainer when another process holds the lock,
            // unless the group holds its transaction body.
            match self.begin_immediate(conn, submitter && !owns_txn) {
                Begun::Yes => {}
                Begun::LeaveToDrainer => return Transaction::LeaveToDrainer,
                Begun::Failed(e) => return Transaction::BeginFailed(e),
            }
            if conn.external_check_due(group_start, self.opts.invalidation_poll) {
                if let Ok(ext) = conn.check_external() {
                    self.apply_external(ext);
                }
            }
            let mut changes = conn.take_changes();
            let restart = self.run_jobs(
                conn,
                jobs,
                txn.as_deref_mut(),
                failed_hard,
                results,
                &mut changes,
            );
            if restart {
                for (i, r) in results.iter_mut().enumerate() {
                    if !failed_hard[i] {
                        *r = None;
                    }
                }
                // A transaction body is not re-run; the group was that body alone.
                if failed_hard.iter().all(|f| *f) || owns_txn {
                    return Transaction::NothingLeft;
                }
                continue;
            }
            // What the group changed moves in the cache before the COMMIT makes it visible,
            // and again after it (when `change` drops, before anyone is acknowledged).
            let change = {
                let rows = conn.rows();
                begin_change(&self.cache.tables, &changes, rows.as_deref())
            };
            let commit_start = crate::signal::now_us();
            return match conn.commit(&changes) {
                Ok(()) => {
                    let end = crate::signal::now_us();
                    self.metrics
                        .commit_time
                        .record((end - commit_start).max(0) as u64);
                    Transaction::Committed {
                        changes,
                        change,
                        commit_end: end,
                    }
                }
                Err(e) => {
                    let e = e.context("COMMIT failed; nothing of this group was kept");
                    for (i, r) in results.iter_mut().enumerate() {
                        if !failed_hard[i] {
                            *r = Some(Err(e.clone()));
                        }
                    }
                    Transaction::CommitFailed(e.status())
                }
            };
        }
    }

    /// BEGIN IMMEDIATE, waiting out another process's lock (`busy.wait`, `busy.recovered`,
    /// `busy.timeout`) up to the Busy Timeout; or, with `may_leave`, leaving the group to the
    /// drainer at the first sign of that lock.
    fn begin_immediate(&self, conn: &mut WriteConn, may_leave: bool) -> Begun {
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
                    if may_leave {
                        return Begun::LeaveToDrainer;
                    }
                    if since.elapsed() >= self.opts.busy_timeout {
                        self.signals.emit_full(
                            "busy.timeout",
                            "",
                            Status::Busy,
                            since.elapsed().as_micros() as i64,
                            -1,
                        );
                        return Begun::Failed(
                            Error::new(
                                Status::Busy,
                                format!(
                                    "another connection held the write lock for longer than the Busy Timeout ({} ms)",
                                    self.opts.busy_timeout.as_millis()
                                ),
                            )
                            .with_sqlite_code(e.sqlite_code()),
                        );
                    }
                    std::thread::sleep(busy::pause(since.elapsed()));
                }
                Err(e) => return Begun::Failed(e),
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
        Begun::Yes
    }

    /// Run a group's jobs inside its transaction, those of one SQL text in a row on one
    /// prepared statement. Returns whether a job ended the transaction (it is marked in
    /// `failed_hard`, and the group is to run again without it).
    fn run_jobs(
        &self,
        conn: &mut WriteConn,
        jobs: &[Job],
        mut txn: Option<&mut TxnFn<'_>>,
        failed_hard: &mut [bool],
        results: &mut [Option<Result<WriteResult>>],
        changes: &mut Changes,
    ) -> bool {
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
                let params: Vec<&Packed> = jobs[i..i + run].iter().map(exec_params).collect();
                let rs = catch_unwind(AssertUnwindSafe(|| conn.execute_run(sql, &params, changes)))
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
                    return true;
                }
                i += run;
                continue;
            }
            let job = &jobs[i];
            let r = catch_unwind(AssertUnwindSafe(|| {
                self.run_job(conn, job, txn.as_deref_mut(), changes)
            }))
            .unwrap_or_else(|_| Err(panicked()));
            if !conn.in_transaction() {
                // This job's failure ended the whole transaction: it alone fails, the
                // others run again in a new one.
                failed_hard[i] = true;
                results[i] = Some(Err(r.err().unwrap_or_else(|| {
                    Error::new(Status::Error, "the statement ended the group transaction")
                })));
                return true;
            }
            results[i] = Some(r);
            i += 1;
        }
        false
    }

    fn with_busy_retry<T>(&self, mut f: impl FnMut() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        loop {
            match f() {
                Err(e)
                    if e.status() == Status::Busy && start.elapsed() < self.opts.busy_timeout =>
                {
                    self.metrics.busy_retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(busy::pause(start.elapsed()));
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
            Work::Barrier | Work::Checkpoint => Ok(WriteResult::default()),
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
            !**f && matches!(&j.work, Work::Exec { sql, alone: false, .. } if sql.same(first) || **sql == **first)
        })
        .count()
}

fn exec_params(job: &Job) -> &Packed {
    static NONE: Packed = Packed::new();
    match &job.work {
        Work::Exec { params, .. } => params,
        _ => &NONE,
    }
}

fn panicked() -> Error {
    Error::new(
        Status::Panic,
        "the write panicked; it was rolled back and the writer lives on",
    )
}

/// How a group's transaction ended ([`Engine::run_in_transaction`]).
enum Transaction<'t> {
    Committed {
        /// Its write set, for [`WriteConn::keep_changes`].
        changes: Changes,
        /// The cache's counters it moved before its COMMIT (moved again when dropped).
        change: Option<Change<'t>>,
        /// When the COMMIT returned.
        commit_end: i64,
    },
    /// The COMMIT failed: every job not failed on its own failed with it.
    CommitFailed(Status),
    /// Nothing to commit: every job failed on its own, or the transaction body ended it.
    NothingLeft,
    /// Another process holds the lock: the drainer is to wait for it (nothing ran).
    LeaveToDrainer,
    /// BEGIN failed (for another process's lock: after the Busy Timeout); nothing ran.
    BeginFailed(Error),
}

/// What [`Engine::begin_immediate`] did.
enum Begun {
    Yes,
    LeaveToDrainer,
    Failed(Error),
}

/// A group of one write that ran in autocommit ([`Engine::run_in_autocommit`]).
struct Autocommitted<'t> {
    result: Result<WriteResult>,
    /// Its write set, for [`WriteConn::keep_changes`].
    changes: Changes,
    /// The cache's counters it moved inside its commit (moved again when dropped).
    change: Option<Change<'t>>,
    /// When its commit ended (it committed).
    commit_end: Option<i64>,
}

/// How a group ended: when (microseconds since the Unix epoch), and its own closing signals
/// (`group.commit`), which each write's join when the group is recorded.
struct Ended {
    at_us: i64,
    signals: Burst,
}

impl Ended {
    /// A group that ended now without closing signals of its own (a statement run alone, a
    /// checkpoint, flushes, a closed writer, a failed BEGIN).
    fn now() -> Ended {
        Ended {
            at_us: crate::signal::now_us(),
            signals: Burst::default(),
        }
    }
}

/// Move the counters of what a commit changes, before it is visible ([`Tables::begin`]): `None`
/// when it changed nothing.
fn begin_change<'t>(
    tables: &'t Tables,
    changes: &Changes,
    rows: Option<&RowLog>,
) -> Option<Change<'t>> {
    // One statement's tables (the usual group): without `change_set`'s chain of iterators,
    // about 350 instructions a commit, 700 with rows reported.
    if let Some(names) = changes.only_tables() {
        match rows {
            // No rows reported (no read depends on one yet): its tables as a whole.
            None => return Some(tables.begin(names, std::iter::empty())),
            // Rows of one table, the only one the statement writes: those rows.
            Some(log) => {
                if let Some((table, Some(ids))) = log.only_one() {
                    if names.clone().all(|n| n == table) {
                        return Some(tables.begin(std::iter::empty(), [(table, ids)]));
                    }
                }
            }
        }
    }
    if changes.is_empty() && rows.is_none_or(|r| r.is_empty()) {
        return None;
    }
    let (whole, by_row) = change_set(changes, rows);
    Some(tables.begin(whole, by_row))
}

/// The counters a group's commit moves ([`Tables::begin`](crate::cache::Tables)): tables
/// whose changed rows the update hook reported (and saw all of) by row; the others, and the
/// schema after DDL, as a whole (a table several statements wrote may repeat).
fn change_set<'a>(
    changes: &'a Changes,
    rows: Option<&'a RowLog>,
) -> (
    impl Iterator<Item = &'a str>,
    impl Iterator<Item = (&'a str, &'a [i64])>,
) {
    let schema = changes.schema();
    let by_row = move |table: &str, ids: Option<&'a [i64]>| {
        ids.filter(|_| !schema && !changes.is_blind(table))
    };
    let changed = move || rows.into_iter().flat_map(RowLog::changed);
    let whole = changed()
        .filter(move |&(t, ids)| by_row(t, ids).is_none())
        .map(|(t, _)| t)
        .chain(
            changes
                .tables()
                .chain(changes.blind())
                .filter(move |t| !rows.is_some_and(|r| r.contains(t))),
        )
        .chain(schema.then_some(SCHEMA));
    let by_row = changed().filter_map(move |(t, ids)| by_row(t, ids).map(|ids| (t, ids)));
    (whole, by_row)
}
