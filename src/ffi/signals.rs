//! `sw_signals`: polled signals, subscriptions.

use std::ffi::{c_char, c_void, CString};
use std::ptr;

use super::boundary::{boundary, guarded, need, opt_text, out};
use super::handle::sw_writer;
use super::handle::with_writer;
use super::status::sw_status;
use crate::signal::Signal;

/// One signal. The strings are NUL-terminated and owned by the library.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sw_signal {
    /// Increasing per writer, never reused.
    pub seq: u64,
    /// Microseconds since the Unix epoch.
    pub timestamp_us: i64,
    /// The name, e.g. "write.done", "cache.hit", "cache.invalidate".
    pub name: *const c_char,
    /// The subject: cache key, pragma value, ...; "" if none.
    pub key: *const c_char,
    /// For `*.done` and `*.error` signals; OK otherwise.
    pub status: sw_status,
    /// Microseconds, -1 if not timed.
    pub duration_us: i64,
    /// Rows affected or returned; -1 if none.
    pub rows: i64,
}

/// The result of a poll (opaque).
pub struct sw_signals {
    items: Vec<sw_signal>,
    _strings: Vec<CString>,
    missed: u64,
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

fn to_c(signals: &[Signal]) -> (Vec<sw_signal>, Vec<CString>) {
    let mut strings = Vec::with_capacity(signals.len() * 2);
    let mut items = Vec::with_capacity(signals.len());
    for s in signals {
        let name = c_string(&s.name);
        let key = c_string(&s.key);
        items.push(sw_signal {
            seq: s.seq,
            timestamp_us: s.timestamp_us,
            name: name.as_ptr(),
            key: key.as_ptr(),
            status: s.status as sw_status,
            duration_us: s.duration_us,
            rows: s.rows,
        });
        strings.push(name);
        strings.push(key);
    }
    (items, strings)
}

/// The signals still held in the ring (`Signal Capacity`) with `seq > after_seq` whose full
/// form (`name` or `name:key`) matches the glob `pattern` (`*` any run, `?` one character,
/// anchored, case-sensitive; NULL matches all), oldest first. `*out_signals`: free with
/// `sw_signals_free`. `sw_signals_missed` tells how many signals after `after_seq` were
/// overwritten before this poll.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_poll_signals(
    writer: *const sw_writer,
    pattern: *const c_char,
    after_seq: u64,
    out_signals: *mut *const sw_signals,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        need(out_signals.cast::<*const sw_signals>(), "out_signals")?;
        let pattern = opt_text(pattern, "pattern")?;
        let poll = with_writer(writer, |w| w.poll_signals(pattern, after_seq))?;
        let (items, strings) = to_c(&poll.signals);
        let boxed = Box::new(sw_signals {
            items,
            _strings: strings,
            missed: poll.missed,
        });
        out(
            out_signals,
            Box::into_raw(boxed).cast_const(),
            "out_signals",
        )
    })
}

/// Number of signals in a poll result; 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn sw_signals_count(signals: *const sw_signals) -> usize {
    // SAFETY: `signals` comes from `sw_writer_poll_signals` or is NULL.
    guarded(0, || {
        unsafe { signals.as_ref() }.map_or(0, |s| s.items.len())
    })
}

/// The signal at `index`, or NULL if out of range. Valid until `sw_signals_free(signals)`.
#[no_mangle]
pub unsafe extern "C" fn sw_signals_get(
    signals: *const sw_signals,
    index: usize,
) -> *const sw_signal {
    // SAFETY: as documented for this function: `rows`/handles come from this library (or
    // are NULL, which is checked); out-params are writable or NULL.
    guarded(ptr::null(), || unsafe {
        signals
            .as_ref()
            .and_then(|s| s.items.get(index))
            .map_or(ptr::null(), |s| s as *const _)
    })
}

/// How many signals after the poll's `after_seq` had already been overwritten in the ring
/// (0: nothing missed). 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn sw_signals_missed(signals: *const sw_signals) -> u64 {
    // SAFETY: `signals` comes from `sw_writer_poll_signals` or is NULL.
    guarded(0, || unsafe { signals.as_ref() }.map_or(0, |s| s.missed))
}

/// Free a poll result. NULL does nothing.
#[no_mangle]
pub unsafe extern "C" fn sw_signals_free(signals: *const sw_signals) {
    guarded((), || {
        if !signals.is_null() {
            // SAFETY: from `sw_writer_poll_signals` (`Box::into_raw`), freed once, as the
            // header requires.
            drop(unsafe { Box::from_raw(signals.cast_mut()) });
        }
    })
}

/// Called for each signal matching a subscription, on that subscription's own dispatcher thread
/// (never the writer's). `signal` and its strings are valid only during the call. Blocking
/// `sw_writer_*` calls return `SW_STATUS_MISUSE` here. A slow callback only delays its own
/// subscription: its bounded queue drops (and counts) signals when full.
pub type sw_signal_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, signal: *const sw_signal)>;

/// Frees a subscription's userdata; called exactly once, on the dispatcher thread, after the
/// last callback (after `sw_writer_unsubscribe`, or when the writer closes).
pub type sw_userdata_free = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

struct SendPtr(*mut c_void);
// SAFETY: userdata is handed back untouched on the dispatcher thread, as documented.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// Subscribe to signals matching `pattern` (glob over the full form; NULL: all). `callback`
/// runs on a dispatcher thread of this subscription. `*out_subscription` identifies it for
/// `sw_writer_unsubscribe`. When this returns non-OK, `userdata_free` is not called.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_subscribe(
    writer: *const sw_writer,
    pattern: *const c_char,
    callback: sw_signal_callback,
    userdata: *mut c_void,
    userdata_free: sw_userdata_free,
    out_subscription: *mut u64,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        need(out_subscription, "out_subscription")?;
        let pattern = opt_text(pattern, "pattern")?.unwrap_or("*").to_owned();
        let cb = callback.ok_or_else(|| crate::Error::invalid("callback is NULL"))?;
        let ud = std::sync::Arc::new(SendPtr(userdata));
        let ud_cb = ud.clone();
        let call = Box::new(move |s: &Signal| {
            let (items, _strings) = to_c(std::slice::from_ref(s));
            cb(ud_cb.0, &items[0]);
        });
        let end = userdata_free.map(|free| {
            let ud = ud.clone();
            Box::new(move || free(ud.0)) as Box<dyn FnOnce() + Send>
        });
        let id = with_writer(writer, |w| w.subscribe(&pattern, call, end))?;
        out(out_subscription, id, "out_subscription")
    })
}

/// End a subscription. No callback of it starts after this returns (when called from its own
/// callback, that callback finishes first); its `userdata_free` runs once on its thread.
/// `SW_STATUS_INVALID_ARGUMENT` for an unknown subscription.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_unsubscribe(
    writer: *const sw_writer,
    subscription: u64,
) -> sw_status {
    boundary(|| with_writer(writer, |w| w.unsubscribe(subscription)))
}

/// How many signals a subscription dropped because its queue was full, into `*out_dropped`.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_subscription_dropped(
    writer: *const sw_writer,
    subscription: u64,
    out_dropped: *mut u64,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        need(out_dropped, "out_dropped")?;
        let n = with_writer(writer, |w| w.subscription_dropped(subscription))?;
        out(out_dropped, n, "out_dropped")
    })
}
