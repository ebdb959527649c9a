//! Signals: structured events in a fixed-capacity ring, glob polling, sampling, subscriptions.
//!
//! Owns the ring (memory stays bounded at any load), the per-category sampling counters, and the
//! subscriber dispatch threads. Must never block the writer: emitting is a short critical section
//! and a `try_send` per matching subscriber; a full subscriber queue drops and counts.

mod deferred;
pub(crate) mod metrics;
mod ring;

pub(crate) use ring::Burst;
use ring::{Part, Ring, Slot};

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sync::{Mutex, RwLock};
use crossbeam_channel::{Sender, TrySendError};

use crate::error::{Error, Result, Status};
pub use crate::glob::glob_match;

/// One signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// Increasing per writer, never reused.
    pub seq: u64,
    /// Microseconds since the Unix epoch.
    pub timestamp_us: i64,
    /// The name, e.g. `write.done`, `cache.hit`.
    pub name: Cow<'static, str>,
    /// The subject (cache key, table, pragma value...), `""` if none.
    pub key: Arc<str>,
    /// For `*.done` and `*.error` signals.
    pub status: Status,
    /// Duration in µs, -1 if not timed.
    pub duration_us: i64,
    /// Rows affected or returned, -1 if none.
    pub rows: i64,
}

impl Signal {
    /// The full form: `name` or `name:key`.
    pub fn full_name(&self) -> String {
        if self.key.is_empty() {
            self.name.to_string()
        } else {
            format!("{}:{}", self.name, self.key)
        }
    }

    /// Whether the full form matches a glob pattern.
    pub fn matches(&self, pattern: &str) -> bool {
        crate::glob::matches(
            pattern,
            &crate::glob::Subject::signal(&self.name, &self.key),
        )
    }
}

/// The high-volume categories that `Sample Rate` thins out.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sampled {
    /// write.start / write.done / write.enqueue
    Write = 0,
    /// cache.hit / cache.miss / cache.set
    Cache = 1,
    /// read.start / read.done / query.start
    Read = 2,
    /// batch.item.start / batch.item.done
    BatchItem = 3,
}

/// A signal to emit: (name, key (`None`: no key), status, duration_us, rows, timestamp_us or 0
/// for now).
pub(crate) type Pending = (&'static str, Option<Arc<str>>, Status, i64, i64, i64);

/// The result of a poll.
#[derive(Clone, Debug, Default)]
pub struct Poll {
    /// Matching signals with `seq > after_seq`, oldest first.
    pub signals: Vec<Signal>,
    /// How many signals after `after_seq` were overwritten before this poll (0: none missed).
    pub missed: u64,
}

type Callback = Box<dyn Fn(&Signal) + Send + Sync>;

struct Subscriber {
    id: u64,
    /// Cleared on unsubscribe: queued signals are then dropped, not delivered.
    active: Arc<AtomicBool>,
    pattern: String,
    queue: Sender<Signal>,
    dropped: AtomicU64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The signal hub of one writer.
pub(crate) struct Signals {
    ring: Mutex<Ring>,
    /// The read path's signals, held per thread until they join the ring (`signal/deferred.rs`).
    deferred: deferred::Deferred,
    next_seq: AtomicU64,
    sample_rate: u64,
    sample_counters: [AtomicU64; 4],
    subscribers: RwLock<Vec<Arc<Subscriber>>>,
    has_subscribers: AtomicBool,
    next_subscription: AtomicU64,
    /// Signals dropped because a subscriber's queue was full, over all subscribers.
    pub(crate) dropped: AtomicU64,
}

const SUBSCRIBER_QUEUE: usize = 4096;

/// Anything usable as a signal key; `""` is no key at all.
pub(crate) trait IntoKey {
    fn into_key(self) -> Option<Arc<str>>;
}

fn empty_key() -> Arc<str> {
    static EMPTY: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Arc::from("")).clone()
}

impl IntoKey for &str {
    fn into_key(self) -> Option<Arc<str>> {
        (!self.is_empty()).then(|| Arc::from(self))
    }
}
impl IntoKey for &String {
    fn into_key(self) -> Option<Arc<str>> {
        self.as_str().into_key()
    }
}
impl IntoKey for String {
    fn into_key(self) -> Option<Arc<str>> {
        self.as_str().into_key()
    }
}
impl IntoKey for Arc<str> {
    fn into_key(self) -> Option<Arc<str>> {
        (!self.is_empty()).then_some(self)
    }
}
impl IntoKey for &Arc<str> {
    fn into_key(self) -> Option<Arc<str>> {
        (!self.is_empty()).then(|| self.clone())
    }
}

/// Now, in microseconds since the Unix epoch: the system clock read once per process, and
/// the monotonic clock since, so timestamps never go backwards when the system clock is
/// stepped. One clock read and integer arithmetic (`Instant`'s subtraction and conversion to
/// microseconds cost more than the read; a write's path reads the clock a few times).
pub(crate) fn now_us() -> i64 {
    static OFFSET_NS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let offset_ns = *OFFSET_NS.get_or_init(|| {
        let unix_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        unix_ns - mono_ns()
    });
    (mono_ns() + offset_ns) / 1_000
}

/// The monotonic clock (`CLOCK_MONOTONIC`, which `Instant` reads too), in nanoseconds.
#[allow(unsafe_code)]
// `time_t` and `c_long` are 32 bits wide on some targets.
#[allow(clippy::unnecessary_cast)]
fn mono_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_MONOTONIC exists on every Unix.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64
}

