//! The writer owns checkpoints: the WAL restarts from its beginning whenever it passes
//! `WAL Limit`, also while reads never stop.
//!
//! Two kinds: the write connection's WAL hook runs a PASSIVE checkpoint every 1,000 new frames
//! (SQLite's automatic checkpoint, which the hook replaces; `wal_hook.rs`), after which the next
//! commit restarts the log if no reader still uses it — the common case, at a few MiB. This
//! module is the other: when readers kept the log from restarting until it passed the limit.
//!
//! Owns when a checkpoint is due (the WAL hook's frame count after each commit, and the
//! drainer's idle tick), the checkpoint itself — new reads of this process held back, the ones
//! in flight finished, idle snapshots released, then `wal_checkpoint(TRUNCATE)` — and the
//! back-off while another process's reader pins the log. SQLite alone cannot do this: a
//! checkpoint only restarts the log when no reader still uses its old part, and with readers
//! always active that never happens ("checkpoint starvation", <https://sqlite.org/wal.html>).
//! Must never fail a read, never block writers longer than the checkpoint itself (it runs as a
//! job of its own in the lane, between groups), and never retry without a pause.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{WriteConn, WriteResult};
use super::lane::{Job, Lane, Notify, Work};
use crate::error::{Error, Result, Status};
use crate::read::Readers;
use crate::signal::metrics::Metrics;
use crate::signal::Signals;
use crate::sync::Mutex;

/// How long a checkpoint waits for this process's reads in flight to finish. Reads are short
/// (point reads take microseconds); one that takes longer only makes this checkpoint unable to
/// restart the log, never fails.
const READS_IN_FLIGHT: Duration = Duration::from_secs(1);

/// The first pause after a checkpoint that could not restart the log, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// When the next checkpoint is due.
pub(crate) struct Policy {
    /// The WAL hook's frame count (None: the writer does not checkpoint by size).
    frames: Option<Arc<AtomicU64>>,
    /// Frames past which a checkpoint is due.
    limit_frames: u64,
    /// Bytes per frame (a page and its 24-byte header).
    frame_bytes: u64,
    /// A checkpoint job is queued.
    queued: AtomicBool,
    /// After a checkpoint that could not restart the log: no other before this instant, and
    /// the pause after the next failure.
    retry: Mutex<(Option<Instant>, Duration)>,
}

impl Policy {
    pub(crate) fn new(conn: &WriteConn, wal_limit: u64) -> Policy {
        let frame_bytes = conn.page_size + 24;
        Policy {
            frames: conn.wal_frames.clone(),
            limit_frames: (wal_limit / frame_bytes).max(1),
            frame_bytes,
            queued: AtomicBool::new(false),
            retry: Mutex::new((None, FIRST_PAUSE)),
        }
    }

    /// The WAL's size after the last commit of this writer, in bytes (0 when not tracked).
    pub(crate) fn wal_bytes(&self) -> u64 {
        self.frames
            .as_ref()
            .map_or(0, |f| f.load(Ordering::Acquire) * self.frame_bytes)
    }

    fn due(&self) -> bool {
        let Some(frames) = &self.frames else {
            return false;
        };
        if frames.load(Ordering::Acquire) < self.limit_frames || self.queued.load(Ordering::Acquire)
        {
            return false;
        }
        self.retry.lock().0.is_none_or(|at| Instant::now() >= at)
    }
}

/// What a checkpoint uses of its engine.
pub(crate) struct Context<'a> {
    pub(crate) readers: &'a Readers,
    pub(crate) metrics: &'a Metrics,
    pub(crate) signals: &'a Signals,
}

impl Policy {
    /// Queue a checkpoint at the front of `lane` when the WAL has passed `WAL Limit` (after a
    /// commit, and on the drainer's idle tick).
    pub(crate) fn schedule(&self, lane: &Lane) {
        if !self.due() || self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let job = Job {
            work: Work::Checkpoint,
            notify: Notify::Nothing,
            submitted_us: crate::signal::now_us(),
            op: 0,
            sampled: false,
        };
        lane.push_front(job);
    }

    /// The checkpoint job: hold back new reads, let the ones in flight finish, restart the log.
    pub(crate) fn run(&self, cx: &Context<'_>, conn: &mut WriteConn) -> Result<WriteResult> {
        let wal_before = self.wal_bytes();
        cx.signals
            .emit_full("checkpoint.start", "", Status::Ok, -1, wal_before as i64);
        let outcome = {
            let held = cx.readers.hold_back(READS_IN_FLIGHT);
            let outcome = conn.checkpoint_truncate();
            cx.metrics
                .reads_held_back
                .record(held.started.elapsed().as_micros() as u64);
            outcome
                .map(|(restarted, log, copied)| (restarted && held.drained, restarted, log, copied))
        };
        self.queued.store(false, Ordering::Release);
        match outcome {
            Ok((true, _, _, copied)) => {
                if let Some(f) = &self.frames {
                    f.store(0, Ordering::Release);
                }
                *self.retry.lock() = (None, FIRST_PAUSE);
                cx.metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
                cx.metrics
                    .checkpoint_frames
                    .fetch_add(copied.max(0) as u64, Ordering::Relaxed);
                cx.signals
                    .emit_full("checkpoint.done", "", Status::Ok, -1, copied);
                Ok(WriteResult::default())
            }
            other => {
                // Another process's reader (or writer) still uses the log, or a read of this
                // process outlasted the wait: try again after a pause that grows.
                let why = match &other {
                    Ok((_, restarted, log, copied)) => format!(
                        "the WAL could not restart ({copied} of {log} frames copied{})",
                        if *restarted {
                            "; a read of this process was still running"
                        } else {
                            "; another connection still uses it"
                        }
                    ),
                    Err(e) => e.message().to_owned(),
                };
                let mut retry = self.retry.lock();
                let pause = retry.1;
                *retry = (Some(Instant::now() + pause), (pause * 2).min(LONGEST_PAUSE));
                drop(retry);
                cx.metrics
                    .checkpoints_blocked
                    .fetch_add(1, Ordering::Relaxed);
                if let Ok((_, _, _, copied)) = &other {
                    cx.metrics
                        .checkpoint_frames
                        .fetch_add((*copied).max(0) as u64, Ordering::Relaxed);
                }
                cx.signals.emit_full(
                    "checkpoint.blocked",
                    why.clone(),
                    Status::Busy,
                    pause.as_micros() as i64,
                    -1,
                );
                Err(Error::new(Status::Busy, why))
            }
        }
    }
}
