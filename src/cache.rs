//! The read cache that invalidates itself.
//!
//! Owns cached result sets (`Arc<Rows>`), their LRU order and bound, TTLs and hot keys, the
//! per-table generations that make an entry stale when a table it read changes, and the
//! single-flight fills. Must never serve an expired or stale entry, and never let a fill that
//! started before a commit or an invalidation put its older result into the cache.
//!
//! Entries live in shards chosen by a hash of the key (32 when `Cache Size` is at least 4096, 8
//! from 256, one below), each with its own lock, LRU order and share of the bound, so that hits
//! on different keys from different threads do not wait for one lock: the order is LRU within a
//! shard. A sharded cache serves most hits under its shard's read side ([`ReadMostly`]: readers
//! write no shared word), leaving entries near the front of the LRU order where they are (see
//! `hit`). Invalidations are numbered across all shards (an epoch, and a log of the recent
//! ones that fills which started before them check).
//!
//! Admission: a full shard admits every new result (LRU) until it sees churn — over a window of
//! candidates, most entries it evicted had never been hit. It then admits a result only when its
//! key has been asked for more often, recently, than the entry it would evict (a small frequency
//! sketch per shard, halved now and then so it follows the workload), as TinyLFU does; it goes
//! back to plain LRU once most candidates pass that test. A workload whose entries would die
//! before their first hit then costs little more than the cache switched off, and one with a
//! hot set keeps it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::sync::{Condvar, Mutex, ReadMostly, STRIPES};
use lru::LruCache;

mod tables;

use tables::fnv1a as key_hash;
pub(crate) use tables::{Change, Deps, FnvBuild, Tables, SCHEMA};

use crate::error::Result;
use crate::glob::glob_match;
use crate::rows::Rows;
use crate::signal::{Sampled, Signals};

/// Cache statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held now (including expired ones not yet removed).
    pub entries: u64,
    /// Entries that reached the hot threshold.
    pub hot_entries: u64,
    /// Entries past their expiry, not yet removed.
    pub expired_entries: u64,
    /// `Cache Size`.
    pub max_entries: u64,
    /// Reads served from the cache.
    pub hits: u64,
    /// Reads that ran the query.
    pub misses: u64,
    /// Entries evicted to respect `Cache Size`.
    pub evictions: u64,
    /// Entries removed by invalidation (by key, by glob, or as stale).
    pub invalidations: u64,
}

struct Entry {
    rows: Arc<Rows>,
    deps: Deps,
    /// When it expires, in microseconds on the signals' clock ([`now_us`]). A hit under the
    /// shard's read lock may move it (sliding TTL).
    expires: AtomicU64,
    /// Reads of it (the fill is the first), counted up to the hot threshold or [`COPY_AFTER`],
    /// whichever is higher: past it nothing needs the count, and hits stop writing it.
    accesses: AtomicU32,
    key: Arc<str>,
    /// `key_hash(key)`, for the admission sketch.
    hash: u64,
    /// The shard's [`Shard::moves`] when this entry last went to the front of its LRU order.
    moved: u64,
    /// Copies of a small hot entry's rows, one per thread stripe, made by the first hit from
    /// that stripe (see [`Entry::rows_for`]).
    copies: std::sync::OnceLock<Box<[std::sync::OnceLock<Arc<Rows>>; STRIPES]>>,
}

/// An entry with at most this many cells is copied for each thread stripe that hits it once
/// it was read [`COPY_AFTER`] times.
const COPY_CELLS: usize = 64;

/// Reads of an entry after which it is copied per stripe (when small): a key read this often
/// is one that threads hit again and again, and copies of keys read a few times would only
/// multiply the cache's memory.
const COPY_AFTER: u32 = 64;

impl Entry {
    /// The rows to hand a hit from thread stripe `stripe` (`copied`: read [`COPY_AFTER`] times). Every `Arc` clone writes the
    /// reference count, and on one entry hit from several threads that count's cache line
    /// went back and forth between the cores on every hit (and again when the caller drops its
    /// result). A small hot entry therefore gives each stripe its own copy, made by the first
    /// hit from that stripe (so that it is allocated by that thread, away from the others'
    /// lines): results are immutable, so a copy answers exactly as the original does. At most
    /// [`STRIPES`] copies of [`COPY_CELLS`] cells each per entry read [`COPY_AFTER`] times.
    fn rows_for(&self, stripe: usize, copied: bool) -> Arc<Rows> {
        if !copied || self.rows.cell_count() > COPY_CELLS {
            return self.rows.clone();
        }
        let copies = self.copies.get_or_init(Default::default);
        copies[stripe]
            .get_or_init(|| Arc::new(Rows::clone(&self.rows)))
            .clone()
    }
}

