//! Process-wide facts: SQLite's one-time configuration, and `fork()`.
//!
//! Owns the fork generation — a number that changes in a child process the moment it is forked
//! — and the locks held across `fork()` so that the child finds them consistent. Every writer
//! notes the generation it was opened in; a writer from an older generation was inherited from
//! the parent and is never used in the child: its threads do not exist there, and SQLite's own
//! documentation forbids carrying a connection across `fork()`
//! (<https://sqlite.org/howtocorrupt.html>, "Carrying an open database connection across a
//! fork()"). Must never run anything but atomics and unlocks in the child handler.
//!
//! One of the two core modules allowed `unsafe` (with `read/wal_index.rs`): `sqlite3_config`,
//! `pthread_atfork`, and releasing, in the fork handlers, locks taken in the prepare handler.
#![allow(unsafe_code)]

use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

use crate::sync::{Mutex, RwLock};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The fork generation of this process: 0 in the process that loaded the library, one more in
/// each forked child (and grandchild) than in its parent.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// A lock held across `fork()`: taken before the fork (so no other thread of the parent holds
/// it while the address space is copied), released after it in the parent and in the child.
/// `acquire` returns what to drop to release it.
type Acquire = Box<dyn Fn() -> Box<dyn std::any::Any> + Send + Sync>;

fn held() -> &'static Mutex<Vec<Acquire>> {
    static HELD: OnceLock<Mutex<Vec<Acquire>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

thread_local! {
    /// The guards taken by `before_fork` on the forking thread, dropped after the fork (the
    /// handlers of one fork run on the thread that calls it, in the parent and in the child).
    static GUARDS: std::cell::RefCell<Vec<Box<dyn std::any::Any>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Hold `m` across every `fork()` of this process from now on.
pub(crate) fn hold_across_fork<T: Send + 'static>(m: &'static Mutex<T>) {
    configure_once();
    held().lock().push(Box::new(move || Box::new(m.lock())));
}

/// Hold `l` (for writing) across every `fork()` of this process from now on.
pub(crate) fn hold_rwlock_across_fork<T: Send + Sync + 'static>(l: &'static RwLock<T>) {
    configure_once();
    held().lock().push(Box::new(move || Box::new(l.write())));
}

/// A SQLite static mutex, entered for as long as this value lives.
struct SqliteMutex(c_int);

impl SqliteMutex {
    fn enter(id: c_int) -> SqliteMutex {
        // SAFETY: a static mutex (never freed; alloc only looks it up); left in `drop` by the
        // same thread, as SQLite requires.
        unsafe { rusqlite::ffi::sqlite3_mutex_enter(rusqlite::ffi::sqlite3_mutex_alloc(id)) };
        SqliteMutex(id)
    }
}

impl Drop for SqliteMutex {
    fn drop(&mut self) {
        // SAFETY: entered by this thread in `enter`.
        unsafe { rusqlite::ffi::sqlite3_mutex_leave(rusqlite::ffi::sqlite3_mutex_alloc(self.0)) };
    }
}

extern "C" fn before_fork() {
    // The list itself is held too, so no registration interleaves with a fork.
    let list = held().lock();
    let mut guards: Vec<Box<dyn std::any::Any>> = list.iter().map(|acquire| acquire()).collect();
    guards.push(Box::new(list));
    GUARDS.with(|g| *g.borrow_mut() = guards);
}

fn release_all() {
    let guards = GUARDS.with(|g| std::mem::take(&mut *g.borrow_mut()));
    // Released in the reverse order of taking.
    for guard in guards.into_iter().rev() {
        drop(guard);
    }
}

extern "C" fn after_fork_in_parent() {
    release_all();
}

extern "C" fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    release_all();
}

/// Configure SQLite (before anything opens a database) and register the fork handlers; once per
/// process.
///
/// SQLite's memory statistics are turned off: they take one process-wide mutex on every
/// allocation SQLite makes, shared by all our connections, and nothing here reads them. When
/// SQLite was already initialized by someone else in the process, the call is refused and
/// changes nothing.
pub(crate) fn configure_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is only valid before SQLite initializes; otherwise it returns
        // SQLITE_MISUSE and does nothing. MEMSTATUS takes one int argument.
        unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            );
        }
        // SQLite's process-wide mutexes that opening, closing and reading take (the unix
        // VFS's inode list and memdb's list, the main one, the page-cache statistics, the
        // random number generator): a fork while another thread holds one would leave it
        // locked for good in the child, and the child's next open or read would hang.
        for id in [
            rusqlite::ffi::SQLITE_MUTEX_STATIC_VFS1,
            rusqlite::ffi::SQLITE_MUTEX_STATIC_MAIN,
            rusqlite::ffi::SQLITE_MUTEX_STATIC_PMEM,
            rusqlite::ffi::SQLITE_MUTEX_STATIC_PRNG,
        ] {
            held()
                .lock()
                .push(Box::new(move || Box::new(SqliteMutex::enter(id))));
        }
        // SAFETY: three `extern "C" fn()` with static lifetime; registering cannot fail in a
        // way that matters here (ENOMEM would only mean fork is not protected).
        unsafe {
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_fork_in_parent),
                Some(after_fork_in_child),
            );
        }
    });
}
