//! The write connection's statements for single-statement SQL (the common write), prepared and
//! stepped through SQLite's C API.
//!
//! Owns their statement handles in an LRU of its own; must finalize them before the connection
//! closes (the field holding them is declared before the connection in
//! [`WriteConn`](super::conn::WriteConn), so it drops first). Through rusqlite's statement cache
//! a write paid for the cache's look-up and for the wrapper returned to it (reset and clear on
//! every return: about 1,200 instructions of a lone write, callgrind), and every text or blob
//! parameter was copied by SQLite (`SQLITE_TRANSIENT`). Here the parameters are bound in place
//! (`SQLITE_STATIC`): the caller's parameter list outlives the run, and the bindings are
//! cleared before the caller lets go of it ([`Stmt::clear`]), so the statement never holds a
//! pointer into memory that may be gone. Parameters bind in order, named ones by their name
//! with whatever prefix the SQL uses ([`Stmt::fits`]). Anything else (parameters that do not
//! give every SQL parameter exactly one value, names given for a statement with more than
//! [`NAMED_AT_MOST`] parameters, several statements, SQL that does not prepare) is left to the
//! rusqlite path, which reports it.
#![allow(unsafe_code)]

use std::cell::OnceCell;
use std::ffi::{c_int, CStr};
use std::num::NonZeroUsize;

use lru::LruCache;
use rusqlite::ffi;
use rusqlite::types::ValueRef;

use crate::value::Packed;

/// The most SQL parameters a statement may have for named parameters to bind here (each name
/// is looked for among the statement's; rusqlite's path keeps a table for more).
pub(crate) const NAMED_AT_MOST: usize = 32;

/// One prepared statement and what the connection keeps with it (`T`).
pub(crate) struct Stmt<T> {
    db: *mut ffi::sqlite3,
    raw: *mut ffi::sqlite3_stmt,
    params: usize,
    /// The SQL parameters' names (`None`: a bare `?`), read when a named parameter first binds.
    names: OnceCell<Box<[Option<Box<str>>]>>,
    pub(crate) with: T,
}

// SAFETY: a statement belongs to the write connection and is only used by whoever holds it
// (the writer's connection lock), like the connection itself.
unsafe impl<T: Send> Send for Stmt<T> {}

impl<T> Drop for Stmt<T> {
    fn drop(&mut self) {
        // SAFETY: `raw` is a statement of the open connection (see the module documentation),
        // finalized only here.
        unsafe {
            ffi::sqlite3_finalize(self.raw);
        }
    }
}

/// The connection's counters, read through its handle: a run of writes on one statement reads
/// them after every write, and rusqlite's methods borrow the connection's inner cell on each
/// call.
#[derive(Clone, Copy)]
pub(crate) struct Counters<'c> {
    db: *mut ffi::sqlite3,
    _conn: std::marker::PhantomData<&'c rusqlite::Connection>,
}

impl Counters<'_> {
    pub(crate) fn of(db: &rusqlite::Connection) -> Counters<'_> {
        Counters {
            // SAFETY: only used while `db` is borrowed (the lifetime), so while it is open.
            db: unsafe { db.handle() },
            _conn: std::marker::PhantomData,
        }
    }

    /// `sqlite3_total_changes64`.
    pub(crate) fn total_changes(self) -> u64 {
        // SAFETY: an open connection (see `of`).
        unsafe { ffi::sqlite3_total_changes64(self.db) as u64 }
    }

    /// `sqlite3_changes64`: rows the last INSERT, UPDATE or DELETE changed.
    pub(crate) fn changes(self) -> u64 {
        // SAFETY: an open connection (see `of`).
        unsafe { ffi::sqlite3_changes64(self.db) as u64 }
    }

    /// `sqlite3_last_insert_rowid`.
    pub(crate) fn last_insert_rowid(self) -> i64 {
        // SAFETY: an open connection (see `of`).
        unsafe { ffi::sqlite3_last_insert_rowid(self.db) }
    }

    /// Whether no transaction is open (`sqlite3_get_autocommit`).
    pub(crate) fn is_autocommit(self) -> bool {
        // SAFETY: an open connection (see `of`).
        unsafe { ffi::sqlite3_get_autocommit(self.db) != 0 }
    }
}