/// A fill in progress: later misses on the same key wait for it instead of querying again.
struct Flight {
    result: Mutex<Option<Result<Arc<Rows>>>>,
    done: Condvar,
    /// `Tables::moves` and the invalidation epoch when the fill started: a read that starts
    /// after either moved, or while a commit was in progress (odd `moves`), must not take this
    /// fill's (possibly older) result.
    moves: u64,
    epoch: u64,
}

/// What a look under the shard's read lock found ([`Cache::hit`]).
enum Found {
    Hit(Arc<Rows>, Hit),
    /// No entry for the key.
    Absent,
    /// The write-locked lookup decides.
    Decide,
}

/// The signal a hit emits (`K`: the key of `cache.hit`, or `()` while it is still known).
enum Hit<K = Arc<str>> {
    /// The hit that brought its entry to the hot threshold: `cache.hot`.
    Hot(Arc<str>),
    /// `cache.hit` (sampled).
    Signal(K),
    /// None (sampled out).
    Quiet,
}

/// What a lookup found.
enum Lookup {
    /// A fresh entry and the signal to emit for it.
    Hit(Arc<Rows>, Hit),
    /// An entry made stale by a commit, now removed (its key, for `cache.invalidate`).
    Stale(Arc<str>),
    Miss,
}

/// One shard: the entries whose keys hash to it, and the fills in progress for them.
struct Shard {
    /// Hits under the write lock (those under the read lock count on the lock's stripes).
    hits: u64,
    lru: Option<LruCache<Arc<str>, Entry>>,
    flights: HashMap<Arc<str>, Arc<Flight>>,
    /// This shard's share of `Cache Size`.
    max: usize,
    /// Entries that went to the front of the LRU order so far (inserted or moved by a hit).
    moves: u64,
    /// A hit moves its entry to the front only when more than this many entries went there
    /// since it did (see `hit`): 0 in a single-shard cache (exact LRU order), a quarter of
    /// the shard's share in a sharded one.
    slack: u64,
    misses: u64,
    admission: Admission,
}

impl Shard {
    /// Count an access to the key with `hash` in the admission sketch, once the shard is half
    /// full: the sketch decides only for a full shard, and until then counting every hit would
    /// only write lines that other threads' hits read.
    fn touch(&self, hash: u64) {
        if let Some(lru) = &self.lru {
            if lru.len() * 2 >= self.max {
                self.admission.touch(hash);
            }
        }
    }

    /// Whether a result for a key with `hash` would be refused now: caching is off (`Cache
    /// Size=0`), or the shard is full and selective and the key is asked for no more often than
    /// the entry it would evict (counted as a refused candidate of the admission window).
    ///
    /// Asked only after the key was found absent: it is not looked up again (one hash look-up
    /// per miss fewer; a miss through a small cache cost 5 % more than an uncached read with
    /// it). An entry another thread filled for the key in between only makes this read an
    /// uncached one.
    fn refuses(&mut self, hash: u64) -> bool {
        let Shard {
            lru,
            admission,
            max,
            ..
        } = self;
        let Some(lru) = lru.as_ref() else {
            // Nothing will be kept: read it as an uncached query.
            return true;
        };
        if lru.len() < *max {
            return false;
        }
        let refuse = admission.refuses(lru, hash);
        if refuse {
            admission.candidates += 1;
            admission.refused += 1;
            admission.end_window(*max);
        }
        refuse
    }
}

/// A shard's admission policy (see the module documentation).
struct Admission {
    /// Recent accesses per key hash (saturating at 15), halved every `SKETCH_SLOTS` accesses.
    /// Counted under the shard's read lock too, so a race may lose a count: the sketch is an
    /// estimate anyway.
    sketch: Box<[AtomicU8]>,
    accesses: AtomicU32,
    /// This window: results offered to a full shard, evictions of entries never hit, results
    /// refused.
    candidates: u32,
    unhit_evictions: u32,
    refused: u32,
    /// Whether results must beat the entry they would evict.
    selective: bool,
}

const SKETCH_SLOTS: usize = 4096;

impl Admission {
    fn new() -> Admission {
        Admission {
            sketch: (0..SKETCH_SLOTS).map(|_| AtomicU8::new(0)).collect(),
            accesses: AtomicU32::new(0),
            candidates: 0,
            unhit_evictions: 0,
            refused: 0,
            selective: false,
        }
    }

