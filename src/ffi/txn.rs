//! `sw_txn`: the borrowed transaction handed to a `sw_writer_transaction` callback.
//!
//! A `sw_txn*` is valid only during the callback, on the thread running it; any other use is
//! detected (a thread-local records the one live transaction) and returns `SW_STATUS_MISUSE`.

use std::cell::Cell;
use std::ffi::{c_char, c_void};

use super::boundary::{boundary, need, out, text};
use super::handle::with_writer;
use super::handle::{rows_into_handle, sw_rows, sw_writer};
use super::status::{sw_status, SW_STATUS_OK};
use super::value::params as copy_params;
use super::value::{sw_param, sw_write_result};
use crate::error::{Error, Result, Status};
use crate::writer::Txn;

/// A transaction in progress (opaque, borrowed).
pub struct sw_txn {
    _private: [u8; 0],
}

/// The body of a transaction: return `SW_STATUS_OK` to commit; any other status rolls back and
/// is returned by `sw_writer_transaction` (`SW_STATUS_ROLLBACK` is the conventional one).
/// Runs on the thread that called `sw_writer_transaction`, while it holds the writer lane: keep
/// it short (other writes wait). It must not call blocking `sw_writer_*` functions (they return
/// `SW_STATUS_MISUSE`); use `sw_txn_execute` / `sw_txn_query`.
pub type sw_txn_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, txn: *mut sw_txn) -> sw_status>;

thread_local! {
    static CURRENT: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

struct Slot<'a, 'b> {
    txn: &'a mut Txn<'b>,
}

fn with_txn<T>(txn: *mut sw_txn, f: impl FnOnce(&mut Txn<'_>) -> Result<T>) -> Result<T> {
    if txn.is_null() {
        return Err(Error::invalid("txn is NULL"));
    }
    if CURRENT.with(|c| c.get()) != txn.cast::<c_void>() {
        return Err(Error::misuse("this sw_txn is not the transaction running on this thread (use it only inside its callback)"));
    }
    // SAFETY: `txn` is the slot registered by `sw_writer_transaction` on this thread, alive for
    // the duration of the callback that is running now.
    let slot = unsafe { &mut *txn.cast::<Slot<'_, '_>>() };
    f(slot.txn)
}

/// Run a transaction: `fn(userdata, txn)` runs on the calling thread once it holds the writer
/// lane, inside a transaction on the write connection. OK from `fn` commits (returning once
/// committed); anything else rolls back and is returned. Writes from other threads may commit
/// in the same group. From inside another transaction or callback: `SW_STATUS_MISUSE`.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_transaction(
    writer: *const sw_writer,
    r#fn: sw_txn_fn,
    userdata: *mut c_void,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        let f = r#fn.ok_or_else(|| Error::invalid("fn is NULL"))?;
        with_writer(writer, |w| {
            w.transaction(|t| {
                let mut slot = Slot { txn: t };
                let ptr = (&mut slot as *mut Slot<'_, '_>).cast::<c_void>();
                let previous = CURRENT.with(|c| c.replace(ptr));
                struct Restore(*mut c_void);
                impl Drop for Restore {
                    fn drop(&mut self) {
                        CURRENT.with(|c| c.set(self.0));
                    }
                }
                let _restore = Restore(previous);
                let status = f(userdata, ptr.cast());
                if status == SW_STATUS_OK {
                    Ok(())
                } else {
                    let st = Status::from_u32(status).unwrap_or(Status::Rollback);
                    Err(Error::new(
                        st,
                        format!(
                            "the transaction callback returned {}; rolled back",
                            st.name()
                        ),
                    ))
                }
            })
        })
    })
}

/// Run SQL inside the transaction (see `sw_writer_execute` for `params` and `out_result`, which
/// may be NULL). A failed statement is undone; the callback may go on or return non-OK to roll
/// back everything. Only inside the callback, on its thread; otherwise `SW_STATUS_MISUSE`.
#[no_mangle]
pub unsafe extern "C" fn sw_txn_execute(
    txn: *mut sw_txn,
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
        let p = copy_params(params, n_params)?;
        let r = with_txn(txn, |t| t.execute(sql, &p))?;
        if !out_result.is_null() {
            out_result.write(r.into());
        }
        Ok(())
    })
}

/// Query inside the transaction (sees its uncommitted changes). `*out_rows`: free with
/// `sw_rows_free` (it may outlive the transaction). Only inside the callback, on its thread.
#[no_mangle]
pub unsafe extern "C" fn sw_txn_query(
    txn: *mut sw_txn,
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
        let rows = with_txn(txn, |t| t.query(sql, &p))?;
        out(
            out_rows,
            rows_into_handle(std::sync::Arc::new(rows)),
            "out_rows",
        )
    })
}
