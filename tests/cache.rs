//! The read cache: the original package's cache tests, ported, plus the defects it had and we
//! must not: stale refills, unbounded size, serving expired entries, no single-flight.
mod common;
use common::{count, items_schema, Db};
use singlewriter::{params, Status, Writer};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn reads_run(w: &Writer) -> u64 {
    let text = w.metrics_text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("singlewriter_reads_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn int(w: &Writer, key: &str, sql: &str) -> i64 {
    w.read(key, sql, &[]).unwrap().get(0, 0).unwrap().as_i64()
}

#[test]
fn read_caches_until_invalidated() {
    let db = Db::new("a.db");
    let w = db.open("");
    items_schema(&w);
    w.execute("INSERT INTO Items(Name, Value) VALUES ('a', 1)", &[])
        .unwrap();
    let before = reads_run(&w);
    assert_eq!(int(&w, "items:count", "SELECT COUNT(*) FROM Items"), 1);
    assert_eq!(int(&w, "items:count", "SELECT COUNT(*) FROM Items"), 1);
    assert_eq!(reads_run(&w) - before, 1, "the reader ran once");
    w.execute_and_invalidate(
        "INSERT INTO Items(Name, Value) VALUES ('b', 2)",
        &[],
        &["items:count"],
    )
    .unwrap();
    assert_eq!(int(&w, "items:count", "SELECT COUNT(*) FROM Items"), 2);
    assert_eq!(reads_run(&w) - before, 2);
}

#[test]
fn a_write_to_a_table_the_read_used_invalidates_it_without_naming_a_key() {
    let db = Db::new("b.db");
    let w = db.open("");
    items_schema(&w);
    w.execute("CREATE TABLE Other(x)", &[]).unwrap();
    w.execute("CREATE VIEW ItemNames AS SELECT Name FROM Items", &[])
        .unwrap();
    assert_eq!(int(&w, "k", "SELECT COUNT(*) FROM Items"), 0);
    assert_eq!(int(&w, "v", "SELECT COUNT(*) FROM ItemNames"), 0);
    let before = reads_run(&w);
    w.execute("INSERT INTO Other VALUES (1)", &[]).unwrap();
    assert_eq!(int(&w, "k", "SELECT COUNT(*) FROM Items"), 0);
    assert_eq!(
        reads_run(&w),
        before,
        "a write to an unrelated table keeps the entry"
    );
    w.execute("INSERT INTO Items(Name, Value) VALUES ('a', 1)", &[])
        .unwrap();
    assert_eq!(int(&w, "k", "SELECT COUNT(*) FROM Items"), 1);
    assert_eq!(
        int(&w, "v", "SELECT COUNT(*) FROM ItemNames"),
        1,
        "a view's base table counts"
    );
    // Through a trigger, and through a transaction.
    w.execute("CREATE TABLE Log(x)", &[]).unwrap();
    w.execute(
        "CREATE TRIGGER t AFTER INSERT ON Other BEGIN INSERT INTO Log VALUES (new.x); END",
        &[],
    )
    .unwrap();
    assert_eq!(int(&w, "log", "SELECT COUNT(*) FROM Log"), 0);
    w.execute("INSERT INTO Other VALUES (2)", &[]).unwrap();
    assert_eq!(int(&w, "log", "SELECT COUNT(*) FROM Log"), 1);
    w.transaction(|t| t.execute("DELETE FROM Items", &[]))
        .unwrap();
    assert_eq!(int(&w, "k", "SELECT COUNT(*) FROM Items"), 0);
}

#[test]
fn a_read_that_started_before_a_write_never_refills_the_cache_with_the_old_value() {
    let db = Db::new("c.db");
    let w = Arc::new(db.open(""));
    items_schema(&w);
    w.execute("INSERT INTO Items(Name, Value) VALUES ('a', 1)", &[])
        .unwrap();
    // A slow read: the count is taken from the snapshot of its first step.
    let slow = "SELECT (SELECT COUNT(*) FROM Items), (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT COUNT(*) FROM c)";
    let reader = {
        let w = w.clone();
        std::thread::spawn(move || {
            w.read("slow", slow, &[])
                .unwrap()
                .get(0, 0)
                .unwrap()
                .as_i64()
        })
    };
    std::thread::sleep(Duration::from_millis(30));
    w.execute("INSERT INTO Items(Name, Value) VALUES ('b', 2)", &[])
        .unwrap();
    let acked = Instant::now();
    let old = reader.join().unwrap();
    assert_eq!(old, 1, "the slow read began before the write");
    // After the acknowledgement, the cache must not serve the pre-write value.
    for _ in 0..3 {
        assert_eq!(
            w.read("slow", slow, &[])
                .unwrap()
                .get(0, 0)
                .unwrap()
                .as_i64(),
            2
        );
    }
    let _ = acked;
    // Same with an explicit invalidation racing the fill.
    let reader = {
        let w = w.clone();
        std::thread::spawn(move || {
            w.read("slow2", slow, &[])
                .unwrap()
                .get(0, 0)
                .unwrap()
                .as_i64()
        })
    };
    std::thread::sleep(Duration::from_millis(30));
    w.invalidate("slow*").unwrap();
    reader.join().unwrap();
    let stats = w.cache_stats().unwrap();
    // "slow*" removed the cached "slow"; the "slow2" fill that raced it must not be cached.
    assert_eq!(
        stats.entries, 0,
        "the fill that raced the invalidation was not cached: {stats:?}"
    );
}

#[test]
fn concurrent_misses_on_one_key_run_the_query_once() {
    let db = Db::new("d.db");
    let w = Arc::new(db.open(""));
    items_schema(&w);
    let slow = "SELECT (SELECT COUNT(*) FROM Items), (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT COUNT(*) FROM c)";
    let before = reads_run(&w);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let w = w.clone();
            std::thread::spawn(move || {
                w.read("same", slow, &[])
                    .unwrap()
                    .get(0, 0)
                    .unwrap()
                    .as_i64()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 0);
    }
    assert_eq!(reads_run(&w) - before, 1);
}

#[test]
fn a_read_never_returns_data_older_than_a_write_acknowledged_before_it_started() {
    // Concurrent readers of one key: one may not join a fill that began before a commit
    // acknowledged before it started.
    let db = Db::new("d2.db");
    let w = Arc::new(db.open(""));
    w.execute("CREATE TABLE c(id INTEGER PRIMARY KEY)", &[])
        .unwrap();
    let acked = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (w, acked, stop) = (w.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut checks = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let before = acked.load(std::sync::atomic::Ordering::SeqCst);
                    let seen = w
                        .read("c:max", "SELECT coalesce(max(id), 0) FROM c", &[])
                        .unwrap()
                        .get(0, 0)
                        .unwrap()
                        .as_i64();
                    assert!(
                        seen >= before,
                        "read {seen} after {before} was acknowledged"
                    );
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    for j in 1..=500 {
        w.execute("INSERT INTO c(id) VALUES (?1)", &params![j])
            .unwrap();
        acked.store(j, std::sync::atomic::Ordering::SeqCst);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

#[test]
fn the_size_bound_holds_on_every_insert() {
    let db = Db::new("e.db");
    let w = db.open("Cache Size=3");
    items_schema(&w);
    for i in 0..10 {
        w.read(&format!("k{i}"), "SELECT ?1", &params![i]).unwrap();
        assert!(w.cache_stats().unwrap().entries <= 3);
    }
    let s = w.cache_stats().unwrap();
    assert_eq!((s.entries, s.evictions, s.max_entries), (3, 7, 3));
    // Least recently used goes first.
    w.read("k7", "SELECT 7", &[]).unwrap();
    w.read("k10", "SELECT 10", &[]).unwrap();
    let misses = w.cache_stats().unwrap().misses;
    w.read("k7", "SELECT 7", &[]).unwrap();
    assert_eq!(
        w.cache_stats().unwrap().misses,
        misses,
        "k7 was used recently and kept"
    );
}

/// A cache of 256 entries or more is split into shards (one lock each): the bound still holds
/// over all of them, recently used entries stay, and invalidations reach every shard.
#[test]
fn a_sharded_cache_keeps_its_bound_and_invalidates_across_shards() {
    let db = Db::new("shards.db");
    let w = db.open("Cache Size=300");
    for i in 0..900 {
        w.read(&format!("k:{i}"), "SELECT ?1", &params![i]).unwrap();
        assert!(w.cache_stats().unwrap().entries <= 300);
    }
    let s = w.cache_stats().unwrap();
    assert_eq!((s.entries, s.evictions, s.misses), (300, 600, 900));
    // The most recent entries of every shard are the ones kept.
    let misses = s.misses;
    for i in 880..900 {
        w.read(&format!("k:{i}"), "SELECT ?1", &params![i]).unwrap();
    }
    let s = w.cache_stats().unwrap();
    assert_eq!((s.misses, s.hits), (misses, 20), "the 20 newest were kept");
    let kept_8xx = (800..900)
        .filter(|i| {
            let before = w.cache_stats().unwrap().hits;
            w.read(&format!("k:{i}"), "SELECT ?1", &params![*i])
                .unwrap();
            w.cache_stats().unwrap().hits > before
        })
        .count();
    let removed = w.invalidate("k:8*").unwrap();
    assert!(
        removed >= kept_8xx,
        "{removed} removed, {kept_8xx} were cached"
    );
    for i in 800..900 {
        let before = w.cache_stats().unwrap().misses;
        w.read(&format!("k:{i}"), "SELECT ?1", &params![i]).unwrap();
        assert_eq!(w.cache_stats().unwrap().misses, before + 1, "k:{i}");
    }
    assert_eq!(w.invalidate("k:899").unwrap(), 1);
    assert_eq!(w.invalidate("k:899").unwrap(), 0);
}

/// Admission: once most entries of a full cache die before anyone reads them again (keys drawn
/// uniformly from a set much larger than the cache), new results are cached only when their key
/// is asked for more often than the entry they would evict: the churn stops, and a key read
/// often stays cached among the one-off keys.
#[test]
fn a_churning_cache_admits_only_keys_read_more_often_than_its_victims() {
    let db = Db::new("admission.db");
    let w = db.open("Cache Size=256");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let (mut hot_reads, mut hot_hits) = (0, 0);
    for i in 0..40_000 {
        let hot = i % 10 == 0;
        let id = if hot {
            0
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + (x % 20_000) as i64
        };
        let before = w.cache_stats().unwrap().hits;
        let rows = w
            .read(&format!("k:{id}"), "SELECT ?1", &params![id])
            .unwrap();
        // Refused results are read like uncached queries: still the right answer.
        assert_eq!(rows.get(0, 0), Some(singlewriter::ValueRef::Integer(id)));
        if hot && i >= 20_000 {
            hot_reads += 1;
            hot_hits += (w.cache_stats().unwrap().hits > before) as u64;
        }
    }
    let s = w.cache_stats().unwrap();
    assert!(
        s.evictions < s.misses / 4,
        "{} evictions for {} misses: the cache kept churning",
        s.evictions,
        s.misses
    );
    assert!(s.entries <= 256);
    assert_eq!(
        hot_hits, hot_reads,
        "the key read every 10th time was always a hit"
    );
}

// EphemeralLruCacheTests.SlidingRefresh_PrevailsBeforeHot, ported.
#[test]
fn sliding_refresh_prevails_before_hot() {
    let db = Db::new("f.db");
    let w = db.open("Cache TTL=150;Hot Key TTL=600;Hot Access Threshold=3");
    w.read("k", "SELECT 1", &[]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    w.read("k", "SELECT 1", &[]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    w.read("k", "SELECT 1", &[]).unwrap();
    assert_eq!(
        w.cache_stats().unwrap().misses,
        1,
        "each hit slid the expiry"
    );
}

// EphemeralLruCacheTests.HotKeys_GetExtendedTtl, ported.
#[test]
fn hot_keys_get_the_longer_ttl() {
    let db = Db::new("g.db");
    let w = db.open("Cache TTL=100;Hot Key TTL=800;Hot Access Threshold=2");
    w.read("k", "SELECT 1", &[]).unwrap();
    w.read("k", "SELECT 1", &[]).unwrap(); // now hot
    assert_eq!(w.cache_stats().unwrap().hot_entries, 1);
    std::thread::sleep(Duration::from_millis(300));
    w.read("k", "SELECT 1", &[]).unwrap();
    assert_eq!(w.cache_stats().unwrap().misses, 1);
}

#[test]
fn an_expired_entry_is_never_served() {
    let db = Db::new("h.db");
    let w = db.open("Cache TTL=50;Hot Access Threshold=100");
    w.read("k", "SELECT 1", &[]).unwrap();
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(w.cache_stats().unwrap().expired_entries, 1);
    w.read("k", "SELECT 1", &[]).unwrap();
    assert_eq!(w.cache_stats().unwrap().misses, 2);
}

#[test]
fn invalidation_by_glob() {
    let db = Db::new("i.db");
    let w = db.open("");
    for k in ["users:1", "users:2", "orders:1"] {
        w.read(k, "SELECT 1", &[]).unwrap();
    }
    assert_eq!(w.invalidate("users:*").unwrap(), 2);
    assert_eq!(w.cache_stats().unwrap().entries, 1);
    assert_eq!(w.invalidate("orders:1").unwrap(), 1);
    assert_eq!(w.invalidate("nothing").unwrap(), 0);
}

#[test]
fn awkward_keys_and_reads_that_write() {
    let db = Db::new("j.db");
    let w = db.open("");
    items_schema(&w);
    let big = "k".repeat(1 << 20);
    assert_eq!(int(&w, &big, "SELECT 5"), 5);
    assert_eq!(int(&w, "", "SELECT 6"), 6);
    let e = w
        .read("w", "INSERT INTO Items(Name, Value) VALUES ('x', 1)", &[])
        .unwrap_err();
    assert_eq!(e.status(), Status::ReadOnly);
    assert_eq!(count(&w, "Items"), 0);
    let e = w.read("bad", "SELEKT 1", &[]).unwrap_err();
    assert_eq!(e.status(), Status::Error);
    assert_eq!(w.cache_stats().unwrap().entries, 2);
}

#[test]
fn result_sets_stay_valid_after_their_entry_is_invalidated() {
    let db = Db::new("k.db");
    let w = db.open("");
    let rows = w.read("k", "SELECT 'hello' AS greeting", &[]).unwrap();
    w.invalidate("k").unwrap();
    assert_eq!(rows.get(0, 0), Some(singlewriter::ValueRef::Text("hello")));
    assert_eq!(rows.column_name(0), Some("greeting"));
}

#[test]
fn cache_size_zero_disables_caching() {
    let db = Db::new("l.db");
    let w = db.open("Cache Size=0");
    let before = reads_run(&w);
    w.read("k", "SELECT 1", &[]).unwrap();
    w.read("k", "SELECT 1", &[]).unwrap();
    assert_eq!(reads_run(&w) - before, 2);
}
