//! `sw_rows`: accessors over an immutable result set, and owned strings.

use std::ffi::c_char;
use std::ptr;

use super::boundary::{boundary, guarded, out};
use super::handle::{rows_free, rows_ref, sw_rows};
use super::status::sw_status;
use super::strings::owned_string;
use super::value::SW_TYPE_NULL;
use crate::error::Error;
use crate::rows::ValueRef;

/// Number of rows; 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn sw_rows_row_count(rows: *const sw_rows) -> usize {
    // SAFETY: `rows` comes from this library or is NULL.
    guarded(0, || unsafe { rows_ref(rows) }.map_or(0, |r| r.row_count()))
}

/// Number of columns; 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn sw_rows_column_count(rows: *const sw_rows) -> usize {
    // SAFETY: `rows` comes from this library or is NULL.
    guarded(0, || {
        unsafe { rows_ref(rows) }.map_or(0, |r| r.column_count())
    })
}

/// The name of `column`, NUL-terminated; NULL if out of range or `rows` is NULL.
/// Valid until `sw_rows_free(rows)`.
#[no_mangle]
pub unsafe extern "C" fn sw_rows_column_name(rows: *const sw_rows, column: usize) -> *const c_char {
    // SAFETY: as documented for this function: `rows`/handles come from this library (or
    // are NULL, which is checked); out-params are writable or NULL.
    guarded(ptr::null(), || unsafe {
        rows_ref(rows)
            .and_then(|r| r.column_name_with_nul(column))
            .map_or(ptr::null(), |b| b.as_ptr().cast())
    })
}

/// The type of a cell (`SW_TYPE_*`); `SW_TYPE_NULL` if out of range or `rows` is NULL.
#[no_mangle]
pub unsafe extern "C" fn sw_rows_type(rows: *const sw_rows, row: usize, column: usize) -> u32 {
    // SAFETY: as documented for this function: `rows`/handles come from this library (or
    // are NULL, which is checked); out-params are writable or NULL.
    guarded(SW_TYPE_NULL, || unsafe {
        rows_ref(rows)
            .and_then(|r| r.get(row, column))
            .map_or(SW_TYPE_NULL, |v| v.type_code())
    })
}

/// A cell as a 64-bit integer, converted exactly as `sqlite3_column_int64` converts it (SQLite
/// itself converts: floats truncate and saturate; TEXT and BLOB bytes are read as a leading
/// integer after ASCII whitespace, saturating at INT64_MIN/INT64_MAX); 0 for NULL cells, out of
/// range, or `rows` NULL.
#[no_mangle]
pub unsafe extern "C" fn sw_rows_int64(rows: *const sw_rows, row: usize, column: usize) -> i64 {
    // SAFETY: as documented for this function: `rows`/handles come from this library (or
    // are NULL, which is checked); out-params are writable or NULL.
    guarded(0, || unsafe {
        rows_ref(rows)
            .and_then(|r| r.get(row, column))
            .map_or(0, |v| v.as_i64())
    })
}

/// A cell as a double, converted exactly as `sqlite3_column_double` converts it (by SQLite
/// itself; TEXT and BLOB bytes are read as a leading number, exponents included); 0.0 for NULL
/// cells, out of range, or `rows` NULL.
#[no_mangle]
pub unsafe extern "C" fn sw_rows_double(rows: *const sw_rows, row: usize, column: usize) -> f64 {
    // SAFETY: as documented for this function: `rows`/handles come from this library (or
    // are NULL, which is checked); out-params are writable or NULL.
    guarded(0.0, || unsafe {
        rows_ref(rows)
            .and_then(|r| r.get(row, column))
            .map_or(0.0, |v| v.as_f64())
    })
}

/// A TEXT cell: its bytes, NUL-terminated, and their length (without the NUL) in `*out_len`
/// when `out_len` is not NULL. The bytes are UTF-8 unless invalid text was stored (SQLite keeps
/// and returns what it is given; so does this function — use the length, not `strlen`, when the
/// text may hold NUL bytes). NULL (and length 0) for cells that are not TEXT, out of range, or
/// `rows` NULL. Valid until `sw_rows_free(rows)` — also if the cache entry it came from is
/// invalidated meanwhile.
#[no_mangle]
pub unsafe extern "C" fn sw_rows_text(
    rows: *const sw_rows,
    row: usize,
    column: usize,
    out_len: *mut usize,
) -> *const c_char {
    // SAFETY: as documented for this function: `rows`/handles come from this library (or
    // are NULL, which is checked); out-params are writable or NULL.
    guarded(ptr::null(), || unsafe {
        let cell = rows_ref(rows).and_then(|r| r.text_with_nul(row, column));
        if !out_len.is_null() {
            *out_len = cell.map_or(0, |b| b.len() - 1);
        }
        cell.map_or(ptr::null(), |b| b.as_ptr().cast())
    })
}

/// A BLOB cell's bytes (or a TEXT cell's bytes), length in `*out_len` when `out_len` is not
/// NULL. NULL (and length 0) for other cells, empty blobs, out of range, or `rows` NULL.
/// Valid until `sw_rows_free(rows)`.
#[no_mangle]
pub unsafe extern "C" fn sw_rows_blob(
    rows: *const sw_rows,
    row: usize,
    column: usize,
    out_len: *mut usize,
) -> *const u8 {
    // SAFETY: as documented for this function: `rows`/handles come from this library (or
    // are NULL, which is checked); out-params are writable or NULL.
    guarded(ptr::null(), || unsafe {
        let bytes: Option<&[u8]> = match rows_ref(rows).and_then(|r| r.get(row, column)) {
            Some(ValueRef::Blob(b)) => Some(b),
            Some(ValueRef::Text(t)) => Some(t.as_bytes()),
            Some(ValueRef::TextBytes(b)) => Some(b),
            _ => None,
        };
        if !out_len.is_null() {
            *out_len = bytes.map_or(0, |b| b.len());
        }
        match bytes {
            Some(b) if !b.is_empty() => b.as_ptr(),
            _ => ptr::null(),
        }
    })
}

/// The result set as JSON: `[{"column": value, ...}, ...]` (blobs as base64 strings).
/// `*out_json` is owned by the caller: free it with `sw_string_free`.
/// Errors: `SW_STATUS_INVALID_ARGUMENT` when `rows` or `out_json` is NULL.
#[no_mangle]
pub unsafe extern "C" fn sw_rows_to_json(
    rows: *const sw_rows,
    out_json: *mut *mut c_char,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        super::boundary::need(out_json, "out_json")?;
        let r = rows_ref(rows).ok_or_else(|| Error::invalid("rows is NULL"))?;
        out(out_json, owned_string(r.to_json()), "out_json")
    })
}

/// Release a result set. NULL does nothing. Each handle from `sw_writer_query`,
/// `sw_writer_read` or `sw_txn_query` is freed exactly once.
#[no_mangle]
pub unsafe extern "C" fn sw_rows_free(rows: *const sw_rows) {
    // SAFETY: `rows` comes from this library (freed once) or is NULL.
    guarded((), || unsafe { rows_free(rows) })
}
