//! The two statements every group runs, `BEGIN IMMEDIATE` and `COMMIT`, prepared once on the
//! write connection and stepped through SQLite's C API (as [`Stmt`]s).
//!
//! Owns them; they must be finalized before the connection closes (the field holding them is
//! declared before the connection in [`WriteConn`](super::conn::WriteConn), so it drops
//! first). Through rusqlite's statement cache each cost about 1,300 instructions and an
//! allocation more than the statement itself: hashing the text, moving the LRU entry, wrapping
//! the handle (callgrind of a lone write: 27.6k instructions per write before).

use rusqlite::Connection;

use super::stmts::Stmt;
use crate::error::Result;

/// The write connection's `BEGIN IMMEDIATE` and `COMMIT` statements.
pub(crate) struct Fixed {
    begin: Stmt<()>,
    commit: Stmt<()>,
}

impl Fixed {
    pub(crate) fn prepare(db: &Connection) -> Result<Fixed> {
        Ok(Fixed {
            begin: Stmt::fixed(db, c"BEGIN IMMEDIATE")?,
            commit: Stmt::fixed(db, c"COMMIT")?,
        })
    }

    /// `BEGIN IMMEDIATE`.
    pub(crate) fn begin(&self) -> rusqlite::Result<()> {
        self.begin.step()
    }

    /// `COMMIT`.
    pub(crate) fn commit(&self) -> rusqlite::Result<()> {
        self.commit.step()
    }
}
