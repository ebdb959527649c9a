//! The two statements every group runs, `BEGIN IMMEDIATE` and `COMMIT`, prepared once on the
//! write connection and stepped through SQLite's C API.
//!
//! Owns their statement handles; must finalize them before the connection closes (the field
//! holding them is declared before the connection in [`WriteConn`](super::conn::WriteConn), so
//! it drops first). Through rusqlite's statement cache each cost about 1,300 instructions and
//! an allocation more than the statement itself: hashing the text, moving the LRU entry,
//! wrapping the handle (callgrind of a lone write: 27.6k instructions per write before).
#![allow(unsafe_code)]

use rusqlite::Connection;

use crate::error::Result;

/// The write connection's `BEGIN IMMEDIATE` and `COMMIT` statements.
pub(crate) struct Fixed {
    db: *mut rusqlite::ffi::sqlite3,
    begin: *mut rusqlite::ffi::sqlite3_stmt,
    commit: *mut rusqlite::ffi::sqlite3_stmt,
}

// SAFETY: the statements belong to the write connection and are only used by whoever holds
// it (the writer's connection lock), like the connection itself.
unsafe impl Send for Fixed {}

impl Fixed {
    pub(crate) fn prepare(db: &Connection) -> Result<Fixed> {
        use rusqlite::ffi;
        // SAFETY: `handle` is the open connection; each statement is prepared from a
        // NUL-terminated literal and finalized in `drop`, before the connection closes.
        unsafe {
            let handle = db.handle();
            let mut fixed = Fixed {
                db: handle,
                begin: std::ptr::null_mut(),
                commit: std::ptr::null_mut(),
            };
            for (sql, slot) in [
                (c"BEGIN IMMEDIATE", &mut fixed.begin),
                (c"COMMIT", &mut fixed.commit),
            ] {
                let rc =
                    ffi::sqlite3_prepare_v2(handle, sql.as_ptr(), -1, slot, std::ptr::null_mut());
                if rc != ffi::SQLITE_OK {
                    return Err(Fixed::error(handle, rc).into());
                }
            }
            Ok(fixed)
        }
    }

    /// The connection's current error as rusqlite reports it.
    ///
    /// # Safety
    /// `db` is an open connection.
    pub(super) unsafe fn error(
        db: *mut rusqlite::ffi::sqlite3,
        rc: std::ffi::c_int,
    ) -> rusqlite::Error {
        use rusqlite::ffi;
        // SAFETY: the caller passes an open connection; its message is NUL-terminated.
        let (code, msg) = unsafe {
            (
                ffi::sqlite3_extended_errcode(db),
                std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(db))
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        let code = if code == 0 { rc } else { code };
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(msg))
    }

    /// `BEGIN IMMEDIATE`.
    pub(crate) fn begin(&self) -> rusqlite::Result<()> {
        self.run(self.begin)
    }

    /// `COMMIT`.
    pub(crate) fn commit(&self) -> rusqlite::Result<()> {
        self.run(self.commit)
    }

    /// Step `stmt` to its end and reset it.
    fn run(&self, stmt: *mut rusqlite::ffi::sqlite3_stmt) -> rusqlite::Result<()> {
        use rusqlite::ffi;
        // SAFETY: `stmt` is one of this connection's statements, not finalized before `drop`.
        unsafe {
            let rc = ffi::sqlite3_step(stmt);
            let result = if rc == ffi::SQLITE_DONE {
                Ok(())
            } else {
                Err(Fixed::error(self.db, rc))
            };
            ffi::sqlite3_reset(stmt);
            result
        }
    }
}

impl Drop for Fixed {
    fn drop(&mut self) {
        // SAFETY: finalizing NULL is a no-op; the connection is still open (see `WriteConn`).
        unsafe {
            rusqlite::ffi::sqlite3_finalize(self.begin);
            rusqlite::ffi::sqlite3_finalize(self.commit);
        }
    }
}
