//! Which reads are point lookups by rowid: told from SQLite's own bytecode, never guessed.
//!
//! Owns the rule that lets a cached read depend on one row instead of a whole table: the
//! statement's program (`EXPLAIN`) opens exactly one cursor, on a rowid table, positions it
//! exactly once with `SeekRowid`/`NotExists` on a key that is a bound parameter or a constant,
//! and uses nothing outside a small list of opcodes that cannot read another row (no loops, no
//! other cursors, no subprograms). Must answer `None` — the read then depends on its whole
//! tables — whenever any of that is not certain.

use rusqlite::Connection;

/// Where a point lookup's rowid comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rowid {
    /// The value bound to this parameter number (used only when it is an integer).
    Param(usize),
    /// A constant in the SQL.
    Literal(i64),
}

/// A read that returns at most one row of one table, chosen by rowid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PointLookup {
    /// The table, lower-cased.
    pub(crate) table: Box<str>,
    pub(crate) rowid: Rowid,
}

/// Opcodes that read at most the row under the one cursor, or only compute: anything else in a
/// program makes it not a point lookup.
const ALLOWED: &[&str] = &[
    "Init",
    "Goto",
    "Halt",
    "Transaction",
    "TableLock",
    "OpenRead",
    "Close",
    "Variable",
    "Integer",
    "Int64",
    "Real",
    "String8",
    "String",
    "Null",
    "Blob",
    "SoftNull",
    "SeekRowid",
    "NotExists",
    "MustBeInt",
    "Column",
    "Rowid",
    "ResultRow",
    "Copy",
    "SCopy",
    "IntCopy",
    "Move",
    "Affinity",
    "RealAffinity",
    "Cast",
    "Eq",
    "Ne",
    "Lt",
    "Le",
    "Gt",
    "Ge",
    "ElseEq",
    "If",
    "IfNot",
    "IsNull",
    "NotNull",
    "IsTrue",
    "IsType",
    "Not",
    "BitNot",
    "And",
    "Or",
    "Add",
    "Subtract",
    "Multiply",
    "Divide",
    "Remainder",
    "Concat",
    "BitAnd",
    "BitOr",
    "ShiftLeft",
    "ShiftRight",
    "Function",
    "PureFunc",
    "CollSeq",
    "Once",
    "BeginSubrtn",
    "Return",
    "ZeroOrNull",
    "AggStep",
    "AggStep1",
    "AggFinal",
    "AggValue",
    "Noop",
    "DecrJumpZero",
    "IfPos",
    "Compare",
    "Jump",
    "Permutation",
    "Explain",
    "Trace",
];

