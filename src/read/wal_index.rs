//! A read connection's view of the WAL-index header, through SQLite's own mapping of it.
//!
//! Owns nothing of the file: the pointer is the one SQLite's VFS handed its connection
//! (`xShmMap` of the connection's `sqlite3_file`, region 0), and it stays valid for as long as
//! that connection is open in WAL mode. Must never open, map or close the `-shm` file itself:
//! closing any descriptor of a file drops every POSIX lock the process holds on it — SQLite's
//! shared lock on the `-shm` among them — and another process then believes it is alone,
//! reinitialises the WAL index and truncates the file under this process's mapping (SIGBUS, and
//! readers that trust a header nobody maintains). An earlier version did exactly that.
//!
//! The only `unsafe` of the core outside `ffi`: reading SQLite's shared memory.

#![allow(unsafe_code)]

use std::sync::atomic::{fence, Ordering};

use rusqlite::{ffi, Connection};

/// The first copy of the WAL-index header (<https://www.sqlite.org/walformat.html>, "The
/// WAL-Index Header": two copies of a 48-byte header at offsets 0 and 48). Every commit rewrites
/// it (frame count, change counter, salts) before its COMMIT returns, so an unchanged first copy
/// means nothing has committed.
pub(crate) type Header = [u64; 6];

/// SQLite's WAL-index region size (`WALINDEX_PGSZ` in wal.c): every caller of `xShmMap` must
/// pass it.
const REGION_SIZE: i32 = 32 * 1024;

/// Region 0 of the WAL index of one connection, as SQLite maps it.
pub(crate) struct WalIndex {
    base: *const u64,
}

// SAFETY: the pointer is only read, with volatile loads, by whichever thread holds the
// connection it came from; the memory is shared memory that SQLite itself reads and writes from
// any thread under its own locks.
unsafe impl Send for WalIndex {}

impl WalIndex {
    /// SQLite's mapping of region 0 of `db`'s WAL index, when `db` is a file database in WAL
    /// mode whose WAL index lives in shared memory; `None` otherwise (reads then run in a
    /// transaction of their own, as SQLite does by default).
    ///
    /// The value must not outlive `db`: keep it beside the connection it came from.
    pub(crate) fn of(db: &Connection) -> Option<WalIndex> {
        // Only a connection already in WAL mode: for any other, `xShmMap` would create a
        // `-shm` file. The pragma's statement reads the schema, which begins a read
        // transaction, which maps region 0 (walIndexReadHdr); the call below then returns
        // that mapping.
        let mode: String = db.query_row("PRAGMA journal_mode", [], |r| r.get(0)).ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        // SAFETY: `db.handle()` is the open connection; SQLITE_FCNTL_FILE_POINTER writes the
        // main database's `sqlite3_file*` into `file` and changes nothing.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                db.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&mut file as *mut *mut ffi::sqlite3_file).cast(),
            )
        };
        if rc != ffi::SQLITE_OK || file.is_null() {
            return None;
        }
        // SAFETY: `file` is the connection's open database file; its methods table is SQLite's
        // and lives as long as the file.
        let methods = unsafe { (*file).pMethods };
        if methods.is_null() {
            return None;
        }
        // SAFETY: as above; a version-2 methods table has the shared-memory methods.
        let map = unsafe {
            if (*methods).iVersion < 2 {
                return None;
            }
            (*methods).xShmMap?
        };
        let mut region: *mut std::ffi::c_void = std::ptr::null_mut();
        // SAFETY: the connection is in WAL mode and used by this thread only (connections are
        // opened NO_MUTEX and checked out by one thread at a time), as `xShmMap` requires. With
        // `bExtend` 0 it never grows the file; region 0 already exists (mapped by the read
        // above), so it only returns SQLite's pointer to it, which stays valid until the
        // connection unmaps its WAL index (at close, or when it leaves WAL mode — which no
        // other connection can make it do while it holds its shared lock on the database
        // file, as every WAL-mode connection does).
        let rc = unsafe { map(file, 0, REGION_SIZE, 0, &mut region) };
        if rc != ffi::SQLITE_OK || region.is_null() {
            // SQLITE_READONLY (a read-only `-shm`) or a heap-memory index: not shared with
            // other connections, so not a reliable sign of their commits.
            return None;
        }
        Some(WalIndex {
            base: region as *const u64,
        })
    }

    /// The first copy of the WAL-index header, as it is now.
    pub(crate) fn header(&self) -> Header {
        fence(Ordering::Acquire);
        // SAFETY: the first 48 bytes of SQLite's live 32 KiB mapping of region 0, aligned (a
        // mapping starts on a page boundary); volatile because other threads and processes
        // write it.
        std::array::from_fn(|i| unsafe { std::ptr::read_volatile(self.base.add(i)) })
    }
}
