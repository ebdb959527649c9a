//! `sw_writer` statistics: counters, cache statistics, the operations list, Prometheus text.

use std::ffi::c_char;

use super::boundary::{boundary, need, out};
use super::handle::{sw_writer, with_writer};
use super::status::sw_status;
use super::strings::owned_string;
use crate::error::Result;
use crate::writer::Writer;

/// Cache statistics.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct sw_cache_stats {
    /// Entries held now (including expired ones not yet removed).
    pub entries: u64,
    /// Entries that reached `Hot Access Threshold`.
    pub hot_entries: u64,
    /// Entries past their expiry, not yet removed (never served).
    pub expired_entries: u64,
    /// `Cache Size`.
    pub max_entries: u64,
    /// Reads served from the cache.
    pub hits: u64,
    /// Reads that ran their query.
    pub misses: u64,
    /// Entries evicted to stay within `Cache Size`.
    pub evictions: u64,
    /// Entries removed by invalidation (explicit, by dependency, or external).
    pub invalidations: u64,
}

/// Writer statistics.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct sw_stats {
    /// Writes submitted and not yet acknowledged: those waiting in the queue plus the group
    /// being committed (so it can exceed `Queue Capacity` by up to `Max Batch`).
    pub queued: u64,
    /// Writes acknowledged OK.
    pub committed: u64,
    /// Writes acknowledged with an error.
    pub failed: u64,
    /// Commits on the write connection (committed / transactions = mean group size).
    pub transactions: u64,
    /// Waits for another process's lock.
    pub busy_retries: u64,
    /// Median submit-to-acknowledgement latency over the last 4096 writes, µs.
    pub latency_p50_us: u64,
    /// 99th percentile of the same, µs.
    pub latency_p99_us: u64,
}

/// A string result of the writer into `*out_s` (freed by the caller with `sw_string_free`).
unsafe fn string_out(
    writer: *const sw_writer,
    out_s: *mut *mut c_char,
    what: &str,
    f: fn(&Writer) -> Result<String>,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        need(out_s, what)?;
        let s = with_writer(writer, f)?;
        out(out_s, owned_string(s), what)
    })
}

/// Cache statistics into `*out_stats`.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_cache_stats(
    writer: *const sw_writer,
    out_stats: *mut sw_cache_stats,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        need(out_stats, "out_stats")?;
        let s = with_writer(writer, |w| w.cache_stats())?;
        out(
            out_stats,
            sw_cache_stats {
                entries: s.entries,
                hot_entries: s.hot_entries,
                expired_entries: s.expired_entries,
                max_entries: s.max_entries,
                hits: s.hits,
                misses: s.misses,
                evictions: s.evictions,
                invalidations: s.invalidations,
            },
            "out_stats",
        )
    })
}

/// Writer statistics into `*out_stats`.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_stats(
    writer: *const sw_writer,
    out_stats: *mut sw_stats,
) -> sw_status {
    // SAFETY: the pointer arguments are the caller's, valid as this function's header
    // documentation requires (strings NUL-terminated, arrays of the given counts, out-params
    // writable); NULLs are checked before use.
    boundary(|| unsafe {
        need(out_stats, "out_stats")?;
        let s = with_writer(writer, |w| w.stats())?;
        out(
            out_stats,
            sw_stats {
                queued: s.queued,
                committed: s.committed,
                failed: s.failed,
                transactions: s.transactions,
                busy_retries: s.busy_retries,
                latency_p50_us: s.latency_p50_us,
                latency_p99_us: s.latency_p99_us,
            },
            "out_stats",
        )
    })
}

/// The recent write operations (up to `Max Tracked Writes` finished ones, plus those running)
/// as a JSON array of `{"id","kind","state","sql","submitted_us","finished_us","latency_us",
/// "error"}`; `state` is "running", "committed" or "failed". Free with `sw_string_free`.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_operations_json(
    writer: *const sw_writer,
    out_json: *mut *mut c_char,
) -> sw_status {
    // SAFETY: `out_json` is writable or NULL (checked).
    unsafe { string_out(writer, out_json, "out_json", Writer::operations_json) }
}

/// Counters and latency histograms in the Prometheus text exposition format. Free with
/// `sw_string_free`.
#[no_mangle]
pub unsafe extern "C" fn sw_writer_metrics_text(
    writer: *const sw_writer,
    out_text: *mut *mut c_char,
) -> sw_status {
    // SAFETY: `out_text` is writable or NULL (checked).
    unsafe { string_out(writer, out_text, "out_text", Writer::metrics_text) }
}
