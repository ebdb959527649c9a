//! The write connection's commit hook: a call inside SQLite's commit of a statement that ran in
//! autocommit, before the commit is visible to any other connection.
//!
//! Owns the hook's registration through SQLite's C API and the slot a caller arms for one
//! statement ([`CommitState::armed_during`]). A lone write that runs without BEGIN/COMMIT
//! (`group.rs`) commits inside its own step, so the cache's counters must move from in here:
//! after the statement's rows were reported (the update hook) and before its changes can be
//! read elsewhere, as a group's do right before its COMMIT. Must never let a commit through
//! whose cache move failed (it answers a panic by turning the commit into a rollback), and
//! never outlive the connection (unregistered before it closes).
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

/// The registered hook. Declared before the connection in
/// [`WriteConn`](super::conn::WriteConn), so it drops first.
pub(crate) type CommitHook = super::registered::Registered<CommitState>;

/// What the hook calls: a pointer to the armed caller's `&mut dyn FnMut()`, or null.
#[derive(Default)]
pub(crate) struct CommitState {
    armed: AtomicPtr<c_void>,
}

impl CommitState {
    /// Run `during` (which steps a statement in autocommit) with `on_commit` armed: the hook
    /// calls it once if that statement commits. Disarmed again when `during` returns or
    /// unwinds. Every other commit (a group's COMMIT) finds the slot empty.
    pub(crate) fn armed_during<R>(
        &self,
        on_commit: &mut dyn FnMut(),
        during: impl FnOnce() -> R,
    ) -> R {
        struct Disarm<'a>(&'a AtomicPtr<c_void>);
        impl Drop for Disarm<'_> {
            fn drop(&mut self) {
                self.0.store(std::ptr::null_mut(), Ordering::Relaxed);
            }
        }
        let mut slot: &mut dyn FnMut() = on_commit;
        // The pointer lives until `Disarm` empties the slot, before `slot` goes out of scope.
        self.armed.store(
            (&mut slot as *mut &mut dyn FnMut()).cast(),
            Ordering::Relaxed,
        );
        let _disarm = Disarm(&self.armed);
        during()
    }
}

/// Register the hook on the write connection.
pub(crate) fn install(db: &rusqlite::Connection) -> CommitHook {
    // SAFETY (both): `CommitHook::new` and its drop call them with the open connection.
    let register: unsafe fn(*mut rusqlite::ffi::sqlite3, *mut c_void) = |db, p| unsafe {
        rusqlite::ffi::sqlite3_commit_hook(db, Some(on_commit), p);
    };
    let unregister: unsafe fn(*mut rusqlite::ffi::sqlite3) = |db| unsafe {
        rusqlite::ffi::sqlite3_commit_hook(db, None, std::ptr::null_mut());
    };
    // SAFETY: `on_commit` reads its argument as the `CommitState`; `unregister` removes it.
    unsafe { CommitHook::new(db, CommitState::default(), register, unregister) }
}

/// SQLite's commit hook: `p` is the [`CommitState`]. Returns 0 to let the commit go on; 1
/// (SQLite then rolls back) only when the armed call panicked, so that no commit becomes
/// visible whose cache move did not happen.
unsafe extern "C" fn on_commit(p: *mut c_void) -> c_int {
    // SAFETY: SQLite passes the pointer registered in `install` (valid until the hook is
    // unregistered).
    let state = unsafe { &*(p as *const CommitState) };
    let armed = state.armed.swap(std::ptr::null_mut(), Ordering::Relaxed);
    if armed.is_null() {
        return 0;
    }
    // SAFETY: `armed_during` stored a pointer to its `&mut dyn FnMut()`, alive until it
    // empties the slot, which it does only after the step that called this returned; the slot
    // was just emptied, so this runs it once.
    let f = unsafe { &mut *(armed as *mut &mut dyn FnMut()) };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
