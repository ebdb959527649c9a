//! Signals: the original package's signal test (with structured names), the ring bound and the
//! missed-signals indication, sampling, subscriptions, raise-driven invalidation, bad input.
mod common;
use common::{items_schema, Db};
use singlewriter::Status;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn names(w: &singlewriter::Writer, pattern: Option<&str>) -> Vec<String> {
    w.poll_signals(pattern, 0)
        .unwrap()
        .signals
        .iter()
        .map(|s| s.full_name())
        .collect()
}

// SqliteSingleWriterTests.Signals_AreEmitted_ForLifecycleAndCache, with structured names.
#[test]
fn signals_are_emitted_for_lifecycle_and_cache() {
    let db = Db::new("a.db");
    let w = db.open("Sample Rate=1");
    items_schema(&w);
    w.execute("INSERT INTO Items(Name, Value) VALUES ('a', 1)", &[])
        .unwrap();
    w.read("items:count", "SELECT COUNT(*) FROM Items", &[])
        .unwrap();
    w.execute_and_invalidate(
        "INSERT INTO Items(Name, Value) VALUES ('b', 2)",
        &[],
        &["items:count"],
    )
    .unwrap();
    w.flush(None).unwrap();
    let all = names(&w, None);
    for expected in [
        "write.enqueue",
        "write.start",
        "write.done",
        "group.commit",
        "write.flush.start",
        "write.flush.done",
        "cache.miss:items:count",
        "cache.set:items:count",
        "cache.invalidate:items:count",
        "read.start:items:count",
        "read.done:items:count",
        "pragma.journal_mode:wal",
        "pragma.foreign_keys:on",
        "connection.open.write",
        "connection.open.read",
        "writer.open",
    ] {
        assert!(
            all.iter().any(|n| n == expected),
            "missing {expected} in {all:?}"
        );
    }
    // Names carry no data: write.* matches the lifecycle signals.
    let writes = names(&w, Some("write.*"));
    assert!(
        writes.contains(&"write.done".to_string())
            && writes.iter().all(|n| n.starts_with("write."))
    );
}

#[test]
fn polling_is_ordered_and_resumes_after_a_cursor() {
    let db = Db::new("b.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    let first = w.poll_signals(None, 0).unwrap();
    let last = first.signals.last().unwrap().seq;
    assert!(first.signals.windows(2).all(|p| p[0].seq < p[1].seq));
    w.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    let next = w.poll_signals(None, last).unwrap();
    assert!(!next.signals.is_empty() && next.signals.iter().all(|s| s.seq > last));
    assert_eq!(next.missed, 0);
}

#[test]
fn the_ring_is_bounded_and_a_consumer_can_tell_it_missed_signals() {
    let db = Db::new("c.db");
    let w = db.open("Signal Capacity=16");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    for i in 0..200 {
        w.enqueue("INSERT INTO t VALUES (?1)", singlewriter::params![i], None)
            .unwrap();
    }
    w.flush(None).unwrap();
    let p = w.poll_signals(None, 0).unwrap();
    assert_eq!(p.signals.len(), 16);
    assert!(p.missed > 100, "missed {}", p.missed);
    let newest = p.signals.last().unwrap().seq;
    assert_eq!(w.poll_signals(None, newest - 3).unwrap().missed, 0);
}

#[test]
fn sampling_thins_high_volume_signals_and_never_errors() {
    let db = Db::new("d.db");
    let w = db.open("Sample Rate=10;Signal Capacity=100000");
    w.execute("CREATE TABLE t(x UNIQUE)", &[]).unwrap();
    for i in 0..100 {
        w.execute("INSERT INTO t VALUES (?1)", &singlewriter::params![i])
            .unwrap();
    }
    for _ in 0..5 {
        let _ = w.execute("INSERT INTO t VALUES (1)", &[]);
    }
    let done = names(&w, Some("write.done")).len();
    assert!((9..=12).contains(&done), "about one in ten: {done}");
    assert_eq!(
        names(&w, Some("write.error*")).len(),
        5,
        "errors are always emitted"
    );
    assert_eq!(
        names(&w, Some("pragma.*")).len(),
        4,
        "pragmas are always emitted"
    );
}

#[test]
fn subscriptions_run_on_their_own_thread_and_end_once() {
    let db = Db::new("e.db");
    let w = db.open("");
    let seen = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let caller = std::thread::current().id();
    let other_thread = Arc::new(AtomicUsize::new(0));
    let (s, o, e) = (seen.clone(), other_thread.clone(), ended.clone());
    let id = w
        .subscribe(
            "write.*",
            Box::new(move |sig| {
                assert!(sig.name.starts_with("write."));
                s.fetch_add(1, Ordering::SeqCst);
                if std::thread::current().id() != caller {
                    o.fetch_add(1, Ordering::SeqCst);
                }
            }),
            Some(Box::new(move || {
                e.fetch_add(1, Ordering::SeqCst);
            })),
        )
        .unwrap();
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    w.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while seen.load(Ordering::SeqCst) < 6 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        seen.load(Ordering::SeqCst) >= 6,
        "write.enqueue/start/done for two writes"
    );
    assert_eq!(
        other_thread.load(Ordering::SeqCst),
        seen.load(Ordering::SeqCst)
    );
    w.unsubscribe(id).unwrap();
    assert_eq!(ended.load(Ordering::SeqCst), 1);
    let after = seen.load(Ordering::SeqCst);
    w.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        seen.load(Ordering::SeqCst),
        after,
        "no callback after unsubscribe"
    );
    assert_eq!(
        w.unsubscribe(id).unwrap_err().status(),
        Status::InvalidArgument
    );
}

