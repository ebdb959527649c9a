//! The signal ring: the last `Signal Capacity` signals, in sequence order, with runs.
//!
//! Most signals are per write (`write.enqueue`, `write.start`, `write.done`: three per write at
//! the default `Sample Rate`), and a group emits them together: the same name, no key, status
//! OK. The ring holds such a stretch as one *run*: the name once and per signal only what
//! differs (timestamp, duration, rows: 24 bytes), or for `write.start`, where every write of a
//! group starts at once, nothing per signal at all. Emitting a group's signals is then a few
//! pushes instead of three 80-byte slots per write (a tenth of the pipelined writer's time),
//! and a poll matches a run's name against its pattern once. Polls and subscribers still see
//! each signal on its own, with its own sequence number.
//!
//! Must hold exactly the newest `capacity` signals (a run is trimmed from its front one signal
//! at a time), keep sequence numbers contiguous and increasing from front to back, and give
//! every signal the fields it was emitted with.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use super::Signal;
use crate::error::Status;

/// A signal as the ring holds it on its own: a keyless signal holds no reference-counted key,
/// so emitting and overwriting it touches no shared counter.
pub(super) struct Slot {
    pub(super) seq: u64,
    pub(super) timestamp_us: i64,
    pub(super) name: Cow<'static, str>,
    pub(super) key: Option<Arc<str>>,
    pub(super) status: Status,
    pub(super) duration_us: i64,
    pub(super) rows: i64,
}

impl Slot {
    pub(super) fn signal(&self) -> Signal {
        Signal {
            seq: self.seq,
            timestamp_us: self.timestamp_us,
            name: self.name.clone(),
            key: self.key.clone().unwrap_or_else(super::empty_key),
            status: self.status,
            duration_us: self.duration_us,
            rows: self.rows,
        }
    }
}

/// What differs between the signals of a run.
pub(crate) enum Items {
    /// Each signal's timestamp (µs since the epoch), duration (µs, -1: untimed), rows (-1: none).
    Each(Vec<(i64, i64, i64)>),
    /// `count` signals at one timestamp, untimed, without rows.
    Same { timestamp_us: i64, count: usize },
}

impl Items {
    pub(super) fn len(&self) -> usize {
        match self {
            Items::Each(v) => v.len(),
            Items::Same { count, .. } => *count,
        }
    }

    fn get(&self, i: usize) -> (i64, i64, i64) {
        match self {
            Items::Each(v) => v[i],
            Items::Same { timestamp_us, .. } => (*timestamp_us, -1, -1),
        }
    }
}

/// Consecutive signals of one name, without key, status OK.
pub(super) struct Run {
    /// The sequence number of `items` index 0.
    first_seq: u64,
    /// Signals trimmed from the front (the oldest fell out of the ring).
    skip: usize,
    name: &'static str,
    items: Items,
}

impl Run {
    fn seqs(&self) -> std::ops::Range<u64> {
        self.first_seq + self.skip as u64..self.first_seq + self.items.len() as u64
    }

    fn signal(&self, seq: u64) -> Signal {
        let (timestamp_us, duration_us, rows) = self.items.get((seq - self.first_seq) as usize);
        Signal {
            seq,
            timestamp_us,
            name: Cow::Borrowed(self.name),
            key: super::empty_key(),
            status: Status::Ok,
            duration_us,
            rows,
        }
    }
}

/// One entry of the ring.
pub(super) enum Entry {
    One(Slot),
    Run(Run),
}

impl Entry {
    fn seqs(&self) -> std::ops::Range<u64> {
        match self {
            Entry::One(s) => s.seq..s.seq + 1,
            Entry::Run(r) => r.seqs(),
        }
    }

    /// Its signals with `seq >= from` that match `keep` (asked once per run: a run's signals
    /// share name and key), in order.
    pub(super) fn signals(
        &self,
        from: u64,
        keep: &mut dyn FnMut(&str, &str) -> bool,
        out: &mut Vec<Signal>,
    ) {
        match self {
            Entry::One(s) => {
                if s.seq >= from && keep(&s.name, s.key.as_deref().unwrap_or("")) {
                    out.push(s.signal());
                }
            }
            Entry::Run(r) => {
                let seqs = r.seqs();
                if seqs.end > from && keep(r.name, "") {
                    out.extend((seqs.start.max(from)..seqs.end).map(|q| r.signal(q)));
                }
            }
        }
    }
}

/// The newest `capacity` signals.
pub(super) struct Ring {
    entries: VecDeque<Entry>,
    /// Signals held (a run counts each of its signals).
    held: usize,
    capacity: usize,
}

impl Ring {
    pub(super) fn new(capacity: usize) -> Ring {
        Ring {
            entries: VecDeque::with_capacity(capacity.min(1 << 16)),
            held: 0,
            capacity: capacity.max(1),
        }
    }

    /// Add one signal (its `seq` follows the newest held); returns what fell out, to be dropped
    /// after the lock (its key may be shared with other threads' signals).
    pub(super) fn push(&mut self, slot: Slot) -> Option<Entry> {
        // The common case once the ring is full: the oldest entry is a single signal too.
        if self.held >= self.capacity && matches!(self.entries.front(), Some(Entry::One(_))) {
            let oldest = self.entries.pop_front();
            self.entries.push_back(Entry::One(slot));
            return oldest;
        }
        self.held += 1;
        self.entries.push_back(Entry::One(slot));
        self.trim()
    }

