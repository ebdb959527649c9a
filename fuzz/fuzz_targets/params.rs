//! Parameter binding through every path that binds (`execute`, `query`, `read`), with
//! positional and named parameters, `@`/`:`/`$`/bare prefixes on either side, many parameters,
//! odd names, and every value type.
//!
//! Echo inputs build `VALUES (e1),(e2),…` from the parameter list itself (positional ones
//! first, numbered or `?`, then named ones with a prefix of their own choosing), so the answer is
//! known: every value comes back in order (NaN as NULL, as SQLite binds it), or, when an odd
//! name that the SQL does not have is given, every path fails with INVALID_ARGUMENT. Execute,
//! query and read must agree. Raw inputs send any SQL with any parameters: never a panic.
#![no_main]

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use singlewriter::{Param, Status, Value, ValueRef, Writer};

#[derive(Arbitrary, Debug)]
enum Name {
    Positional {
        numbered: bool,
    },
    Ident {
        param_prefix: u8,
        sql_prefix: u8,
        style: u8,
    },
    Odd(String),
}

#[derive(Arbitrary, Debug, Clone)]
enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Val {
    fn value(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Int(i) => Value::Integer(*i),
            Val::Real(r) => Value::Real(*r),
            Val::Text(s) => Value::Text(s.clone()),
            Val::Blob(b) => Value::Blob(b.clone()),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Input {
    Echo {
        params: Vec<(Name, Val)>,
        extra_named: u8,
        extra_positional: u8,
        many: u16,
        shuffle: u64,
    },
    Raw {
        sql: String,
        params: Vec<(Option<String>, Val)>,
        path: u8,
    },
}

fn writer() -> &'static Writer {
    static W: OnceLock<Writer> = OnceLock::new();
    W.get_or_init(|| {
        let dir = sw_fuzz::scratch_dir();
        let path = dir.join("params.db");
        Writer::open(&format!("Data Source={};Busy Timeout=1000", path.display()))
            .expect("open the params database")
    })
}

/// An identifier SQLite accepts after `@`, `:` or `$`, unique per `i`.
fn ident(i: usize, style: u8) -> String {
    match style % 6 {
        0 => format!("p{i}"),
        1 => format!("_x{i}"),
        2 => format!("P{i}_"),
        3 => format!("é{i}"),
        4 => format!("名前{i}"),
        _ => format!("a{i}b"),
    }
}

fn prefix(p: u8, allow_bare: bool) -> &'static str {
    match p % if allow_bare { 4 } else { 3 } {
        0 => "@",
        1 => ":",
        2 => "$",
        _ => "",
    }
}

/// What a bound value reads back as.
fn expected(v: &Val) -> Value {
    match v {
        Val::Real(r) if r.is_nan() => Value::Null,
        other => other.value(),
    }
}

fn same(got: ValueRef<'_>, want: &Value) -> bool {
    match (got, want) {
        (ValueRef::Null, Value::Null) => true,
        (ValueRef::Integer(a), Value::Integer(b)) => a == *b,
        (ValueRef::Real(a), Value::Real(b)) => a == *b,
        (ValueRef::Text(a), Value::Text(b)) => a == b,
        (ValueRef::Blob(a), Value::Blob(b)) => a == &b[..],
        _ => false,
    }
}

fn check_status(what: &str, sql: &str, e: &singlewriter::Error) {
    assert_ne!(e.status(), Status::Panic, "{what} {sql:?}: {}", e.message());
    assert_ne!(
        e.status(),
        Status::Misuse,
        "{what} {sql:?}: MISUSE outside any callback: {}",
        e.message()
    );
}

/// Generated parameters beyond the listed ones: a few, or (for 0xff) up to 511 — past the 64
/// where binding switches to its large-statement bookkeeping. Not more: named parameters cost
/// quadratic time (SQLite's parser looks each name up in a list, and binding looks each one up
/// three times — issue 9's defect 11), and under libFuzzer's comparison hooks a few thousand
/// named ones take seconds per input.
fn extra(n: u8, many: u16) -> usize {
    if n == 0xff {
        (many % 512) as usize
    } else {
        (n % 4) as usize
    }
}

