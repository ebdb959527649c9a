//! Per-table and per-row generations: the leaf the cache, the readers and the writer lane share.
//!
//! Owns, per table name (case-insensitive), two counters — `any`, moved by every change to the
//! table, and `bulk`, moved only by changes not known row by row — plus a fixed array of row
//! counters shared by all tables (a row's counter is chosen by hashing its table and rowid), one
//! counter for "everything", and the snapshot of them a read takes before it runs ([`Deps`]).
//!
//! A read that may depend on any row of a table notes `any`; a point lookup by rowid (known from
//! its bytecode, `read.rs`) notes `bulk` and its row's counter, so changes to other rows of the
//! table leave it valid. An entry whose snapshot no longer matches is stale. Two rows sharing a
//! counter only cost an extra invalidation. Must never let a counter move backwards or be
//! replaced while an entry holds it.
//!
//! A commit moves the counters of what it changes twice: once before its COMMIT ([`Tables::begin`],
//! which makes them odd) and once after it, before anyone is acknowledged ([`Change`]'s drop,
//! which makes them even again). An odd counter means "a commit that changes this may be visible
//! already or not yet": a read that notes one is not cached, and no entry is served while one it
//! depends on is odd. Moving them only after the COMMIT left a window in which an entry filled
//! before the commit was still served as fresh although the commit was already visible to
//! every other read (an uncached read saw the new row, a later cached read the old one).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::sync::{Mutex, RwLock};

/// The pseudo-table every entry depends on: moved by any schema change or standalone statement.
pub(crate) const SCHEMA: &str = "sqlite_schema";

/// Row counters per database (a power of two): 512 KiB, allocated on first use.
const ROW_COUNTERS: usize = 1 << 16;

/// The counters of one table.
#[derive(Debug)]
pub(crate) struct TableGen {
    any: AtomicU64,
    bulk: AtomicU64,
    /// Mixed into the row counters' hash, so tables do not share their rows' counters.
    salt: u64,
}

/// Generation counters of one database.
#[derive(Default)]
pub(crate) struct Tables {
    map: RwLock<HashMap<Box<str>, Arc<TableGen>, FnvBuild>>,
    /// The schema's entry of `map`.
    schema: std::sync::OnceLock<Arc<TableGen>>,
    rows: std::sync::OnceLock<Box<[AtomicU64]>>,
    /// Moves (by two) when everything is invalid (a commit by a program outside this library).
    all: AtomicU64,
    /// Moves with every change, by one before its commit and one after: a fill that started
    /// before it, or while it was odd, may hold older data.
    pub(crate) moves: AtomicU64,
    /// The lists of the last [`Change`], emptied, for the next: a commit allocates none.
    spare: Mutex<Lists>,
    /// A read noted a row's counter ([`Tables::snapshot_row`]): from then on the writer reports
    /// the rows its commits change ([`Tables::rows_wanted`]).
    rows_wanted: AtomicBool,
}

/// The lists of a [`Change`].
#[derive(Default)]
struct Lists {
    whole: Vec<Arc<TableGen>>,
    by_row: Vec<Arc<TableGen>>,
    rows: Vec<usize>,
    /// One bit per row counter, set while it is in `rows` (cleared again before the lists are
    /// kept): a counter is listed once without sorting the list (a group of 1,000 inserts spent
    /// about 90 instructions a row sorting it).
    listed: Vec<u64>,
}

/// Row counters a [`Change`]'s kept lists may hold; a larger commit's lists are freed.
const SPARE_ROWS: usize = 16 * 1024;

/// The counters one commit moves, moved once by [`Tables::begin`] and once more when this is
/// dropped (after the COMMIT, whether it succeeded or not).
pub(crate) struct Change<'a> {
    tables: &'a Tables,
    /// `any` and `bulk` of tables changed as a whole (`whole`); `any` of tables changed row by
    /// row (`by_row`); row counters (`rows`). Each counter at most once, so that each moves by
    /// exactly one each time.
    lists: Lists,
}

impl Change<'_> {
    fn apply(&self) {
        let l = &self.lists;
        for g in &l.whole {
            g.bulk.fetch_add(1, Ordering::AcqRel);
            g.any.fetch_add(1, Ordering::AcqRel);
        }
        for g in &l.by_row {
            g.any.fetch_add(1, Ordering::AcqRel);
        }
        for &i in &l.rows {
            self.tables.row_counter(i).fetch_add(1, Ordering::AcqRel);
        }
        self.tables.moves.fetch_add(1, Ordering::AcqRel);
    }
}

impl Drop for Change<'_> {
    fn drop(&mut self) {
        self.apply();
        let mut lists = std::mem::take(&mut self.lists);
        if lists.rows.capacity() <= SPARE_ROWS {
            lists.whole.clear();
            lists.by_row.clear();
            lists.rows.clear();
            // `listed` was cleared by `begin`.
            *self.tables.spare.lock() = lists;
        }
    }
}

