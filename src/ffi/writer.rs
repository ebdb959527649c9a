//! `sw_writer`: open/close, writes, reads, invalidation, statistics.

use std::ffi::{c_char, c_void, CString};
use std::ptr;
use std::time::Duration;

use super::boundary::{boundary, need, out, slice, text, try_vec};
use super::handle::{sw_writer, with_writer, writer_into_handle, writer_release_handle};
use super::status::sw_status;
use super::value::{
    packed as packed_params, params as copy_params, sw_param, sw_statement, sw_write_result,
};
use crate::error::{Error, Result};
use crate::value::Packed;
use crate::writer::{Notify, RawCallback, Statement, WriteResult, Writer};

/// Called once per queued write, on the writer's library thread, after the transaction that
/// holds the write committed (or failed). `result` is NULL unless `status` is OK;
/// `error_message` is NULL if OK and valid only during the call. Must not call blocking
/// `sw_writer_*` functions (they return `SW_STATUS_MISUSE`); `sw_writer_enqueue` and reads are
/// fine. Must return quickly: the writer delivers completions in order on this thread.
pub type sw_write_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        status: sw_status,
        result: *const sw_write_result,
        error_message: *const c_char,
    ),
>;

unsafe fn write_out(out_result: *mut sw_write_result, r: WriteResult) {
    if !out_result.is_null() {
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { out_result.write(r.into()) };
    }
}

/// Get or create the one writer of a database and return a new handle to it.
///
/// `connection_string`: a path (`app.db`), `:memory:` (a new private database each time), a
/// `file:` URI, or `Key=Value;` pairs (`Data Source=app.db;Mode=ReadWriteCreate;Cache Size=500`).
/// Keywords are case-insensitive and ignore spaces; an unknown keyword or bad value is
/// `SW_STATUS_INVALID_ARGUMENT` naming it. Strings naming the same file (relative, absolute,
/// through symlinks) share one writer. A second open that names an option with a value
/// different from the running writer's fails, naming the options; options it does not name are
/// the running writer's.
///
/// On success `*out_writer` is a new handle: close it exactly once with `sw_writer_close`.
/// Thread: any. Errors: INVALID_ARGUMENT (NULL, bad option), INVALID_UTF8, IO (cannot open),
/// CORRUPT, ERROR, MISUSE (in a forked child, a database its parent was using at fork(): see
/// the header's notes on fork).
#[no_mangle]
pub unsafe extern "C" fn sw_writer_open(
    connection_string: *const c_char,
    out_writer: *mut *const sw_writer,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        need(out_writer, "out_writer")?;
        let cs = text(connection_string, "connection_string")?;
        let w = Writer::open(cs)?;
        out(out_writer, writer_into_handle(w), "out_writer")
    })
}

/// Release a handle. The last handle of a database stops accepting writes, commits every write
/// accepted before (callbacks fire), checkpoints the WAL, and closes the database; writes
/// submitted after closing began get `SW_STATUS_CLOSED`. After this call the handle is invalid;
/// passing it again returns `SW_STATUS_CLOSED` (never a crash). Blocks while draining. In a
/// forked child, a handle inherited from the parent is only let go of (OK at once).
/// Errors: INVALID_ARGUMENT (NULL), CLOSED (already closed), MISUSE (from inside a callback).
#[no_mangle]
pub unsafe extern "C" fn sw_writer_close(writer: *const sw_writer) -> sw_status {
    boundary(|| {
        if crate::reentry::inside_callback() {
            return Err(Error::misuse(
                "sw_writer_close from inside a transaction or callback would deadlock",
            ));
        }
        let w = writer_release_handle(writer)?;
        w.close()
    })
}

/// Run a write and block until the transaction holding it committed.
///
/// `sql` may hold several statements (run all-or-nothing). `params` are bound by name or
/// position (see `sw_param`). On success `*out_result` (may be NULL) gets rows affected and the
/// last inserted rowid. A failure fails this write alone, never the writes grouped with it.
/// Statements that cannot run in a transaction (VACUUM, PRAGMA, ATTACH, DETACH) run alone;
/// BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE are refused (INVALID_ARGUMENT): use
/// `sw_writer_transaction`. Thread: any; from inside a transaction or completion callback it
/// returns `SW_STATUS_MISUSE`. The calling thread may itself run the group commit.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_execute(
    writer: *const sw_writer,
    sql: *const c_char,
    params: *const sw_param,
    n_params: usize,
    out_result: *mut sw_write_result,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        let sql = text(sql, "sql")?;
        let p = packed_params(params, n_params)?;
        let r = with_writer(writer, |w| w.execute_packed(sql, p, Vec::new()))?;
        write_out(out_result, r);
        Ok(())
    })
}

