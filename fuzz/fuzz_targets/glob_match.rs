//! The signal glob matcher (`glob_match`) against a reference written the slow, obvious way
//! (dynamic programming over characters): `*` any run, `?` exactly one character, anchored,
//! case-sensitive, no escapes. Any disagreement is a bug in one of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use singlewriter::glob_match;

fn reference(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // m[i][j]: p[..i] matches t[..j].
    let mut m = vec![vec![false; t.len() + 1]; p.len() + 1];
    m[0][0] = true;
    for i in 1..=p.len() {
        m[i][0] = m[i - 1][0] && p[i - 1] == '*';
        for j in 1..=t.len() {
            m[i][j] = match p[i - 1] {
                '*' => m[i - 1][j] || m[i][j - 1],
                '?' => m[i - 1][j - 1],
                c => m[i - 1][j - 1] && c == t[j - 1],
            };
        }
    }
    m[p.len()][t.len()]
}

fuzz_target!(|input: (&str, &str)| {
    let (pattern, text) = input;
    if pattern.len() > 256 || text.len() > 256 {
        return;
    }
    let got = glob_match(pattern, text);
    let want = reference(pattern, text);
    assert_eq!(got, want, "glob_match({pattern:?}, {text:?})");
});
