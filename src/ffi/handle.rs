//! The casts of writer handles, result sets and the C write callback.
//!
//! Writer handles are registered in a process-wide set while open, so a NULL, closed or foreign
//! pointer is an error status (`SW_STATUS_CLOSED`), never a dereference. Result sets are
//! `Arc<Rows>` handed out raw; signal polls are boxed.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
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
    {
        let mut set = live().write();
        if !set.0.remove(&(p as usize)) {
            return Err(Error::new(
                Status::Closed,
                "the writer handle is already closed (or was never opened)",
            ));
        }
        // Every thread's remembered handles are stale from now on (`with_writer`).
        CLOSES.fetch_add(1, Ordering::AcqRel);
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

/// Moves (under the live set's write lock) whenever a handle is closed: what a thread
/// remembers of a handle holds while this has not moved.
static CLOSES: AtomicU64 = AtomicU64::new(0);

/// Handles a thread remembers.
const REMEMBERED: usize = 4;

/// A handle this thread found open, and the value of [`CLOSES`] then.
struct Remembered {
    handle: usize,
    closes: u64,
    writer: Arc<Writer>,
}

thread_local! {
    /// The handles this thread used last: a call on one of them while no handle was closed
    /// since needs neither the live set's lock nor a reference count of its own. Both are
    /// atomic read-modify-writes on cache lines every calling thread shares: two threads
    /// serving cache hits through the C ABI spent their time moving those lines between
    /// their CPUs (2 threads ÷ 1: 1.38× through the C ABI against 1.56× through the Rust API
    /// in the same run). A closed writer's `Writer` stays allocated here until this thread's
    /// next call or its exit (its database is closed by the close itself).
    static RECENT: RefCell<Vec<Remembered>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on the writer behind an open handle (CLOSED for a closed or unknown one).
pub(crate) fn with_writer<T>(
    w: *const sw_writer,
    f: impl FnOnce(&Writer) -> CoreResult<T>,
) -> CoreResult<T> {
    let handle = w as usize;
    let mut f = Some(f);
    let closes = CLOSES.load(Ordering::Acquire);
    // The borrow is shared, so a callback inside `f` may make calls of its own.
    let fast = RECENT.try_with(|recent| {
        let recent = recent.try_borrow().ok()?;
        let r = recent
            .iter()
            .find(|r| r.handle == handle && r.closes == closes)?;
        let f = f.take()?;
        Some(f(&r.writer))
    });
    if let Ok(Some(result)) = fast {
        return result;
    }
    let writer = writer_from_handle(w)?;
    let _ = RECENT.try_with(|recent| {
        // Busy when this is a callback inside a call that is using the list.
        if let Ok(mut recent) = recent.try_borrow_mut() {
            recent.retain(|r| r.closes == closes && r.handle != handle);
            if recent.len() == REMEMBERED {
                recent.remove(0);
            }
            recent.push(Remembered {
                handle,
                closes,
                writer: writer.clone(),
            });
        }
    });
    match f.take() {
        Some(f) => f(&writer),
        None => Err(Error::new(Status::Error, "internal: the call ran twice")),
    }
}