    fn slot(hash: u64) -> usize {
        (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % SKETCH_SLOTS
    }

    /// Count an access to the key with `hash`.
    fn touch(&self, hash: u64) {
        let c = &self.sketch[Self::slot(hash)];
        let n = c.load(Ordering::Relaxed);
        if n < 15 {
            c.store(n + 1, Ordering::Relaxed);
        }
        if self.accesses.fetch_add(1, Ordering::Relaxed) as usize + 1 >= SKETCH_SLOTS {
            self.accesses.store(0, Ordering::Relaxed);
            for c in self.sketch.iter() {
                c.store(c.load(Ordering::Relaxed) >> 1, Ordering::Relaxed);
            }
        }
    }

    fn frequency(&self, hash: u64) -> u8 {
        self.sketch[Self::slot(hash)].load(Ordering::Relaxed)
    }

    /// Whether a full shard refuses a result whose key has `hash`: it is selective, and the key
    /// is asked for no more often than the entry it would evict.
    fn refuses(&self, lru: &LruCache<Arc<str>, Entry>, hash: u64) -> bool {
        self.selective
            && lru
                .peek_lru()
                .is_some_and(|(_, victim)| self.frequency(hash) <= self.frequency(victim.hash))
    }

    /// Close a window of candidates: decide whether the next one is selective.
    fn end_window(&mut self, max: usize) {
        if (self.candidates as usize) < (4 * max).max(1024) {
            return;
        }
        self.selective = if self.selective {
            // Still churning: the sketch keeps refusing most results.
            self.refused * 2 >= self.candidates
        } else {
            // Most admitted results were evicted before anyone read them again.
            self.unhit_evictions * 4 >= self.candidates * 3
        };
        self.candidates = 0;
        self.unhit_evictions = 0;
        self.refused = 0;
    }
}

/// A shard on a cache line (two, for the adjacent-line prefetcher) of its own. Hits that
/// leave their entry in place take the read lock ([`Cache::hit`]); everything else the write
/// lock.
#[repr(align(128))]
struct Padded {
    shard: ReadMostly<Shard>,
    /// The shard's admission is selective (its entries die unread, so hits are rare): reads
    /// go to the write lock at once, without a look under the read lock first.
    churning: AtomicBool,
}

impl Padded {
    /// Mirror the shard's admission state after it may have changed (under the write lock).
    fn note(&self, selective: bool) {
        if self.churning.load(Ordering::Relaxed) != selective {
            self.churning.store(selective, Ordering::Relaxed);
        }
    }
}

/// `d` in microseconds, at most `u64::MAX / 2` (sums with a time do not wrap).
fn micros(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(d.subsec_micros()))
        .min(u64::MAX / 2)
}

/// Now on the signals' clock (µs since the Unix epoch, monotonic): a hit reads it once for
/// the entry's expiry and its signal's timestamp.
fn now_us() -> u64 {
    crate::signal::now_us().max(0) as u64
}

/// The most recent invalidations (epoch, key or glob), for fills that started before them.
struct Log {
    recent: VecDeque<(u64, Box<str>)>,
}

const LOG_KEEP: usize = 1024;

/// Shards of a cache of at least [`SHARDED_FROM`] entries: two threads' hits on different
/// keys meet on one shard's lock one time in eight,
const SHARDS: usize = 8;
/// and of a cache of at least [`MORE_SHARDS_FROM`] (the default `Cache Size` is 10,000): one
/// time in 32, while a shard still holds over a hundred entries in LRU order.
const MORE_SHARDS: usize = 32;
const MORE_SHARDS_FROM: usize = 4096;
/// Smaller caches keep one shard: exact LRU order over all their entries.
const SHARDED_FROM: usize = 256;

/// The cache of one writer.
pub(crate) struct Cache {
    shards: Box<[Padded]>,
    /// Invalidations so far; moved (under `log`) after the invalidation is logged and before
    /// any entry is removed.
    epoch: AtomicU64,
    log: Mutex<Log>,
    pub(crate) tables: Arc<Tables>,
    signals: Arc<Signals>,
    /// Microseconds (see [`micros`]).
    ttl: u64,
    hot_ttl: u64,
    threshold: u32,
    /// Reads counted per entry: `threshold` or [`COPY_AFTER`], whichever is higher.
    count_to: u32,
    max: usize,
    evictions: AtomicU64,
    invalidations: AtomicU64,
}