/// The statements, by SQL text.
pub(crate) struct Stmts<T> {
    db: *mut ffi::sqlite3,
    cache: LruCache<Box<str>, Stmt<T>>,
    /// Texts that hold more than one statement, so that they are not prepared here again on
    /// their way to rusqlite's path (being several statements is a property of the text).
    several: LruCache<Box<str>, ()>,
}

/// How many texts of several statements [`Stmts`] remembers.
const SEVERAL: usize = 64;

// SAFETY: as for `Stmt`: only the connection's holder uses it.
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
            several: LruCache::new(NonZeroUsize::new(SEVERAL).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    /// Whether `sql` is known to hold several statements (for rusqlite's path).
    pub(crate) fn several(&self, sql: &str) -> bool {
        self.several.contains(sql)
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
                self.several.put(sql.into(), ());
                return Prepared::Other;
            }
            let params = ffi::sqlite3_bind_parameter_count(raw).max(0) as usize;
            let stmt = Stmt {
                db: self.db,
                raw,
                params,
                names: OnceCell::new(),
                with: with(),
            };
            self.cache.put(sql.into(), stmt);
        }
        Prepared::One
    }
}

impl Stmt<()> {
    /// A statement of the connection's own, without parameters, prepared once and kept by the
    /// caller (see [`Fixed`](super::fixed::Fixed)).
    pub(crate) fn fixed(db: &rusqlite::Connection, sql: &CStr) -> rusqlite::Result<Stmt<()>> {
        // SAFETY: `handle` is the open connection; `sql` is NUL-terminated; the statement is
        // finalized by `Stmt`'s drop, before the connection closes (the caller's promise).
        unsafe {
            let handle = db.handle();
            let mut raw = std::ptr::null_mut();
            let rc =
                ffi::sqlite3_prepare_v2(handle, sql.as_ptr(), -1, &mut raw, std::ptr::null_mut());
            if rc != ffi::SQLITE_OK {
                ffi::sqlite3_finalize(raw);
                return Err(error(handle, rc));
            }
            Ok(Stmt {
                db: handle,
                raw,
                params: 0,
                names: OnceCell::new(),
                with: (),
            })
        }
    }
}

