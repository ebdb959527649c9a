//! What every connection of one writer must agree on beyond the database file: the pragmas
//! that configure a connection, and the write connection's TEMP objects.
//!
//! Owns the list of connection-configuring pragmas in force (from the `Pragmas` connection-string
//! keyword, and from `PRAGMA name = value` run through the writer) with a generation that read
//! connections compare before each read, so a setting reaches every connection — also ones
//! opened later; and the names of TEMP tables and views created through the writer, which live
//! on the write connection alone, so a read that names one can say why it cannot see it. Must
//! never apply a pragma that is not on [`PROPAGATED`], and never let a reader use a setting
//! older than one the writer acknowledged.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::sync::{Mutex, RwLock};

/// Pragmas that configure one connection and change what a read returns or how it runs:
/// applied to every connection of the writer.
pub(crate) const PROPAGATED: &[&str] = &[
    "analysis_limit",
    "automatic_index",
    "cache_size",
    "case_sensitive_like",
    "cell_size_check",
    "mmap_size",
    "reverse_unordered_selects",
    "temp_store",
    "threads",
    "trusted_schema",
];

/// Pragmas the library manages itself: setting them through SQL would break it, so they are
/// refused with the connection-string keyword to use instead (or why not).
const MANAGED: &[(&str, &str)] = &[
    (
        "busy_timeout",
        "the writer waits for other processes' locks itself: use the Busy Timeout keyword",
    ),
    (
        "query_only",
        "read connections are always query_only and the write connection never is",
    ),
    (
        "locking_mode",
        "EXCLUSIVE locking would lock the read connections out of the database",
    ),
];

/// The settings shared by one writer's connections.
#[derive(Default)]
pub(crate) struct Session {
    pragmas: RwLock<Vec<(String, String)>>,
    /// Moves whenever `pragmas` changes; each read connection remembers the one it applied.
    generation: AtomicU64,
    /// Lower-cased names of the write connection's TEMP tables and views.
    temp: Mutex<HashSet<String>>,
}

/// A `PRAGMA [schema.]name = value` or `PRAGMA [schema.]name(value)` statement's name (lower
/// case, without schema) and value, or `None` when `sql` is not a pragma that sets something.
pub(crate) fn pragma_assignment(sql: &str) -> Option<(String, String)> {
    let t = sql.trim().trim_end_matches(';').trim();
    let rest = t
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("pragma"))
        .map(|_| &t[6..])?;
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let name = rest[..end].rsplit('.').next()?.to_ascii_lowercase();
    let after = rest[end..].trim();
    let value = if let Some(v) = after.strip_prefix('=') {
        v.trim()
    } else if let Some(v) = after.strip_prefix('(').and_then(|v| v.strip_suffix(')')) {
        v.trim()
    } else {
        return None;
    };
    if name.is_empty() || value.is_empty() {
        return None;
    }
    Some((name, value.to_owned()))
}