impl Cache {
    pub(crate) fn new(
        max: usize,
        ttl: Duration,
        hot_ttl: Duration,
        threshold: u32,
        signals: Arc<Signals>,
    ) -> Cache {
        let n = match max {
            m if m >= MORE_SHARDS_FROM => MORE_SHARDS,
            m if m >= SHARDED_FROM => SHARDS,
            _ => 1,
        };
        let shards = (0..n)
            .map(|i| {
                Padded {
                    shard: ReadMostly::new(Shard {
                        // Unbounded to the lru crate (which would allocate `max` slots up front);
                        // the bound is kept by `insert`, so memory grows with the entries.
                        lru: (max > 0).then(LruCache::unbounded),
                        flights: HashMap::new(),
                        max: max / n + usize::from(i < max % n),
                        moves: 0,
                        slack: if n > 1 { (max / n / 4) as u64 } else { 0 },
                        hits: 0,
                        misses: 0,
                        admission: Admission::new(),
                    }),
                    churning: AtomicBool::new(false),
                }
            })
            .collect();
        Cache {
            shards,
            epoch: AtomicU64::new(0),
            log: Mutex::new(Log {
                recent: VecDeque::new(),
            }),
            tables: Arc::new(Tables::default()),
            signals,
            ttl: micros(ttl),
            hot_ttl: micros(hot_ttl.max(ttl)),
            threshold: threshold.max(1),
            count_to: threshold.max(COPY_AFTER),
            max,
            evictions: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    fn shard_index(&self, hash: u64) -> usize {
        (hash ^ (hash >> 32)) as usize % self.shards.len()
    }

    /// Serve `key` from the cache, or run `fill` (once, even for concurrent misses; it is given
    /// the key, allocated once for the signals of the miss) and cache its result unless a
    /// commit or an invalidation raced with it. Signals are emitted outside the shard's lock.
    pub(crate) fn read(
        &self,
        key: &str,
        fill: impl FnOnce(&Arc<str>, bool, bool) -> Result<(Rows, Option<Deps>)>,
    ) -> Result<Arc<Rows>> {
        let hash = key_hash(key);
        let padded = &self.shards[self.shard_index(hash)];
        let shard = &padded.shard;
        // Read before the lock: the shard is held only for the lookup itself.
        let now = now_us();
        let found = self.hit(padded, key, hash, now);
        if let Found::Hit(rows, signal) = found {
            self.emit_hit(signal, now);
            return Ok(rows);
        }
        let flight;
        let start_epoch;
        let miss;
        let key_arc: Arc<str>;
        {
            let mut inner = shard.write();
            let looked = match found {
                // Absent a moment ago under the read lock: a miss (an entry filled since only
                // costs this read a query, never a stale result).
                Found::Absent => Lookup::Miss,
                _ => {
                    inner.touch(hash);
                    self.lookup(&mut inner, key, now)
                }
            };
            match looked {
                Lookup::Hit(rows, signal) => {
                    drop(inner);
                    self.emit_hit(signal, now);
                    return Ok(rows);
                }
                Lookup::Stale(key) => {
                    drop(inner);
                    self.signals.emit("cache.invalidate", key);
                    inner = shard.write();
                }
                Lookup::Miss => {}
            }
            inner.misses += 1;
            key_arc = Arc::from(key);
            let signal_miss = self.signals.sampled(Sampled::Cache);
            let refused = inner.refuses(hash);
            padded.note(inner.admission.selective);
            if refused {
                // A selective shard would refuse this result (its key is asked for less often
                // than the entry it would evict): read it like an uncached query — no
                // single-flight record, no dependencies noted, no insert to be refused. On a
                // workload whose entries die unread this is most misses.
                drop(inner);
                let (rows, _) = fill(&key_arc, false, signal_miss)?;
                return Ok(Arc::new(rows));
            }
            let moves = self.tables.moves.load(Ordering::Acquire);
            let epoch = self.epoch.load(Ordering::Acquire);
            let joinable = inner
                .flights
                .get(key)
                .filter(|f| f.moves == moves && moves.is_multiple_of(2) && f.epoch == epoch);
            if let Some(f) = joinable {
                let f = f.clone();
                drop(inner);
                if signal_miss {
                    self.signals
                        .emit_read(crate::signal::now_us(), "cache.miss", key_arc, -1, -1);
                }
                let mut result = f.result.lock();
                while result.is_none() {
                    f.done.wait(&mut result);
                }
                return result.clone().unwrap_or_else(|| {
                    Err(crate::Error::new(crate::Status::Error, "fill vanished"))
                });
            }
            flight = Arc::new(Flight {
                result: Mutex::new(None),
                done: Condvar::new(),
                moves,
                epoch,
            });
            inner.flights.insert(key_arc.clone(), flight.clone());
            start_epoch = epoch;
            drop(inner);
            // `cache.miss` is emitted by `fill`, with the read's start (one lock, one clock).
            miss = signal_miss;
        }
        // Whatever happens in `fill` (even a panic), the flight must end.
        struct EndFlight<'a> {
            shard: &'a ReadMostly<Shard>,
            key: &'a Arc<str>,
            flight: &'a Arc<Flight>,
            result: Option<Result<Arc<Rows>>>,
        }
        impl Drop for EndFlight<'_> {
            fn drop(&mut self) {
                let mut inner = self.shard.write();
                if inner
                    .flights
                    .get(self.key)
                    .is_some_and(|f| Arc::ptr_eq(f, self.flight))
                {
                    inner.flights.remove(self.key);
                }
                drop(inner);
                let result = self.result.take().unwrap_or_else(|| {
                    Err(crate::Error::new(
                        crate::Status::Panic,
                        "the read that filled this key panicked",
                    ))
                });
                *self.flight.result.lock() = Some(result);
                self.flight.done.notify_all();
            }
        }
        let mut end = EndFlight {
            shard,
            key: &key_arc,
            flight: &flight,
            result: None,
        };
        let outcome = fill(&key_arc, true, miss);
        let result = match outcome {
            Ok((rows, Some(deps))) => {
                let rows = Arc::new(rows);
                self.insert(padded, &key_arc, hash, rows.clone(), deps, start_epoch);
                Ok(rows)
            }
            Ok((_, None)) => Err(crate::Error::new(
                crate::Status::Error,
                "read dependencies missing",
            )),
            Err(e) => Err(e),
        };
        end.result = Some(result.clone());
        drop(end);
        result
    }

