//! Always-on counters and latency histograms (atomics), independent of sampling.
//!
//! Owns the numbers behind `sw_writer_stats`, `sw_writer_cache_stats` and the Prometheus text.
//! Must never take a lock on the write path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A log-scale histogram of microsecond durations: bucket i holds values below 2^i µs.
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
    count: AtomicU64,
    /// The last RECENT values, for "recent" percentiles.
    recent: Box<[AtomicU64]>,
    recent_next: AtomicU64,
}

const RECENT: usize = 4096;
const BUCKETS: usize = 40;

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
            recent: (0..RECENT).map(|_| AtomicU64::new(u64::MAX)).collect(),
            recent_next: AtomicU64::new(0),
        }
    }

    /// The bucket of `us`: values below 2^i µs.
    fn bucket(us: u64) -> usize {
        (64 - us.leading_zeros() as usize).min(BUCKETS - 1)
    }

    pub(crate) fn record(&self, us: u64) {
        let i = Self::bucket(us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let slot = self.recent_next.fetch_add(1, Ordering::Relaxed) as usize % RECENT;
        self.recent[slot].store(us, Ordering::Relaxed);
    }

    /// Record several values at once (one group's latencies): one atomic add per touched
    /// bucket instead of four atomic operations per value.
    pub(crate) fn record_all(&self, values: &[u64]) {
        match values {
            [] => return,
            // A lone write's group: four atomic operations beat a pass over every bucket.
            [one] => return self.record(*one),
            _ => {}
        }
        let mut counts = [0u64; BUCKETS];
        let mut sum = 0u64;
        for &us in values {
            counts[Self::bucket(us)] += 1;
            sum = sum.wrapping_add(us);
        }
        for (bucket, &n) in self.buckets.iter().zip(&counts) {
            if n > 0 {
                bucket.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.sum_us.fetch_add(sum, Ordering::Relaxed);
        self.count.fetch_add(values.len() as u64, Ordering::Relaxed);
        let first = self
            .recent_next
            .fetch_add(values.len() as u64, Ordering::Relaxed) as usize;
        // Only the last RECENT values can survive in the ring.
        let skip = values.len().saturating_sub(RECENT);
        for (k, &us) in values.iter().enumerate().skip(skip) {
            self.recent[(first + k) % RECENT].store(us, Ordering::Relaxed);
        }
    }

    /// A list of values to record in chunks ([`Chunks::push`]), without allocating one.
    pub(crate) fn chunks(&self) -> Chunks<'_> {
        Chunks {
            into: self,
            values: [0; 32],
            len: 0,
        }
    }

    /// Percentiles (0..=100) over the most recent values.
    pub(crate) fn recent_percentiles(&self, ps: &[f64]) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .recent
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .filter(|&x| x != u64::MAX)
            .collect();
        if v.is_empty() {
            return vec![0; ps.len()];
        }
        v.sort_unstable();
        ps.iter()
            .map(|p| {
                let rank = ((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize;
                v[rank.min(v.len() - 1)]
            })
            .collect()
    }

    /// Prometheus histogram lines for unitless values (bucket i: below 2^i).
    pub(crate) fn expose_raw(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate().take(21) {
            cumulative += b.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                (1u64 << i) - 1
            );
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}_count {total}");
    }

    /// Prometheus histogram lines (seconds).
    pub(crate) fn expose(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            if i < 31 {
                let le = (1u64 << i) as f64 / 1e6;
                let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
            }
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {}", self.count.load(Ordering::Relaxed));
    }
}

/// The writer's counters.
pub(crate) struct Metrics {
    pub(crate) committed: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) transactions: AtomicU64,
    pub(crate) busy_retries: AtomicU64,
    pub(crate) queue_full: AtomicU64,
    pub(crate) reader_waits: AtomicU64,
    pub(crate) reads: AtomicU64,
    pub(crate) latency: Histogram,
    pub(crate) commit_time: Histogram,
    pub(crate) group_size: Histogram,
    /// Checkpoints that restarted the WAL, those that could not, and frames copied.
    pub(crate) checkpoints: AtomicU64,
    pub(crate) checkpoints_blocked: AtomicU64,
    pub(crate) checkpoint_frames: AtomicU64,
    /// How long new reads were held back for each checkpoint.
    pub(crate) reads_held_back: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        Metrics {
            committed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            busy_retries: AtomicU64::new(0),
            queue_full: AtomicU64::new(0),
            reader_waits: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            latency: Histogram::new(),
            commit_time: Histogram::new(),
            group_size: Histogram::new(),
            checkpoints: AtomicU64::new(0),
            checkpoints_blocked: AtomicU64::new(0),
            checkpoint_frames: AtomicU64::new(0),
            reads_held_back: Histogram::new(),
        }
    }
}

pub(crate) fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

pub(crate) fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// Values recorded into a [`Histogram`] a chunk at a time (a group's latencies); the rest when
/// dropped.
pub(crate) struct Chunks<'a> {
    into: &'a Histogram,
    values: [u64; 32],
    len: usize,
}

impl Chunks<'_> {
    pub(crate) fn push(&mut self, us: u64) {
        if self.len == self.values.len() {
            self.flush();
        }
        self.values[self.len] = us;
        self.len += 1;
    }

    fn flush(&mut self) {
        self.into.record_all(&self.values[..self.len]);
        self.len = 0;
    }
}

impl Drop for Chunks<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}
