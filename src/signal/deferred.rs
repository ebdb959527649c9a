//! Deferred signals: the read path's signals (`cache.hit`, `cache.miss`, `read.start`,
//! `read.done`), held per thread and numbered when they join the ring.
//!
//! Every emitted signal used to take the ring's one lock. A cache hit is a few hundred
//! nanoseconds, so two threads serving hits spent much of their time passing that lock (and
//! its cache lines) between the cores: a second thread added 18 % to one thread's hits, and the
//! signal was a fifth of a hit. A read's signals now go into a small buffer of the emitting
//! thread's stripe, a lock no other thread usually touches, and join the ring together: when a
//! buffer holds `FLUSH_AT` signals or its oldest is `FLUSH_AFTER_US` old, before any other
//! signal joins the ring, and before every poll. They get their sequence numbers then.
//!
//! Must keep what a poller or subscriber sees consistent: every signal a thread emitted before
//! a poll is in that poll's answer; one thread's signals keep the order it emitted them in
//! (a thread's deferred signals join the ring before anything else it emits); sequence numbers
//! stay contiguous and increasing. What deferral changes: a read's signals may follow, in
//! sequence order, signals that other threads emitted after them (their timestamps still say
//! when they happened). With subscribers the read path does not defer: a subscriber hears a
//! read when it happens.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::ring::Slot;
use crate::sync::Mutex;

/// Stripes per writer: threads map onto them in turn, so up to this many threads emit without
/// sharing a lock.
const STRIPES: usize = 8;

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
    /// This stripe's copy of a key that came twice in a row: while threads read one hot key,
    /// each stripe's signals hold its own copy, so that neither the hit that emits a signal nor
    /// the ring that drops it later touches the count that all those threads share.
    mine: Option<Arc<str>>,
}

/// The deferred signals of one writer.
pub(super) struct Deferred {
    stripes: Box<[Stripe]>,
}

/// This thread's stripe number (modulo the stripe count): threads take numbers in turn.
fn stripe_number() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.try_with(|n| *n).unwrap_or(0)
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
        }
    }

    fn mine(&self) -> &Stripe {
        &self.stripes[stripe_number() % STRIPES]
    }

    /// Hold `slot` (its `seq` is assigned when it joins the ring). Returns whether the caller
    /// should now move this thread's deferred signals into the ring ([`Deferred::drain_mine`]
    /// under its lock).
    pub(super) fn push(&self, slot: Slot) -> bool {
        let stripe = self.mine();
        let mut held = stripe.slots.lock();
        Self::hold(stripe, &mut held, slot)
    }

    /// [`Deferred::push`] for a signal whose key is `key` (given as `slot.key` is ignored): a
    /// key that comes again is held as this stripe's own copy (see [`Held::mine`]).
    pub(super) fn push_keyed(&self, mut slot: Slot, key: &Arc<str>) -> bool {
        let stripe = self.mine();
        let mut held = stripe.slots.lock();
        let address = Arc::as_ptr(key) as *const u8 as usize;
        slot.key = Some(match &held.mine {
            Some(mine) if **mine == **key => mine.clone(),
            // The same key as last time, by address (one that was freed and reused for
            // another key since only makes a copy of that one): copy it once.
            _ if held.last == address => {
                let mine: Arc<str> = Arc::from(&**key);
                held.mine = Some(mine.clone());
                mine
            }
            _ => {
                held.last = address;
                key.clone()
            }
        });
        Self::hold(stripe, &mut held, slot)
    }

    fn hold(stripe: &Stripe, held: &mut Held, slot: Slot) -> bool {
        let slots = &mut held.slots;
        let at = slot.timestamp_us;
        slots.push(slot);
        let due = slots.len() >= FLUSH_AT || at - slots[0].timestamp_us >= FLUSH_AFTER_US;
        // After the push, under the stripe's lock: a drain that cleared the flag before taking
        // this lock takes this slot, or it released the lock before, and then this load reads
        // its clear flag (the unlock orders them) and sets it again. Loaded first, so that a
        // set flag is only read.
        if !stripe.pending.load(Ordering::Relaxed) {
            stripe.pending.store(true, Ordering::Relaxed);
        }
        due
    }

    /// Take this thread's held signals (and those of threads that share its stripe): before a
    /// signal of this thread joins the ring, so that its own signals keep their order. A load
    /// when there are none.
    pub(super) fn drain_mine(&self, mut take: impl FnMut(Slot)) {
        self.mine().drain(&mut take);
    }

    /// Take every held signal, stripe by stripe (before a poll).
    pub(super) fn drain_all(&self, mut take: impl FnMut(Slot)) {
        for stripe in self.stripes.iter() {
            stripe.drain(&mut take);
        }
    }
}