    /// A hit served under the shard's read lock, so that hits on one shard from several
    /// threads do not wait for each other. An entry that must go to the front of the LRU order
    /// goes there under the write lock after it was served. Otherwise the write-locked path
    /// ([`Cache::lookup`]) decides: at once for a key found absent (counted in the sketch
    /// here), after its own look-up for an expired or stale entry, in a churning shard, or in
    /// a single-shard cache (whose order is exact).
    ///
    /// A hit here leaves its entry where it is when at most a quarter of the shard's share of
    /// entries went to the front since the entry did: no more entries than that are ahead of
    /// it, so it is far from eviction either way. Such hits only read the shard, whose LRU
    /// links (the shard's head among them) another thread's hits would otherwise pull to their
    /// core each time. Only the order within that front quarter is approximate: as in exact
    /// LRU, an entry hit at least once every share of moves is never evicted (moved last at
    /// `m` and hit every `a` moves, it is skipped while `k·a ≤ slack` and moved at the first
    /// `k·a ≤ slack + a`, which stays below the share as long as `a` does, because the slack
    /// is below half of it).
    fn hit(&self, padded: &Padded, key: &str, hash: u64, now: u64) -> Found {
        if self.shards.len() == 1 || padded.churning.load(Ordering::Relaxed) {
            return Found::Decide;
        }
        let shard = &padded.shard;
        let inner = shard.read();
        let Some(lru) = inner.lru.as_ref() else {
            return Found::Absent;
        };
        let Some(entry) = lru.peek(key) else {
            inner.touch(hash);
            return Found::Absent;
        };
        let t = now;
        if entry.expires.load(Ordering::Relaxed) <= t || !entry.deps.fresh(&self.tables) {
            return Found::Decide;
        }
        let promote = inner.moves - entry.moved > inner.slack;
        inner.touch(hash);
        let signal = match self.touched(entry, t) {
            // Emitted here, under the read lock, so that the entry's key is not cloned: the
            // signal holds this thread's copy of a key it hits repeatedly (`emit_read_key`).
            Hit::Signal(()) => {
                self.signals
                    .emit_read_key(t as i64, "cache.hit", &entry.key);
                Hit::Quiet
            }
            Hit::Hot(key) => Hit::Hot(key),
            Hit::Quiet => Hit::Quiet,
        };
        // On this reader's stripe of the lock: no counter that other readers write.
        inner.count();
        let copied = entry.accesses.load(Ordering::Relaxed) >= self.count_to;
        let rows = entry.rows_for(inner.stripe(), copied);
        drop(inner);
        if promote {
            // Served; now to the front, unless it went meanwhile (one lookup: `get_mut` moves).
            let mut inner = shard.write();
            let Shard { lru, moves, .. } = &mut *inner;
            if let Some(entry) = lru.as_mut().and_then(|lru| lru.get_mut(key)) {
                *moves += 1;
                entry.moved = *moves;
            }
        }
        Found::Hit(rows, signal)
    }

