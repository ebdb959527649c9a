//! Locks and condition variables that survive `fork()`: thin wrappers over `std::sync`.
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
