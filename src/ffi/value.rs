//! The C value types (`sw_value`, `sw_param`, `sw_statement`, `sw_write_result`, `SW_TYPE_*`)
//! and their conversion into the core's [`Param`]s.
//!
//! Owns every check a parameter passes before anything is queued: known type, data present
//! when its length says so, UTF-8 text, a length SQLite can store, a count a statement can take.
//! Must never read beyond `len` bytes of `data`, nor copy before checking.

use std::ffi::{c_char, CStr};

use super::boundary::{slice, try_copy, try_vec};
use crate::error::{Error, Result, Status};
use crate::value::{Packed, Param, Value};
use crate::writer::WriteResult;
use rusqlite::types::ValueRef as SqlValueRef;

/// Value type: 64-bit integer.
pub const SW_TYPE_INTEGER: u32 = 1;
/// Value type: double.
pub const SW_TYPE_FLOAT: u32 = 2;
/// Value type: UTF-8 text (`data`, `len`).
pub const SW_TYPE_TEXT: u32 = 3;
/// Value type: bytes (`data`, `len`).
pub const SW_TYPE_BLOB: u32 = 4;
/// Value type: NULL.
pub const SW_TYPE_NULL: u32 = 5;

/// A value: the same type numbers as `sqlite3_column_type`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sw_value {
    /// One of `SW_TYPE_*`; any other number is `SW_STATUS_INVALID_ARGUMENT`.
    pub r#type: u32,
    /// For `SW_TYPE_INTEGER`.
    pub integer: i64,
    /// For `SW_TYPE_FLOAT`.
    pub real: f64,
    /// For `SW_TYPE_TEXT` (UTF-8, not necessarily NUL-terminated) or `SW_TYPE_BLOB`; may be
    /// NULL when `len` is 0.
    pub data: *const u8,
    /// Bytes at `data`.
    pub len: usize,
}

/// A parameter. Parameters are copied before the function that takes them returns; the caller
/// may free them at once.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sw_param {
    /// NULL: positional, in order (the n-th positional parameter binds `?n`). Otherwise `"@x"`,
    /// `":x"`, `"$x"` or bare `"x"`, matching whichever prefix the SQL uses. A name the SQL does
    /// not have is `SW_STATUS_INVALID_ARGUMENT`.
    pub name: *const c_char,
    /// The value.
    pub value: sw_value,
}

/// One statement of a batch.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sw_statement {
    /// The SQL (required).
    pub sql: *const c_char,
    /// Its parameters; may be NULL when `n_params` is 0.
    pub params: *const sw_param,
    /// Number of parameters.
    pub n_params: usize,
}

/// The result of a write.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct sw_write_result {
    /// Rows inserted, updated or deleted by the write's statements (not counting triggers).
    pub rows_affected: i64,
    /// The rowid of the last row the write inserted; 0 if it inserted none.
    pub last_insert_rowid: i64,
}