    /// Count a hit on `entry` at `t` (µs, [`now_us`]): its reads up to `count_to`, and its
    /// sliding expiry. Returns the signal to emit for it.
    fn touched(&self, entry: &Entry, t: u64) -> Hit<()> {
        let counted = entry.accesses.load(Ordering::Relaxed);
        let (accesses, hot_now) = if counted < self.count_to {
            // Exactly one hit brings it to the threshold, however many threads race here.
            let a = entry.accesses.fetch_add(1, Ordering::Relaxed) + 1;
            (a, a == self.threshold)
        } else {
            (counted, false)
        };
        let ttl = if accesses >= self.threshold {
            self.hot_ttl
        } else {
            self.ttl
        };
        // Sliding expiry, moved only when that moves it by more than 1/64 of the TTL: a key hit
        // from many threads is then not rewritten on every hit. It may expire up to that much
        // before a full TTL after its last hit; never after.
        let expires = t.saturating_add(ttl);
        if expires
            > entry
                .expires
                .load(Ordering::Relaxed)
                .saturating_add(ttl / 64)
        {
            entry.expires.fetch_max(expires, Ordering::Relaxed);
        }
        if hot_now {
            Hit::Hot(entry.key.clone())
        } else if self.signals.sampled(Sampled::Cache) {
            Hit::Signal(())
        } else {
            Hit::Quiet
        }
    }

    fn emit_hit(&self, signal: Hit, at: u64) {
        match signal {
            Hit::Hot(key) => {
                self.signals
                    .emit_at(at as i64, "cache.hot", key, crate::Status::Ok, -1, -1)
            }
            Hit::Signal(key) => self.signals.emit_read_key(at as i64, "cache.hit", &key),
            Hit::Quiet => {}
        }
    }

    /// Look `key` up under its shard's write lock; the signal to emit once the lock is released.
    /// A hit here moves its entry to the front (the read side, [`Cache::hit`], is where a hit
    /// may leave it in place).
    fn lookup(&self, inner: &mut Shard, key: &str, now: u64) -> Lookup {
        let Shard {
            lru, moves, hits, ..
        } = inner;
        let Some(lru) = lru.as_mut() else {
            return Lookup::Miss;
        };
        let Some(entry) = lru.get_mut(key) else {
            return Lookup::Miss;
        };
        let t = now;
        if *entry.expires.get_mut() <= t {
            lru.pop(key);
            return Lookup::Miss;
        }
        if !entry.deps.fresh(&self.tables) {
            let key = entry.key.clone();
            lru.pop(&*key);
            self.invalidations.fetch_add(1, Ordering::Relaxed);
            return Lookup::Stale(key);
        }
        let signal = match self.touched(entry, t) {
            Hit::Hot(key) => Hit::Hot(key),
            Hit::Signal(()) => Hit::Signal(entry.key.clone()),
            Hit::Quiet => Hit::Quiet,
        };
        let rows = entry.rows.clone();
        // `get_mut` moved it.
        *moves += 1;
        entry.moved = *moves;
        *hits += 1;
        Lookup::Hit(rows, signal)
    }

