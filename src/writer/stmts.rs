//! The write connection's statements for single-statement SQL with positional parameters (the
//! common write), prepared and stepped through SQLite's C API.
//!
//! Owns their statement handles in an LRU of its own; must finalize them before the connection
//! closes (the field holding them is declared before the connection in
//! [`WriteConn`](super::conn::WriteConn), so it drops first). Through rusqlite's statement cache
//! a write paid for the cache's look-up and for the wrapper returned to it (reset and clear on
//! every return: about 1,200 instructions of a lone write, callgrind), and every text or blob
//! parameter was copied by SQLite (`SQLITE_TRANSIENT`). Here the parameters are bound in place
//! (`SQLITE_STATIC`): the caller's parameter list outlives the run, and the bindings are
//! cleared before the caller lets go of it ([`Stmt::clear`]), so the statement never holds a
//! pointer into memory that may be gone. Anything else (named parameters, a count that does not match, several
//! statements, SQL that does not prepare) is left to the rusqlite path, which reports it.
#![allow(unsafe_code)]

use std::ffi::c_int;
use std::num::NonZeroUsize;

use lru::LruCache;
use rusqlite::ffi;
use rusqlite::types::ValueRef;

use super::fixed::Fixed;

/// One prepared statement and what the connection keeps with it (`T`).
pub(crate) struct Stmt<T> {
    db: *mut ffi::sqlite3,
    raw: *mut ffi::sqlite3_stmt,
    params: usize,
    pub(crate) with: T,
}

impl<T> Drop for Stmt<T> {
    fn drop(&mut self) {
        // SAFETY: `raw` is a statement of the open connection (see the module documentation),
        // finalized only here.
        unsafe {
            ffi::sqlite3_finalize(self.raw);
        }
    }
}

/// The statements, by SQL text.
pub(crate) struct Stmts<T> {
    db: *mut ffi::sqlite3,
    cache: LruCache<Box<str>, Stmt<T>>,
}

// SAFETY: the statements belong to the write connection and are only used by whoever holds it
// (the writer's connection lock), like the connection itself.
unsafe impl<T: Send> Send for Stmts<T> {}

/// What preparing a text gave.
pub(crate) enum Prepared {
    /// One statement, now cached.
    One,
    /// Several statements, none, or an error: for the rusqlite path.
    Other,
}

