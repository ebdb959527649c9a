//! The write connection's WAL hook: the frame count after each commit, and the PASSIVE
//! checkpoint that replaces SQLite's automatic one.
//!
//! Owns the hook's registration through SQLite's C API and the state it points to. The
//! writer's own checkpoints, for a log readers kept from restarting, are `checkpoint.rs`'s;
//! they read the frame count kept here. Must never outlive the connection (it is unregistered
//! before the connection closes) and never fail a commit.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;

/// Frames in the WAL after which a commit runs a PASSIVE checkpoint (SQLite's own default for
/// its automatic checkpoint, which [`WalHook`] replaces).
const PASSIVE_FRAMES: std::ffi::c_int = 1000;

/// The write connection's WAL hook, registered through SQLite's C API (rusqlite's wrapper
/// allocated a connection handle on every commit, about 270 instructions a commit).
///
/// It replaces SQLite's automatic checkpoint, so it does that one's work as well: a PASSIVE
/// checkpoint once the log holds [`PASSIVE_FRAMES`], after which the next commit writes the
/// log again from its start, over pages the kernel still caches. The writer's own checkpoint
/// (`checkpoint.rs`: reads held back, the log truncated) is for a log that passed `WAL Limit` because
/// readers kept it from restarting; leaving every restart to it (a 64 MiB log by default,
/// truncated to nothing each time) made every commit's pwrite allocate fresh page-cache
/// pages: a lone write took 11.5 µs against raw SQLite's 7.5 µs. One attempt per
/// [`PASSIVE_FRAMES`] new frames: while a reader keeps the log from restarting, a checkpoint
/// after every commit would cost each commit its fsyncs.
///
/// Declared before the connection in [`WriteConn`](super::conn::WriteConn), so it drops first.
pub(crate) type WalHook = super::registered::Registered<WalState>;

pub(crate) struct WalState {
    /// Frames in the log after the last commit.
    frames: Arc<AtomicU64>,
    /// The frame count at which the next PASSIVE checkpoint is tried.
    next_attempt: AtomicI32,
}

/// Register the hook on the write connection; the frame count it keeps.
#[allow(unsafe_code)]
pub(crate) fn install(db: &rusqlite::Connection) -> (WalHook, Arc<AtomicU64>) {
    let frames = Arc::new(AtomicU64::new(0));
    let state = WalState {
        frames: frames.clone(),
        next_attempt: AtomicI32::new(PASSIVE_FRAMES),
    };
    // SAFETY (both): `WalHook::new` and its drop call them with the open connection.
    let register: unsafe fn(*mut rusqlite::ffi::sqlite3, *mut std::ffi::c_void) = |db, p| unsafe {
        rusqlite::ffi::sqlite3_wal_hook(db, Some(on_wal_commit), p);
    };
    let unregister: unsafe fn(*mut rusqlite::ffi::sqlite3) = |db| unsafe {
        rusqlite::ffi::sqlite3_wal_hook(db, None, std::ptr::null_mut());
    };
    // SAFETY: `on_wal_commit` reads its argument as the `WalState`; `unregister` removes it.
    let hook = unsafe { WalHook::new(db, state, register, unregister) };
    (hook, frames)
}

/// SQLite's WAL hook, after each commit: `p` is the [`WalState`], `pages` the frames in the log.
#[allow(unsafe_code)]
unsafe extern "C" fn on_wal_commit(
    p: *mut std::ffi::c_void,
    db: *mut rusqlite::ffi::sqlite3,
    db_name: *const std::ffi::c_char,
    pages: std::ffi::c_int,
) -> std::ffi::c_int {
    // SAFETY: SQLite passes the pointer registered in `install` (valid until the
    // hook is unregistered).
    let state = unsafe { &*(p as *const WalState) };
    state.frames.store(pages.max(0) as u64, Ordering::Release);
    let mut next = state.next_attempt.load(Ordering::Relaxed);
    if pages < next - PASSIVE_FRAMES {
        // The log restarted since the last attempt.
        next = PASSIVE_FRAMES;
        state.next_attempt.store(next, Ordering::Relaxed);
    }
    if pages >= next {
        state
            .next_attempt
            .store(pages.saturating_add(PASSIVE_FRAMES), Ordering::Relaxed);
        // SAFETY: SQLite's own automatic checkpoint does the same from this hook, with the
        // connection and database name it was given.
        unsafe {
            rusqlite::ffi::sqlite3_wal_checkpoint_v2(
                db,
                db_name,
                rusqlite::ffi::SQLITE_CHECKPOINT_PASSIVE,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }
    rusqlite::ffi::SQLITE_OK
}
