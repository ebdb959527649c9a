//! A queued write's SQL text, shared with the writer's thread without a reference count to
//! touch per write.
//!
//! Every job carries its statement's text. As an `Arc<str>` that cost each write atomic
//! operations on the count's cache line: an increment on the submitting thread, an increment
//! and two decrements on the writer's (the job and its operations-list record), so in a
//! pipeline the line moved between the cores several times per write. `perf record` of W2 (16
//! producers, C ABI) put the job's decrement alone at 2 % of the writer thread's samples, nearly
//! all on the one locked instruction. Producers also each had their own `Arc` of the same text,
//! so the lane compared texts byte by byte to find a run of one statement.
//!
//! A text a thread submits twice in a row is interned for the process instead: kept for its
//! lifetime and referred to by a plain `&'static str`, the same one for every thread. The
//! table is bounded ([`MAX_TEXTS`] texts, [`MAX_BYTES`] bytes in all), like a statement
//! cache that never evicts: texts beyond it, and texts submitted once (SQL built with literal
//! values), stay `Arc<str>` as before. Must hand every job exactly the text it was given.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use crate::sync::RwLock;

/// Interned texts at most (a statement cache's worth for a large application).
const MAX_TEXTS: usize = 4096;
/// Bytes of interned text at most.
const MAX_BYTES: usize = 1 << 20;

/// A write's SQL text.
#[derive(Clone)]
pub(crate) enum SqlText {
    /// Interned for the process: copied and compared by pointer, never counted or freed.
    Interned(&'static str),
    /// Counted: a text not (yet) interned.
    Shared(Arc<str>),
}

impl Deref for SqlText {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            SqlText::Interned(s) => s,
            SqlText::Shared(a) => a,
        }
    }
}

impl std::fmt::Debug for SqlText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl From<&str> for SqlText {
    fn from(sql: &str) -> SqlText {
        SqlText::Shared(Arc::from(sql))
    }
}

impl SqlText {
    /// The same text object, not only an equal text: a cheap first test for a run of one
    /// statement's writes.
    pub(crate) fn same(&self, other: &SqlText) -> bool {
        std::ptr::eq(self.as_ptr(), other.as_ptr()) && self.len() == other.len()
    }

    /// Whether this text is interned (its copies touch no shared count).
    #[cfg(test)]
    pub(crate) fn is_interned(&self) -> bool {
        matches!(self, SqlText::Interned(_))
    }
}

/// Interned texts, each with whether it runs alone (its check's result, which depends on the
/// text only).
struct Table {
    texts: HashMap<&'static str, bool>,
    bytes: usize,
    max_texts: usize,
    max_bytes: usize,
}

impl Table {
    fn new(max_texts: usize, max_bytes: usize) -> Table {
        Table {
            texts: HashMap::new(),
            bytes: 0,
            max_texts,
            max_bytes,
        }
    }

    /// The interned copy of `sql`, added if there is room.
    fn add(&mut self, sql: &str, alone: bool) -> Option<&'static str> {
        if let Some((text, _)) = self.texts.get_key_value(sql) {
            return Some(text);
        }
        if self.texts.len() >= self.max_texts || self.bytes + sql.len() > self.max_bytes {
            return None;
        }
        let text: &'static str = Box::leak(Box::from(sql));
        self.texts.insert(text, alone);
        self.bytes += text.len();
        Some(text)
    }
}

static TABLE: LazyLock<RwLock<Table>> =
    LazyLock::new(|| RwLock::new(Table::new(MAX_TEXTS, MAX_BYTES)));

/// Set once the table is full: no thread locks it to add again.
static FULL: AtomicBool = AtomicBool::new(false);

/// The interned copy of `sql` and whether it runs alone, if it is interned.
pub(crate) fn lookup(sql: &str) -> Option<(SqlText, bool)> {
    let table = TABLE.read();
    table
        .texts
        .get_key_value(sql)
        .map(|(text, alone)| (SqlText::Interned(text), *alone))
}

/// Intern `sql` (checked, `alone` its check's result): its interned copy, or `None` when the
/// table is full. Once it is full this costs one load: a caller still holding a counted copy
/// (even of a text another thread interned meanwhile) keeps it, rather than look it up per
/// write.
pub(crate) fn intern(sql: &str, alone: bool) -> Option<SqlText> {
    if FULL.load(Ordering::Relaxed) {
        return None;
    }
    let added = TABLE.write().add(sql, alone);
    if added.is_none() {
        FULL.store(true, Ordering::Relaxed);
    }
    added.map(SqlText::Interned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interned_text_is_one_object_for_every_thread_and_reads_back_exactly() {
        let sql = "INSERT INTO interned_test(a) VALUES (?1) -- é";
        let here = intern(sql, false).expect("room in the table");
        let there = std::thread::spawn(move || intern(sql, false).unwrap())
            .join()
            .unwrap();
        assert!(here.is_interned() && here.same(&there));
        assert_eq!(&*here, sql);
        let (found, alone) = lookup(sql).unwrap();
        assert!(found.same(&here) && !alone);
        // Equal text in another object is equal, not the same.
        let shared = SqlText::from(sql);
        assert!(!shared.same(&here) && *shared == *here && !shared.is_interned());
        assert!(lookup("SELECT 'never interned'").is_none());
    }

    #[test]
    fn the_table_stops_at_its_bounds_and_keeps_what_it_holds() {
        let mut table = Table::new(2, 20);
        let a = table.add("SELECT 1", false).unwrap();
        assert!(std::ptr::eq(table.add("SELECT 1", false).unwrap(), a));
        // 8 + 13 bytes would pass the 20-byte bound.
        assert!(table.add("DELETE FROM t", false).is_none());
        let b = table.add("VACUUM", true).unwrap();
        assert_eq!((table.texts.len(), table.bytes), (2, 14));
        // Full by count: nothing new, what is held still found.
        assert!(table.add("SELECT 2", false).is_none());
        assert!(std::ptr::eq(table.add("VACUUM", true).unwrap(), b));
        assert_eq!(table.texts.get("VACUUM"), Some(&true));
    }
}