/// Run a write on the calling thread when the writer is idle (no group running or queued, and
/// recent groups held one write each: nobody else is writing), as `sw_writer_execute` does
/// then; otherwise do nothing. With `SW_STATUS_OK`, `*out_ran` (required) tells which: true,
/// the write committed (`*out_result`, may be NULL, as for `sw_writer_execute`); false, it
/// would first have to wait for other writes or should join their group commit, or this
/// thread is inside a transaction or completion callback, and nothing was run or queued. Any
/// other status: the write failed or could not run (as `sw_writer_execute` reports it, and
/// INVALID_ARGUMENT for a NULL `out_ran`); it is not queued either. Once it runs, it waits as
/// `sw_writer_execute` does: for the commit, and while another process holds the database's
/// write lock. Meant for hosts with a better place to wait than a blocked thread (an awaited
/// write): they call `sw_writer_enqueue` when this declines, and otherwise save its hand-off
/// to the writer's thread and back. `sw_writer_execute_or_enqueue` does both in one call and
/// never waits for another process.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_execute_if_idle(
    writer: *const sw_writer,
    sql: *const c_char,
    params: *const sw_param,
    n_params: usize,
    out_result: *mut sw_write_result,
    out_ran: *mut bool,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        run_here(
            writer,
            sql,
            params,
            n_params,
            out_result,
            out_ran,
            |w, sql, p| w.execute_packed_if_idle(sql, p),
        )
    })
}

/// Run a write on the calling thread when the writer is idle, as `sw_writer_execute_if_idle`
/// does; otherwise queue it, as `sw_writer_enqueue` does. With `SW_STATUS_OK`, `*out_ran`
/// (required) tells which: true, the write committed here (`*out_result`, may be NULL) and
/// `callback` is never called; false, it is queued and `callback` (may be NULL) is called
/// exactly once on the writer's library thread, as for `sw_writer_enqueue`. It never waits for
/// another process: a write that started here and found another process holding the
/// database's write lock is queued (`*out_ran` false), and the writer's own thread waits for
/// the lock. Statements that run alone (VACUUM, PRAGMA, ATTACH, DETACH) are always queued.
/// From inside a transaction or completion callback it queues (a full queue fails at once
/// there). Any other status: the write failed here (as `sw_writer_execute` reports it) or
/// could not be queued (as `sw_writer_enqueue` reports it), or `out_ran` is NULL
/// (INVALID_ARGUMENT); `callback` is never called then. Meant for hosts with a better place to
/// wait than a blocked thread (an awaited write): one call either finishes the write with no
/// hand-off to the writer's thread and back, or queues it.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_execute_or_enqueue(
    writer: *const sw_writer,
    sql: *const c_char,
    params: *const sw_param,
    n_params: usize,
    callback: sw_write_callback,
    userdata: *mut c_void,
    out_result: *mut sw_write_result,
    out_ran: *mut bool,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        let later = raw_notify(callback, userdata);
        run_here(
            writer,
            sql,
            params,
            n_params,
            out_result,
            out_ran,
            |w, sql, p| w.execute_packed_or_enqueue(sql, p, later),
        )
    })
}

/// The body of the calls that may run a write on the calling thread: `run` gets the checked
/// SQL and packed parameters and says whether the write ran here (`*out_ran`, required, and
/// `*out_result`, may be NULL).
///
/// # Safety
/// The pointer arguments as the callers' header documentation requires.
unsafe fn run_here(
    writer: *const sw_writer,
    sql: *const c_char,
    params: *const sw_param,
    n_params: usize,
    out_result: *mut sw_write_result,
    out_ran: *mut bool,
    run: impl FnOnce(&Writer, &str, Packed) -> Result<Option<WriteResult>>,
) -> Result<()> {
    // SAFETY: the caller's contract, passed on; `out_ran` is checked before it is written.
    unsafe {
        need(out_ran, "out_ran")?;
        *out_ran = false;
        let sql = text(sql, "sql")?;
        let p = packed_params(params, n_params)?;
        if let Some(r) = with_writer(writer, |w| run(w, sql, p))? {
            *out_ran = true;
            write_out(out_result, r);
        }
    }
    Ok(())
}

/// The queued write's notification for a C callback (nothing for NULL).
fn raw_notify(callback: sw_write_callback, userdata: *mut c_void) -> Notify {
    match callback {
        Some(cb) => Notify::Raw(RawCallback {
            deliver: deliver_write_callback,
            function: super::handle::write_callback_into_raw(cb),
            userdata,
        }),
        None => Notify::Nothing,
    }
}