impl Signals {
    pub(crate) fn new(capacity: usize, sample_rate: u32) -> Signals {
        Signals {
            ring: Mutex::new(Ring::new(capacity)),
            deferred: deferred::Deferred::new(),
            next_seq: AtomicU64::new(1),
            sample_rate: sample_rate.max(1) as u64,
            sample_counters: Default::default(),
            subscribers: RwLock::new(Vec::new()),
            has_subscribers: AtomicBool::new(false),
            next_subscription: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
        }
    }

    /// Whether this occurrence of a high-volume signal category is emitted (one in N).
    #[inline]
    pub(crate) fn sampled(&self, category: Sampled) -> bool {
        if self.sample_rate == 1 {
            return true;
        }
        self.sample_counters[category as usize]
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.sample_rate)
    }

    /// Emit a signal with only a name and key.
    pub(crate) fn emit(&self, name: impl Into<Cow<'static, str>>, key: impl IntoKey) {
        self.emit_full(name, key, Status::Ok, -1, -1);
    }

    /// Emit a signal.
    pub(crate) fn emit_full(
        &self,
        name: impl Into<Cow<'static, str>>,
        key: impl IntoKey,
        status: Status,
        duration_us: i64,
        rows: i64,
    ) {
        self.emit_at(now_us(), name, key, status, duration_us, rows);
    }

    /// [`Signals::emit_full`] with the time it happened, as the caller already read it
    /// ([`now_us`]).
    pub(crate) fn emit_at(
        &self,
        timestamp_us: i64,
        name: impl Into<Cow<'static, str>>,
        key: impl IntoKey,
        status: Status,
        duration_us: i64,
        rows: i64,
    ) {
        self.emit_slot(Slot {
            seq: 0,
            timestamp_us,
            name: name.into(),
            key: key.into_key(),
            status,
            duration_us,
            rows,
        });
    }

    /// Number `slot` and put it into the ring now (after this thread's deferred signals).
    fn emit_slot(&self, mut slot: Slot) {
        let publish = self.has_subscribers.load(Ordering::Acquire);
        let mut published = Vec::new();
        let _overwritten = {
            let mut ring = self.ring(publish, &mut published);
            slot.seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            if publish {
                published.push(slot.signal());
            }
            ring.push(slot)
        };
        self.publish_all(published);
    }

    /// Emit an OK signal of the read path (`cache.hit`, `cache.miss`, `read.start`,
    /// `read.done`): straight into the ring while its lock is free, or, once another thread
    /// was found holding it, held with this thread's other such signals and numbered when they
    /// join the ring (see `signal/deferred.rs`). With subscribers, always straight in.
    pub(crate) fn emit_read(
        &self,
        timestamp_us: i64,
        name: &'static str,
        key: impl IntoKey,
        duration_us: i64,
        rows: i64,
    ) {
        let slot = Slot {
            seq: 0,
            timestamp_us,
            name: Cow::Borrowed(name),
            key: key.into_key(),
            status: Status::Ok,
            duration_us,
            rows,
        };
        self.emit_read_slots(slot, None, None);
    }

    /// [`Signals::emit_read`] of an untimed signal keyed by `key`, an `Arc` that other threads
    /// may share (a cache entry's key): a deferred signal holds this thread's own copy when
    /// the key repeats (see `signal/deferred.rs`).
    pub(crate) fn emit_read_key(&self, timestamp_us: i64, name: &'static str, key: &Arc<str>) {
        let slot = Slot {
            seq: 0,
            timestamp_us,
            name: Cow::Borrowed(name),
            key: None,
            status: Status::Ok,
            duration_us: -1,
            rows: -1,
        };
        self.emit_read_slots(slot, None, Some(key));
    }

    /// [`Signals::emit_read`] for two untimed signals at one time with one key, `first` first
    /// (a cache miss and the read it starts).
    pub(crate) fn emit_read_two(
        &self,
        timestamp_us: i64,
        first: &'static str,
        second: &'static str,
        key: impl IntoKey + Copy,
    ) {
        let slot = |name| Slot {
            seq: 0,
            timestamp_us,
            name: Cow::Borrowed(name),
            key: key.into_key(),
            status: Status::Ok,
            duration_us: -1,
            rows: -1,
        };
        self.emit_read_slots(slot(first), Some(slot(second)), None);
    }

    /// The read path's way into the ring. A thread alone takes the ring's lock as any signal
    /// does (deferring would only add work). Threads that meet on it (a `try_lock` fails) mark
    /// the ring contended for `deferred::CONTENDED_US`; meanwhile read-path signals go to the
    /// emitting thread's stripe, so that each read no longer passes the ring's lock and lines
    /// between the cores. `key`: the slots' key, a shared `Arc` (see `emit_read_key`).
    fn emit_read_slots(&self, first: Slot, second: Option<Slot>, key: Option<&Arc<str>>) {
        let at = first.timestamp_us;
        if self.has_subscribers.load(Ordering::Acquire) {
            for mut slot in std::iter::once(first).chain(second) {
                if let Some(key) = key {
                    slot.key = key.into_key();
                }
                self.emit_slot(slot);
            }
            return;
        }
        if !self.deferred.contended(at) {
            if let Some(ring) = self.ring.try_lock() {
                return self.put_read(ring, first, second, key);
            }
            self.deferred.contend(at);
        }
        let mut due = false;
        for slot in std::iter::once(first).chain(second) {
            due |= match key {
                Some(key) => self.deferred.push_keyed(slot, key),
                None => self.deferred.push(slot),
            };
        }
        if due {
            self.join_deferred();
        }
    }

    /// [`Signals::emit_read_slots`] straight into the ring (no subscribers), after whatever
    /// was deferred.
    fn put_read(
        &self,
        mut ring: crate::sync::MutexGuard<'_, Ring>,
        mut first: Slot,
        second: Option<Slot>,
        key: Option<&Arc<str>>,
    ) {
        if self.deferred.any() {
            let mut none = Vec::new();
            self.join(&mut ring, true, false, &mut none);
        }
        if let Some(key) = key {
            first.key = key.into_key();
        }
        first.seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let a = ring.push(first);
        let b = second.and_then(|mut slot| {
            slot.seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            ring.push(slot)
        });
        drop(ring);
        drop((a, b));
    }

    /// Move this thread's deferred signals into the ring now (its stripe is due).
    fn join_deferred(&self) {
        // Subscribers came since the push started? Then they hear these too.
        let publish = self.has_subscribers.load(Ordering::Acquire);
        let mut published = Vec::new();
        drop(self.ring_with(false, publish, &mut published));
        self.publish_all(published);
    }

    /// The ring, locked, with the deferred signals joined to it first (numbered in turn); those
    /// to publish go to `out`, to be published once the lock is released. Every path into the
    /// ring goes through here or joins them itself, so a thread's deferred signals precede what
    /// it emits next. Every stripe's are joined: one load finds that there are none, where
    /// finding this thread's stripe would cost a thread-local lookup on every signal.
    fn ring(&self, publish: bool, out: &mut Vec<Signal>) -> crate::sync::MutexGuard<'_, Ring> {
        self.ring_with(true, publish, out)
    }

    /// [`Signals::ring`] with every thread's deferred signals joined (`all`) or only this
    /// thread's stripe (a stripe that is due: it need not wait on the others' locks).
    fn ring_with(
        &self,
        all: bool,
        publish: bool,
        out: &mut Vec<Signal>,
    ) -> crate::sync::MutexGuard<'_, Ring> {
        let mut ring = self.ring.lock();
        self.join(&mut ring, all, publish, out);
        ring
    }

    /// Join the deferred signals to `ring` (every stripe's, or this thread's).
    fn join(&self, ring: &mut Ring, all: bool, publish: bool, out: &mut Vec<Signal>) {
        let take = |mut slot: Slot| {
            slot.seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            if publish {
                out.push(slot.signal());
            }
            // Dropped under the lock: a deferred signal's key is mostly the reader's own.
            drop(ring.push(slot));
        };
        if all {
            self.deferred.drain_all(take);
        } else {
            self.deferred.drain_mine(take);
        }
    }

    /// Emit a burst under one lock, with consecutive sequence numbers in its order; its runs
    /// stay runs in the ring (see `signal/ring.rs`).
    pub(crate) fn emit_burst(&self, burst: Burst) {
        let n = burst.len();
        if n == 0 {
            return;
        }
        // Read the clock only for entries that do not carry their time.
        let mut now = None;
        let publish = self.has_subscribers.load(Ordering::Acquire);
        let mut published = Vec::new();
        {
            let mut ring = self.ring(publish, &mut published);
            // One reservation of sequence numbers for the whole burst.
            let mut seq = self.next_seq.fetch_add(n as u64, Ordering::Relaxed);
            let mut parts = burst.parts;
            for part in parts.drain(..) {
                let (name, key, status, duration_us, rows, ts) = match part {
                    Part::One(pending) => pending,
                    Part::Item(name, ts, duration_us, rows) => {
                        (name, None, Status::Ok, duration_us, rows, ts)
                    }
                    Part::Run(name, items) => {
                        let first = seq;
                        seq += items.len() as u64;
                        let out = publish.then_some(&mut published);
                        drop(ring.push_run(first, name, items, out));
                        continue;
                    }
                };
                let slot = Slot {
                    seq,
                    timestamp_us: if ts == 0 {
                        *now.get_or_insert_with(now_us)
                    } else {
                        ts
                    },
                    name: Cow::Borrowed(name),
                    key,
                    status,
                    duration_us,
                    rows,
                };
                seq += 1;
                if publish {
                    published.push(slot.signal());
                }
                // What falls out is dropped here, under the lock (no list to drop it later):
                // most of a group's signals have no key, so this rarely touches a shared count.
                drop(ring.push(slot));
            }
            drop(ring);
            ring::recycle(parts);
        }
        self.publish_all(published);
    }

    /// Publish signals collected under the ring's lock (usually none: no subscriber).
    fn publish_all(&self, published: Vec<Signal>) {
        if !published.is_empty() {
            for signal in published {
                self.publish(signal);
            }
        }
    }

    fn publish(&self, signal: Signal) {
        for sub in self.subscribers.read().iter() {
            if signal.matches(&sub.pattern) {
                match sub.queue.try_send(signal.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                        sub.dropped.fetch_add(1, Ordering::Relaxed);
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// The held signals after `after_seq` whose full form matches `pattern` (all when `None`).
    pub(crate) fn poll(&self, pattern: Option<&str>, after_seq: u64) -> Poll {
        let publish = self.has_subscribers.load(Ordering::Acquire);
        let mut published = Vec::new();
        let ring = self.ring(publish, &mut published);
        let oldest = ring
            .oldest()
            .unwrap_or_else(|| self.next_seq.load(Ordering::Relaxed));
        let missed = oldest.saturating_sub(after_seq.saturating_add(1));
        let from = after_seq.saturating_add(1);
        let mut keep = |name: &str, key: &str| {
            pattern
                .is_none_or(|p| crate::glob::matches(p, &crate::glob::Subject::signal(name, key)))
        };
        let mut signals = Vec::new();
        for entry in ring.from(from) {
            entry.signals(from, &mut keep, &mut signals);
        }
        drop(ring);
        self.publish_all(published);
        Poll { signals, missed }
    }

    /// Start delivering matching signals to `callback` on a dedicated dispatcher thread.
    /// `on_end` runs exactly once, on that thread, after its last callback.
    pub(crate) fn subscribe(
        &self,
        pattern: &str,
        callback: Callback,
        on_end: Option<Box<dyn FnOnce() + Send>>,
    ) -> Result<u64> {
        let id = self.next_subscription.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = crossbeam_channel::bounded::<Signal>(SUBSCRIBER_QUEUE);
        let active = Arc::new(AtomicBool::new(true));
        let still = active.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("sw-subscriber-{id}"))
            .spawn(move || {
                for signal in rx.iter() {
                    if !still.load(Ordering::Acquire) {
                        break;
                    }
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        crate::reentry::in_callback(|| callback(&signal))
                    }));
                }
                if let Some(end) = on_end {
                    let _ = catch_unwind(AssertUnwindSafe(end));
                }
            })
            .map_err(|e| {
                Error::new(
                    Status::Error,
                    format!("cannot start a dispatcher thread: {e}"),
                )
            })?;
        let sub = Arc::new(Subscriber {
            id,
            active,
            pattern: pattern.to_owned(),
            queue: tx,
            dropped: AtomicU64::new(0),
            thread: Mutex::new(Some(spawned)),
        });
        let mut subs = self.subscribers.write();
        subs.push(sub);
        self.has_subscribers.store(true, Ordering::Release);
        Ok(id)
    }

    /// Stop a subscription: no callback starts after this returns (unless called from that
    /// subscription's own callback, which then finishes first).
    pub(crate) fn unsubscribe(&self, id: u64) -> Result<()> {
        let sub = {
            let mut subs = self.subscribers.write();
            let pos = subs
                .iter()
                .position(|s| s.id == id)
                .ok_or_else(|| Error::invalid(format!("no subscription {id}")))?;
            let sub = subs.remove(pos);
            self.has_subscribers
                .store(!subs.is_empty(), Ordering::Release);
            sub
        };
        finish(sub);
        Ok(())
    }

    /// Signals dropped for one subscription.
    pub(crate) fn dropped_for(&self, id: u64) -> Option<u64> {
        self.subscribers
            .read()
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.dropped.load(Ordering::Relaxed))
    }

    /// End every subscription (writer close).
    pub(crate) fn unsubscribe_all(&self) {
        let subs: Vec<_> = std::mem::take(&mut *self.subscribers.write());
        self.has_subscribers.store(false, Ordering::Release);
        for sub in subs {
            finish(sub);
        }
    }
}