    fn insert(
        &self,
        padded: &Padded,
        key: &Arc<str>,
        hash: u64,
        rows: Arc<Rows>,
        deps: Deps,
        start_epoch: u64,
    ) {
        let mut inner = padded.shard.write();
        if inner.lru.is_none() {
            return;
        }
        // Under the shard's lock: an invalidation that moved the epoch after this load removes
        // its entries from this shard after this insert has released it.
        if self.epoch.load(Ordering::Acquire) != start_epoch {
            let log = self.log.lock();
            let truncated = log.recent.front().is_none_or(|(e, _)| *e > start_epoch + 1);
            let raced = truncated
                || log
                    .recent
                    .iter()
                    .any(|(e, pattern)| *e > start_epoch && glob_match(pattern, key));
            if raced {
                return;
            }
        }
        if !deps.fresh(&self.tables) {
            return;
        }
        let entry = Entry {
            rows,
            deps,
            expires: AtomicU64::new(now_us().saturating_add(self.ttl)),
            accesses: AtomicU32::new(1),
            key: key.clone(),
            hash,
            moved: inner.moves + 1,
            copies: Default::default(),
        };
        inner.moves += 1;
        let max = inner.max;
        let Shard { lru, admission, .. } = &mut *inner;
        let Some(lru) = lru.as_mut() else {
            return;
        };
        if lru.len() >= max && !lru.contains(&**key) {
            admission.candidates += 1;
            let refuse = admission.refuses(lru, hash);
            admission.refused += u32::from(refuse);
            admission.end_window(max);
            padded.note(admission.selective);
            if refuse {
                return;
            }
        }
        let replaced = lru.push(key.clone(), entry);
        let evicted = if lru.len() > max {
            let evicted = lru.pop_lru();
            if evicted
                .as_ref()
                .is_some_and(|(_, e)| e.accesses.load(Ordering::Relaxed) <= 1)
            {
                admission.unhit_evictions += 1;
            }
            evicted
        } else {
            replaced.filter(|(old, _)| old != key)
        };
        if let Some((old_key, _)) = evicted {
            {
                self.evictions.fetch_add(1, Ordering::Relaxed);
                drop(inner);
                self.signals.emit("cache.evict", old_key);
                if self.signals.sampled(Sampled::Cache) {
                    self.signals.emit("cache.set", key.clone());
                }
                return;
            }
        }
        drop(inner);
        if self.signals.sampled(Sampled::Cache) {
            self.signals.emit("cache.set", key.clone());
        }
    }

    /// Drop `key_or_glob` (a glob when it holds `*` or `?`); fills already running for matching
    /// keys will not be cached. Returns how many entries were removed.
    pub(crate) fn invalidate(&self, key_or_glob: &str, signal: &'static str) -> usize {
        {
            let mut log = self.log.lock();
            let epoch = self.epoch.load(Ordering::Relaxed) + 1;
            log.recent.push_back((epoch, key_or_glob.into()));
            if log.recent.len() > LOG_KEEP {
                log.recent.pop_front();
            }
            self.epoch.store(epoch, Ordering::Release);
        }
        let mut removed = 0;
        let glob = key_or_glob.contains(['*', '?']);
        let shards: &[Padded] = if glob {
            &self.shards
        } else {
            std::slice::from_ref(&self.shards[self.shard_index(key_hash(key_or_glob))])
        };
        for shard in shards {
            let mut inner = shard.shard.write();
            let Some(lru) = inner.lru.as_mut() else {
                continue;
            };
            if glob {
                let keys: Vec<Arc<str>> = lru
                    .iter()
                    .filter(|(k, _)| glob_match(key_or_glob, k))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    lru.pop(&k);
                    removed += 1;
                }
            } else if lru.pop(key_or_glob).is_some() {
                removed += 1;
            }
        }
        self.invalidations
            .fetch_add(removed as u64, Ordering::Relaxed);
        self.signals
            .emit_full(signal, key_or_glob, crate::Status::Ok, -1, removed as i64);
        removed
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let now = now_us();
        let (mut entries, mut hot, mut expired, mut hits, mut misses) = (0, 0, 0, 0, 0);
        for shard in self.shards.iter() {
            let inner = shard.shard.read();
            hits += inner.hits + shard.shard.counted();
            misses += inner.misses;
            let Some(lru) = inner.lru.as_ref() else {
                continue;
            };
            for (_, e) in lru.iter() {
                entries += 1;
                if e.accesses.load(Ordering::Relaxed) >= self.threshold {
                    hot += 1;
                }
                if e.expires.load(Ordering::Relaxed) <= now {
                    expired += 1;
                }
            }
        }
        CacheStats {
            entries,
            hot_entries: hot,
            expired_entries: expired,
            max_entries: self.max as u64,
            hits,
            misses,
            evictions: self.evictions.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max: usize) -> Cache {
        let hour = Duration::from_secs(3600);
        Cache::new(max, hour, hour, 1000, Arc::new(Signals::new(16, 1)))
    }

    /// Whether reading `key` was a hit.
    fn hit(c: &Cache, key: &str) -> bool {
        let mut filled = false;
        c.read(key, |_, _, _| {
            filled = true;
            Ok((Rows::default(), Some(c.tables.snapshot(std::iter::empty()))))
        })
        .unwrap();
        !filled
    }

