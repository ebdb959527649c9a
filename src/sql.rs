//! A tiny look at SQL text: the first keyword of a statement, skipping whitespace and comments.
//!
//! Owns deciding, before anything runs, whether a statement may join a group transaction, must
//! run alone in autocommit (VACUUM, PRAGMA, ATTACH, DETACH), or is transaction control that the
//! lane refuses (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT, RELEASE). Must never guess beyond the
//! first keyword: SQLite itself splits statements.

/// How a statement relates to the lane's group transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Runs inside a group transaction.
    Grouped,
    /// Cannot run inside a transaction: runs alone, in autocommit.
    Alone,
    /// Transaction control: refused (use a transaction or a batch).
    TransactionControl,
}

/// Where the first statement of `sql` starts: past whitespace, comments and semicolons
/// (`sql.len()` when there is none).
///
/// Whitespace is Unicode's (`char::is_whitespace`), not only SQLite's five ASCII characters:
/// rusqlite's statement cache trims Unicode whitespace before preparing, so SQL made of, say,
/// vertical tabs would otherwise reach SQLite as nothing and come back as a statement that
/// cannot run (MISUSE) instead of a clear error.
fn statement_start(sql: &str) -> usize {
    let mut i = 0;
    loop {
        i += sql[i..]
            .find(|c: char| !c.is_whitespace() && c != ';')
            .unwrap_or(sql.len() - i);
        let rest = &sql[i..];
        if rest.starts_with("--") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(body) = rest.strip_prefix("/*") {
            i += body.find("*/").map_or(rest.len(), |end| end + 4);
        } else {
            return i;
        }
    }
}

/// `Ok` when `sql` holds a statement; INVALID_ARGUMENT, with the same message on every entry
/// point, when it is empty or holds only whitespace, comments and semicolons, or when it holds a
/// NUL byte (possible from Rust only: C strings end at one).
pub(crate) fn require_statement(sql: &str) -> crate::Result<()> {
    let bytes = sql.as_bytes();
    // The common case, checked on every read (a cache hit too): a memchr for NUL, and a first
    // byte that begins a keyword.
    if bytes.first().is_some_and(u8::is_ascii_alphabetic) && !bytes.contains(&0) {
        return Ok(());
    }
    // SQLite stops reading SQL text at a NUL: what follows would be silently dropped.
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(crate::Error::invalid(format!(
            "the SQL contains a NUL byte (at byte {at}); SQLite would ignore everything after it"
        )));
    }
    if statement_start(sql) < sql.len() {
        Ok(())
    } else {
        Err(crate::Error::invalid(
            "the SQL holds no statement (it is empty, or only whitespace, comments and semicolons)",
        ))
    }
}

/// The first keyword of `sql`, upper-cased (at most 16 bytes), or "" if none.
pub(crate) fn first_keyword(sql: &str) -> String {
    let b = sql.as_bytes();
    let start = statement_start(sql);
    let mut i = start;
    while i < b.len() && b[i].is_ascii_alphabetic() && i - start < 16 {
        i += 1;
    }
    sql[start..i].to_ascii_uppercase()
}

/// Classify a statement by its first keyword.
pub(crate) fn classify(sql: &str) -> Kind {
    match first_keyword(sql).as_str() {
        "VACUUM" | "PRAGMA" | "ATTACH" | "DETACH" => Kind::Alone,
        "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => {
            Kind::TransactionControl
        }
        _ => Kind::Grouped,
    }
}

/// Whether the pragma `name`, given an argument or not, only reads: not one of the pragmas that
/// act when queried, and an argument (`= v` or `(v)`) only for the introspection pragmas. Applied
/// by the read connections' authorizer to the pragma as SQLite parsed it.
pub(crate) fn pragma_reads(name: &str, has_argument: bool) -> bool {
    const ACTS: &[&str] = &[
        "wal_checkpoint",
        "optimize",
        "incremental_vacuum",
        "shrink_memory",
    ];
    const INTROSPECTION: &[&str] = &[
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
    ];
    let name = name.to_ascii_lowercase();
    if ACTS.contains(&name.as_str()) {
        return false;
    }
    !has_argument || INTROSPECTION.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_sql_holds_no_statement() {
        for blank in [
            "",
            " ",
            ";",
            ";;;",
            " ; \n ;",
            "-- only a comment",
            "/* c */",
            "/* c */ ; -- d\n",
            "/* unterminated",
            "\u{b}",
            " \u{b};\u{b}",
            "\u{b}-- c",
            "\u{a0}/* c */\u{2028}",
        ] {
            assert!(require_statement(blank).is_err(), "{blank:?}");
        }
        for sql in [
            "SELECT 1",
            ";SELECT 1",
            "/* c */ (SELECT 1)",
            "-- c\nVALUES (1)",
            "x",
            "\u{b}SELECT 1",
            "/* é */ SELECT 'é'",
        ] {
            assert!(require_statement(sql).is_ok(), "{sql:?}");
        }
    }

    #[test]
    fn pragmas_that_only_read() {
        assert!(pragma_reads("journal_mode", false));
        assert!(pragma_reads("TABLE_INFO", true));
        assert!(!pragma_reads("foreign_keys", true));
        assert!(!pragma_reads("journal_mode", true));
        assert!(!pragma_reads("wal_checkpoint", false));
        assert!(!pragma_reads("query_only", true));
    }

    #[test]
    fn classifies_past_comments() {
        assert_eq!(classify("  -- hi\n /* x */ vacuum"), Kind::Alone);
        assert_eq!(classify("pragma journal_mode=wal"), Kind::Alone);
        assert_eq!(classify("BEGIN IMMEDIATE"), Kind::TransactionControl);
        assert_eq!(classify("insert into t values(1)"), Kind::Grouped);
        assert_eq!(
            classify("CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END"),
            Kind::Grouped
        );
        assert_eq!(classify(""), Kind::Grouped);
    }
}
