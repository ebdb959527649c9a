//! The C ABI: a thin translation of the Rust API into `extern "C"` functions.
//!
//! Owns every `unsafe` block and every C type of the crate. Each exported function goes through
//! [`boundary`](boundary) (panic catching, last-error recording); every pointer cast lives in
//! [`handle`](handle). Must never let a Rust panic or a bad pointer argument (NULL, invalid
//! UTF-8, a closed writer handle) crash the host process.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

pub mod boundary;
pub mod exit;
pub mod handle;
pub mod rows;
pub mod signals;
pub mod status;
pub mod txn;
pub mod writer;
