//! `sw_writer` reads: queries on the read pool, cached reads, invalidation.

use std::ffi::c_char;

use super::boundary::{boundary, need, out, text};
use super::handle::{rows_into_handle, sw_rows, sw_writer, with_writer};
use super::status::sw_status;
use super::value::{params as copy_params, sw_param};

/// Run a read-only query on a read connection, concurrently with writes. Sees every write
/// acknowledged before it started. A statement that writes is `SW_STATUS_READONLY` and changes
/// nothing. On success `*out_rows` is a result set: free it with `sw_rows_free`.
///
/// What differs from one SQLite connection: reads run on read connections, so the
/// connection-local `last_insert_rowid()`, `changes()` and `total_changes()` are 0 here (a
/// write's are in its `sw_write_result`), and TEMP tables and views created through the writer
/// live on the write connection only (a read naming one fails, saying so; read them in
/// `sw_writer_transaction`). Connection settings (`PRAGMA case_sensitive_like = ON`, ...) set
/// through the writer, or with the `Pragmas` keyword, apply to reads too.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_query(
    writer: *const sw_writer,
    sql: *const c_char,
    params: *const sw_param,
    n_params: usize,
    out_rows: *mut *const sw_rows,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        need(out_rows, "out_rows")?;
        let sql = text(sql, "sql")?;
        let p = copy_params(params, n_params)?;
        let rows = with_writer(writer, |w| w.query(sql, &p))?;
        out(out_rows, rows_into_handle(rows), "out_rows")
    })
}

/// Serve `cache_key` from the cache when fresh, otherwise run the query (once, even for
/// concurrent misses on the key) and cache the result. An entry is stale — and never served —
/// once expired, invalidated by key or glob, or when a later committed write (by this writer,
/// another connection, or another process) changed a table the query read. On success
/// `*out_rows` is a result set (shared with the cache, immutable): free it with
/// `sw_rows_free`; it stays valid after the entry is invalidated.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_read(
    writer: *const sw_writer,
    cache_key: *const c_char,
    sql: *const c_char,
    params: *const sw_param,
    n_params: usize,
    out_rows: *mut *const sw_rows,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        need(out_rows, "out_rows")?;
        let key = text(cache_key, "cache_key")?;
        let sql = text(sql, "sql")?;
        // Checked now, copied only on a miss: a hit never binds them.
        super::value::check_params(params, n_params)?;
        let rows = with_writer(writer, |w| {
            w.read_with(key, sql, || {
                copy_params(params, n_params).map(std::borrow::Cow::Owned)
            })
        })?;
        out(out_rows, rows_into_handle(rows), "out_rows")
    })
}

/// Drop cached entries: a key, or a glob when it contains `*` or `?` (`"users:*"`). Reads of
/// matching keys already running will not cache their (older) results.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_invalidate(
    writer: *const sw_writer,
    key_or_glob: *const c_char,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        let key = text(key_or_glob, "key_or_glob")?;
        with_writer(writer, |w| w.invalidate(key).map(|_| ()))
    })
}
