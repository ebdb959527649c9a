//! Deferred signals: the read path's signals (`cache.hit`, `cache.miss`, `read.start`,
//! `read.done`), held per thread while readers contend, and numbered when they join the ring.
//!
//! Every emitted signal used to take the ring's one lock. A cache hit is a few hundred
//! nanoseconds, so two threads serving hits spent much of their time passing that lock (and
//! its cache lines) between the cores: a second thread added 18 % to one thread's hits, and the
//! signal was a fifth of a hit. A thread alone still takes the lock (holding its signal back
//! would only add work), but once a reader finds the lock held (`try_lock` fails) the ring is
//! *contended* for `CONTENDED_US`, and meanwhile read-path signals go into a small buffer of
//! the emitting thread's stripe, a lock no other thread usually touches. They join the ring
//! together: when a buffer holds `FLUSH_AT` signals or its oldest is `FLUSH_AFTER_US` old,
//! before any other signal joins the ring, and before every poll. They get their sequence
//! numbers then.
//!
//! Must keep what a poller or subscriber sees consistent: every signal a thread emitted before
//! a poll is in that poll's answer; one thread's signals keep the order it emitted them in
//! (deferred signals join the ring before anything else is put into it); sequence numbers stay
//! contiguous and increasing. What deferral changes: a read's signals may follow, in sequence
//! order, signals that other threads emitted after them (their timestamps still say when they
//! happened). With subscribers the read path does not defer: a subscriber hears a read when it
//! happens.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use super::ring::Slot;
use crate::sync::Mutex;

// Stripes per writer: threads take them in turn, so up to `STRIPES` threads emit without
// sharing a lock.
use crate::sync::STRIPES;

/// A stripe's buffer joins the ring once it holds this many signals,
pub(super) const FLUSH_AT: usize = 32;

/// or once its oldest signal is this old (µs), so a busy reader's signals are at most about a
/// millisecond behind.
const FLUSH_AFTER_US: i64 = 1_000;

/// One stripe, on cache lines of its own (two, for the adjacent-line prefetcher): only the
/// threads that map onto it and polls touch it.
#[repr(align(128))]
#[derive(Default)]
struct Stripe {
    slots: Mutex<Held>,
    /// Set once `slots` may hold signals; cleared by a drain before it looks at them.
    pending: AtomicBool,
}

/// A stripe's signals, and its own copy of the key it saw repeated last.
#[derive(Default)]
struct Held {
    slots: Vec<Slot>,
    /// The address of the last shared key given to [`Deferred::push_keyed`].
    last: usize,
    /// This stripe's copy of a key that came twice in a row, and the address of the shared key
    /// it copies: while threads read one hot key, each stripe's signals hold its own copy, so
    /// that neither the hit that emits a signal nor the ring that drops it later touches the
    /// count that all those threads share.
    mine: Option<(Arc<str>, usize)>,
}

/// How long (µs) read-path signals are deferred after threads met on the ring's lock.
pub(super) const CONTENDED_US: i64 = 10_000;

/// The deferred signals of one writer.
pub(super) struct Deferred {
    stripes: Box<[Stripe]>,
    shared: Shared,
}

/// What every read-path signal reads, on cache lines of its own: written about once per
/// [`CONTENDED_US`] while threads contend, and not at all by a thread alone.
#[repr(align(128))]
struct Shared {
    /// Until when (µs, the signals' clock) read-path signals are deferred: set when a thread
    /// found the ring's lock held ([`Deferred::contend`]).
    until: AtomicI64,
    /// Set once any stripe may hold signals; cleared by [`Deferred::drain_all`] before it
    /// looks at them (as a stripe's own flag is by its drain).
    any: AtomicBool,
}

impl Stripe {
    /// Take its signals, in the order they were pushed. Called under the ring's lock, which
    /// orders drains.
    fn drain(&self, take: &mut impl FnMut(Slot)) {
        if !self.pending.load(Ordering::Relaxed) {
            return;
        }
        // Cleared before the lock: a push that this drain misses (it comes after the drain
        // released the lock) finds the flag clear and sets it again (see `push`).
        self.pending.store(false, Ordering::Relaxed);
        let mut held = self.slots.lock();
        for slot in held.slots.drain(..) {
            take(slot);
        }
    }
}

