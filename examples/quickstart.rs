//! The quick start: the original package's README example, on an embedded SQLite file.
//! Run: cargo run --release --example quickstart [path/to/db]

use singlewriter::{named_params, Statement, Writer};

fn main() -> singlewriter::Result<()> {
    let path = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("singlewriter-quickstart.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let w = Writer::open(&format!(
        "Data Source={};Mode=ReadWriteCreate;Sample Rate=1",
        path.display()
    ))?;
    println!(
        "opened {} (journal mode WAL, one writer for every thread)",
        path.display()
    );

    w.execute(
        "CREATE TABLE IF NOT EXISTS Users(Id INTEGER PRIMARY KEY, Name TEXT NOT NULL UNIQUE)",
        &[],
    )?;
    let r = w.execute(
        "INSERT INTO Users (Name) VALUES (@Name)",
        &named_params! {"@Name" => "Alice"},
    )?;
    println!(
        "insert with a named parameter: {} row, rowid {}",
        r.rows_affected, r.last_insert_rowid
    );

    let inserted = w.transaction(|tx| {
        tx.execute("INSERT INTO Users (Name) VALUES ('Bob')", &[])?;
        let rows = tx.query("SELECT COUNT(*) FROM Users", &[])?;
        Ok(rows.get(0, 0).map(|v| v.as_i64()).unwrap_or(0))
    })?;
    println!("transaction: inserted Bob, count inside the transaction = {inserted}");

    let r = w.batch(
        vec![
            Statement::new("INSERT INTO Users (Name) VALUES ('Charlie')", vec![]),
            Statement::new("INSERT INTO Users (Name) VALUES ('Dana')", vec![]),
        ],
        true,
    )?;
    println!("batch (one transaction): {} rows", r.rows_affected);

    let count = |w: &Writer| -> singlewriter::Result<i64> {
        let rows = w.read("users:count", "SELECT COUNT(*) FROM Users", &[])?;
        Ok(rows.get(0, 0).map(|v| v.as_i64()).unwrap_or(0))
    };
    println!("cached read users:count = {}", count(&w)?);
    println!(
        "cached read users:count = {} (served from the cache)",
        count(&w)?
    );

    w.execute_and_invalidate(
        "INSERT INTO Users (Name) VALUES ('Eve')",
        &[],
        &["users:count"],
    )?;
    println!(
        "after writing Eve and invalidating: users:count = {}",
        count(&w)?
    );
    w.execute("INSERT INTO Users (Name) VALUES ('Frank')", &[])?;
    println!(
        "after writing Frank (no key named; the cache saw the table change): users:count = {}",
        count(&w)?
    );

    match w.execute("INSERT INTO Users (Name) VALUES ('Alice')", &[]) {
        Err(e) => println!(
            "duplicate insert fails alone: {} ({})",
            e.status().name(),
            e.message()
        ),
        Ok(_) => println!("duplicate insert unexpectedly succeeded"),
    }

    for i in 0..1000 {
        w.enqueue(
            "INSERT INTO Users (Name) VALUES (?1)",
            vec![singlewriter::Param::positional(format!("user{i}"))],
            None,
        )?;
    }
    w.flush(None)?;
    let stats = w.stats()?;
    println!(
        "flushed 1000 queued writes: {} committed in {} transactions, p50 {} µs",
        stats.committed, stats.transactions, stats.latency_p50_us
    );
    let cache = w.cache_stats()?;
    println!(
        "cache: {} hits, {} misses, {} invalidations",
        cache.hits, cache.misses, cache.invalidations
    );

    let signals = w.poll_signals(Some("cache.*"), 0)?;
    let names: Vec<String> = signals.signals.iter().map(|s| s.full_name()).collect();
    println!("signals matching cache.*: {}", names.join(", "));
    w.close()?;
    println!("closed: everything accepted was committed");
    Ok(())
}