    /// A small entry read [`COPY_AFTER`] times hands each thread stripe its own copy (no shared
    /// reference count), equal to the cached rows; an entry read fewer times, and a large one,
    /// is handed out as itself; an invalidation drops the copies with the entry.
    #[test]
    fn small_entries_read_often_are_copied_per_thread() {
        let hour = Duration::from_secs(3600);
        let c = Cache::new(4096, hour, hour, 2, Arc::new(Signals::new(16, 1)));
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let rows = |n: usize| {
            let mut stmt = db
                .prepare(
                    "WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s \
                     WHERE v < ?1) SELECT v FROM s",
                )
                .unwrap();
            stmt.raw_bind_parameter(1, n as i64).unwrap();
            Rows::from_statement(&mut stmt).unwrap()
        };
        let fill = |key: &str, n: usize| {
            let mut filled = false;
            let got = c
                .read(key, |_, _, _| {
                    filled = true;
                    Ok((rows(n), Some(c.tables.snapshot(["t"]))))
                })
                .unwrap();
            (got, filled)
        };
        let (small, filled) = fill("small", 2);
        assert!(filled);
        // The fill was its first read; hot (threshold 2) from the second, copied from the
        // COPY_AFTER-th.
        for read in 2..COPY_AFTER {
            let (again, filled) = fill("small", 2);
            assert!(!filled);
            assert!(Arc::ptr_eq(&again, &small), "copied at read {read}");
        }
        let (copy, filled) = fill("small", 2);
        assert!(!filled);
        assert!(
            !Arc::ptr_eq(&copy, &small),
            "a hit shared the entry's count"
        );
        assert_eq!(copy.to_json(), small.to_json());
        assert!(
            Arc::ptr_eq(&fill("small", 2).0, &copy),
            "one copy per stripe"
        );
        let (big, _) = fill("big", COPY_CELLS + 1);
        assert_eq!(big.row_count(), COPY_CELLS + 1);
        for _ in 0..COPY_AFTER + 1 {
            assert!(Arc::ptr_eq(&fill("big", COPY_CELLS + 1).0, &big));
        }
        let here = crate::sync::thread_stripe();
        let (there, theirs) = std::thread::scope(|t| {
            t.spawn(|| {
                let got = c
                    .read("small", |_, _, _| panic!("a hit was filled"))
                    .unwrap();
                (crate::sync::thread_stripe(), got)
            })
            .join()
            .unwrap()
        });
        assert_eq!(theirs.to_json(), small.to_json());
        if there != here {
            assert!(!Arc::ptr_eq(&theirs, &copy), "two stripes shared a copy");
        }
        assert_eq!(c.invalidate("small", "cache.invalidate"), 1);
        let (refilled, filled) = fill("small", 2);
        assert!(filled);
        assert!(!Arc::ptr_eq(&refilled, &copy));
    }

    /// The slack of a sharded cache's LRU order (hits that leave their entry in place) keeps
    /// exact LRU's promise: an entry hit at least once every share of insertions stays (at
    /// every spacing, among them the slack's own and twice it, where a slack of half the share
    /// would lose it); one never hit again goes after exactly its shard's share.
    #[test]
    fn a_sharded_caches_lru_order_keeps_its_slack() {
        let c = cache(4096);
        let share = 4096 / c.shards.len();
        assert_eq!((c.shards.len(), share), (MORE_SHARDS, 128));
        let mut keys = (0..)
            .map(|i| format!("k{i}"))
            .filter(|k| c.shard_index(key_hash(k)) == 0);
        let hot = keys.next().unwrap();
        let cold = keys.next().unwrap();
        assert!(!hit(&c, &hot));
        assert!(!hit(&c, &cold));
        for spacing in [1, share / 4, share / 2, share - 1] {
            for round in 0..20 {
                for _ in 0..spacing {
                    assert!(!hit(&c, &keys.next().unwrap()));
                }
                assert!(
                    hit(&c, &hot),
                    "every {spacing}, round {round}: the hot key was evicted"
                );
            }
        }
        assert!(!hit(&c, &cold), "the cold key outlived its shard's share");
        // The bound holds in the shard.
        assert_eq!(c.shards[0].shard.read().lru.as_ref().unwrap().len(), share);
        // A single-shard cache keeps exact LRU order: a hit always moves its entry.
        let c = cache(4);
        for k in ["a", "b", "c", "d"] {
            assert!(!hit(&c, k));
        }
        assert!(hit(&c, "c"));
        for k in ["e", "f", "g"] {
            assert!(!hit(&c, k));
        }
        // Evicted in order: a, b, d (c was read after d was inserted).
        assert!(hit(&c, "c"));
        assert!(!hit(&c, "d"));
    }
}