/// Run a C write callback queued by `sw_writer_enqueue`, on the writer's thread.
fn deliver_write_callback(raw: &RawCallback, r: Result<WriteResult>) {
    // SAFETY: `raw` was built by `sw_writer_enqueue` from a non-null `sw_write_callback`.
    let cb = unsafe { super::handle::write_callback_from_raw(raw.function) };
    match r {
        Ok(r) => {
            let res = sw_write_result::from(r);
            // SAFETY: the caller's callback with the caller's userdata, called once, as the
            // header documents.
            unsafe { cb(raw.userdata, 0, &res, ptr::null()) };
        }
        Err(e) => {
            let msg = CString::new(e.message().replace('\0', "\\0")).unwrap_or_default();
            // SAFETY: as above; `msg` outlives the call.
            unsafe {
                cb(
                    raw.userdata,
                    e.status() as sw_status,
                    ptr::null(),
                    msg.as_ptr(),
                )
            };
        }
    }
}

/// Queue a write and return at once. `callback` (may be NULL) is called exactly once on the
/// writer's library thread: after the commit, with the write's error, or with
/// `SW_STATUS_CLOSED` if the writer closed first. Writes from one thread commit in submission
/// order. A full queue blocks up to `Enqueue Timeout`, then returns `SW_STATUS_QUEUE_FULL`
/// (from inside a callback it fails at once). When this returns non-OK the callback is never
/// called.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_enqueue(
    writer: *const sw_writer,
    sql: *const c_char,
    params: *const sw_param,
    n_params: usize,
    callback: sw_write_callback,
    userdata: *mut c_void,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        let sql = text(sql, "sql")?;
        let p = packed_params(params, n_params)?;
        with_writer(writer, |w| {
            w.enqueue_notify(sql, p, raw_notify(callback, userdata))
        })
    })
}

/// Run several statements as one job and block until committed. Transactional: all or nothing
/// (`SW_STATUS_*` of the failing statement, nothing kept). Non-transactional: the statements
/// before the first failure are kept, the failure is returned. `*out_total` (may be NULL) gets
/// the summed rows affected and the last inserted rowid, on success only. An empty batch
/// returns OK at once. MISUSE from inside a callback.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_batch(
    writer: *const sw_writer,
    statements: *const sw_statement,
    n_statements: usize,
    transactional: bool,
    out_total: *mut sw_write_result,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        let raw = slice(statements, n_statements, "statements")?;
        let mut owned = try_vec(raw.len(), "statements")?;
        for (i, s) in raw.iter().enumerate() {
            let sql = text(s.sql, &format!("the sql of statement {}", i + 1))?;
            let p = copy_params(s.params, s.n_params)
                .map_err(|e| e.context(&format!("statement {}", i + 1)))?;
            owned.push(Statement::new(sql, p));
        }
        let r = with_writer(writer, |w| w.batch(owned, transactional))?;
        write_out(out_total, r);
        Ok(())
    })
}

/// Run a write, block until committed, then invalidate `cache_keys` (globs allowed, e.g.
/// `"users:*"`) before returning. No read that began before the commit can put an old value
/// back. `cache_keys` may be NULL when `n_keys` is 0; a NULL key is INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_execute_and_invalidate(
    writer: *const sw_writer,
    sql: *const c_char,
    params: *const sw_param,
    n_params: usize,
    cache_keys: *const *const c_char,
    n_keys: usize,
    out_result: *mut sw_write_result,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        let sql = text(sql, "sql")?;
        let p = copy_params(params, n_params)?;
        let raw = slice(cache_keys, n_keys, "cache_keys")?;
        let mut keys = try_vec(raw.len(), "cache_keys")?;
        for (i, k) in raw.iter().enumerate() {
            keys.push(text(*k, &format!("cache key {}", i + 1))?);
        }
        let r = with_writer(writer, |w| w.execute_and_invalidate(sql, &p, &keys))?;
        write_out(out_result, r);
        Ok(())
    })
}

/// Block until every write submitted before this call has been acknowledged (committed or
/// failed, callbacks fired). Returns `SW_STATUS_OK` then, whatever those writes' outcomes: each
/// write reports its own (a full disk or a foreign lock fails the writes, not the flush).
/// Flush fails only for its own reasons: `timeout_ms` 0 waits without limit, otherwise
/// `SW_STATUS_TIMEOUT` after that many milliseconds (the writes stay queued);
/// `SW_STATUS_CLOSED`; MISUSE from inside a callback.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_flush(writer: *const sw_writer, timeout_ms: u32) -> sw_status {
    boundary(|| {
        let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms as u64));
        with_writer(writer, |w| w.flush(timeout))
    })
}

/// Raise a signal (`name` or `name:key`). `"cache.invalidate:<key or glob>"` is persisted
/// through the writer lane — ordered after the writes submitted before it — and invalidates
/// those keys in every writer of this database, in this process and in other processes that
/// opened the same file (they emit `cache.invalidate.external`); it blocks until committed.
/// Any other signal is recorded in this writer's ring.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_raise(
    writer: *const sw_writer,
    signal: *const c_char,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        let s = text(signal, "signal")?;
        with_writer(writer, |w| w.raise(s))
    })
}