/// One noted generation.
#[derive(Clone, Debug)]
enum Noted {
    /// A table's `any` (`true`) or `bulk` counter.
    Table(Arc<TableGen>, bool, u64),
    /// A row counter.
    Row(usize, u64),
}

/// What a cached read depended on, as generations observed before it ran.
#[derive(Clone, Debug)]
pub(crate) struct Deps {
    all: u64,
    noted: Vec<Noted>,
}

impl Deps {
    /// Nothing it depends on has changed since it was noted, and no commit that changes it was
    /// in progress then (an odd counter).
    pub(crate) fn fresh(&self, tables: &Tables) -> bool {
        tables.all.load(Ordering::Acquire) == self.all
            && self.noted.iter().all(|n| {
                let (now, then) = match n {
                    Noted::Table(g, true, v) => (g.any.load(Ordering::Acquire), *v),
                    Noted::Table(g, false, v) => (g.bulk.load(Ordering::Acquire), *v),
                    Noted::Row(i, v) => (tables.row_counter(*i).load(Ordering::Acquire), *v),
                };
                now == then && then.is_multiple_of(2)
            })
    }
}

/// FNV-1a: stable and cheap; spreads table names over the row counters, and cache keys over
/// shards and sketch slots (`cache.rs`).
pub(super) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// FNV-1a as a [`Hasher`](std::hash::Hasher), for the small maps of table names that the write
/// path consults per statement and per commit (here, in the writer's row log and change sets).
/// The std default, SipHash, cost about 550 instructions per lone write there (callgrind); its
/// resistance to chosen keys buys nothing for table names from the application's own schema.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A `HashMap`/`HashSet` hasher builder for [`Fnv`].
pub(crate) type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

impl Tables {
    fn table(&self, name: &str) -> Arc<TableGen> {
        // Names are usually lower-case already (the authorizer's are lowered where recorded):
        // look those up without allocating.
        if !name.bytes().any(|b| b.is_ascii_uppercase()) {
            if let Some(g) = self.map.read().get(name) {
                return g.clone();
            }
        }
        let lower = name.to_ascii_lowercase();
        if let Some(g) = self.map.read().get(lower.as_str()) {
            return g.clone();
        }
        self.map
            .write()
            .entry(lower.clone().into_boxed_str())
            .or_insert_with(|| {
                Arc::new(TableGen {
                    any: AtomicU64::new(0),
                    bulk: AtomicU64::new(0),
                    salt: fnv1a(&lower),
                })
            })
            .clone()
    }

    fn row_counters(&self) -> &[AtomicU64] {
        self.rows
            .get_or_init(|| (0..ROW_COUNTERS).map(|_| AtomicU64::new(0)).collect())
    }

    fn row_counter(&self, i: usize) -> &AtomicU64 {
        &self.row_counters()[i]
    }

