//! The change feed between writer processes: what this process and the others tell each other
//! through the change table, so that each one's cache invalidates what the others changed.
//!
//! Owns this process's registration row, the generations of the table's rows as last seen or
//! written, the number of live peers, and `PRAGMA data_version` as of the last check. The SQL
//! runs on the write connection, which [`WriteConn`](super::conn::WriteConn) lends for each
//! call (it also owns the transaction a registration may need). Must never write change rows
//! nobody reads (no live peer), and never trust a foreign commit to list its tables until
//! peers can have noticed this process's registration (`grace`).

use std::collections::HashMap;

use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::Result;
use crate::options::{OpenMode, Options};

/// The table through which writers of this library in different processes tell each other what
/// they changed. Created by a writer's first committed change to a file database (never by
/// merely opening or reading). Rows (`tbl`, `gen`):
/// - `!proc:<pid>:<nonce>` — a registered writer process (removed when it closes);
/// - a lower-cased table name — moved by one per commit that changed the table, written only
///   while another registered process is alive to read it;
/// - `!invalidate:<key or glob>` — a persisted `cache.invalidate` signal.
///
/// A commit seen through `PRAGMA data_version` that moved no table or invalidation row came
/// from a program outside this library: every cache entry is then stale.
pub const CHANGE_TABLE: &str = "_singlewriter_changes";

/// What the check for other processes' commits found.
#[derive(Default, Debug)]
pub(crate) struct External {
    /// Tables another singlewriter process changed.
    pub(crate) tables: Vec<Box<str>>,
    /// Invalidation patterns another process raised.
    pub(crate) raised: Vec<Box<str>>,
    /// A commit by a program outside this library: everything is stale.
    pub(crate) everything: bool,
}

pub(crate) struct ChangeFeed {
    /// A file database opened for writing: cross-process tracking applies.
    track_changes: bool,
    change_table_ready: bool,
    /// This process's registration row, once written.
    proc_key: Box<str>,
    registered: bool,
    /// Other live registered processes, as of the last look at the change table.
    peers: usize,
    /// Until then, foreign commits are not trusted to list their tables (peers may not have
    /// noticed this registration yet).
    precise_after: Instant,
    /// How long after registering foreign commits are not trusted to list their tables.
    grace: Duration,
    /// Generations of the change table's rows as this writer last saw (or wrote) them.
    seen: HashMap<Box<str>, i64>,
    data_version: i64,
    /// When [`ChangeFeed::check`] last ran (as [`crate::signal::now_us`]).
    pub(crate) last_check_us: i64,
}

impl ChangeFeed {
    pub(crate) fn new(opts: &Options) -> ChangeFeed {
        ChangeFeed {
            track_changes: !opts.in_memory() && opts.mode != OpenMode::ReadOnly,
            change_table_ready: false,
            proc_key: format!("!proc:{}:{:x}", std::process::id(), nonce()).into_boxed_str(),
            registered: false,
            peers: 0,
            precise_after: Instant::now(),
            grace: (opts.invalidation_poll * 10)
                .clamp(Duration::from_millis(50), Duration::from_secs(1)),
            seen: HashMap::new(),
            data_version: 0,
            last_check_us: crate::signal::now_us(),
        }
    }

    /// Read the table and `data_version` as they are when the writer opens (a file database).
    pub(crate) fn load(&mut self, db: &Connection) -> Result<()> {
        self.data_version = query_data_version(db)?;
        self.seen = read_change_table(db)?;
        self.change_table_ready = !self.seen.is_empty() || change_table_exists(db)?;
        self.peers = self.count_peers();
        Ok(())
    }

    pub(crate) fn tracks_changes(&self) -> bool {
        self.track_changes
    }

    /// Whether a commit needs no rows of its own in the change table ([`ChangeFeed::write_rows`]
    /// would write none): nothing is tracked, or this process is registered and no live peer
    /// reads the rows. Such a commit may run as a lone statement in autocommit.
    pub(crate) fn quiet(&self) -> bool {
        !self.track_changes || (self.registered && self.peers == 0)
    }

    /// Whether another connection or process committed since the last check, and what.
    /// `PRAGMA data_version` on this connection moves only for other connections' commits.
    pub(crate) fn check(&mut self, db: &Connection) -> Result<External> {
        self.last_check_us = crate::signal::now_us();
        let mut found = External::default();
        let version = query_data_version(db)?;
        if version == self.data_version {
            return Ok(found);
        }
        self.data_version = version;
        let now = read_change_table(db)?;
        let mut registered = false;
        for (k, gen) in &now {
            if self.seen.get(k) != Some(gen) {
                if k.starts_with("!proc:") {
                    registered = true;
                    continue;
                }
                match k.strip_prefix("!invalidate:") {
                    Some(pattern) => found.raised.push(pattern.into()),
                    None => found.tables.push(k.clone()),
                }
            }
        }
        if !now.is_empty() {
            self.change_table_ready = true;
        }
        // A commit that only removed a registration (a peer closing) changed no data.
        let only_unregistered = !registered && now.len() < self.seen.len();
        found.everything =
            (found.tables.is_empty() && found.raised.is_empty() && !only_unregistered)
                || Instant::now() < self.precise_after;
        self.seen = now;
        self.peers = self.count_peers();
        Ok(found)
    }

    /// Whether this process should register now (another process was seen writing, and the
    /// table is needed from then on).
    pub(crate) fn wants_registration(&self) -> bool {
        self.track_changes && !self.registered
    }

