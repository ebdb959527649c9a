//! A C callback registered on the write connection (SQLite's update hook, its WAL hook), with
//! the state SQLite hands back to it.
//!
//! Owns that state: it is boxed when the callback is registered and freed only after the
//! callback is unregistered. Must drop before the connection closes (each field holding one is
//! declared before the connection in [`WriteConn`](super::conn::WriteConn)).
#![allow(unsafe_code)]

use rusqlite::ffi::sqlite3;
use rusqlite::Connection;

/// A registered callback's state, unregistered and freed on drop.
pub(crate) struct Registered<T> {
    db: *mut sqlite3,
    state: *mut T,
    unregister: unsafe fn(*mut sqlite3),
}

// SAFETY: the callback belongs to the write connection and is only touched by whoever holds
// it (the writer's connection lock), like the connection itself; `T` moves with it.
unsafe impl<T: Send> Send for Registered<T> {}

impl<T> Registered<T> {
    /// Box `state` and pass it to `register`, which registers the callback on the connection
    /// with it as the callback's argument; `unregister` removes the callback again.
    ///
    /// # Safety
    /// `register` must register a callback that treats its argument as `*const T`, and
    /// `unregister` must remove it, so that SQLite holds the pointer no longer.
    pub(crate) unsafe fn new(
        db: &Connection,
        state: T,
        register: unsafe fn(*mut sqlite3, *mut std::ffi::c_void),
        unregister: unsafe fn(*mut sqlite3),
    ) -> Registered<T> {
        let state = Box::into_raw(Box::new(state));
        // SAFETY: `handle` is the open connection; `state` stays valid until `drop`, which
        // unregisters the callback first (the caller's contract).
        unsafe {
            let db = db.handle();
            register(db, state.cast());
            Registered {
                db,
                state,
                unregister,
            }
        }
    }

    /// The state the callback is handed (shared with it: its fields that change are atomics).
    pub(crate) fn state(&self) -> &T {
        // SAFETY: `state` stays valid until `drop`.
        unsafe { &*self.state }
    }
}

impl<T> Drop for Registered<T> {
    fn drop(&mut self) {
        // SAFETY: the connection is still open (this drops before it); after `unregister`
        // SQLite no longer holds `state`, which `new` made with `Box::into_raw`.
        unsafe {
            (self.unregister)(self.db);
            drop(Box::from_raw(self.state));
        }
    }
}