/// A pragma value that can be written into `PRAGMA name = value` as it is: a signed number or
/// a word (ON, OFF, MEMORY, ...).
fn plain_value(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Session {
    /// A session starting with the `Pragmas` keyword's settings (`name=value; ...`).
    pub(crate) fn new(initial: &[(String, String)]) -> Session {
        let s = Session::default();
        *s.pragmas.write() = initial.to_vec();
        s
    }

    /// Refuse, before it is queued, a pragma the library manages itself.
    pub(crate) fn check_write(sql: &str) -> Result<()> {
        if let Some((name, _)) = pragma_assignment(sql) {
            if let Some((_, why)) = MANAGED.iter().find(|(n, _)| *n == name) {
                return Err(Error::invalid(format!("PRAGMA {name} is refused: {why}")));
            }
        }
        Ok(())
    }

    /// After `sql` ran on the write connection: a connection-configuring pragma it set now
    /// applies to every read connection too.
    pub(crate) fn note_write(&self, sql: &str) {
        let Some((name, value)) = pragma_assignment(sql) else {
            return;
        };
        if !PROPAGATED.contains(&name.as_str()) || !plain_value(&value) {
            return;
        }
        let mut list = self.pragmas.write();
        list.retain(|(n, _)| *n != name);
        list.push((name, value));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The settings to apply when a connection's generation is not `seen`, and the current
    /// generation.
    pub(crate) fn pragmas_since(&self, seen: Option<u64>) -> Option<(u64, Vec<(String, String)>)> {
        let generation = self.generation.load(Ordering::Acquire);
        if seen == Some(generation) {
            return None;
        }
        Some((generation, self.pragmas.read().clone()))
    }

    /// The write connection created (`true`) or dropped a TEMP table or view.
    pub(crate) fn note_temp(&self, name: &str, created: bool) {
        let name = name.to_ascii_lowercase();
        let mut temp = self.temp.lock();
        if created {
            temp.insert(name);
        } else {
            temp.remove(&name);
        }
    }

    /// A read's "no such table/view" error, explained when it names a TEMP object of the write
    /// connection.
    pub(crate) fn explain_read_error(&self, e: Error) -> Error {
        let msg = e.message();
        let name = msg
            .strip_prefix("no such table: ")
            .or_else(|| msg.strip_prefix("no such view: "))
            .map(|n| {
                n.split_whitespace()
                    .next()
                    .unwrap_or("")
                    .rsplit('.')
                    .next()
                    .unwrap_or("")
            });
        match name {
            Some(n) if !n.is_empty() && self.temp.lock().contains(&n.to_ascii_lowercase()) => {
                let n = n.to_owned();
                e.with_hint(&format!(
                    "{n} is a TEMP object of the write connection; reads run on read-only connections, which cannot see it: read it inside a transaction (Writer::transaction, sw_txn_query) or make it a regular table"
                ))
            }
            _ => e,
        }
    }
}

/// Parse the `Pragmas` keyword's value: `name=value` pairs separated by `;` or `,`.
pub(crate) fn parse_pragmas(v: &str) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for item in v.split([';', ',']).map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("Pragmas: '{item}' is not name=value")))?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if !PROPAGATED.contains(&name.as_str()) {
            return Err(Error::invalid(format!(
                "Pragmas: '{name}' is not one of the pragmas applied to every connection ({}); database-wide settings (journal_mode, synchronous, foreign_keys, ...) have keywords of their own",
                PROPAGATED.join(", ")
            )));
        }
        if !plain_value(value) {
            return Err(Error::invalid(format!(
                "Pragmas: the value of {name} ('{value}') is not a number or a word"
            )));
        }
        out.retain(|(n, _)| *n != name);
        out.push((name, value.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pragma_assignments_are_read_like_sqlite_writes_them() {
        assert_eq!(
            pragma_assignment("PRAGMA case_sensitive_like=ON"),
            Some(("case_sensitive_like".into(), "ON".into()))
        );
        assert_eq!(
            pragma_assignment("pragma main.cache_size = -8000;"),
            Some(("cache_size".into(), "-8000".into()))
        );
        assert_eq!(
            pragma_assignment("PRAGMA temp_store(MEMORY)"),
            Some(("temp_store".into(), "MEMORY".into()))
        );
        assert_eq!(pragma_assignment("PRAGMA cache_size"), None);
        assert_eq!(pragma_assignment("SELECT 1"), None);
    }

    #[test]
    fn the_pragmas_keyword_takes_only_connection_settings() {
        assert_eq!(
            parse_pragmas("case_sensitive_like=ON; cache_size=-2000").unwrap(),
            vec![
                ("case_sensitive_like".to_string(), "ON".to_string()),
                ("cache_size".to_string(), "-2000".to_string())
            ]
        );
        assert!(parse_pragmas("journal_mode=WAL").is_err());
        assert!(parse_pragmas("cache_size=1; DROP TABLE x").is_err());
        assert!(parse_pragmas("cache_size='x'").is_err());
    }

    #[test]
    fn settings_reach_a_connection_once_per_change() {
        let s = Session::new(&[]);
        let (g0, list) = s.pragmas_since(None).unwrap();
        assert!(list.is_empty());
        assert!(s.pragmas_since(Some(g0)).is_none());
        s.note_write("PRAGMA case_sensitive_like = ON");
        s.note_write("PRAGMA journal_mode = DELETE"); // database-wide: not propagated
        let (g1, list) = s.pragmas_since(Some(g0)).unwrap();
        assert_eq!(
            list,
            vec![("case_sensitive_like".to_string(), "ON".to_string())]
        );
        assert!(s.pragmas_since(Some(g1)).is_none());
        assert!(Session::check_write("PRAGMA busy_timeout = 10").is_err());
        assert!(Session::check_write("PRAGMA cache_size = 10").is_ok());
    }
}