    /// Add `items.len()` signals named `name` with sequence numbers from `first_seq`; with
    /// `publish`, each of them also goes to `out` (all of them, even those the ring cannot hold).
    pub(super) fn push_run(
        &mut self,
        first_seq: u64,
        name: &'static str,
        items: Items,
        publish: Option<&mut Vec<Signal>>,
    ) -> Option<Entry> {
        let n = items.len();
        if n == 0 {
            return None;
        }
        let run = Run {
            first_seq,
            skip: 0,
            name,
            items,
        };
        if let Some(out) = publish {
            out.extend(run.seqs().map(|q| run.signal(q)));
        }
        self.held += n;
        self.entries.push_back(Entry::Run(run));
        self.trim()
    }

    /// Drop the oldest signals beyond capacity: whole entries, then the front of a run.
    fn trim(&mut self) -> Option<Entry> {
        let mut dropped = None;
        while self.held > self.capacity {
            let excess = self.held - self.capacity;
            let front = self.entries.front_mut().expect("held > 0 means an entry");
            let seqs = front.seqs();
            let n = (seqs.end - seqs.start) as usize;
            if n <= excess {
                self.held -= n;
                dropped = self.entries.pop_front();
            } else if let Entry::Run(r) = front {
                r.skip += excess;
                self.held -= excess;
            }
        }
        dropped
    }

    /// The sequence number of the oldest signal held.
    pub(super) fn oldest(&self) -> Option<u64> {
        self.entries.front().map(|e| e.seqs().start)
    }

    /// Entries holding signals with `seq >= from`, oldest first.
    pub(super) fn from(&self, from: u64) -> impl Iterator<Item = &Entry> {
        let start = self.entries.partition_point(|e| e.seqs().end <= from);
        self.entries.range(start..)
    }

    /// Signals held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.held
    }
}

/// Signals emitted together: single signals and runs, in order (see [`super::Signals::emit_burst`]).
pub(crate) struct Burst {
    pub(super) parts: Vec<Part>,
}

/// Whether two signal names are the same: the same literal is usually the same address, so
/// the bytes are compared only when the addresses differ.
fn same_name(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// Parts a thread's kept list may hold; a longer one is freed.
const SPARE_PARTS: usize = 64;

thread_local! {
    /// This thread's last burst's list of parts, emptied: a burst allocates no list (a group
    /// makes two bursts).
    static SPARE: std::cell::Cell<Vec<Part>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Default for Burst {
    fn default() -> Burst {
        Burst {
            parts: SPARE.try_with(|s| s.take()).unwrap_or_default(),
        }
    }
}

/// Keep `parts` (emptied) for this thread's next [`Burst`].
pub(super) fn recycle(mut parts: Vec<Part>) {
    if parts.capacity() <= SPARE_PARTS {
        parts.clear();
        let _ = SPARE.try_with(|s| s.set(parts));
    }
}

pub(super) enum Part {
    One(super::Pending),
    /// A keyless OK signal (name, timestamp, duration, rows), held as a single slot; a second
    /// one of the same name right after turns it into a run.
    Item(&'static str, i64, i64, i64),
    Run(&'static str, Items),
}

impl Part {
    /// The name of a single keyless item.
    fn name(&self) -> Option<&'static str> {
        match self {
            Part::Item(n, ..) => Some(n),
            _ => None,
        }
    }
}

impl Burst {
    /// A signal of its own (with a key, or a status other than OK).
    pub(crate) fn one(&mut self, pending: super::Pending) {
        self.parts.push(Part::One(pending));
    }

    /// A keyless OK signal: joins the run before it when that has the same name. A lone one
    /// stays a single slot (a lone write allocates no run). Inlined: a group calls it twice per
    /// write, in loops where the run being extended stays in registers.
    #[inline(always)]
    pub(crate) fn item(
        &mut self,
        name: &'static str,
        timestamp_us: i64,
        duration_us: i64,
        rows: i64,
    ) {
        let item = (timestamp_us, duration_us, rows);
        match self.parts.last_mut() {
            Some(Part::Run(n, Items::Each(v))) if same_name(n, name) => v.push(item),
            Some(last @ Part::Item(..)) if last.name().is_some_and(|n| same_name(n, name)) => {
                let Part::Item(_, t, d, r) = *last else {
                    unreachable!("matched above")
                };
                *last = Part::Run(name, Items::Each(vec![(t, d, r), item]));
            }
            _ => self
                .parts
                .push(Part::Item(name, timestamp_us, duration_us, rows)),
        }
    }

    /// `count` keyless OK signals at one time, untimed, without rows.
    pub(crate) fn same(&mut self, name: &'static str, timestamp_us: i64, count: usize) {
        match count {
            0 => {}
            1 => self.parts.push(Part::Item(name, timestamp_us, -1, -1)),
            _ => self.parts.push(Part::Run(
                name,
                Items::Same {
                    timestamp_us,
                    count,
                },
            )),
        }
    }

    /// Signals in the burst.
    pub(super) fn len(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::One(_) | Part::Item(..) => 1,
                Part::Run(_, items) => items.len(),
            })
            .sum()
    }
}
