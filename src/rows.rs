//! Immutable result sets.
//!
//! Owns [`Rows`]: a read's columns and cells, built once and never changed, so a cached result is
//! shared by reference (`Arc<Rows>`) with every reader and stays valid for as long as any holder
//! keeps it — also after its cache entry is invalidated. Text is stored with a trailing NUL so the
//! C layer can hand out pointers without copying. Text is kept as the bytes SQLite returned: a
//! TEXT value that is not valid UTF-8 (SQLite stores what it is given) is returned as such, never
//! an error for the whole read.

use std::fmt::Write as _;

use rusqlite::types::ValueRef as SqlRef;

use crate::error::Result;
use crate::json::{base64, json_string};

/// One cell.
#[derive(Clone, Debug)]
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    /// The text's bytes (UTF-8 unless something stored invalid text) followed by one NUL.
    Text(Box<[u8]>),
    Blob(Box<[u8]>),
}

/// A borrowed view of one cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// SQL NULL.
    Null,
    /// An integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
    /// TEXT whose bytes are not valid UTF-8: SQLite stores and returns the bytes it was given
    /// (e.g. by `CAST(x'ff' AS TEXT)`). Its type code is TEXT's.
    TextBytes(&'a [u8]),
}

impl ValueRef<'_> {
    /// The SQLite type code (1 integer, 2 float, 3 text, 4 blob, 5 null).
    pub fn type_code(&self) -> u32 {
        match self {
            ValueRef::Integer(_) => 1,
            ValueRef::Real(_) => 2,
            ValueRef::Text(_) | ValueRef::TextBytes(_) => 3,
            ValueRef::Blob(_) => 4,
            ValueRef::Null => 5,
        }
    }

    /// As an integer, converted exactly as `sqlite3_column_int64` converts it: reals are
    /// truncated (saturating), text and blobs are read as SQLite reads them (leading ASCII
    /// whitespace, a sign, digits; out of range saturates), NULL is 0. Text and blobs are
    /// converted by SQLite itself.
    pub fn as_i64(&self) -> i64 {
        match *self {
            ValueRef::Integer(i) => i,
            // Rust's `as` saturates like sqlite3RealToI64 (and SQLite never returns NaN).
            ValueRef::Real(r) => r as i64,
            ValueRef::Text(t) => convert::by_sqlite(t.as_bytes(), true).0,
            ValueRef::TextBytes(b) => convert::by_sqlite(b, true).0,
            ValueRef::Blob(b) => convert::by_sqlite(b, false).0,
            ValueRef::Null => 0,
        }
    }

    /// As a double, converted exactly as `sqlite3_column_double` converts it (text and blobs by
    /// SQLite itself).
    pub fn as_f64(&self) -> f64 {
        match *self {
            ValueRef::Integer(i) => i as f64,
            ValueRef::Real(r) => r,
            ValueRef::Text(t) => convert::by_sqlite(t.as_bytes(), true).1,
            ValueRef::TextBytes(b) => convert::by_sqlite(b, true).1,
            ValueRef::Blob(b) => convert::by_sqlite(b, false).1,
            ValueRef::Null => 0.0,
        }
    }
}

/// Text and blob to number conversions, done by SQLite: its rules (which whitespace counts,
/// exponents, saturation, blobs read as text) are subtle enough that a re-implementation drifts.
/// `CAST(v AS INTEGER)` and `CAST(v AS REAL)` run exactly the conversions that
/// `sqlite3_column_int64` and `sqlite3_column_double` run (sqlite3VdbeIntValue and
/// sqlite3VdbeRealValue, in vdbemem.c).
mod convert {
    use rusqlite::types::{ToSqlOutput, ValueRef as SqlRef};
    use rusqlite::Connection;

    thread_local! {
        /// A private in-memory connection per thread that converts; opened on first use.
        static CONVERTER: Option<Connection> = Connection::open_in_memory().ok();
    }

    /// `(sqlite3_column_int64, sqlite3_column_double)` of `bytes` as a TEXT (`text`) or BLOB
    /// value; `(0, 0.0)` if SQLite cannot be asked (out of memory).
    pub(super) fn by_sqlite(bytes: &[u8], text: bool) -> (i64, f64) {
        CONVERTER.with(|c| {
            let Some(db) = c else { return (0, 0.0) };
            let value = if text {
                ToSqlOutput::Borrowed(SqlRef::Text(bytes))
            } else {
                ToSqlOutput::Borrowed(SqlRef::Blob(bytes))
            };
            db.prepare_cached("SELECT CAST(?1 AS INTEGER), CAST(?1 AS REAL)")
                .and_then(|mut stmt| {
                    stmt.query_row([value], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?)))
                })
                .unwrap_or((0, 0.0))
        })
    }
}

/// An immutable result set: column names and row-major cells.
///
/// ```
/// # use singlewriter::{ValueRef, Writer};
/// # let dir = tempfile::tempdir().unwrap();
/// # let w = Writer::open(&dir.path().join("doc.db").display().to_string())?;
/// w.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, photo BLOB)", &[])?;
/// w.execute("INSERT INTO users(name, photo) VALUES ('Alice', x'CAFE'), ('Bob', NULL)", &[])?;
/// let rows = w.query("SELECT id, name, photo FROM users ORDER BY id", &[])?;
/// assert_eq!((rows.row_count(), rows.column_count()), (2, 3));
/// assert_eq!(rows.column_name(1), Some("name"));
/// let name = rows.column_index("name").unwrap();
/// for r in 0..rows.row_count() {
///     match (rows.get(r, 0), rows.get(r, name), rows.get(r, 2)) {
///         (Some(ValueRef::Integer(id)), Some(ValueRef::Text(n)), Some(photo)) => {
///             println!("{id} {n} {photo:?}"); // photo: ValueRef::Blob or ValueRef::Null
///         }
///         other => panic!("unexpected row {other:?}"),
///     }
/// }
/// assert_eq!(rows.get(0, 2), Some(ValueRef::Blob(&[0xCA, 0xFE])));
/// assert_eq!(rows.get(5, 0), None); // out of range
/// # Ok::<(), singlewriter::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Rows {
    /// Column names, each followed by one NUL.
    columns: Vec<Box<[u8]>>,
    cells: Vec<Cell>,
}

