//! The casts of writer handles, result sets and the C write callback.
//!
//! Writer handles are registered in a process-wide set while open, so a NULL, closed or foreign
//! pointer is an error status (`SW_STATUS_CLOSED`), never a dereference. Result sets are
//! `Arc<Rows>` handed out raw; signal polls are boxed.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use crate::sync::RwLock;

use crate::error::Result as CoreResult;
use crate::error::{Error, Result, Status};
use crate::rows::Rows;
use crate::writer::Writer;

/// An open writer handle (opaque).
pub struct sw_writer {
    _private: [u8; 0],
}

/// An immutable result set (opaque).
pub struct sw_rows {
    _private: [u8; 0],
}

/// Handle addresses are unique heap addresses: hashing them needs no SipHash.
#[derive(Default, Clone, Copy)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ *b as u64;
        }
    }
    fn write_usize(&mut self, n: usize) {
        // Allocations are 16-byte aligned; mix the high bits down.
        self.0 = (n as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The addresses of the open writer handles.
#[derive(Default)]
struct LiveSet(HashSet<usize, std::hash::BuildHasherDefault<AddressHasher>>);

fn live() -> &'static RwLock<LiveSet> {
    static LIVE: OnceLock<RwLock<LiveSet>> = OnceLock::new();
    static HELD: std::sync::Once = std::sync::Once::new();
    let set = LIVE.get_or_init(|| RwLock::new(LiveSet::default()));
    // Every call reads the set: a fork while another thread reads it must not leave it locked
    // in the child.
    HELD.call_once(|| crate::process::hold_rwlock_across_fork(set));
    set
}

pub(crate) fn writer_into_handle(w: Writer) -> *const sw_writer {
    let p = Arc::into_raw(Arc::new(w));
    live().write().0.insert(p as usize);
    p.cast()
}

/// A counted reference to the writer behind an open handle.
pub(crate) fn writer_from_handle(p: *const sw_writer) -> Result<Arc<Writer>> {
    if p.is_null() {
        return Err(Error::invalid("writer is NULL"));
    }
    let set = live().read();
    if !set.0.contains(&(p as usize)) {
        return Err(Error::new(
            Status::Closed,
            "the writer handle is closed (or was never opened)",
        ));
    }
    let p = p.cast::<Writer>();
    // SAFETY: `p` is in the live set, so it came from `Arc::into_raw` and the set still owns one
    // strong count; we hold the read lock, so `writer_release_handle` cannot drop it meanwhile.
    unsafe {
        Arc::increment_strong_count(p);
        Ok(Arc::from_raw(p))
    }
}

/// Unregister a handle and give back the set's reference.
pub(crate) fn writer_release_handle(p: *const sw_writer) -> Result<Arc<Writer>> {
    if p.is_null() {
        return Err(Error::invalid("writer is NULL"));
    }
    if !live().write().0.remove(&(p as usize)) {
        return Err(Error::new(
            Status::Closed,
            "the writer handle is already closed (or was never opened)",
        ));
    }
    // SAFETY: it was in the live set, which owned this strong count.
    Ok(unsafe { Arc::from_raw(p.cast::<Writer>()) })
}

pub(crate) fn rows_into_handle(rows: Arc<Rows>) -> *const sw_rows {
    Arc::into_raw(rows).cast()
}

/// Borrow the rows behind a handle. NULL is `None`.
pub(crate) unsafe fn rows_ref<'a>(p: *const sw_rows) -> Option<&'a Rows> {
    // SAFETY: a non-NULL `p` came from `rows_into_handle` and is not freed yet (the caller's
    // contract); the `Arc` it holds keeps the rows alive.
    unsafe { p.cast::<Rows>().as_ref() }
}

pub(crate) unsafe fn rows_free(p: *const sw_rows) {
    if !p.is_null() {
        // SAFETY: from `rows_into_handle`, released once (the caller's contract).
        drop(unsafe { Arc::from_raw(p.cast::<Rows>()) });
    }
}

/// The writers behind every open handle, each counted (for `sw_flush_all` and the exit drain).
pub(crate) fn open_writers() -> Vec<Arc<Writer>> {
    let set = live().read();
    set.0
        .iter()
        .map(|&p| {
            let p = p as *const Writer;
            // SAFETY: as in `writer_from_handle`: in the live set, under its read lock.
            unsafe {
                Arc::increment_strong_count(p);
                Arc::from_raw(p)
            }
        })
        .collect()
}

/// The C write callback's function type (`sw_write_callback` without its `Option`).
pub(crate) type WriteCallbackFn = unsafe extern "C" fn(
    *mut std::ffi::c_void,
    super::status::sw_status,
    *const super::value::sw_write_result,
    *const std::ffi::c_char,
);

/// A C write callback as the lane carries it (an untyped pointer: the core knows no C types).
pub(crate) fn write_callback_into_raw(cb: WriteCallbackFn) -> *const () {
    cb as *const ()
}

/// The C write callback back from the lane.
///
/// # Safety
/// `p` must come from [`write_callback_into_raw`].
pub(crate) unsafe fn write_callback_from_raw(p: *const ()) -> WriteCallbackFn {
    // SAFETY: `p` is a `WriteCallbackFn` converted by `write_callback_into_raw`; function and
    // data pointers have the same size and representation on every target this builds for.
    unsafe { std::mem::transmute::<*const (), WriteCallbackFn>(p) }
}

/// Run `f` on the writer behind an open handle (CLOSED for a closed or unknown one).
pub(crate) fn with_writer<T>(
    w: *const sw_writer,
    f: impl FnOnce(&Writer) -> CoreResult<T>,
) -> CoreResult<T> {
    let writer = writer_from_handle(w)?;
    f(&writer)
}