    /// Other registered processes that are still alive (a crashed one's row is ignored).
    fn count_peers(&self) -> usize {
        self.seen
            .keys()
            .filter(|k| k.starts_with("!proc:") && k.as_ref() != self.proc_key.as_ref())
            .filter(|k| {
                let pid = k.split(':').nth(1).and_then(|p| p.parse::<i32>().ok());
                pid.is_some_and(process_alive)
            })
            .count()
    }

    /// Register this process in the change table, inside the transaction open on `db`.
    pub(crate) fn register(&mut self, db: &Connection) -> Result<()> {
        let (key, gen) = self.register_row(db)?;
        self.seen.insert(key, gen);
        Ok(())
    }

    fn register_row(&mut self, db: &Connection) -> Result<(Box<str>, i64)> {
        if !self.change_table_ready {
            db.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {CHANGE_TABLE}(tbl TEXT PRIMARY KEY, gen INTEGER NOT NULL) WITHOUT ROWID"
            ))?;
            self.change_table_ready = true;
        }
        db.execute(
            &format!("INSERT OR REPLACE INTO {CHANGE_TABLE}(tbl, gen) VALUES(?1, 0)"),
            [&*self.proc_key],
        )?;
        self.registered = true;
        self.precise_after = Instant::now() + self.grace;
        Ok((self.proc_key.clone(), 0))
    }

    /// The registration's transaction was rolled back.
    pub(crate) fn registration_lost(&mut self) {
        self.registered = false;
        self.seen.remove(&self.proc_key);
    }

    /// This connection committed by itself (a registration): not a foreign commit.
    pub(crate) fn own_commit(&mut self, db: &Connection) {
        if let Ok(v) = query_data_version(db) {
            self.data_version = v;
        }
    }

    /// Record a group's changes (`tables`, persisted invalidations `raised`) in the change
    /// table, inside the group's transaction: the rows to note as seen once it commits.
    pub(crate) fn write_rows<'a>(
        &mut self,
        db: &Connection,
        tables: impl Iterator<Item = &'a str> + Clone,
        raised: &[Box<str>],
        schema: bool,
    ) -> Result<Vec<(Box<str>, i64)>> {
        if !self.track_changes || (tables.clone().next().is_none() && raised.is_empty() && !schema)
        {
            return Ok(vec![]);
        }
        let mut written = Vec::new();
        if !self.registered {
            written.push(self.register_row(db)?);
        }
        if self.peers == 0 {
            // Nobody else reads the rows: a process that registers later starts with an empty
            // cache, and until it is seen here it treats these commits as foreign (safe).
            return Ok(written);
        }
        // No RETURNING: it costs SQLite two large allocations per statement.
        let bump_sql = format!(
            "INSERT INTO {CHANGE_TABLE}(tbl, gen) VALUES(?1, 1) ON CONFLICT(tbl) DO UPDATE SET gen = gen + 1"
        );
        let read_sql = format!("SELECT gen FROM {CHANGE_TABLE} WHERE tbl = ?1");
        // A table several statements wrote is listed once per statement: moved once.
        let mut names: Vec<&str> = tables.collect();
        names.sort_unstable();
        names.dedup();
        let raised = raised
            .iter()
            .map(|p| format!("!invalidate:{p}").into_boxed_str());
        for key in names.into_iter().map(Box::<str>::from).chain(raised) {
            db.prepare_cached(&bump_sql)?.execute([&*key])?;
            let gen: i64 = db
                .prepare_cached(&read_sql)?
                .query_row([&*key], |r| r.get(0))?;
            written.push((key, gen));
        }
        Ok(written)
    }

    /// The group that wrote `written` committed.
    pub(crate) fn committed(&mut self, written: Vec<(Box<str>, i64)>) {
        for (k, gen) in written {
            self.seen.insert(k, gen);
        }
    }

    /// Remove this process's registration (close), best effort.
    pub(crate) fn unregister(&mut self, db: &Connection) {
        if self.registered {
            let sql = format!("DELETE FROM {CHANGE_TABLE} WHERE tbl = ?1");
            let _ = super::busy::retry(Duration::from_millis(500), || {
                db.execute(&sql, [&*self.proc_key])
            });
            self.registered = false;
        }
    }
}

fn query_data_version(db: &Connection) -> Result<i64> {
    Ok(db
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?)
}

fn change_table_exists(db: &Connection) -> Result<bool> {
    Ok(db
        .prepare_cached("SELECT 1 FROM sqlite_schema WHERE type='table' AND name=?1")?
        .exists([CHANGE_TABLE])?)
}

fn read_change_table(db: &Connection) -> Result<HashMap<Box<str>, i64>> {
    if !change_table_exists(db)? {
        return Ok(HashMap::new());
    }
    let mut stmt = db.prepare_cached(&format!("SELECT tbl, gen FROM {CHANGE_TABLE}"))?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?.into_boxed_str(), r.get::<_, i64>(1)?))
    })?;
    let mut map = HashMap::new();
    for row in rows {
        let (k, v) = row?;
        map.insert(k, v);
    }
    Ok(map)
}

fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Whether a registered process still runs. Where that cannot be told, it counts as alive
/// (the safe side: its peers keep writing change rows).
fn process_alive(pid: i32) -> bool {
    if cfg!(target_os = "linux") {
        pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}
