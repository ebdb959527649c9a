//! Status codes, versions and the thread-local last error.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CString};

use crate::error::Status;

/// A status: `SW_STATUS_OK` (0) or one of the error values below. The numbers are part of the
/// ABI and never reused.
pub type sw_status = u32;

/// Success.
pub const SW_STATUS_OK: sw_status = 0;
/// An SQL error: syntax, no such table, a failed statement.
pub const SW_STATUS_ERROR: sw_status = 1;
/// A constraint was violated (UNIQUE, NOT NULL, CHECK, FOREIGN KEY).
pub const SW_STATUS_CONSTRAINT: sw_status = 2;
/// Another process held the database lock beyond the busy policy (`Busy Timeout`).
pub const SW_STATUS_BUSY: sw_status = 3;
/// The write queue stayed full for `Enqueue Timeout`.
pub const SW_STATUS_QUEUE_FULL: sw_status = 4;
/// A wait ran out of time (`sw_writer_flush`).
pub const SW_STATUS_TIMEOUT: sw_status = 5;
/// The writer (or this handle) is closed or closing.
pub const SW_STATUS_CLOSED: sw_status = 6;
/// A bad argument: NULL where a value is required, an unknown option or value type, a parameter
/// the SQL lacks, an SQL parameter left unbound.
pub const SW_STATUS_INVALID_ARGUMENT: sw_status = 7;
/// Text that is not valid UTF-8.
pub const SW_STATUS_INVALID_UTF8: sw_status = 8;
/// A call that would deadlock or break the writer, e.g. a blocking call inside a transaction or
/// completion callback.
pub const SW_STATUS_MISUSE: sw_status = 9;
/// A transaction callback asked to roll back.
pub const SW_STATUS_ROLLBACK: sw_status = 10;
/// A write attempted through a read path, or a read-only database.
pub const SW_STATUS_READONLY: sw_status = 11;
/// Disk I/O error, disk full, or a file that cannot be opened.
pub const SW_STATUS_IO: sw_status = 12;
/// The database file is corrupt or not a database.
pub const SW_STATUS_CORRUPT: sw_status = 13;
/// A panic inside the library was caught; the operation failed, the library lives on.
pub const SW_STATUS_PANIC: sw_status = 14;
/// Memory for the operation could not be allocated (e.g. copying a very large parameter);
/// nothing was changed.
pub const SW_STATUS_NOMEM: sw_status = 15;

/// The version of this ABI; `sw_abi_version()` returns the same number. Bindings compare the two
/// at load time.
pub const SW_ABI_VERSION: u32 = 1;

struct LastError {
    message: CString,
    sqlite_code: i32,
}

thread_local! {
    static LAST: RefCell<LastError> = RefCell::new(LastError { message: CString::default(), sqlite_code: 0 });
    /// Whether `LAST` may hold an error: a call after a success (most calls) clears nothing and
    /// reads only this flag, not the lazily built `LAST` (about 30 instructions of every call).
    static HELD: Cell<bool> = const { Cell::new(false) };
}

// The thread-local is reached with `try_with` everywhere: calls from `atexit` handlers and C++
// static destructors come after the C runtime destroyed this thread's Rust thread-locals, and
// must still work (their errors are then not recorded).

pub(crate) fn clear_last_error() {
    if !HELD.try_with(|h| h.replace(false)).unwrap_or(true) {
        return;
    }
    let _ = LAST.try_with(|l| {
        let mut l = l.borrow_mut();
        if l.sqlite_code != 0 || !l.message.as_bytes().is_empty() {
            l.message = CString::default();
            l.sqlite_code = 0;
        }
    });
}

pub(crate) fn set_last_error(message: &str, sqlite_code: i32) {
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    let _ = LAST.try_with(|l| {
        *l.borrow_mut() = LastError {
            message,
            sqlite_code,
        }
    });
    let _ = HELD.try_with(|h| h.set(true));
}

/// The message describing the last non-OK status returned on this thread, or `""` when the
/// last call succeeded.
///
/// Owned by the library; valid until the next status-returning `sw_` call on this thread.
/// Never NULL. Thread: any (the value is per thread).
#[no_mangle]
pub extern "C" fn sw_last_error_message() -> *const c_char {
    LAST.try_with(|l| l.borrow().message.as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// SQLite's extended result code for the last non-OK status on this thread, or 0 when SQLite
/// did not produce the error. Thread: any (per thread).
#[no_mangle]
pub extern "C" fn sw_last_error_sqlite_code() -> i32 {
    LAST.try_with(|l| l.borrow().sqlite_code).unwrap_or(0)
}

/// A static description of any status value ("unknown status" for values not defined here).
/// Never NULL; never freed.
#[no_mangle]
pub extern "C" fn sw_status_str(status: sw_status) -> *const c_char {
    match Status::from_u32(status) {
        Some(s) => s.as_cstr().as_ptr(),
        None => c"unknown status".as_ptr(),
    }
}

/// The crate version, e.g. "0.1.0". Static; never freed.
#[no_mangle]
pub extern "C" fn sw_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI version of the loaded library; equals the header's `SW_ABI_VERSION` when the header
/// and the library match.
#[no_mangle]
pub extern "C" fn sw_abi_version() -> u32 {
    SW_ABI_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C constant (a literal, for cbindgen) is the crate's.
    #[test]
    fn abi_version_is_the_crates() {
        assert_eq!(SW_ABI_VERSION, crate::ABI_VERSION);
        assert_eq!(sw_abi_version(), crate::ABI_VERSION);
    }

    /// Each `SW_STATUS_*` constant (literals, for cbindgen) is the core's status of that name.
    #[test]
    fn status_constants_are_the_cores() {
        let consts = [
            (SW_STATUS_OK, "SW_STATUS_OK"),
            (SW_STATUS_ERROR, "SW_STATUS_ERROR"),
            (SW_STATUS_CONSTRAINT, "SW_STATUS_CONSTRAINT"),
            (SW_STATUS_BUSY, "SW_STATUS_BUSY"),
            (SW_STATUS_QUEUE_FULL, "SW_STATUS_QUEUE_FULL"),
            (SW_STATUS_TIMEOUT, "SW_STATUS_TIMEOUT"),
            (SW_STATUS_CLOSED, "SW_STATUS_CLOSED"),
            (SW_STATUS_INVALID_ARGUMENT, "SW_STATUS_INVALID_ARGUMENT"),
            (SW_STATUS_INVALID_UTF8, "SW_STATUS_INVALID_UTF8"),
            (SW_STATUS_MISUSE, "SW_STATUS_MISUSE"),
            (SW_STATUS_ROLLBACK, "SW_STATUS_ROLLBACK"),
            (SW_STATUS_READONLY, "SW_STATUS_READONLY"),
            (SW_STATUS_IO, "SW_STATUS_IO"),
            (SW_STATUS_CORRUPT, "SW_STATUS_CORRUPT"),
            (SW_STATUS_PANIC, "SW_STATUS_PANIC"),
            (SW_STATUS_NOMEM, "SW_STATUS_NOMEM"),
        ];
        assert_eq!(
            consts.len(),
            Status::ALL.len(),
            "a status without its C constant"
        );
        for (value, name) in consts {
            let status = Status::from_u32(value).unwrap_or_else(|| panic!("{name} = {value}"));
            assert_eq!(status.name(), name);
            // SAFETY: sw_status_str returns a static NUL-terminated string.
            let text = unsafe { std::ffi::CStr::from_ptr(sw_status_str(value)) };
            assert_eq!(text.to_str().unwrap(), status.as_str());
        }
    }
}