/// Close a subscriber's queue and wait for its thread, unless we are that thread.
fn finish(sub: Arc<Subscriber>) {
    sub.active.store(false, Ordering::Release);
    let handle = sub.thread.lock().take();
    drop(sub); // drops the last sender once no emitter holds the Arc
    if let Some(handle) = handle {
        if handle.thread().id() != std::thread::current().id() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_unix_time_in_microseconds_and_never_goes_back() {
        let unix = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_micros() as i64
        };
        let before = unix();
        let mut last = now_us();
        let after = unix();
        // Tied to the system clock once: within a second of it while nobody steps it.
        assert!(
            last > before - 1_000_000 && last < after + 1_000_000,
            "{before} {last} {after}"
        );
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(20) {
            let t = now_us();
            assert!(t >= last, "{t} after {last}");
            last = t;
        }
        // And it moves with the monotonic clock.
        let elapsed = start.elapsed().as_micros() as i64;
        let t0 = now_us();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let moved = now_us() - t0;
        assert!(
            (5_000..1_000_000).contains(&moved),
            "{moved} µs for 5 ms ({elapsed})"
        );
    }

    fn names(p: &Poll) -> Vec<String> {
        p.signals.iter().map(|s| s.full_name()).collect()
    }

    /// A read's signals wait in their thread's stripe, but a poll sees them all, and whatever
    /// the thread emits next follows them; numbers stay contiguous.
    #[test]
    fn deferred_signals_are_polled_and_keep_their_threads_order() {
        let s = Signals::new(1000, 1);
        s.deferred.contend(i64::MAX);
        let at = now_us();
        s.emit_read(at, "cache.hit", "k1", -1, -1);
        s.emit_read_two(at, "cache.miss", "read.start", "k2");
        s.emit_read(at, "read.done", "k2", 5, 1);
        // This thread's next direct signal joins after its deferred ones.
        s.emit("cache.set", "k2");
        let p = s.poll(None, 0);
        assert_eq!(
            names(&p),
            [
                "cache.hit:k1",
                "cache.miss:k2",
                "read.start:k2",
                "read.done:k2",
                "cache.set:k2"
            ]
        );
        assert_eq!(
            p.signals.iter().map(|s| s.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!((p.signals[3].duration_us, p.signals[3].rows), (5, 1));
        assert_eq!(p.signals[0].timestamp_us, at);
        // Other threads' deferred signals: a poll from here still sees every one of them.
        std::thread::scope(|t| {
            for i in 0..4 {
                let s = &s;
                t.spawn(move || {
                    for j in 0..50 {
                        s.emit_read(now_us(), "cache.hit", format!("t{i}:{j}"), -1, -1);
                    }
                });
            }
        });
        let p = s.poll(None, 5);
        assert_eq!(p.signals.len(), 200);
        assert_eq!(
            p.signals.iter().map(|s| s.seq).collect::<Vec<_>>(),
            (6..206).collect::<Vec<_>>()
        );
        for i in 0..4 {
            // Each thread's own in order.
            let mine: Vec<String> = p
                .signals
                .iter()
                .map(|s| s.key.to_string())
                .filter(|k| k.starts_with(&format!("t{i}:")))
                .collect();
            assert_eq!(
                mine,
                (0..50).map(|j| format!("t{i}:{j}")).collect::<Vec<_>>()
            );
        }
        assert!(s.poll(None, 205).signals.is_empty());
    }

    /// A reader that finds the ring's lock held marks the ring contended and defers its
    /// signal; the next poll still has it.
    #[test]
    fn a_reader_that_meets_another_on_the_rings_lock_defers() {
        let s = Signals::new(100, 1);
        let held = s.ring.lock();
        std::thread::scope(|t| {
            t.spawn(|| s.emit_read(now_us(), "cache.hit", "k", -1, -1));
        });
        drop(held);
        assert!(s.deferred.contended(now_us()));
        assert_eq!(s.ring.lock().len(), 0);
        assert_eq!(names(&s.poll(None, 0)), ["cache.hit:k"]);
    }

    /// A key hit repeatedly is held as the stripe's own copy: the signals still carry the key
    /// they were emitted with, whatever the order of keys, and hold no count of the shared one.
    #[test]
    fn deferred_signals_keep_their_keys_through_the_stripes_copy() {
        let s = Signals::new(1000, 1);
        s.deferred.contend(i64::MAX);
        let at = now_us();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("users:1"), Arc::from("users:2"));
        let order = [&a, &a, &a, &b, &b, &a, &b, &a, &a];
        for key in order {
            s.emit_read_key(at, "cache.hit", key);
        }
        // A key freed and another allocated (perhaps at its address): still its own text.
        for i in 0..3 {
            let c: Arc<str> = Arc::from(format!("users:{}", 10 + i));
            s.emit_read_key(at, "cache.hit", &c);
            s.emit_read_key(at, "cache.hit", &c);
        }
        assert!(
            Arc::strong_count(&a) <= 3,
            "the stripe copies a repeated key"
        );
        let p = s.poll(None, 0);
        let keys: Vec<String> = p.signals.iter().map(|s| s.key.to_string()).collect();
        let mut want: Vec<String> = order.iter().map(|k| k.to_string()).collect();
        for i in 0..3 {
            want.extend([format!("users:{}", 10 + i), format!("users:{}", 10 + i)]);
        }
        assert_eq!(keys, want);
    }

    /// A full stripe joins the ring without waiting for a poll; with a subscriber nothing
    /// waits at all.
    #[test]
    fn deferred_signals_join_the_ring_when_a_stripe_fills_and_not_at_all_for_subscribers() {
        let s = Signals::new(1000, 1);
        let at = now_us();
        // Alone on the ring, a reader's signals go straight in.
        s.emit_read(at, "cache.hit", "first", -1, -1);
        assert_eq!(s.ring.lock().len(), 1);
        s.poll(None, 0);
        // Once threads met on its lock, they wait in the stripe.
        s.deferred.contend(i64::MAX);
        for i in 0..deferred::FLUSH_AT {
            assert_eq!(s.ring.lock().len(), 1);
            s.emit_read(at, "cache.hit", format!("k{i}"), -1, -1);
        }
        assert_eq!(s.ring.lock().len(), 1 + deferred::FLUSH_AT);
        s.emit_read(at, "cache.hit", "late", -1, -1);
        assert_eq!(s.ring.lock().len(), 1 + deferred::FLUSH_AT);
        let (tx, rx) = crossbeam_channel::unbounded();
        let tx = Mutex::new(tx);
        let id = s
            .subscribe(
                "cache.*",
                Box::new(move |sig: &Signal| {
                    let _ = tx.lock().send(sig.full_name());
                }),
                None,
            )
            .unwrap();
        s.emit_read(at, "cache.hit", "heard", -1, -1);
        // Emitted directly, after this thread's held signal ("late"), which the subscriber
        // hears too, as it joins the ring.
        assert_eq!(s.ring.lock().len(), deferred::FLUSH_AT + 3);
        let got: Vec<String> = (0..2)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(got, ["cache.hit:late", "cache.hit:heard"]);
        s.unsubscribe(id).unwrap();
    }

    #[test]
    fn ring_is_bounded_and_reports_missed() {
        let s = Signals::new(4, 1);
        for i in 0..10 {
            s.emit("write.done", format!("{i}"));
        }
        let p = s.poll(None, 0);
        assert_eq!(p.signals.len(), 4);
        assert_eq!(p.signals[0].seq, 7);
        assert_eq!(p.missed, 6);
        let p = s.poll(None, 8);
        assert_eq!(
            p.signals.iter().map(|s| s.seq).collect::<Vec<_>>(),
            vec![9, 10]
        );
        assert_eq!(p.missed, 0);
    }

    /// Single signals and runs, trimmed at every capacity, poll exactly as the same signals
    /// emitted one by one would: the newest `capacity`, contiguous seqs, every field.
    #[test]
    fn runs_poll_like_single_signals_at_every_capacity() {
        let emit_bursts = |s: &Signals| {
            for g in 0..5i64 {
                let mut b = Burst::default();
                for j in 0..g {
                    b.item("write.enqueue", 1000 + g * 10 + j, -1, -1);
                }
                b.same("write.start", 2000 + g, g as usize);
                b.item("write.done", 3000 + g, 7, g * 2);
                b.one((
                    "write.error",
                    Some(Arc::from("boom")),
                    Status::Busy,
                    9,
                    -1,
                    4000 + g,
                ));
                b.item("write.done", 5000 + g, 8, 1);
                s.emit_burst(b);
            }
        };
        // The same signals, each on its own, as (name, key, status, duration, rows, ts).
        let mut flat = Vec::new();
        for g in 0..5i64 {
            for j in 0..g {
                flat.push(("write.enqueue", "", Status::Ok, -1, -1, 1000 + g * 10 + j));
            }
            for _ in 0..g {
                flat.push(("write.start", "", Status::Ok, -1, -1, 2000 + g));
            }
            flat.push(("write.done", "", Status::Ok, 7, g * 2, 3000 + g));
            flat.push(("write.error", "boom", Status::Busy, 9, -1, 4000 + g));
            flat.push(("write.done", "", Status::Ok, 8, 1, 5000 + g));
        }
        let total = flat.len() as u64;
        for capacity in 1..=flat.len() + 2 {
            let s = Signals::new(capacity, 1);
            emit_bursts(&s);
            assert_eq!(s.ring.lock().len(), capacity.min(flat.len()));
            for after in [0, 1, total / 2, total - 1, total, total + 3] {
                for pattern in [None, Some("write.done"), Some("write.e*"), Some("*:boom")] {
                    let p = s.poll(pattern, after);
                    let oldest = total - capacity.min(flat.len()) as u64 + 1;
                    assert_eq!(
                        p.missed,
                        oldest.saturating_sub(after + 1),
                        "{capacity} {after}"
                    );
                    let want: Vec<_> = flat
                        .iter()
                        .enumerate()
                        .map(|(i, f)| (i as u64 + 1, f))
                        .filter(|(seq, _)| *seq > after && *seq >= oldest)
                        .filter(|(_, f)| {
                            pattern.is_none_or(|p| {
                                crate::glob::matches(p, &crate::glob::Subject::signal(f.0, f.1))
                            })
                        })
                        .map(|(seq, f)| (seq, f.0.to_string(), f.1.to_string(), f.2, f.3, f.4, f.5))
                        .collect();
                    let got: Vec<_> = p
                        .signals
                        .iter()
                        .map(|g| {
                            (
                                g.seq,
                                g.name.to_string(),
                                g.key.to_string(),
                                g.status,
                                g.duration_us,
                                g.rows,
                                g.timestamp_us,
                            )
                        })
                        .collect();
                    assert_eq!(got, want, "capacity {capacity}, after {after}, {pattern:?}");
                }
            }
        }
    }

    /// A subscriber gets every signal of a burst, even those a small ring cannot hold.
    #[test]
    fn subscribers_get_whole_runs() {
        let s = Signals::new(2, 1);
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        let id = s
            .subscribe(
                "write.*",
                Box::new(move |sig| {
                    let _ = tx.lock().send(sig.seq);
                }),
                None,
            )
            .unwrap();
        let mut b = Burst::default();
        for i in 0..5 {
            b.item("write.done", 100 + i, 1, 1);
        }
        b.same("write.start", 7, 3);
        s.emit_burst(b);
        let got: Vec<u64> = (0..8)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(got, (1..=8).collect::<Vec<_>>());
        s.unsubscribe(id).unwrap();
    }

    #[test]
    fn sampling_emits_one_in_n() {
        let s = Signals::new(100, 10);
        let n = (0..100).filter(|_| s.sampled(Sampled::Write)).count();
        assert_eq!(n, 10);
    }
}