    fn row_index(table: &TableGen, rowid: i64) -> usize {
        let h = (table.salt ^ (rowid as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).rotate_left(29);
        (h.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40) as usize & (ROW_COUNTERS - 1)
    }

    /// The generations a statement's plan depends on (schema changes, and a foreign commit
    /// that made everything stale).
    pub(crate) fn schema_version(&self) -> (u64, u64) {
        (
            self.all.load(Ordering::Acquire),
            self.schema().any.load(Ordering::Acquire),
        )
    }

    /// The schema's counters (asked for by every read: kept apart from the map).
    fn schema(&self) -> &Arc<TableGen> {
        self.schema.get_or_init(|| self.table(SCHEMA))
    }

    /// Note the current generations of `names` (plus the schema) for a read about to run that
    /// may depend on any of their rows.
    pub(crate) fn snapshot<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Deps {
        let all = self.all.load(Ordering::Acquire);
        let schema = self.schema().clone();
        let v = schema.any.load(Ordering::Acquire);
        let noted = std::iter::once(Noted::Table(schema, true, v))
            .chain(names.into_iter().map(|name| {
                let g = self.table(name);
                let v = g.any.load(Ordering::Acquire);
                Noted::Table(g, true, v)
            }))
            .collect();
        Deps { all, noted }
    }

    /// Note the generations a point lookup of `rowid` in `table` depends on: the schema, the
    /// table's changes not known row by row, and that row.
    pub(crate) fn snapshot_row(&self, table: &str, rowid: i64) -> Deps {
        if !self.rows_wanted.load(Ordering::Relaxed) {
            self.rows_wanted.store(true, Ordering::Relaxed);
        }
        let all = self.all.load(Ordering::Acquire);
        let schema = self.schema();
        let g = self.table(table);
        let i = Self::row_index(&g, rowid);
        let noted = vec![
            Noted::Table(schema.clone(), true, schema.any.load(Ordering::Acquire)),
            Noted::Table(g.clone(), false, g.bulk.load(Ordering::Acquire)),
            Noted::Row(i, self.row_counter(i).load(Ordering::Acquire)),
        ];
        Deps { all, noted }
    }

    /// Whether a read ever depended on a row rather than a table. Until one does, commits need
    /// not say which rows they changed: moving each written table as a whole invalidates the
    /// same entries (none depends on a row), and the writer saves reporting every row it
    /// changes. A commit that began before the first such read moves its tables as a whole,
    /// which makes that read's entry stale or keeps it out of the cache, as for any commit.
    pub(crate) fn rows_wanted(&self) -> bool {
        self.rows_wanted.load(Ordering::Relaxed)
    }

    /// Begin a commit that changes `whole` tables as a whole (a name may repeat) and `rows` of
    /// tables by rowid (a table also changed as a whole counts as that): their counters move
    /// (to odd) now, and again (to even) when the returned [`Change`] is dropped, after the
    /// COMMIT and before anyone is acknowledged. Entries that depend on them are stale from now
    /// on.
    pub(crate) fn begin<'n>(
        &self,
        whole: impl IntoIterator<Item = &'n str>,
        rows: impl IntoIterator<Item = (&'n str, &'n [i64])>,
    ) -> Change<'_> {
        // The lists of the last change (only the writer begins changes: never contended).
        let mut l = std::mem::take(&mut *self.spare.lock());
        for name in whole {
            let g = self.table(name);
            if !l.whole.iter().any(|w| Arc::ptr_eq(w, &g)) {
                l.whole.push(g);
            }
        }
        for (name, rowids) in rows {
            let g = self.table(name);
            if l.whole.iter().any(|w| Arc::ptr_eq(w, &g)) {
                continue;
            }
            if l.listed.is_empty() {
                l.listed = vec![0; ROW_COUNTERS / 64];
            }
            for &rowid in rowids {
                let i = Self::row_index(&g, rowid);
                let (word, bit) = (&mut l.listed[i / 64], 1u64 << (i % 64));
                if *word & bit == 0 {
                    *word |= bit;
                    l.rows.push(i);
                }
            }
            if !l.by_row.iter().any(|w| Arc::ptr_eq(w, &g)) {
                l.by_row.push(g);
            }
        }
        for &i in &l.rows {
            l.listed[i / 64] = 0;
        }
        let change = Change {
            tables: self,
            lists: l,
        };
        change.apply();
        change
    }

    /// Move the generations of `names` as a whole, for a change already visible (another
    /// process's commit): every entry that read one of them is stale.
    pub(crate) fn bump<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        drop(self.begin(names, std::iter::empty()));
    }

    /// Make every entry stale (a commit by a program outside this library, already visible).
    pub(crate) fn bump_all(&self) {
        self.all.fetch_add(2, Ordering::AcqRel);
        self.moves.fetch_add(2, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_wanted_once_a_read_depends_on_one() {
        let t = Tables::default();
        assert!(!t.rows_wanted());
        let _ = t.snapshot(["t"]);
        assert!(!t.rows_wanted(), "a read of a whole table needs no rows");
        let _ = t.snapshot_row("t", 1);
        assert!(t.rows_wanted());
    }

    #[test]
    fn a_row_change_leaves_other_rows_point_lookups_valid() {
        let t = Tables::default();
        let row5 = t.snapshot_row("T", 5);
        let row6 = t.snapshot_row("t", 6);
        let whole = t.snapshot(["t"]);
        let change = t.begin([], [("t", &[6, 6][..])]);
        assert!(row5.fresh(&t), "another row is changing");
        assert!(!row6.fresh(&t), "its row is changing");
        let during = t.snapshot_row("t", 6);
        drop(change);
        assert!(!during.fresh(&t), "noted while a commit changed it");
        let during = t.snapshot_row("t", 5);
        assert!(during.fresh(&t), "noted while a commit changed another row");
        assert!(row5.fresh(&t), "another row changed");
        assert!(!row6.fresh(&t), "its row changed");
        assert!(
            !whole.fresh(&t),
            "a table-wide read is stale after any change"
        );
        let row5 = t.snapshot_row("t", 5);
        t.bump(["t"]);
        assert!(
            !row5.fresh(&t),
            "a change not known by rows makes every lookup stale"
        );
        let row5 = t.snapshot_row("t", 5);
        t.bump(["other"]);
        assert!(row5.fresh(&t));
        t.bump([SCHEMA]);
        assert!(!row5.fresh(&t), "a schema change makes everything stale");
        let row5 = t.snapshot_row("t", 5);
        t.bump_all();
        assert!(!row5.fresh(&t));
    }

    #[test]
    fn rows_spread_over_the_counters() {
        let t = Tables::default();
        let g = t.table("items");
        let mut seen = std::collections::HashSet::new();
        for rowid in 0..10_000 {
            seen.insert(Tables::row_index(&g, rowid));
        }
        assert!(
            seen.len() > 9_000,
            "{} distinct counters for 10,000 rows",
            seen.len()
        );
    }
}