/// Classify `sql` on `db` (a read connection). `tables` is what the authorizer saw it read.
pub(crate) fn classify(db: &Connection, sql: &str, tables: &[Box<str>]) -> Option<PointLookup> {
    let mut user_tables = tables.iter().filter(|t| !t.starts_with("sqlite_"));
    let table = user_tables.next()?;
    if user_tables.next().is_some() {
        return None;
    }
    // The program is compiled against the connection's copy of the schema, which may be older
    // than its read snapshot's (SQLite notices only when a statement next starts running):
    // one statement run first brings the copy up to date.
    db.prepare_cached("SELECT 1 FROM sqlite_schema WHERE 0")
        .and_then(|mut s| s.raw_query().next().map(|_| ()))
        .ok()?;
    let mut stmt = db.prepare(&format!("EXPLAIN {sql}")).ok()?;
    let mut program: Vec<(String, i64, i64, i64, Option<String>)> = vec![];
    let mut rows = stmt.raw_query();
    while let Ok(Some(r)) = rows.next() {
        let p4 = match r.get_ref(5).ok()? {
            rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            rusqlite::types::ValueRef::Integer(i) => Some(i.to_string()),
            _ => None,
        };
        program.push((
            r.get(1).ok()?,
            r.get(2).ok()?,
            r.get(3).ok()?,
            r.get(4).ok()?,
            p4,
        ));
    }
    if program
        .iter()
        .any(|(op, ..)| !ALLOWED.contains(&op.as_str()))
    {
        return None;
    }
    // Exactly one cursor, on a table (an index cursor's P4 is its key info, `k(...)`).
    let mut opens = program.iter().filter(|(op, ..)| op == "OpenRead");
    let (_, cursor, root, _, cols) = opens.next()?;
    if opens.next().is_some() || !cols.as_deref()?.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Positioned exactly once, by rowid, on a key register set exactly once.
    let mut seeks = program
        .iter()
        .filter(|(op, ..)| op == "SeekRowid" || op == "NotExists");
    let (_, seek_cursor, _, key, _) = seeks.next()?;
    if seeks.next().is_some() || seek_cursor != cursor {
        return None;
    }
    let mut sets = program.iter().filter(|(op, _, p2, ..)| {
        p2 == key && matches!(op.as_str(), "Variable" | "Integer" | "Int64")
    });
    let (op, p1, _, _, p4) = sets.next()?;
    if sets.next().is_some() {
        return None;
    }
    let rowid = match op.as_str() {
        "Variable" => Rowid::Param(usize::try_from(*p1).ok()?),
        "Integer" => Rowid::Literal(*p1),
        _ => Rowid::Literal(p4.as_deref()?.parse().ok()?),
    };
    // The cursor's table is the one table the read depends on.
    let name: String = db
        .query_row(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND rootpage = ?1",
            [root],
            |r| r.get(0),
        )
        .ok()?;
    if !name.eq_ignore_ascii_case(table) {
        return None;
    }
    Some(PointLookup {
        table: name.to_ascii_lowercase().into_boxed_str(),
        rowid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify_on(sql: &str, tables: &[&str]) -> Option<PointLookup> {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b TEXT UNIQUE);
             CREATE TABLE u(id INTEGER PRIMARY KEY, t_id);
             CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
             CREATE VIEW vt AS SELECT id, a FROM t;",
        )
        .unwrap();
        let tables: Vec<Box<str>> = tables.iter().map(|t| (*t).into()).collect();
        classify(&db, sql, &tables)
    }

    fn lookup(rowid: Rowid) -> Option<PointLookup> {
        Some(PointLookup {
            table: "t".into(),
            rowid,
        })
    }

    #[test]
    fn point_lookups_by_rowid_are_recognised() {
        assert_eq!(
            classify_on("SELECT a, b FROM t WHERE id = ?1", &["t"]),
            lookup(Rowid::Param(1))
        );
        assert_eq!(
            classify_on("SELECT a FROM t WHERE id = :id AND a > 3", &["t"]),
            lookup(Rowid::Param(1))
        );
        assert_eq!(
            classify_on("SELECT * FROM t WHERE rowid = ?2 AND b = ?1", &["t"]),
            lookup(Rowid::Param(2))
        );
        assert_eq!(
            classify_on("SELECT * FROM t WHERE id = 5", &["t"]),
            lookup(Rowid::Literal(5))
        );
        assert_eq!(
            classify_on("SELECT a FROM vt WHERE id = ?1", &["t"]),
            lookup(Rowid::Param(1))
        );
        assert_eq!(
            classify_on("SELECT count(*) FROM t WHERE id = ?", &["t"]),
            lookup(Rowid::Param(1))
        );
    }

    #[test]
    fn anything_that_may_read_another_row_is_not() {
        for (sql, tables) in [
            ("SELECT count(*) FROM t", &["t"][..]),
            ("SELECT a FROM t WHERE b = ?", &["t"]),
            ("SELECT * FROM t WHERE id IN (1, 2)", &["t"]),
            ("SELECT * FROM t WHERE id = ?1 OR id = ?2", &["t"]),
            (
                "SELECT (SELECT max(id) FROM t), a FROM t WHERE id = ?",
                &["t"],
            ),
            ("SELECT v FROM w WHERE k = ?", &["w"]),
            (
                "SELECT * FROM t, u WHERE t.id = ?1 AND u.id = ?1",
                &["t", "u"],
            ),
            ("SELECT * FROM t WHERE id > ?", &["t"]),
            ("SELECT * FROM t ORDER BY id LIMIT 1", &["t"]),
            ("SELECT * FROM t WHERE id = ?1", &["u"]),
        ] {
            assert_eq!(classify_on(sql, tables), None, "{sql}");
        }
    }
}