#[test]
fn a_slow_or_panicking_subscriber_never_stalls_the_writer() {
    let db = Db::new("f.db");
    let w = db.open("");
    let ended = Arc::new(AtomicUsize::new(0));
    let e = ended.clone();
    let slow = w
        .subscribe(
            "*",
            Box::new(|_| std::thread::sleep(Duration::from_millis(50))),
            Some(Box::new(move || {
                e.fetch_add(1, Ordering::SeqCst);
            })),
        )
        .unwrap();
    let _panicky = w
        .subscribe("write.done", Box::new(|_| panic!("subscriber bug")), None)
        .unwrap();
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    let started = std::time::Instant::now();
    for i in 0..3000 {
        w.enqueue("INSERT INTO t VALUES (?1)", singlewriter::params![i], None)
            .unwrap();
    }
    w.flush(None).unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        w.subscription_dropped(slow).unwrap() > 0,
        "the slow subscriber's queue overflowed and counted drops"
    );
    w.close().unwrap();
    assert_eq!(
        ended.load(Ordering::SeqCst),
        1,
        "closing ends every subscription exactly once"
    );
}

#[test]
fn raising_cache_invalidate_invalidates_matching_keys() {
    let db = Db::new("g.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    for k in ["users:1", "users:2", "orders:1"] {
        w.read(k, "SELECT 1", &[]).unwrap();
    }
    w.raise("cache.invalidate:users:*").unwrap();
    assert_eq!(w.cache_stats().unwrap().entries, 1);
    assert_eq!(names(&w, Some("cache.invalidate:users:*")).len(), 1);
    w.raise("custom.event:hello").unwrap();
    assert_eq!(
        names(&w, Some("custom.event:*")),
        vec!["custom.event:hello".to_string()]
    );
    assert_eq!(
        w.raise("cache.invalidate").unwrap_err().status(),
        Status::InvalidArgument
    );
    assert_eq!(w.raise("").unwrap_err().status(), Status::InvalidArgument);
}

#[test]
fn awkward_patterns_are_fine() {
    let db = Db::new("h.db");
    let w = db.open("");
    let big = "*".repeat(1 << 20);
    assert!(!w.poll_signals(Some(&big), 0).unwrap().signals.is_empty());
    let big = "x".repeat(1 << 20);
    assert!(w.poll_signals(Some(&big), 0).unwrap().signals.is_empty());
    assert!(w.poll_signals(Some(""), 0).unwrap().signals.is_empty());
}

#[test]
fn metrics_are_exposed_in_prometheus_text() {
    let db = Db::new("i.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    let text = w.metrics_text().unwrap();
    for name in [
        "singlewriter_writes_committed_total 1",
        "singlewriter_write_latency_seconds_count 1",
        "# TYPE singlewriter_queue_depth gauge",
    ] {
        assert!(text.contains(name), "{name} missing in\n{text}");
    }
}

/// Every commit is timed in `singlewriter_commit_seconds`, a lone write committed by itself in
/// autocommit (no COMMIT statement of its own) as much as a group's COMMIT.
#[test]
fn every_commit_is_timed_lone_writes_in_autocommit_too() {
    let db = Db::new("c.db");
    let w = db.open("");
    w.execute("CREATE TABLE t(x)", &[]).unwrap();
    for i in 0..5 {
        w.execute("INSERT INTO t VALUES (?1)", &singlewriter::params![i])
            .unwrap();
    }
    let text = w.metrics_text().unwrap();
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
    };
    assert_eq!(value("singlewriter_transactions_total"), 6, "{text}");
    assert_eq!(value("singlewriter_commit_seconds_count"), 6, "{text}");
}
