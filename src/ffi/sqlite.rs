//! Process-wide configuration of the bundled SQLite, applied once before the first database
//! is opened.

use std::sync::Once;

/// Turn off SQLite's memory statistics: they take one process-wide mutex on every allocation
/// SQLite makes, shared by all our connections. Nothing in this library reads those statistics.
/// When SQLite was already initialized by someone else in the process, the call is refused and
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
    });
}