impl<T> Stmts<T> {
    pub(crate) fn new(db: &rusqlite::Connection, capacity: usize) -> Stmts<T> {
        Stmts {
            // SAFETY: only the handle's address is kept; it is used while the connection is
            // open (this value drops first).
            db: unsafe { db.handle() },
            cache: LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    pub(crate) fn contains(&self, sql: &str) -> bool {
        self.cache.contains(sql)
    }

    /// The cached statement for `sql`.
    pub(crate) fn get(&mut self, sql: &str) -> Option<&Stmt<T>> {
        self.cache.get(sql)
    }

    /// Prepare `sql` and cache it with what `with` gives (called after the prepare, so that it
    /// can read what the authorizer saw) when it is exactly one statement.
    pub(crate) fn prepare(&mut self, sql: &str, with: impl FnOnce() -> T) -> Prepared {
        let Ok(len) = c_int::try_from(sql.len()) else {
            return Prepared::Other;
        };
        let mut raw = std::ptr::null_mut();
        let mut tail = std::ptr::null();
        // SAFETY: `db` is the open connection; `sql` is valid for `len` bytes; the statement
        // is finalized here or by `Stmt`'s drop.
        unsafe {
            let rc = ffi::sqlite3_prepare_v3(
                self.db,
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut raw,
                &mut tail,
            );
            if rc != ffi::SQLITE_OK || raw.is_null() {
                ffi::sqlite3_finalize(raw);
                return Prepared::Other;
            }
            let used = (tail as usize).saturating_sub(sql.as_ptr() as usize);
            if !rest_is_empty(self.db, &sql[used.min(sql.len())..]) {
                ffi::sqlite3_finalize(raw);
                return Prepared::Other;
            }
            let params = ffi::sqlite3_bind_parameter_count(raw).max(0) as usize;
            let stmt = Stmt {
                db: self.db,
                raw,
                params,
                with: with(),
            };
            self.cache.put(sql.into(), stmt);
        }
        Prepared::One
    }
}

/// Whether the text after a statement holds no other statement (only spaces, comments and
/// semicolons), checked as rusqlite does: by preparing it.
///
/// # Safety
/// `db` is an open connection.
unsafe fn rest_is_empty(db: *mut ffi::sqlite3, rest: &str) -> bool {
    if rest.bytes().all(|b| b.is_ascii_whitespace() || b == b';') {
        return true;
    }
    let Ok(len) = c_int::try_from(rest.len()) else {
        return false;
    };
    let mut raw = std::ptr::null_mut();
    // SAFETY: the caller passes an open connection; `rest` is valid for `len` bytes.
    unsafe {
        let rc = ffi::sqlite3_prepare_v2(
            db,
            rest.as_ptr().cast(),
            len,
            &mut raw,
            std::ptr::null_mut(),
        );
        ffi::sqlite3_finalize(raw);
        rc == ffi::SQLITE_OK && raw.is_null()
    }
}

impl<T> Stmt<T> {
    /// Parameters the SQL has.
    pub(crate) fn params(&self) -> usize {
        self.params
    }

    /// [`Stmt::run`], then [`Stmt::clear`].
    pub(crate) fn run_once<'v>(
        &self,
        values: impl Iterator<Item = ValueRef<'v>>,
    ) -> rusqlite::Result<()> {
        let result = self.run(values);
        self.clear();
        result
    }

    /// Bind `values` (as many as [`Stmt::params`], in order), step the statement to its end
    /// and reset it. An error is SQLite's, as rusqlite reports it. Text and blob values are
    /// bound in place: [`Stmt::clear`] must run before they are dropped (runs on one statement
    /// in a row may clear once, after the last: each binds every parameter again).
    pub(crate) fn run<'v>(
        &self,
        values: impl Iterator<Item = ValueRef<'v>>,
    ) -> rusqlite::Result<()> {
        let db = self.db;
        // SAFETY: `raw` is a statement of the open connection `db`. Text and blob values are
        // bound without a copy; the caller clears the bindings before they are dropped.
        unsafe {
            let mut result = Ok(());
            for (i, value) in values.enumerate() {
                let index = i as c_int + 1;
                let rc = match value {
                    ValueRef::Null => ffi::sqlite3_bind_null(self.raw, index),
                    ValueRef::Integer(v) => ffi::sqlite3_bind_int64(self.raw, index, v),
                    ValueRef::Real(v) => ffi::sqlite3_bind_double(self.raw, index, v),
                    ValueRef::Text(t) => ffi::sqlite3_bind_text64(
                        self.raw,
                        index,
                        t.as_ptr().cast(),
                        t.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                    // An empty blob bound from a pointer could read as NULL: as rusqlite does.
                    ValueRef::Blob([]) => ffi::sqlite3_bind_zeroblob(self.raw, index, 0),
                    ValueRef::Blob(b) => ffi::sqlite3_bind_blob64(
                        self.raw,
                        index,
                        b.as_ptr().cast(),
                        b.len() as u64,
                        ffi::SQLITE_STATIC(),
                    ),
                };
                if rc != ffi::SQLITE_OK {
                    result = Err(Fixed::error(db, rc));
                    break;
                }
            }
            if result.is_ok() {
                loop {
                    match ffi::sqlite3_step(self.raw) {
                        ffi::SQLITE_ROW => continue,
                        ffi::SQLITE_DONE => break,
                        rc => {
                            result = Err(Fixed::error(db, rc));
                            break;
                        }
                    }
                }
            }
            ffi::sqlite3_reset(self.raw);
            result
        }
    }

    /// Drop the bindings (after [`Stmt::run`], before the values bound are dropped).
    pub(crate) fn clear(&self) {
        // SAFETY: `raw` is a statement of the open connection, not running (reset by `run`).
        unsafe {
            ffi::sqlite3_clear_bindings(self.raw);
        }
    }
}
