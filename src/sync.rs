//! Locks and condition variables that survive `fork()`: thin wrappers over `std::sync`, and
//! [`ReadMostly`], a reader-writer lock whose readers share no written word.
//!
//! Owns the choice of locking primitive for the whole crate. `std::sync` on Linux keeps every
//! wait on the lock's own futex word. parking_lot (the design card's first choice) parks
//! contended waiters in one process-wide hash table whose bucket locks a thread may hold at the
//! moment another thread forks; in the child those buckets stay locked forever, and the child's
//! first contended lock anywhere hangs (parking_lot issue #515; seen here: a forked child
//! opening a database hung in `notify_one`). So the crate uses these instead, with
//! parking_lot's shape: no poisoning (a panic inside a lock is already caught at the library
//! boundary, and the data under our locks stays consistent at every unlock), `lock()` returning
//! the guard, condition variables waiting on `&mut` guards. Must never add a wait that is not
//! on its own futex word.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// A mutual-exclusion lock (std's, without poisoning).
#[derive(Default)]
pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

/// A locked [`Mutex`]; unlocks when dropped.
pub(crate) struct MutexGuard<'a, T>(Option<std::sync::MutexGuard<'a, T>>);

impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(g) => Some(MutexGuard(Some(g))),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(MutexGuard(Some(p.into_inner()))),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Only `Condvar` takes the inner guard out, and always puts it back before returning.
        self.0.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

/// Whether a timed wait returned because its time was up.
pub(crate) struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    pub(crate) fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable (std's) that knows whether anyone waits on it.
///
/// std's `notify_one`/`notify_all` on Linux always make a `FUTEX_WAKE` system call, waiter or
/// not; the read pool notifies on every check-in and the cache on every fill, so with nobody
/// waiting that call was about a tenth of an uncached point read (`perf`: `futex_wake`,
/// `futex_hash`, `do_syscall_64`). A waiter counts itself while it holds the mutex, before it
/// waits; a notifier that changed the condition under the same mutex therefore sees it.
#[derive(Default)]
pub(crate) struct Condvar {
    cv: std::sync::Condvar,
    waiters: AtomicUsize,
}

impl Condvar {
    pub(crate) const fn new() -> Condvar {
        Condvar {
            cv: std::sync::Condvar::new(),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Unlock `guard`, wait for a notification (or a spurious wake-up), lock again.
    pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        if let Some(g) = guard.0.take() {
            self.waiters.fetch_add(1, Ordering::SeqCst);
            let g = self.cv.wait(g).unwrap_or_else(PoisonError::into_inner);
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            guard.0 = Some(g);
        }
    }

    /// [`Condvar::wait`] for at most `timeout`.
    pub(crate) fn wait_for<T>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        let Some(g) = guard.0.take() else {
            return WaitTimeoutResult(true);
        };
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let (g, r) = self
            .cv
            .wait_timeout(g, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        guard.0 = Some(g);
        WaitTimeoutResult(r.timed_out())
    }

    /// [`Condvar::wait`] until `deadline`.
    pub(crate) fn wait_until<T>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        let now = Instant::now();
        if deadline <= now {
            return WaitTimeoutResult(true);
        }
        self.wait_for(guard, deadline - now)
    }

    pub(crate) fn notify_one(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.cv.notify_one();
        }
    }

    pub(crate) fn notify_all(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.cv.notify_all();
        }
    }
}

/// A reader-writer lock (std's, without poisoning).
#[derive(Default)]
pub(crate) struct RwLock<T>(std::sync::RwLock<T>);

impl<T> RwLock<T> {
    pub(crate) const fn new(value: T) -> RwLock<T> {
        RwLock(std::sync::RwLock::new(value))
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stripes of a [`ReadMostly`] lock (and of the signals' per-thread buffers).
pub(crate) const STRIPES: usize = 8;

/// This thread's stripe (below [`STRIPES`]): threads take stripes in turn, so up to
/// [`STRIPES`] threads never share one.
pub(crate) fn thread_stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        // Constant-initialised (no lazy-init state to check on every call); numbered on first
        // use.
        static NUMBER: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    NUMBER
        .try_with(|n| {
            if n.get() == usize::MAX {
                n.set(NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES);
            }
            n.get()
        })
        .unwrap_or(0)
}

/// A reader count of one stripe, on cache lines of its own (two, for the adjacent-line
/// prefetcher), with a counter its readers may bump (a cache shard's hits).
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Stripe {
    readers: AtomicUsize,
    /// Counted by [`ReadGuard::count`]; summed by [`ReadMostly::counted`].
    count: std::sync::atomic::AtomicU64,
}

/// A reader-writer lock for data that many threads read at once and few write: a reader writes
/// only its own stripe's count, never a word that every reader shares. The standard
/// `RwLock`'s readers all write its one state word, and on one hot cache entry two threads'
/// hits then spent their time passing that word's cache line between the cores.
///
/// A reader raises its stripe's count, then checks that no writer is in; a writer (one at a
/// time, under a mutex) says it is in, then waits until every stripe's count is zero. Both
/// sides store then load with `SeqCst`, so either the reader sees the writer and steps back,
/// or the writer sees the reader and waits for it. Readers wait for a writer, and a writer for
/// readers, by spinning and then yielding: both hold the lock only for a look-up or an insert.
/// Must never be held across anything that can block (the cache holds it for map operations
/// and a signal into its buffer or the ring).
pub(crate) struct ReadMostly<T> {
    writing: std::sync::atomic::AtomicBool,
    writer: std::sync::Mutex<()>,
    stripes: [Stripe; STRIPES],
    value: std::cell::UnsafeCell<T>,
}

#[allow(unsafe_code)]
// SAFETY: the value is reached only through the guards: shared (`&T`) by readers while no
// writer is in, exclusive (`&mut T`) by one writer while no reader is in (see the protocol
// above), so sharing the lock between threads is as sound as sharing an `RwLock<T>`.
unsafe impl<T: Send + Sync> Sync for ReadMostly<T> {}

/// A shared hold on a [`ReadMostly`].
pub(crate) struct ReadGuard<'a, T> {
    lock: &'a ReadMostly<T>,
    stripe: &'a Stripe,
}

/// An exclusive hold on a [`ReadMostly`].
pub(crate) struct WriteGuard<'a, T> {
    lock: &'a ReadMostly<T>,
    _writer: std::sync::MutexGuard<'a, ()>,
}

