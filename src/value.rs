//! Values and parameters: what callers bind into SQL, and how they are bound.
//!
//! Owns the one binding routine used by every path (writes, batches, transactions, reads), so
//! `@x`, `:x`, `$x` and bare `x` names, unknown names and unbound parameters behave the same
//! everywhere. Must never bind silently: a name the SQL lacks, or an SQL parameter left without a
//! value, is an [`Status::InvalidArgument`](crate::Status) error naming it.

use rusqlite::types::{ToSqlOutput, ValueRef as SqlValueRef};
use rusqlite::ToSql;

use crate::error::{Error, Result};

mod packed;
pub(crate) use packed::Packed;

/// An owned SQLite value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(value_ref(self)))
    }
}

macro_rules! value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::Integer(v as i64) }
        }
    )*};
}
value_from_int!(i8, i16, i32, i64, u8, u16, u32, isize);

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Integer(v as i64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::Real(v as f64)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Blob(v.to_vec())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// A parameter: positional (no name; the n-th positional parameter binds `?n`) or named
/// (`@x`, `:x`, `$x` or bare `x`, matching whichever prefix the SQL uses).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// `None` for positional.
    pub name: Option<String>,
    /// The value.
    pub value: Value,
}

impl Param {
    /// A positional parameter.
    pub fn positional(value: impl Into<Value>) -> Param {
        Param {
            name: None,
            value: value.into(),
        }
    }

    /// A named parameter; `name` may carry its prefix (`@id`) or not (`id`).
    pub fn named(name: impl Into<String>, value: impl Into<Value>) -> Param {
        Param {
            name: Some(name.into()),
            value: value.into(),
        }
    }
}

/// A parameter list `bind` reads: a slice of [`Param`]s, or a [`Packed`] list (queued writes).
pub(crate) trait ParamList {
    /// Parameters in the list.
    fn len(&self) -> usize;
    /// Named parameters in the list.
    fn named(&self) -> usize;
    /// The parameters in order: name (as given, with or without prefix) and value.
    fn entries(&self) -> impl Iterator<Item = (Option<&str>, SqlValueRef<'_>)>;
    /// The list as packed bytes, when it is (a queued write's): the writer binds those in one
    /// loop (`Stmt::run_packed` in the writer).
    fn packed(&self) -> Option<&Packed> {
        None
    }
}

impl ParamList for [Param] {
    fn len(&self) -> usize {
        <[Param]>::len(self)
    }

    fn named(&self) -> usize {
        self.iter().filter(|p| p.name.is_some()).count()
    }

    fn entries(&self) -> impl Iterator<Item = (Option<&str>, SqlValueRef<'_>)> {
        self.iter()
            .map(|p| (p.name.as_deref(), value_ref(&p.value)))
    }
}

impl ParamList for Packed {
    fn len(&self) -> usize {
        Packed::len(self)
    }

    fn named(&self) -> usize {
        Packed::named(self)
    }

    fn entries(&self) -> impl Iterator<Item = (Option<&str>, SqlValueRef<'_>)> {
        Packed::entries(self)
    }

    fn packed(&self) -> Option<&Packed> {
        Some(self)
    }
}

impl ParamList for Vec<Param> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn named(&self) -> usize {
        self.as_slice().named()
    }

    fn entries(&self) -> impl Iterator<Item = (Option<&str>, SqlValueRef<'_>)> {
        self.as_slice().entries()
    }
}

fn value_ref(v: &Value) -> SqlValueRef<'_> {
    match v {
        Value::Null => SqlValueRef::Null,
        Value::Integer(i) => SqlValueRef::Integer(*i),
        Value::Real(r) => SqlValueRef::Real(*r),
        Value::Text(s) => SqlValueRef::Text(s.as_bytes()),
        Value::Blob(b) => SqlValueRef::Blob(b),
    }
}

impl Packed {
    /// `params` packed (a queued write carries its parameters this way).
    pub(crate) fn from_params<P: ParamList + ?Sized>(params: &P) -> Result<Packed> {
        let mut packed = Packed::default();
        for (name, value) in params.entries() {
            packed.push(name, value)?;
        }
        Ok(packed)
    }
}

