//! Values and parameters: what callers bind into SQL, and how they are bound.
//!
//! Owns the one binding routine used by every path (writes, batches, transactions, reads), so
//! `@x`, `:x`, `$x` and bare `x` names, unknown names and unbound parameters behave the same
//! everywhere. Must never bind silently: a name the SQL lacks, or an SQL parameter left without a
//! value, is an [`Status::InvalidArgument`](crate::Status) error naming it.

use rusqlite::types::{ToSqlOutput, ValueRef as SqlValueRef};
use rusqlite::ToSql;

use crate::error::{Error, Result};

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
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => SqlValueRef::Null,
            Value::Integer(i) => SqlValueRef::Integer(*i),
            Value::Real(r) => SqlValueRef::Real(*r),
            Value::Text(s) => SqlValueRef::Text(s.as_bytes()),
            Value::Blob(b) => SqlValueRef::Blob(b),
        }))
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
    pub(crate) fn check_all_used(&self, params: &[Param]) -> Result<()> {
        for (param, used) in params.iter().zip(&self.used) {
            if !used {
                return Err(match &param.name {
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

#[allow(clippy::needless_range_loop)]
/// Bind `params` to `stmt`. With `report` (multi-statement SQL), a named parameter the statement
/// lacks is allowed here and recorded instead; without it, it is an error. Every SQL parameter
/// must end up with a value.
pub(crate) fn bind(
    stmt: &mut rusqlite::Statement<'_>,
    params: &[Param],
    mut report: Option<&mut BindReport>,
) -> Result<()> {
    let count = stmt.parameter_count();
    let mut bound_small: u64 = 0;
    let mut bound_large = if count > 64 {
        vec![false; count + 1]
    } else {
        Vec::new()
    };
    let mut positional = 0usize;
    for (i, param) in params.iter().enumerate() {
        let index = match &param.name {
            None => {
                positional += 1;
                if positional > count {
                    if report.is_some() {
                        continue;
                    }
                    return Err(Error::invalid(format!(
                        "too many positional parameters: {} given, the SQL has {count}",
                        params.iter().filter(|p| p.name.is_none()).count()
                    )));
                }
                positional
            }
            Some(name) => match named_index(stmt, name)? {
                Some(index) => index,
                None if report.is_some() => continue,
                None => {
                    return Err(Error::invalid(format!(
                        "parameter '{name}' does not appear in the SQL"
                    )))
                }
            },
        };
        stmt.raw_bind_parameter(index, &param.value)?;
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