/// Spin briefly, then let other threads run.
fn backoff(round: &mut u32) {
    if *round < 64 {
        std::hint::spin_loop();
        *round += 1;
    } else {
        std::thread::yield_now();
    }
}

impl<T> ReadMostly<T> {
    pub(crate) fn new(value: T) -> ReadMostly<T> {
        ReadMostly {
            writing: std::sync::atomic::AtomicBool::new(false),
            writer: std::sync::Mutex::new(()),
            stripes: Default::default(),
            value: std::cell::UnsafeCell::new(value),
        }
    }

    pub(crate) fn read(&self) -> ReadGuard<'_, T> {
        let stripe = &self.stripes[thread_stripe()];
        let mut round = 0;
        loop {
            stripe.readers.fetch_add(1, Ordering::SeqCst);
            if !self.writing.load(Ordering::SeqCst) {
                return ReadGuard { lock: self, stripe };
            }
            stripe.readers.fetch_sub(1, Ordering::SeqCst);
            while self.writing.load(Ordering::Relaxed) {
                backoff(&mut round);
            }
        }
    }

    pub(crate) fn write(&self) -> WriteGuard<'_, T> {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        self.writing.store(true, Ordering::SeqCst);
        let mut round = 0;
        for stripe in &self.stripes {
            while stripe.readers.load(Ordering::SeqCst) != 0 {
                backoff(&mut round);
            }
        }
        WriteGuard {
            lock: self,
            _writer: writer,
        }
    }

    /// The sum of what readers counted ([`ReadGuard::count`]).
    pub(crate) fn counted(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.count.load(Ordering::Relaxed))
            .sum()
    }
}

impl<T> ReadGuard<'_, T> {
    /// Count one event on this reader's stripe (summed by [`ReadMostly::counted`]).
    pub(crate) fn count(&self) {
        self.stripe.count.fetch_add(1, Ordering::Relaxed);
    }

    /// This reader's stripe (below [`STRIPES`]).
    pub(crate) fn stripe(&self) -> usize {
        (self.stripe as *const Stripe as usize - self.lock.stripes.as_ptr() as usize)
            / std::mem::size_of::<Stripe>()
    }
}

#[allow(unsafe_code)]
impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: no writer is in while this reader is counted (see `ReadMostly`).
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        self.stripe.readers.fetch_sub(1, Ordering::Release);
    }
}

#[allow(unsafe_code)]
impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this writer is alone (see `ReadMostly`).
        unsafe { &*self.lock.value.get() }
    }
}

#[allow(unsafe_code)]
impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this writer is alone (see `ReadMostly`).
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.writing.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod read_mostly_tests {
    use super::*;

    /// Readers never see a writer's half-done change, writers never overlap, and the readers'
    /// counts add up, with more threads than stripes (so some share one).
    #[test]
    fn readers_and_writers_exclude_each_other() {
        let lock = ReadMostly::new((0u64, 0u64));
        let threads = STRIPES + 4;
        let rounds = 20_000u64;
        std::thread::scope(|t| {
            for i in 0..threads {
                let lock = &lock;
                t.spawn(move || {
                    for r in 0..rounds {
                        if (r + i as u64).is_multiple_of(16) {
                            let mut w = lock.write();
                            w.0 += 1;
                            for _ in 0..64 {
                                std::hint::spin_loop();
                            }
                            w.1 += 1;
                        } else {
                            let g = lock.read();
                            assert_eq!(g.0, g.1, "a reader saw a write half done");
                            g.count();
                        }
                    }
                });
            }
        });
        let writes = (0..threads as u64)
            .map(|i| (0..rounds).filter(|r| (r + i).is_multiple_of(16)).count() as u64)
            .sum::<u64>();
        let g = lock.read();
        assert_eq!(*g, (writes, writes));
        drop(g);
        assert_eq!(lock.counted(), threads as u64 * rounds - writes);
    }
}