/// Build a `Vec<Param>` of positional parameters: `params![1, "Alice"]`.
#[macro_export]
macro_rules! params {
    () => { ::std::vec::Vec::<$crate::Param>::new() };
    ($($v:expr),+ $(,)?) => {{
        #[allow(clippy::useless_vec)]
        let params: ::std::vec::Vec<$crate::Param> = vec![$($crate::Param::positional($v)),+];
        params
    }};
}

/// Build a `Vec<Param>` of named parameters: `named_params!{"@name" => "Alice", "@value" => 1}`.
#[macro_export]
macro_rules! named_params {
    () => { ::std::vec::Vec::<$crate::Param>::new() };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        #[allow(clippy::useless_vec)]
        let params: ::std::vec::Vec<$crate::Param> = vec![$($crate::Param::named($k, $v)),+];
        params
    }};
}

/// Where a named parameter goes in a statement, trying `@x`, `:x`, `$x` in turn.
fn named_index(stmt: &rusqlite::Statement<'_>, name: &str) -> Result<Option<usize>> {
    let bare = name.strip_prefix(['@', ':', '$']).unwrap_or(name);
    if bare.is_empty() {
        return Err(Error::invalid(format!("parameter name '{name}' is empty")));
    }
    let mut buf = String::with_capacity(bare.len() + 1);
    for prefix in ['@', ':', '$'] {
        buf.clear();
        buf.push(prefix);
        buf.push_str(bare);
        if let Some(i) = stmt.parameter_index(&buf)? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// The value of `params` that `bind` puts at SQL parameter number `index` of `stmt`.
pub(crate) fn bound_value<'p>(
    stmt: &rusqlite::Statement<'_>,
    params: &'p [Param],
    index: usize,
) -> Option<&'p Value> {
    let mut positional = 0;
    for p in params {
        match &p.name {
            None => {
                positional += 1;
                if positional == index {
                    return Some(&p.value);
                }
            }
            Some(name) => {
                if named_index(stmt, name).ok().flatten() == Some(index) {
                    return Some(&p.value);
                }
            }
        }
    }
    None
}

/// Which parameters a statement used, for the "unknown name" check across a multi-statement SQL.
pub(crate) struct BindReport {
    used: Vec<bool>,
}

impl BindReport {
    pub(crate) fn new(n: usize) -> BindReport {
        BindReport {
            used: vec![false; n],
        }
    }

    /// Fails naming the first parameter that no statement used.
    pub(crate) fn check_all_used<P: ParamList + ?Sized>(&self, params: &P) -> Result<()> {
        for ((name, _), used) in params.entries().zip(&self.used) {
            if !used {
                return Err(match name {
                    Some(name) => {
                        Error::invalid(format!("parameter '{name}' does not appear in the SQL"))
                    }
                    None => Error::invalid("too many positional parameters for the SQL"),
                });
            }
        }
        Ok(())
    }
}

/// Named parameters beyond which a statement's names are looked up in a table built from its
/// SQL text rather than one by one: SQLite's `sqlite3_bind_parameter_index` scans every name of
/// the statement, so binding n names that way takes n² steps (20,000 names: 3 s).
const NAME_TABLE_FROM: usize = 32;