/// The connection's current error as rusqlite reports it.
///
/// # Safety
/// `db` is an open connection.
unsafe fn error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: the caller passes an open connection; its message is NUL-terminated.
    let (code, msg) = unsafe {
        (
            ffi::sqlite3_extended_errcode(db),
            CStr::from_ptr(ffi::sqlite3_errmsg(db))
                .to_string_lossy()
                .into_owned(),
        )
    };
    let code = if code == 0 { rc } else { code };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(msg))
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
    /// Whether `entries` (`len` of them, `named` with a name) give every SQL parameter exactly
    /// one value, so that [`Stmt::run`] can bind them.
    pub(crate) fn fits<'v>(
        &self,
        len: usize,
        named: usize,
        entries: impl Iterator<Item = (Option<&'v str>, ValueRef<'v>)>,
    ) -> bool {
        if named == 0 {
            return len == self.params;
        }
        if self.params > NAMED_AT_MOST || len != self.params {
            return false;
        }
        let mut positional = 0;
        let mut bound = 0u64;
        for (name, _) in entries {
            match self.index(name, &mut positional) {
                Some(i) if i <= self.params && bound & (1 << (i - 1)) == 0 => bound |= 1 << (i - 1),
                _ => return false,
            }
        }
        bound == (1u64 << self.params) - 1
    }

    /// Where the next entry goes (from 1): the next position, or the SQL parameter `name`
    /// ([`Stmt::named`]).
    #[inline]
    fn index(&self, name: Option<&str>, positional: &mut usize) -> Option<usize> {
        match name {
            None => {
                *positional += 1;
                Some(*positional)
            }
            Some(name) => self.named(name),
        }
    }

    /// The SQL parameter named `name` with any of the prefixes `@`, `:` and `$` (tried in that
    /// order, as rusqlite's path does).
    #[inline(never)]
    fn named(&self, name: &str) -> Option<usize> {
        let bare = name.strip_prefix(['@', ':', '$']).unwrap_or(name);
        if bare.is_empty() {
            return None;
        }
        let names = self.names.get_or_init(|| {
            (1..=self.params)
                .map(|i| {
                    // SAFETY: `raw` is a live statement; SQLite returns NULL or a
                    // NUL-terminated name that lives as long as the statement (copied here).
                    unsafe {
                        let p = ffi::sqlite3_bind_parameter_name(self.raw, i as c_int);
                        (!p.is_null())
                            .then(|| CStr::from_ptr(p).to_string_lossy().into_owned().into())
                    }
                })
                .collect()
        });
        ['@', ':', '$'].into_iter().find_map(|prefix| {
            names
                .iter()
                .position(|n| {
                    n.as_deref().is_some_and(|n| {
                        n.len() == bare.len() + 1 && n.starts_with(prefix) && n[1..] == *bare
                    })
                })
                .map(|i| i + 1)
        })
    }

    /// [`Stmt::run`], then [`Stmt::clear`].
    pub(crate) fn run_once<'v>(
        &self,
        entries: impl Iterator<Item = (Option<&'v str>, ValueRef<'v>)>,
    ) -> rusqlite::Result<()> {
        let result = self.run(entries);
        self.clear();
        result
    }

    /// [`Stmt::run`] for a packed list: positional values bind in one loop over the bytes
    /// ([`Packed::try_each_positional`]), named ones through [`Stmt::run`].
    pub(crate) fn run_packed(&self, params: &Packed) -> rusqlite::Result<()> {
        if params.named() != 0 {
            return self.run(params.entries());
        }
        let mut index: c_int = 0;
        // SAFETY: as in `run`: `raw` is a statement of the open connection, values bound in
        // place are cleared by the caller before the list is dropped.
        let bound = params.try_each_positional(|value| {
            index += 1;
            match unsafe { self.bind(index, value) } {
                ffi::SQLITE_OK => Ok(()),
                rc => Err(rc),
            }
        });
        if let Err(rc) = bound {
            // SAFETY: as above.
            unsafe {
                let e = error(self.db, rc);
                ffi::sqlite3_reset(self.raw);
                return Err(e);
            }
        }
        self.step()
    }

    /// Bind one value at `index` (from 1), in place for a text or blob.
    ///
    /// # Safety
    /// `raw` is not running; a text or blob bound stays alive until [`Stmt::clear`].
    #[inline]
    unsafe fn bind(&self, index: c_int, value: ValueRef<'_>) -> c_int {
        // SAFETY: the caller's promise.
        unsafe {
            match value {
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
            }
        }
    }

    /// Bind `entries` (that [`Stmt::fits`]), step the statement to its end and reset it. An
    /// error is SQLite's, as rusqlite reports it. Text and blob values are bound in place: [`Stmt::clear`] must run before they are dropped (runs on one statement
    /// in a row may clear once, after the last: each binds every parameter again).
    pub(crate) fn run<'v>(
        &self,
        entries: impl Iterator<Item = (Option<&'v str>, ValueRef<'v>)>,
    ) -> rusqlite::Result<()> {
        let db = self.db;
        let mut positional = 0;
        // SAFETY: `raw` is a statement of the open connection `db`. Text and blob values are
        // bound without a copy; the caller clears the bindings before they are dropped.
        unsafe {
            let mut result = Ok(());
            for (name, value) in entries {
                let Some(index) = self.index(name, &mut positional) else {
                    result = Err(rusqlite::Error::InvalidParameterName(
                        name.unwrap_or_default().to_owned(),
                    ));
                    break;
                };
                let rc = self.bind(index as c_int, value);
                if rc != ffi::SQLITE_OK {
                    result = Err(error(db, rc));
                    break;
                }
            }
            if result.is_err() {
                ffi::sqlite3_reset(self.raw);
                return result;
            }
        }
        self.step()
    }

    /// Step the statement (its parameters bound) to its end and reset it.
    pub(crate) fn step(&self) -> rusqlite::Result<()> {
        // SAFETY: `raw` is a statement of the open connection `db`.
        unsafe {
            let result = loop {
                match ffi::sqlite3_step(self.raw) {
                    ffi::SQLITE_ROW => continue,
                    ffi::SQLITE_DONE => break Ok(()),
                    rc => break Err(error(self.db, rc)),
                }
            };
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