fn with_nul(bytes: &[u8]) -> Box<[u8]> {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.extend_from_slice(bytes);
    v.push(0);
    v.into_boxed_slice()
}

fn without_nul(bytes: &[u8]) -> &str {
    // Built only from `&str` in `from_statement` (SQLite text checked as UTF-8 there).
    std::str::from_utf8(&bytes[..bytes.len().saturating_sub(1)]).unwrap_or("")
}

impl Rows {
    /// Run a prepared, bound statement to completion and collect everything it returns.
    ///
    /// The columns are counted and named after the first step: a statement prepared before a
    /// schema change (ALTER TABLE) is re-prepared by that step and may have other columns.
    pub(crate) fn from_statement(stmt: &mut rusqlite::Statement<'_>) -> Result<Rows> {
        let mut cells = Vec::new();
        {
            let mut ncols = None;
            let mut rows = stmt.raw_query();
            while let Some(row) = rows.next()? {
                let n = *ncols.get_or_insert_with(|| row.as_ref().column_count());
                for i in 0..n {
                    cells.push(match row.get_ref(i)? {
                        SqlRef::Null => Cell::Null,
                        SqlRef::Integer(v) => Cell::Integer(v),
                        SqlRef::Real(v) => Cell::Real(v),
                        SqlRef::Text(t) => Cell::Text(with_nul(t)),
                        SqlRef::Blob(b) => Cell::Blob(b.into()),
                    });
                }
            }
        }
        let columns: Vec<Box<[u8]>> = stmt
            .column_names()
            .map(|n| with_nul(n.as_bytes()))
            .collect();
        Ok(Rows { columns, cells })
    }

    /// Number of rows.
    pub fn row_count(&self) -> usize {
        if self.columns.is_empty() {
            0
        } else {
            self.cells.len() / self.columns.len()
        }
    }

    /// Number of cells (rows × columns).
    pub(crate) fn cell_count(&self) -> usize {
        self.cells.len()
    }

    /// Number of columns.
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// A column's name.
    pub fn column_name(&self, column: usize) -> Option<&str> {
        self.columns.get(column).map(|c| without_nul(c))
    }

    /// A column's name with its trailing NUL (for the C layer).
    pub(crate) fn column_name_with_nul(&self, column: usize) -> Option<&[u8]> {
        self.columns.get(column).map(|c| &c[..])
    }

    /// The index of the column called `name`, if any.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        (0..self.columns.len()).find(|&i| self.column_name(i) == Some(name))
    }

    fn cell(&self, row: usize, column: usize) -> Option<&Cell> {
        if column >= self.columns.len() {
            return None;
        }
        self.cells
            .get(row.checked_mul(self.columns.len())?.checked_add(column)?)
    }

    /// One cell, or `None` when out of range.
    pub fn get(&self, row: usize, column: usize) -> Option<ValueRef<'_>> {
        self.cell(row, column).map(|c| match c {
            Cell::Null => ValueRef::Null,
            Cell::Integer(i) => ValueRef::Integer(*i),
            Cell::Real(r) => ValueRef::Real(*r),
            Cell::Text(t) => match std::str::from_utf8(&t[..t.len() - 1]) {
                Ok(s) => ValueRef::Text(s),
                Err(_) => ValueRef::TextBytes(&t[..t.len() - 1]),
            },
            Cell::Blob(b) => ValueRef::Blob(b),
        })
    }

    /// A text cell with its trailing NUL (for the C layer); `None` unless the cell is text.
    pub(crate) fn text_with_nul(&self, row: usize, column: usize) -> Option<&[u8]> {
        match self.cell(row, column)? {
            Cell::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The result as JSON: `[{"column": value, ...}, ...]`. Blobs become base64 strings;
    /// non-finite reals become `null`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(16 + self.cells.len() * 8);
        out.push('[');
        for r in 0..self.row_count() {
            if r > 0 {
                out.push(',');
            }
            out.push('{');
            for c in 0..self.column_count() {
                if c > 0 {
                    out.push(',');
                }
                json_string(&mut out, self.column_name(c).unwrap_or(""));
                out.push(':');
                match self.get(r, c) {
                    Some(ValueRef::Integer(i)) => {
                        let _ = write!(out, "{i}");
                    }
                    Some(ValueRef::Real(f)) if f.is_finite() => {
                        let _ = write!(out, "{f:?}");
                    }
                    Some(ValueRef::Text(t)) => json_string(&mut out, t),
                    Some(ValueRef::TextBytes(b)) => {
                        json_string(&mut out, &String::from_utf8_lossy(b))
                    }
                    Some(ValueRef::Blob(b)) => {
                        out.push('"');
                        base64(&mut out, b);
                        out.push('"');
                    }
                    _ => out.push_str("null"),
                }
            }
            out.push('}');
        }
        out.push(']');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_converts_to_numbers_like_sqlite() {
        assert_eq!(ValueRef::Text(" 42abc").as_i64(), 42);
        assert_eq!(ValueRef::Text("-7").as_i64(), -7);
        assert_eq!(ValueRef::Text("2.5x").as_f64(), 2.5);
        assert_eq!(ValueRef::Text("abc").as_i64(), 0);
    }
}