impl Deferred {
    pub(super) fn new() -> Deferred {
        Deferred {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            shared: Shared {
                until: AtomicI64::new(i64::MIN),
                any: AtomicBool::new(false),
            },
        }
    }

    /// Whether read-path signals emitted at `at_us` are deferred.
    pub(super) fn contended(&self, at_us: i64) -> bool {
        at_us < self.shared.until.load(Ordering::Relaxed)
    }

    /// Threads met on the ring's lock at `at_us`: defer read-path signals for a while.
    pub(super) fn contend(&self, at_us: i64) {
        self.shared
            .until
            .store(at_us.saturating_add(CONTENDED_US), Ordering::Relaxed);
    }

    fn mine(&self) -> &Stripe {
        &self.stripes[crate::sync::thread_stripe()]
    }

    /// Hold `slot` (its `seq` is assigned when it joins the ring). Returns whether the caller
    /// should now move this thread's deferred signals into the ring ([`Deferred::drain_mine`]
    /// under its lock).
    pub(super) fn push(&self, slot: Slot) -> bool {
        let stripe = self.mine();
        let mut held = stripe.slots.lock();
        self.hold(stripe, &mut held, slot)
    }

    /// [`Deferred::push`] for a signal whose key is `key` (given as `slot.key` is ignored): a
    /// key that comes again is held as this stripe's own copy (see [`Held::mine`]).
    pub(super) fn push_keyed(&self, mut slot: Slot, key: &Arc<str>) -> bool {
        let stripe = self.mine();
        let mut held = stripe.slots.lock();
        let address = Arc::as_ptr(key) as *const u8 as usize;
        slot.key = Some(match &held.mine {
            // Its text too: that address may hold another key by now.
            Some((mine, from)) if *from == address && **mine == **key => mine.clone(),
            // The same key as last time (by address; should it be another key at a reused
            // address, this copies that one): copy it once.
            _ if held.last == address => {
                let mine: Arc<str> = Arc::from(&**key);
                held.mine = Some((mine.clone(), address));
                mine
            }
            _ => {
                held.last = address;
                key.clone()
            }
        });
        self.hold(stripe, &mut held, slot)
    }

    fn hold(&self, stripe: &Stripe, held: &mut Held, slot: Slot) -> bool {
        let slots = &mut held.slots;
        let at = slot.timestamp_us;
        slots.push(slot);
        let due = slots.len() >= FLUSH_AT || at - slots[0].timestamp_us >= FLUSH_AFTER_US;
        // After the push, under the stripe's lock: a drain that cleared the flag before taking
        // this lock takes this slot, or it released the lock before, and then this load reads
        // its clear flag (the unlock orders them) and sets it again. Loaded first, so that a
        // set flag is only read.
        for flag in [&stripe.pending, &self.shared.any] {
            if !flag.load(Ordering::Relaxed) {
                flag.store(true, Ordering::Relaxed);
            }
        }
        due
    }

    /// Take this thread's held signals (and those of threads that share its stripe): before a
    /// signal of this thread joins the ring, so that its own signals keep their order. A load
    /// when there are none.
    pub(super) fn drain_mine(&self, mut take: impl FnMut(Slot)) {
        self.mine().drain(&mut take);
    }

    /// Whether any stripe may hold signals (one load).
    pub(super) fn any(&self) -> bool {
        self.shared.any.load(Ordering::Relaxed)
    }

    /// Take every held signal, stripe by stripe (before a poll, and before a read-path signal
    /// goes straight into the ring). A load when there are none.
    pub(super) fn drain_all(&self, mut take: impl FnMut(Slot)) {
        if !self.shared.any.load(Ordering::Relaxed) {
            return;
        }
        self.shared.any.store(false, Ordering::Relaxed);
        for stripe in self.stripes.iter() {
            stripe.drain(&mut take);
        }
    }
}
