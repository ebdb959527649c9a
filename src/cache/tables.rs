//! Per-table generations: the leaf the cache, the readers and the writer lane share.
//!
//! Owns one counter per table name (case-insensitive) plus one for "everything", and the
//! snapshot of them a read takes before it runs ([`Deps`]). A commit moves the counters of the
//! tables it changed before anyone is acknowledged; an entry whose snapshot no longer matches is
//! stale. Must never let a counter move backwards or be replaced while an entry holds it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::sync::RwLock;

/// The pseudo-table every entry depends on: moved by any schema change or standalone statement.
pub(crate) const SCHEMA: &str = "sqlite_schema";

/// Per-table generation counters of one database.
#[derive(Default)]
pub(crate) struct Tables {
    map: RwLock<HashMap<Box<str>, Arc<AtomicU64>>>,
    /// Moves when everything is invalid (a commit by a program outside this library).
    all: AtomicU64,
    /// Moves with every bump: a fill that started before it may hold older data.
    pub(crate) moves: AtomicU64,
}

/// What a cached read depended on, as generations observed before it ran.
#[derive(Clone, Debug)]
pub(crate) struct Deps {
    all: u64,
    tables: Vec<(Arc<AtomicU64>, u64)>,
}

impl Deps {
    pub(crate) fn fresh(&self, tables: &Tables) -> bool {
        tables.all.load(Ordering::Acquire) == self.all
            && self
                .tables
                .iter()
                .all(|(g, v)| g.load(Ordering::Acquire) == *v)
    }
}

impl Tables {
    fn counter(&self, name: &str) -> Arc<AtomicU64> {
        let lower = name.to_ascii_lowercase();
        if let Some(g) = self.map.read().get(lower.as_str()) {
            return g.clone();
        }
        self.map
            .write()
            .entry(lower.into_boxed_str())
            .or_default()
            .clone()
    }

    /// Note the current generations of `names` (plus the schema) for a read about to run.
    pub(crate) fn snapshot<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Deps {
        let all = self.all.load(Ordering::Acquire);
        let mut tables = vec![];
        for name in std::iter::once(SCHEMA).chain(names) {
            let g = self.counter(name);
            let v = g.load(Ordering::Acquire);
            tables.push((g, v));
        }
        Deps { all, tables }
    }

    /// Move the generations of `names`: every entry that read one of them is stale.
    pub(crate) fn bump<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        for name in names {
            self.counter(name).fetch_add(1, Ordering::AcqRel);
        }
        self.moves.fetch_add(1, Ordering::AcqRel);
    }

    /// Make every entry stale.
    pub(crate) fn bump_all(&self) {
        self.all.fetch_add(1, Ordering::AcqRel);
        self.moves.fetch_add(1, Ordering::AcqRel);
    }
}
