//! The panic boundary every exported function goes through, and argument conversion
//! (NULL checks, UTF-8, parameters).

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::status::{clear_last_error, set_last_error, sw_status, SW_STATUS_OK, SW_STATUS_PANIC};
use crate::error::{Error, Result, Status};
use crate::value::{Param, Value};

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
    CStr::from_ptr(p).to_str().map_err(|e| {
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
        text(p, what).map(Some)
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
    Ok(std::slice::from_raw_parts(p, n))
}

/// SQLite's largest string or BLOB (`SQLITE_MAX_LENGTH`, which the bundled build keeps at its
/// default): a longer value could never be bound, so it is refused before it is read or copied.
pub(crate) const MAX_VALUE_LEN: usize = 1_000_000_000;

/// SQLite's largest parameter number (`SQLITE_MAX_VARIABLE_NUMBER`'s default): no statement
/// takes more parameters.
pub(crate) const MAX_PARAMS: usize = 32_766;

/// Refuse a TEXT or BLOB length SQLite cannot store.
fn check_len(len: usize, label: impl FnOnce() -> String) -> Result<()> {
    if len > MAX_VALUE_LEN {
        return Err(Error::invalid(format!(
            "{}: {len} bytes is more than SQLite's limit of {MAX_VALUE_LEN} bytes per value",
            label()
        )));
    }
    Ok(())
}

/// Refuse more parameters than any statement can take.
fn check_count(n: usize) -> Result<()> {
    if n > MAX_PARAMS {
        return Err(Error::invalid(format!(
            "{n} parameters is more than SQLite allows in one statement ({MAX_PARAMS})"
        )));
    }
    Ok(())
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

/// Check C parameters without copying them (what `params` would refuse, this refuses).
pub(crate) unsafe fn check_params(p: *const super::writer::sw_param, n: usize) -> Result<()> {
    check_count(n)?;
    for (i, param) in slice(p, n, "params")?.iter().enumerate() {
        let v = &param.value;
        if matches!(
            v.r#type,
            super::writer::SW_TYPE_TEXT | super::writer::SW_TYPE_BLOB
        ) {
            check_len(v.len, || format!("parameter {}", i + 1))?;
        }
        match v.r#type {
            super::writer::SW_TYPE_TEXT | super::writer::SW_TYPE_BLOB
                if v.len > 0 && v.data.is_null() =>
            {
                return Err(Error::invalid(format!(
                    "parameter {}: data is NULL but len is {}",
                    i + 1,
                    v.len
                )))
            }
            super::writer::SW_TYPE_TEXT => {
                if std::str::from_utf8(std::slice::from_raw_parts(v.data, v.len)).is_err()
                    && v.len > 0
                {
                    return params(p, n).map(|_| ());
                }
            }
            super::writer::SW_TYPE_INTEGER
            | super::writer::SW_TYPE_FLOAT
            | super::writer::SW_TYPE_BLOB
            | super::writer::SW_TYPE_NULL => {}
            _ => return params(p, n).map(|_| ()),
        }
        if !param.name.is_null() && CStr::from_ptr(param.name).to_str().is_err() {
            return params(p, n).map(|_| ());
        }
    }
    Ok(())
}

/// Copy C parameters into owned [`Param`]s.
pub(crate) unsafe fn params(p: *const super::writer::sw_param, n: usize) -> Result<Vec<Param>> {
    check_count(n)?;
    let raw = slice(p, n, "params")?;
    let mut out = try_vec(raw.len(), "params")?;
    for (i, param) in raw.iter().enumerate() {
        let name = if param.name.is_null() {
            None
        } else {
            Some(CStr::from_ptr(param.name).to_str().map_err(|e| {
                Error::new(
                    Status::InvalidUtf8,
                    format!("the name of parameter {} is not valid UTF-8: {e}", i + 1),
                )
            })?)
        };
        let label = || match name {
            Some(n) => format!("parameter '{n}'"),
            None => format!("parameter {}", i + 1),
        };
        let v = &param.value;
        let bytes = || -> Result<&[u8]> {
            check_len(v.len, label)?;
            if v.len == 0 {
                Ok(&[])
            } else if v.data.is_null() {
                Err(Error::invalid(format!(
                    "{}: data is NULL but len is {}",
                    label(),
                    v.len
                )))
            } else {
                Ok(std::slice::from_raw_parts(v.data, v.len))
            }
        };
        let value =
            match v.r#type {
                super::writer::SW_TYPE_INTEGER => Value::Integer(v.integer),
                super::writer::SW_TYPE_FLOAT => Value::Real(v.real),
                super::writer::SW_TYPE_TEXT => {
                    let b = bytes()?;
                    std::str::from_utf8(b).map_err(|e| {
                        Error::new(
                            Status::InvalidUtf8,
                            format!("{} is not valid UTF-8: {e}", label()),
                        )
                    })?;
                    let copy = try_copy(b, label)?;
                    // Checked just above; the copy holds the same bytes.
                    Value::Text(String::from_utf8(copy).map_err(|e| {
                        Error::new(Status::InvalidUtf8, format!("{}: {e}", label()))
                    })?)
                }
                super::writer::SW_TYPE_BLOB => Value::Blob(try_copy(bytes()?, label)?),
                super::writer::SW_TYPE_NULL => Value::Null,
                other => {
                    return Err(Error::invalid(format!(
                    "{} has unknown value type {other} (expected SW_TYPE_INTEGER..SW_TYPE_NULL)",
                    label()
                )))
                }
            };
        out.push(Param {
            name: name.map(str::to_owned),
            value,
        });
    }
    Ok(out)
}

/// Write `value` to an out-parameter that must not be NULL.
pub(crate) unsafe fn out<T>(p: *mut T, value: T, what: &str) -> Result<()> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    p.write(value);
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
