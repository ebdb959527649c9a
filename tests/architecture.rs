//! The layers stay one-way: no import cycle among the core's modules, none among the C layer's,
//! and no core module reaching into the C layer (`ffi`). Reads `src/` as text: every
//! `crate::…`, `super::…` and `self::…` path outside a module's unit tests is an edge from the
//! file it is in to the module file it names.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`writer::lane`; `crate` for lib.rs) → source text without its unit tests.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                walk(&path, &format!("{prefix}{stem}::"), out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let text = match text.find("#[cfg(test)]\nmod tests") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                };
                let name = if prefix.is_empty() && stem == "lib" {
                    "crate".to_string()
                } else {
                    format!("{prefix}{stem}")
                };
                out.insert(name, text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        "",
        &mut out,
    );
    out
}

/// The module a path names: its longest prefix that is a module.
fn resolve(from: &str, segments: &[&str], known: &BTreeMap<String, String>) -> Option<String> {
    let mut base: Vec<&str> = if from == "crate" {
        vec![]
    } else {
        from.split("::").collect()
    };
    let mut rest = segments;
    match rest.first() {
        Some(&"crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some(&"super") => {
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        Some(&"self") => rest = &rest[1..],
        _ => return None,
    }
    let mut best = None;
    let mut path = base.clone();
    if !path.is_empty() {
        best = Some(path.join("::"));
    }
    for seg in rest {
        path.push(seg);
        let name = path.join("::");
        if known.contains_key(&name) {
            best = Some(name);
        } else {
            break;
        }
    }
    Some(best.unwrap_or_else(|| "crate".to_string()))
}

/// Edges: module → modules it names.
fn edges(known: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in known {
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let bytes = code.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let starts = ["crate::", "super::", "self::"]
                .iter()
                .find(|p| bytes[i..].starts_with(p.as_bytes()))
                .filter(|_| {
                    i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
                });
            if starts.is_none() {
                i += 1;
                continue;
            }
            // Read the path: identifiers separated by `::`, then maybe a `{...}` group.
            let mut j = i;
            while j < bytes.len()
                && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b':')
            {
                j += 1;
            }
            let path = code[i..j].trim_end_matches(':');
            let segments: Vec<&str> = path.split("::").collect();
            let mut targets = vec![resolve(module, &segments, known)];
            if bytes.get(j) == Some(&b'{') {
                let end = code[j..].find('}').map_or(code.len(), |e| j + e);
                for item in code[j + 1..end].split(',') {
                    let item = item.trim();
                    let first = item.split("::").next().unwrap_or("").trim();
                    if first.is_empty() || first == "self" {
                        continue;
                    }
                    let mut s = segments.clone();
                    s.push(first);
                    targets.push(resolve(module, &s, known));
                }
                i = end;
            } else {
                i = j;
            }
            for t in targets.into_iter().flatten() {
                if &t != module && t != "crate" {
                    out.entry(module.clone()).or_default().insert(t);
                }
            }
        }
    }
    out
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(
    nodes: &BTreeSet<String>,
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        nodes: &'a BTreeSet<String>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(t: &mut T<'_>, v: &str) {
        t.index.insert(v.into(), t.next);
        t.low.insert(v.into(), t.next);
        t.next += 1;
        t.stack.push(v.into());
        t.on.insert(v.into());
        let targets: Vec<String> = t
            .edges
            .get(v)
            .into_iter()
            .flatten()
            .filter(|w| t.nodes.contains(*w))
            .cloned()
            .collect();
        for w in targets {
            if !t.index.contains_key(&w) {
                visit(t, &w);
                let lw = t.low[&w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(&w) {
                let iw = t.index[&w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = vec![];
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(&w);
                let done = w == v;
                scc.push(w);
                if done {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        edges,
        nodes,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        next: 0,
        out: vec![],
    };
    for n in nodes {
        if !t.index.contains_key(n) {
            visit(&mut t, n);
        }
    }
    t.out
}

fn is_ffi(m: &str) -> bool {
    m == "ffi" || m.starts_with("ffi::")
}

#[test]
fn the_core_has_no_import_cycle() {
    let known = modules();
    let e = edges(&known);
    let core: BTreeSet<String> = known
        .keys()
        .filter(|m| !is_ffi(m) && *m != "crate")
        .cloned()
        .collect();
    let found = cycles(&core, &e);
    assert!(
        found.is_empty(),
        "import cycles in the core: {found:#?}\nedges: {e:#?}"
    );
}

#[test]
fn the_c_layer_has_no_import_cycle() {
    let known = modules();
    let e = edges(&known);
    let ffi: BTreeSet<String> = known
        .keys()
        .filter(|m| is_ffi(m) && *m != "ffi")
        .cloned()
        .collect();
    let found = cycles(&ffi, &e);
    assert!(found.is_empty(), "import cycles in src/ffi: {found:#?}");
}

#[test]
fn no_core_module_reaches_into_the_c_layer() {
    let known = modules();
    let e = edges(&known);
    let bad: Vec<(String, String)> = e
        .iter()
        .filter(|(from, _)| !is_ffi(from)) // the crate root included
        .flat_map(|(from, to)| {
            to.iter()
                .filter(|t| is_ffi(t))
                .map(move |t| (from.clone(), t.clone()))
        })
        .collect();
    assert!(bad.is_empty(), "core → ffi edges: {bad:?}");
}

/// The checker itself finds what it is meant to find.
#[test]
fn the_checker_sees_cycles_and_edges() {
    let mut known = BTreeMap::new();
    known.insert("a".to_string(), "use crate::b::{x, c};".to_string());
    known.insert("b".to_string(), "fn f() { super::a::g() }".to_string());
    known.insert("b::c".to_string(), "".to_string());
    known.insert("d".to_string(), "use crate::ffi::status;".to_string());
    known.insert("ffi".to_string(), "".to_string());
    known.insert("ffi::status".to_string(), "".to_string());
    let e = edges(&known);
    assert!(e["a"].contains("b") && e["a"].contains("b::c"), "{e:?}");
    assert!(e["b"].contains("a"), "{e:?}");
    assert!(e["d"].contains("ffi::status"), "{e:?}");
    let nodes: BTreeSet<String> = ["a", "b", "b::c"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        cycles(&nodes, &e),
        vec![vec!["a".to_string(), "b".to_string()]]
    );
}