fn echo(params: Vec<(Name, Val)>, extra_named: usize, extra_positional: usize, shuffle: u64) {
    let w = writer();
    // SQL expressions: positional first, then named.
    let mut positional_sql = Vec::new();
    let mut positional_vals = Vec::new();
    let mut named_sql = Vec::new();
    let mut named_vals = Vec::new();
    let mut list: Vec<Param> = Vec::new();
    let mut idents = Vec::new();
    let mut odd_names = Vec::new();
    for (i, (name, val)) in params.iter().enumerate() {
        match name {
            Name::Positional { numbered } => {
                let k = positional_sql.len() + 1;
                positional_sql.push(if *numbered {
                    format!("?{k}")
                } else {
                    "?".into()
                });
                positional_vals.push(expected(val));
                list.push(Param::positional(val.value()));
            }
            Name::Ident {
                param_prefix,
                sql_prefix,
                style,
            } => {
                let id = ident(i, *style);
                named_sql.push(format!("{}{id}", prefix(*sql_prefix, false)));
                named_vals.push(expected(val));
                list.push(Param::named(
                    format!("{}{id}", prefix(*param_prefix, true)),
                    val.value(),
                ));
                idents.push(id);
            }
            Name::Odd(s) => {
                odd_names.push(s.clone());
                list.push(Param::named(s.clone(), val.value()));
            }
        }
    }
    for k in 0..extra_positional {
        positional_sql.push("?".into());
        positional_vals.push(Value::Integer(k as i64));
        list.push(Param::positional(k as i64));
    }
    for k in 0..extra_named {
        named_sql.push(format!("@x{k}"));
        named_vals.push(Value::Integer(-(k as i64)));
        list.push(Param::named(format!("x{k}"), -(k as i64)));
        idents.push(format!("x{k}"));
    }
    // An odd name that happens to be one of ours binds that parameter: no known answer.
    let collides = odd_names.iter().any(|n| {
        let bare = n.strip_prefix(['@', ':', '$']).unwrap_or(n);
        idents.iter().any(|id| id == bare)
    });
    if collides {
        return;
    }
    if positional_sql.is_empty() && named_sql.is_empty() {
        positional_sql.push("1".into());
        positional_vals.push(Value::Integer(1));
    }
    // The parameter list's order does not matter for named ones; positional ones keep theirs.
    if shuffle != 0 && list.len() > 1 {
        let mut s = shuffle;
        for i in (1..list.len()).rev() {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let j = (s >> 33) as usize % (i + 1);
            if list[i].name.is_some() && list[j].name.is_some() {
                list.swap(i, j);
            }
        }
    }
    let exprs: Vec<String> = positional_sql
        .iter()
        .chain(&named_sql)
        .map(|e| format!("({e})"))
        .collect();
    let sql = format!("VALUES {}", exprs.join(","));
    let want: Vec<&Value> = positional_vals.iter().chain(&named_vals).collect();
    let must_fail = !odd_names.is_empty();

    let mut h = std::collections::hash_map::DefaultHasher::new();
    sql.hash(&mut h);
    format!("{list:?}").hash(&mut h);
    let key = format!("echo:{:016x}", h.finish());

    let results = [
        ("query", w.query(&sql, &list)),
        ("read", w.read(&key, &sql, &list)),
        ("read again", w.read(&key, &sql, &list)),
    ];
    for (what, r) in &results {
        match r {
            Ok(rows) => {
                assert!(
                    !must_fail,
                    "{what}: odd names {odd_names:?} bound: {sql:?} {list:?}"
                );
                assert_eq!(rows.row_count(), want.len(), "{what} {sql:?}");
                assert_eq!(rows.column_count(), 1, "{what} {sql:?}");
                for (i, v) in want.iter().enumerate() {
                    let got = rows.get(i, 0).expect("cell in range");
                    assert!(
                        same(got, v),
                        "{what} row {i}: got {got:?}, want {v:?}; {sql:?} {list:?}"
                    );
                }
            }
            Err(e) => {
                check_status(what, &sql, e);
                assert!(
                    must_fail,
                    "{what} failed: {:?} {}; {sql:?} {list:?}",
                    e.status(),
                    e.message()
                );
                assert_eq!(
                    e.status(),
                    Status::InvalidArgument,
                    "{what}: {}",
                    e.message()
                );
            }
        }
    }
    let executed = w.execute(&sql, &list);
    match &executed {
        Ok(_) => assert!(
            !must_fail,
            "execute: odd names {odd_names:?} bound: {sql:?}"
        ),
        Err(e) => {
            check_status("execute", &sql, e);
            assert!(
                must_fail,
                "execute failed: {:?} {}; {sql:?} {list:?}",
                e.status(),
                e.message()
            );
            assert_eq!(
                e.status(),
                Status::InvalidArgument,
                "execute: {}",
                e.message()
            );
        }
    }
}

fn raw(sql: String, params: Vec<(Option<String>, Val)>, path: u8) {
    if !sw_fuzz::sql_is_bounded(&sql) {
        return;
    }
    let list: Vec<Param> = params
        .iter()
        .map(|(n, v)| Param {
            name: n.clone(),
            value: v.value(),
        })
        .collect();
    let w = writer();
    let r = match path % 3 {
        0 => w.execute(&sql, &list).map(|_| ()),
        1 => w.query(&sql, &list).map(|_| ()),
        _ => w.read("raw", &sql, &list).map(|_| ()),
    };
    if let Err(e) = r {
        check_status(["execute", "query", "read"][(path % 3) as usize], &sql, &e);
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Echo {
            params,
            extra_named,
            extra_positional,
            many,
            shuffle,
        } => echo(
            params,
            extra(extra_named, many),
            extra(extra_positional, many),
            shuffle,
        ),
        Input::Raw { sql, params, path } => raw(sql, params, path),
    }
});
