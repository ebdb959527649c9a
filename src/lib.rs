//! # singlewriter
//!
//! One coordinated writer per SQLite database, for every thread (and every language) in a
//! process: writes from any number of threads are committed in groups by one writer at a time;
//! reads run concurrently on read-only connections and through a cache that invalidates itself
//! when a table it read changes — by this writer, or by another process; every important step
//! emits a structured signal.
//!
//! ```
//! use singlewriter::{named_params, params, Writer};
//!
//! # fn main() -> singlewriter::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("sw-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! # let path = dir.join("doc.db");
//! let w = Writer::open(&format!("Data Source={};Cache Size=100", path.display()))?;
//! w.execute("CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, name TEXT NOT NULL)", &[])?;
//! let r = w.execute("INSERT INTO users(name) VALUES (@name)", &named_params! {"@name" => "Alice"})?;
//! assert_eq!(r.rows_affected, 1);
//!
//! // Cached read: served from the cache until a write changes `users`.
//! let rows = w.read("users:count", "SELECT count(*) FROM users", &params![])?;
//! assert_eq!(rows.get(0, 0).map(|v| v.as_i64()), Some(1));
//! w.execute("INSERT INTO users(name) VALUES (?1)", &params!["Bob"])?;
//! let rows = w.read("users:count", "SELECT count(*) FROM users", &params![])?;
//! assert_eq!(rows.get(0, 0).map(|v| v.as_i64()), Some(2));   // invalidated by the insert
//!
//! // A transaction on the write connection, on this thread.
//! let total = w.transaction(|tx| {
//!     tx.execute("INSERT INTO users(name) VALUES ('Carol')", &[])?;
//!     let rows = tx.query("SELECT count(*) FROM users", &[])?;
//!     Ok(rows.get(0, 0).map(|v| v.as_i64()).unwrap_or(0))
//! })?;
//! assert_eq!(total, 3);
//! w.close()?;
//! # Ok(()) }
//! ```
//!
//! The C ABI (`include/singlewriter.h`) is a thin translation of this API; see `src/ffi`.

#![warn(missing_docs)]
// `unsafe` lives in `ffi` (the C ABI), `process` (fork handlers, SQLite's configuration),
// `writer/stmts` (statements prepared and stepped through the C API),
// `read/wal_index` (SQLite's shared memory), the SQLite hooks
// (`writer/{registered,rowlog,wal_hook}`) and `sync`'s `ReadMostly` lock (its guards' access
// to the value), each allowing it for itself.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

mod cache;
mod error;
#[doc(hidden)]
pub mod ffi;
mod glob;
mod json;
mod options;
mod process;
mod read;
mod reentry;
mod registry;
mod replica;
mod rows;
mod session;
mod signal;
mod sql;
mod sync;
mod value;
mod writer;

pub use cache::CacheStats;
pub use error::{Error, Result, Status};
pub use options::{Checkpoints, Location, OpenMode, Options, Synchronous};
pub use replica::{ReplicaStatus, Role};
pub use rows::{Rows, ValueRef};
pub use signal::{glob_match, Poll, Signal};
pub use value::{Param, Value};
pub use writer::{Statement, Stats, Txn, WriteResult, Writer, CHANGE_TABLE};

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of the C ABI (`SW_ABI_VERSION`): bumped on any incompatible change.
pub const ABI_VERSION: u32 = 1;
