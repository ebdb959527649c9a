//! The re-entry guard: which threads are running user code called by the library.
//!
//! Owns the per-thread depth of library-called user code (transaction bodies, completion and
//! signal callbacks). A blocking writer call made there would wait for the very thread or lane
//! that is running it; callers check [`inside_callback`] and return `SW_STATUS_MISUSE` instead
//! (or, for a read that needs the write connection, only try to take it: `Engine::run_read`).
//! Must never be consulted for anything but those decisions.

use std::cell::Cell;

thread_local! {
    static CALLBACK_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Run `f` marked as library-called user code: blocking writer calls inside it are misuse.
pub(crate) fn in_callback<R>(f: impl FnOnce() -> R) -> R {
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            CALLBACK_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
    CALLBACK_DEPTH.with(|d| d.set(d.get() + 1));
    let _depth = Depth;
    f()
}

/// Whether this thread is inside a transaction body or a completion/signal callback.
pub(crate) fn inside_callback() -> bool {
    // After this thread's thread-locals are gone (exit handlers) no callback can be running.
    CALLBACK_DEPTH.try_with(|d| d.get() > 0).unwrap_or(false)
}
