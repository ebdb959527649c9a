//! The panic boundary every exported function goes through, and the argument checks every
//! function shares: `boundary` (status-returning functions) and `guarded` (plain getters) catch
//! panics and record the last error; `text`/`opt_text` (NUL-terminated UTF-8), `slice`
//! (pointer + count), `need`/`out` (required out-parameters, written last), `try_vec`/`try_copy`
//! (allocations from a caller's size: NOMEM, never an abort). A leaf: no other ffi module is
//! imported here.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::status::{clear_last_error, set_last_error, sw_status, SW_STATUS_OK, SW_STATUS_PANIC};
use crate::error::{Error, Result, Status};

/// Run `f`, turning its error or panic into a status and the thread's last error.
pub(crate) fn boundary(f: impl FnOnce() -> Result<()>) -> sw_status {
    clear_last_error();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => SW_STATUS_OK,
        Ok(Err(e)) => {
            set_last_error(e.message(), e.sqlite_code());
            e.status() as sw_status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_last_error(&format!("internal panic: {what}"), 0);
            SW_STATUS_PANIC
        }
    }
}

/// Run `f` for a function that returns a plain value, with `fallback` on panic.
pub(crate) fn guarded<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// A required NUL-terminated UTF-8 string.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and NUL-terminated by the caller's contract.
    crate::value::utf8(unsafe { CStr::from_ptr(p) }.to_bytes()).map_err(|e| {
        Error::new(
            Status::InvalidUtf8,
            format!("{what} is not valid UTF-8: {e}"),
        )
    })
}

/// An optional NUL-terminated UTF-8 string (NULL is `None`).
pub(crate) unsafe fn opt_text<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: the caller's contract, passed on.
        unsafe { text(p, what) }.map(Some)
    }
}

/// A slice from a pointer and a count (NULL allowed only for 0; a count no array can have is
/// refused before anything is read).
pub(crate) unsafe fn slice<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but its count is {n}"
        )));
    }
    if n > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Error::invalid(format!(
            "{what}: a count of {n} is larger than any array"
        )));
    }
    // SAFETY: non-NULL, `n` elements by the caller's contract, and a size no larger than
    // `isize::MAX` bytes (checked above).
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// An empty vector with room for `n` items; an allocation failure is `SW_STATUS_NOMEM`.
pub(crate) fn try_vec<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::nomem(what, n.saturating_mul(std::mem::size_of::<T>())))?;
    Ok(v)
}

/// An owned copy of `bytes`; an allocation failure is `SW_STATUS_NOMEM`, never an abort.
pub(crate) fn try_copy(bytes: &[u8], what: impl FnOnce() -> String) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(bytes.len())
        .map_err(|_| Error::nomem(&what(), bytes.len()))?;
    v.extend_from_slice(bytes);
    Ok(v)
}

/// Write `value` to an out-parameter that must not be NULL.
pub(crate) unsafe fn out<T>(p: *mut T, value: T, what: &str) -> Result<()> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and writable by the caller's contract.
    unsafe { p.write(value) };
    Ok(())
}

/// Fail early when a required out-parameter is NULL (before doing any work).
pub(crate) fn need<T>(p: *mut T, what: &str) -> Result<()> {
    if p.is_null() {
        Err(Error::invalid(format!("{what} is NULL")))
    } else {
        Ok(())
    }
}