/// The named parameters of one statement's SQL text and their indexes, assigned as SQLite
/// assigns them (sqlite3ExprAssignVarNumber: `?` takes the next number, `?NNN` takes NNN, a name
/// takes the next number at its first appearance and keeps it), or `None` when the text holds
/// anything this scanner does not read exactly as SQLite's tokenizer does (TCL-style `$a(b)` or
/// `$a::b` names, `#` parameters, unterminated quotes): then names are looked up one by one.
fn parameter_table(sql: &str) -> Option<(std::collections::HashMap<&str, usize>, usize)> {
    let b = sql.as_bytes();
    let id_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    let mut names = std::collections::HashMap::new();
    let mut count = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' | b'`' => {
                // A string or quoted identifier; a doubled quote is a literal quote.
                i += 1;
                loop {
                    match b.get(i) {
                        None => return None,
                        Some(&q) if q == c => {
                            if b.get(i + 1) == Some(&c) {
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'[' => {
                i += b[i..].iter().position(|&x| x == b']')? + 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i += b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .unwrap_or(b.len() - i);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += sql[i + 2..].find("*/").map_or(b.len() - i, |p| p + 4);
            }
            b'?' => {
                let start = i + 1;
                i = start;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i == start {
                    count += 1;
                } else {
                    let n: usize = sql[start..i].parse().ok()?;
                    count = count.max(n);
                }
            }
            b':' | b'@' | b'$' => {
                let start = i;
                i += 1;
                while i < b.len() && id_char(b[i]) && b[i] != b'$' {
                    i += 1;
                }
                if i == start + 1 || matches!(b.get(i), Some(b'(' | b':' | b'$')) {
                    return None;
                }
                let name = &sql[start..i];
                names.entry(name).or_insert_with(|| {
                    count += 1;
                    count
                });
            }
            b'#' => return None,
            c if id_char(c) => {
                // A word (keyword, identifier, number): a `$` inside it is not a parameter.
                while i < b.len() && id_char(b[i]) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    Some((names, count))
}

/// Where named parameters go in `stmt`: from its SQL text when that is read exactly (checked
/// against SQLite: the same parameter count, and the names at the first and last numbers).
struct Names<'s> {
    table: Option<std::collections::HashMap<&'s str, usize>>,
}

impl<'s> Names<'s> {
    fn new(stmt: &rusqlite::Statement<'_>, sql: Option<&'s str>, named: usize) -> Names<'s> {
        let table = sql
            .filter(|_| named > NAME_TABLE_FROM)
            .and_then(parameter_table)
            .filter(|(table, count)| {
                *count == stmt.parameter_count()
                    && [table.values().min(), table.values().max()]
                        .into_iter()
                        .flatten()
                        .all(|&i| {
                            table
                                .iter()
                                .find(|(_, &v)| v == i)
                                .is_some_and(|(n, _)| stmt.parameter_name(i) == Some(*n))
                        })
            })
            .map(|(table, _)| table);
        Names { table }
    }

    fn index(&self, stmt: &rusqlite::Statement<'_>, name: &str) -> Result<Option<usize>> {
        let Some(table) = &self.table else {
            return named_index(stmt, name);
        };
        let bare = name.strip_prefix(['@', ':', '$']).unwrap_or(name);
        if bare.is_empty() {
            return Err(Error::invalid(format!("parameter name '{name}' is empty")));
        }
        let mut buf = String::with_capacity(bare.len() + 1);
        for prefix in ['@', ':', '$'] {
            buf.clear();
            buf.push(prefix);
            buf.push_str(bare);
            if let Some(&i) = table.get(buf.as_str()) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }
}

#[allow(clippy::needless_range_loop)]
/// Bind `params` to `stmt`, whose SQL text is `sql` when the caller knows it is the statement's
/// whole text (it speeds up many named parameters). With `report` (multi-statement SQL), a named
/// parameter the statement lacks is allowed here and recorded instead; without it, it is an
/// error. Every SQL parameter must end up with a value.
pub(crate) fn bind<P: ParamList + ?Sized>(
    stmt: &mut rusqlite::Statement<'_>,
    sql: Option<&str>,
    params: &P,
    mut report: Option<&mut BindReport>,
) -> Result<()> {
    let named = params.named();
    let count = stmt.parameter_count();
    if named == 0 && report.is_none() && params.len() == count {
        // The common case, positional parameters exactly as many as the SQL has: bound in
        // order, with nothing to look up or tally.
        for (i, (_, value)) in params.entries().enumerate() {
            stmt.raw_bind_parameter(i + 1, ToSqlOutput::Borrowed(value))?;
        }
        return Ok(());
    }
    let names = Names::new(stmt, sql, named);
    let mut bound_small: u64 = 0;
    let mut bound_large = if count > 64 {
        vec![false; count + 1]
    } else {
        Vec::new()
    };
    let mut positional = 0usize;
    for (i, (name, value)) in params.entries().enumerate() {
        let index = match name {
            None => {
                positional += 1;
                if positional > count {
                    if report.is_some() {
                        continue;
                    }
                    return Err(Error::invalid(format!(
                        "too many positional parameters: {} given, the SQL has {count}",
                        params.len() - params.named()
                    )));
                }
                positional
            }
            Some(name) => match names.index(stmt, name)? {
                Some(index) => index,
                None if report.is_some() => continue,
                None => {
                    return Err(Error::invalid(format!(
                        "parameter '{name}' does not appear in the SQL"
                    )))
                }
            },
        };
        stmt.raw_bind_parameter(index, ToSqlOutput::Borrowed(value))?;
        if let Some(r) = report.as_deref_mut() {
            r.used[i] = true;
        }
        if count > 64 {
            bound_large[index] = true;
        } else {
            bound_small |= 1u64 << (index - 1);
        }
    }
    for index in 1..=count {
        let bound = if count > 64 {
            bound_large[index]
        } else {
            bound_small & (1u64 << (index - 1)) != 0
        };
        if !bound {
            let name = stmt
                .parameter_name(index)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("?{index}"));
            return Err(Error::invalid(format!(
                "SQL parameter '{name}' has no value"
            )));
        }
    }
    Ok(())
}

/// `std::str::from_utf8`, through `is_ascii` first: most SQL and most short texts are ASCII,
/// which `is_ascii` checks a word at a time, where the standard check walks a string shorter
/// than 16 bytes byte by byte (a 12-byte text parameter: about 110 instructions against 20).
pub(crate) fn utf8(b: &[u8]) -> std::result::Result<&str, std::str::Utf8Error> {
    if b.is_ascii() {
        #[allow(unsafe_code)]
        // SAFETY: ASCII is UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(b) })
    } else {
        std::str::from_utf8(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name `parameter_table` reads from `sql` has the index SQLite gives it, and the
    /// count is SQLite's.
    fn agrees_with_sqlite(sql: &str) -> bool {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE t(a, \"b:c\", [d@e], `f$g`, h$i)")
            .unwrap();
        let stmt = db.prepare(sql).unwrap();
        let Some((table, count)) = parameter_table(sql) else {
            return false;
        };
        assert_eq!(count, stmt.parameter_count(), "count of {sql}");
        for (name, index) in &table {
            assert_eq!(
                stmt.parameter_index(name).unwrap(),
                Some(*index),
                "{name} in {sql}"
            );
        }
        for i in 1..=count {
            if let Some(name) = stmt.parameter_name(i) {
                if !name.starts_with('?') {
                    assert_eq!(
                        table.get(name),
                        Some(&i),
                        "{name} missing from the table of {sql}"
                    );
                }
            }
        }
        true
    }

    #[test]
    fn parameter_table_numbers_names_as_sqlite_does() {
        for sql in [
            "SELECT :a, @b, $c, :a",
            "SELECT ?, :x, ?, :x, @y",
            "SELECT ?5, :x, ?2, :y",
            "SELECT ':no', \"b:c\", [d@e], `f$g` FROM t -- :no\n WHERE a = :yes /* @no */ OR a = @also",
            "SELECT 'it''s :no', :yes",
            "SELECT a, \"b:c\", [d@e], `f$g`, h$i FROM t WHERE a = :a AND h$i = @h",
            "SELECT x'3a61', :blob",
            "SELECT :é, @ü_1, $naïve",
            "SELECT 1 -- :trailing",
            "SELECT 1 /* unterminated :comment",
        ] {
            assert!(agrees_with_sqlite(sql), "{sql}");
        }
    }

    #[test]
    fn parameter_table_declines_what_it_cannot_read_exactly() {
        assert!(parameter_table("SELECT $a::b").is_none());
        assert!(parameter_table("SELECT $a(b c)").is_none());
        assert!(parameter_table("SELECT 'unterminated :x").is_none());
        assert!(parameter_table("SELECT :a$b").is_none());
    }

    #[test]
    fn many_named_parameters_bind_to_their_own_places() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let n = 1_500;
        // Names appear twice, in shuffled prefixes, with decoys in strings and comments.
        let mut sql = String::from("SELECT ':p0' /* @p1 */");
        for i in 0..n {
            let prefix = ["@", ":", "$"][i % 3];
            sql.push_str(&format!(", {prefix}p{i} * 1000000 + {prefix}p{i}"));
        }
        let mut stmt = db.prepare(&sql).unwrap();
        let params: Vec<Param> = (0..n)
            .rev()
            .map(|i| Param::named(format!("p{i}"), i as i64))
            .collect();
        bind(&mut stmt, Some(&sql), &params[..], None).unwrap();
        let names = Names::new(&stmt, Some(&sql), params.len());
        assert!(names.table.is_some(), "the table was used");
        let mut rows = stmt.raw_query();
        let row = rows.next().unwrap().unwrap();
        for i in 0..n {
            let v: i64 = row.get(i + 1).unwrap();
            assert_eq!(v, i as i64 * 1_000_001, "column {i}");
        }
    }
}