impl From<WriteResult> for sw_write_result {
    fn from(r: WriteResult) -> Self {
        sw_write_result {
            rows_affected: r.rows_affected,
            last_insert_rowid: r.last_insert_rowid,
        }
    }
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

/// Check C parameters without copying them (what `params` would refuse, this refuses, with
/// the same message).
pub(crate) unsafe fn check_params(p: *const sw_param, n: usize) -> Result<()> {
    // SAFETY: the caller's contract, passed on.
    unsafe { visit(p, n, |_, _, _| Ok(())) }
}

/// Copy C parameters into owned [`Param`]s.
pub(crate) unsafe fn params(p: *const sw_param, n: usize) -> Result<Vec<Param>> {
    check_count(n)?;
    let mut out = try_vec(n, "params")?;
    // SAFETY: the caller's contract, passed on.
    unsafe {
        visit(p, n, |name, value, label| {
            let value = match value {
                SqlValueRef::Null => Value::Null,
                SqlValueRef::Integer(i) => Value::Integer(i),
                SqlValueRef::Real(r) => Value::Real(r),
                SqlValueRef::Text(b) => {
                    let copy = try_copy(b, label)?;
                    // `visit` checked the bytes are UTF-8; the copy holds the same bytes.
                    Value::Text(String::from_utf8(copy).map_err(|e| {
                        Error::new(Status::InvalidUtf8, format!("{}: {e}", label()))
                    })?)
                }
                SqlValueRef::Blob(b) => Value::Blob(try_copy(b, label)?),
            };
            out.push(Param {
                name: name.map(str::to_owned),
                value,
            });
            Ok(())
        })
    }?;
    Ok(out)
}

/// Copy C parameters into a [`Packed`] list (a queued write's form: one buffer, none for a
/// few short values).
///
/// Positional parameters of known types that pass every check are packed in one tight loop;
/// at the first that is named, or might fail a check, the list is packed again by [`visit`],
/// which reports exactly what is wrong (a pipelined write from C spent a tenth of its
/// submitting thread's time packing its two values).
pub(crate) unsafe fn packed(p: *const sw_param, n: usize) -> Result<Packed> {
    check_count(n)?;
    // SAFETY: `p` points to `n` parameters (the caller's contract); `slice` checks NULL.
    let raw = unsafe { slice(p, n, "params") }?;
    let mut out = Packed::new();
    for param in raw {
        // SAFETY: the caller's contract, passed on.
        match unsafe { plain(param) } {
            Some(value) => out.push(None, value)?,
            None => return unsafe { packed_checked(p, n) },
        }
    }
    Ok(out)
}

/// A positional parameter of a known type whose text is UTF-8 and whose bytes are present and
/// of a length SQLite takes; `None` for any other ([`visit`] says what is wrong, if anything).
#[inline]
unsafe fn plain(param: &sw_param) -> Option<SqlValueRef<'_>> {
    if !param.name.is_null() {
        return None;
    }
    let v = &param.value;
    let bytes = || -> Option<&[u8]> {
        if v.len == 0 {
            Some(&[])
        } else if v.data.is_null() || v.len > MAX_VALUE_LEN {
            None
        } else {
            // SAFETY: non-NULL `data` holds `len` bytes (the caller's contract), and `len` is
            // one SQLite takes.
            Some(unsafe { std::slice::from_raw_parts(v.data, v.len) })
        }
    };
    Some(match v.r#type {
        SW_TYPE_INTEGER => SqlValueRef::Integer(v.integer),
        SW_TYPE_FLOAT => SqlValueRef::Real(v.real),
        SW_TYPE_TEXT => SqlValueRef::Text(crate::value::utf8(bytes()?).ok()?.as_bytes()),
        SW_TYPE_BLOB => SqlValueRef::Blob(bytes()?),
        SW_TYPE_NULL => SqlValueRef::Null,
        _ => return None,
    })
}

/// [`packed`] through [`visit`]'s checks, parameter by parameter.
unsafe fn packed_checked(p: *const sw_param, n: usize) -> Result<Packed> {
    let mut out = Packed::new();
    // SAFETY: the caller's contract, passed on.
    unsafe { visit(p, n, |name, value, _| out.push(name, value)) }?;
    Ok(out)
}

