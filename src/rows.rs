//! Immutable result sets.
//!
//! Owns [`Rows`]: a read's columns and cells, built once and never changed, so a cached result is
//! shared by reference (`Arc<Rows>`) with every reader and stays valid for as long as any holder
//! keeps it — also after its cache entry is invalidated. Text is stored with a trailing NUL so the
//! C layer can hand out pointers without copying.

use std::fmt::Write as _;

use crate::error::Result;

/// One cell.
#[derive(Clone, Debug)]
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    /// UTF-8 bytes followed by one NUL.
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
}

impl ValueRef<'_> {
    /// The SQLite type code (1 integer, 2 float, 3 text, 4 blob, 5 null).
    pub fn type_code(&self) -> u32 {
        match self {
            ValueRef::Integer(_) => 1,
            ValueRef::Real(_) => 2,
            ValueRef::Text(_) => 3,
            ValueRef::Blob(_) => 4,
            ValueRef::Null => 5,
        }
    }

    /// As an integer, converting like `sqlite3_column_int64` (reals truncate, text parses its
    /// leading integer, anything else is 0).
    pub fn as_i64(&self) -> i64 {
        match *self {
            ValueRef::Integer(i) => i,
            ValueRef::Real(r) => r as i64,
            ValueRef::Text(t) => parse_leading(t).0,
            _ => 0,
        }
    }

    /// As a double, converting like `sqlite3_column_double`.
    pub fn as_f64(&self) -> f64 {
        match *self {
            ValueRef::Integer(i) => i as f64,
            ValueRef::Real(r) => r,
            ValueRef::Text(t) => parse_leading(t).1,
            _ => 0.0,
        }
    }
}

fn parse_leading(text: &str) -> (i64, f64) {
    let t = text.trim_start();
    let end = t
        .char_indices()
        .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+')))
        .count();
    let int = t[..end].parse::<i64>().unwrap_or(0);
    let fend = t
        .char_indices()
        .take_while(|&(i, c)| {
            c.is_ascii_digit()
                || c == '.'
                || c == 'e'
                || c == 'E'
                || (i == 0 && (c == '-' || c == '+'))
        })
        .count();
    let real = t[..fend].parse::<f64>().unwrap_or(int as f64);
    (int, real)
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
    pub(crate) fn from_statement(stmt: &mut rusqlite::Statement<'_>) -> Result<Rows> {
        let columns: Vec<Box<[u8]>> = stmt
            .column_names()
            .map(|n| with_nul(n.as_bytes()))
            .collect();
        let ncols = columns.len();
        let mut cells = Vec::new();
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            for i in 0..ncols {
                cells.push(match row.get_ref(i)? {
                    SqlRef::Null => Cell::Null,
                    SqlRef::Integer(v) => Cell::Integer(v),
                    SqlRef::Real(v) => Cell::Real(v),
                    SqlRef::Text(t) => {
                        let s = std::str::from_utf8(t).map_err(|e| {
                            crate::Error::new(
                                crate::Status::InvalidUtf8,
                                format!("column {i} holds text that is not valid UTF-8: {e}"),
                            )
                        })?;
                        Cell::Text(with_nul(s.as_bytes()))
                    }
                    SqlRef::Blob(b) => Cell::Blob(b.into()),
                });
            }
        }
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
            Cell::Text(t) => ValueRef::Text(without_nul(t)),
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

use rusqlite::types::ValueRef as SqlRef;

/// Append `s` as a JSON string literal.
pub(crate) fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn base64(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut s = String::new();
            base64(&mut s, input.as_bytes());
            assert_eq!(s, expected);
        }
    }

    #[test]
    fn text_converts_to_numbers_like_sqlite() {
        assert_eq!(ValueRef::Text(" 42abc").as_i64(), 42);
        assert_eq!(ValueRef::Text("-7").as_i64(), -7);
        assert_eq!(ValueRef::Text("2.5x").as_f64(), 2.5);
        assert_eq!(ValueRef::Text("abc").as_i64(), 0);
    }
}
