//! The C ABI: a thin translation of the Rust API into `extern "C"` functions.
//!
//! Owns every C type of the crate and most of its `unsafe` (the rest: `process.rs` and
//! `read/wal_index.rs`). Each exported function goes through [`boundary`](boundary) or
//! `guarded` (panic catching, last-error recording); every unsafe operation
//! sits in an `unsafe` block with a `SAFETY:` line (`unsafe_op_in_unsafe_fn` is denied crate-wide).
//! Casts of writer handles, result sets and the C write callback live in [`handle`](handle);
//! a poll result (`sw_signals`) and a transaction borrow (`sw_txn`) are cast in their own files.
//! Must never let a Rust panic or a bad pointer argument (NULL, invalid UTF-8, a closed writer
//! handle) crash the host process.
//!
//! Files: `boundary` (panic boundary, argument checks: a leaf), `status` (statuses, versions,
//! last error), `handle` (casts), `value` (C values → parameters), `strings`, `writer` (open,
//! close, writes), `read` (queries, cached reads, invalidation), `rows`, `stats`, `signals`,
//! `txn`, `exit` (writes queued at exit).
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]
// Each function's pointer contract is in its header documentation, which is what C callers read;
// `# Safety` sections would repeat it in the header.
#![allow(clippy::missing_safety_doc)]

pub mod boundary;
pub mod exit;
pub mod handle;
pub mod read;
pub mod rows;
pub mod signals;
pub mod stats;
pub mod status;
pub mod strings;
pub mod txn;
pub mod value;
pub mod writer;