/// Check each C parameter in turn and hand it to `f` as borrowed name and value (text checked
/// to be UTF-8), with a function naming it for errors.
unsafe fn visit(
    p: *const sw_param,
    n: usize,
    mut f: impl FnMut(Option<&str>, SqlValueRef<'_>, &dyn Fn() -> String) -> Result<()>,
) -> Result<()> {
    check_count(n)?;
    // SAFETY: `p` points to `n` parameters (the caller's contract); `slice` checks NULL.
    let raw = unsafe { slice(p, n, "params") }?;
    for (i, param) in raw.iter().enumerate() {
        let name = if param.name.is_null() {
            None
        } else {
            // SAFETY: a non-NULL name is NUL-terminated (the caller's contract).
            Some(
                unsafe { CStr::from_ptr(param.name) }
                    .to_str()
                    .map_err(|e| {
                        Error::new(
                            Status::InvalidUtf8,
                            format!("the name of parameter {} is not valid UTF-8: {e}", i + 1),
                        )
                    })?,
            )
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
                // SAFETY: non-NULL `data` holds `len` bytes (the caller's contract), and `len`
                // passed `check_len`.
                Ok(unsafe { std::slice::from_raw_parts(v.data, v.len) })
            }
        };
        let value = match v.r#type {
            SW_TYPE_INTEGER => SqlValueRef::Integer(v.integer),
            SW_TYPE_FLOAT => SqlValueRef::Real(v.real),
            SW_TYPE_TEXT => {
                let b = bytes()?;
                crate::value::utf8(b).map_err(|e| {
                    Error::new(
                        Status::InvalidUtf8,
                        format!("{} is not valid UTF-8: {e}", label()),
                    )
                })?;
                SqlValueRef::Text(b)
            }
            SW_TYPE_BLOB => SqlValueRef::Blob(bytes()?),
            SW_TYPE_NULL => SqlValueRef::Null,
            other => {
                return Err(Error::invalid(format!(
                    "{} has unknown value type {other} (expected SW_TYPE_INTEGER..SW_TYPE_NULL)",
                    label()
                )))
            }
        };
        f(name, value, &label)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::ValueRef;

    fn param(name: Option<&std::ffi::CStr>, r#type: u32, data: &[u8]) -> sw_param {
        sw_param {
            name: name.map_or(std::ptr::null(), |n| n.as_ptr()),
            value: sw_value {
                r#type,
                integer: -42,
                real: 2.5,
                data: if data.is_empty() {
                    std::ptr::null()
                } else {
                    data.as_ptr()
                },
                len: data.len(),
            },
        }
    }

    fn read_back(p: &Packed) -> Vec<String> {
        p.entries().map(|(n, v)| format!("{n:?} {v:?}")).collect()
    }

    /// The tight loop packs what `visit` packs, and anything it does not take is left to
    /// `visit`, which refuses it with the same error as before.
    #[test]
    fn packing_takes_the_quick_loop_or_the_checked_one_with_the_same_outcome() {
        let name = c"@a";
        let long = [b'x'; 60];
        let valid: Vec<Vec<sw_param>> = vec![
            vec![],
            vec![
                param(None, SW_TYPE_INTEGER, b""),
                param(None, SW_TYPE_TEXT, b"payload"),
            ],
            vec![
                param(None, SW_TYPE_FLOAT, b""),
                param(None, SW_TYPE_NULL, b""),
                param(None, SW_TYPE_BLOB, &[0, 1, 255]),
                param(None, SW_TYPE_TEXT, b""),
                param(None, SW_TYPE_TEXT, &long),
            ],
            // A name sends the whole list through the checked loop.
            vec![
                param(None, SW_TYPE_INTEGER, b""),
                param(Some(name), SW_TYPE_TEXT, "é".as_bytes()),
            ],
        ];
        for list in &valid {
            // SAFETY: a live array of `len` parameters whose pointers outlive the calls.
            let (quick, checked) = unsafe {
                (
                    packed(list.as_ptr(), list.len()).unwrap(),
                    packed_checked(list.as_ptr(), list.len()).unwrap(),
                )
            };
            assert_eq!(read_back(&quick), read_back(&checked));
            assert_eq!(quick.len(), list.len());
        }
        let bad_utf8 = [0xff, 0xfe];
        let mut no_data = param(None, SW_TYPE_BLOB, b"");
        no_data.value.len = 3;
        let invalid: Vec<(Vec<sw_param>, Status, &str)> = vec![
            (
                vec![param(None, SW_TYPE_TEXT, &bad_utf8)],
                Status::InvalidUtf8,
                "parameter 1 is not valid UTF-8",
            ),
            (
                vec![param(None, SW_TYPE_INTEGER, b""), param(None, 9, b"")],
                Status::InvalidArgument,
                "parameter 2 has unknown value type 9",
            ),
            (
                vec![no_data],
                Status::InvalidArgument,
                "parameter 1: data is NULL but len is 3",
            ),
        ];
        for (list, status, message) in &invalid {
            // SAFETY: as above.
            let e = unsafe { packed(list.as_ptr(), list.len()) }.unwrap_err();
            assert_eq!(e.status(), *status);
            assert!(e.message().starts_with(message), "{}", e.message());
        }
    }

    /// The C type numbers are the core's (`ValueRef::type_code`), which are SQLite's.
    #[test]
    fn type_numbers_are_the_cores() {
        assert_eq!(SW_TYPE_INTEGER, ValueRef::Integer(0).type_code());
        assert_eq!(SW_TYPE_FLOAT, ValueRef::Real(0.0).type_code());
        assert_eq!(SW_TYPE_TEXT, ValueRef::Text("").type_code());
        assert_eq!(SW_TYPE_BLOB, ValueRef::Blob(&[]).type_code());
        assert_eq!(SW_TYPE_NULL, ValueRef::Null.type_code());
        assert_eq!(SW_TYPE_INTEGER as i32, rusqlite::ffi::SQLITE_INTEGER);
        assert_eq!(SW_TYPE_FLOAT as i32, rusqlite::ffi::SQLITE_FLOAT);
        assert_eq!(SW_TYPE_TEXT as i32, rusqlite::ffi::SQLITE_TEXT);
        assert_eq!(SW_TYPE_BLOB as i32, rusqlite::ffi::SQLITE_BLOB);
        assert_eq!(SW_TYPE_NULL as i32, rusqlite::ffi::SQLITE_NULL);
    }
}
