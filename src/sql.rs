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
fn statement_start(sql: &str) -> usize {
    let b = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b';') {
            i += 1;
        }
        if b[i..].starts_with(b"--") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i = (i + 2).min(b.len());
        } else {
            return i;
        }
    }
}

/// `Ok` when `sql` holds a statement; INVALID_ARGUMENT, with the same message on every entry
/// point, when it is empty or holds only whitespace, comments and semicolons.
pub(crate) fn require_statement(sql: &str) -> crate::Result<()> {
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

/// Whether a PRAGMA only reads: no assignment, not one of the pragmas that act when queried,
/// and arguments in parentheses only for the introspection pragmas.
pub(crate) fn pragma_only_reads(sql: &str) -> bool {
    let after = sql
        .to_ascii_uppercase()
        .find("PRAGMA")
        .map_or(0, |p| p + "PRAGMA".len());
    let body = sql.get(after..).unwrap_or("").trim_start();
    if body.contains('=') {
        return false;
    }
    let name: String = body
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .collect::<String>()
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
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
    if ACTS.contains(&name.as_str()) {
        return false;
    }
    !body.contains('(') || INTROSPECTION.contains(&name.as_str())
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
        ] {
            assert!(require_statement(blank).is_err(), "{blank:?}");
        }
        for sql in [
            "SELECT 1",
            ";SELECT 1",
            "/* c */ (SELECT 1)",
            "-- c\nVALUES (1)",
            "x",
        ] {
            assert!(require_statement(sql).is_ok(), "{sql:?}");
        }
    }

    #[test]
    fn pragmas_that_only_read() {
        assert!(pragma_only_reads("PRAGMA journal_mode"));
        assert!(pragma_only_reads("pragma main.table_info(t)"));
        assert!(!pragma_only_reads("PRAGMA foreign_keys=OFF"));
        assert!(!pragma_only_reads("PRAGMA journal_mode(DELETE)"));
        assert!(!pragma_only_reads("PRAGMA wal_checkpoint"));
        assert!(!pragma_only_reads("PRAGMA query_only = 0"));
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
