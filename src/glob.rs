//! The glob matcher of signal patterns and cache keys: `*` any run (also empty, also across `.` and `:`), `?`
//! exactly one character, anchored at both ends, case-sensitive, no escapes — the semantics of
//! the original package's `StringPatternMatcher`. Matches over a signal's full form
//! (`name` or `name:key`) without building that string.

/// A subject made of up to three parts, matched as their concatenation.
pub(crate) struct Subject<'a> {
    parts: [&'a [u8]; 3],
}

impl<'a> Subject<'a> {
    /// `name` alone, or `name:key` when `key` is non-empty.
    pub(crate) fn signal(name: &'a str, key: &'a str) -> Subject<'a> {
        if key.is_empty() {
            Subject {
                parts: [name.as_bytes(), b"", b""],
            }
        } else {
            Subject {
                parts: [name.as_bytes(), b":", key.as_bytes()],
            }
        }
    }

    /// Plain text.
    pub(crate) fn text(s: &'a str) -> Subject<'a> {
        Subject {
            parts: [s.as_bytes(), b"", b""],
        }
    }

    fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    fn at(&self, mut i: usize) -> u8 {
        for p in &self.parts {
            if i < p.len() {
                return p[i];
            }
            i -= p.len();
        }
        0
    }
}

/// Length of the UTF-8 character starting with byte `b`.
fn char_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xff => 4,
        _ => 1,
    }
}

/// Whether `subject` matches `pattern`.
pub(crate) fn matches(pattern: &str, subject: &Subject<'_>) -> bool {
    let p = pattern.as_bytes();
    let n = subject.len();
    if !p.contains(&b'*') && !p.contains(&b'?') {
        return p.len() == n && (0..n).all(|i| p[i] == subject.at(i));
    }
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < n {
        if pi < p.len() && p[pi] == b'?' {
            pi += 1;
            si += char_len(subject.at(si));
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == subject.at(si) {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            let next = ss + char_len(subject.at(ss));
            star = Some((sp, next));
            si = next;
        } else {
            return false;
        }
    }
    if si > n {
        return false;
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether plain `text` matches `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    matches(pattern, &Subject::text(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The original's StringPatternMatcherTests.Matches_GlobPatterns, ported.
    #[test]
    fn matches_glob_patterns() {
        let cases = [
            ("hello", "hello", true),
            ("hello", "world", false),
            ("hello", "he*", true),
            ("hello", "*lo", true),
            ("hello", "*ll*", true),
            ("hello", "h?llo", true),
            ("hello", "h?lo", false),
            ("error.timeout", "error.*", true),
            ("error.timeout", "*.timeout", true),
            ("error.database.timeout", "error.*.timeout", true),
            ("error.database.timeout", "error.*", true),
            ("warning.low", "error.*", false),
        ];
        for (value, pattern, expected) in cases {
            assert_eq!(glob_match(pattern, value), expected, "{value} ~ {pattern}");
        }
    }

    #[test]
    fn matches_full_form_across_parts() {
        assert!(matches(
            "cache.invalidate:users:*",
            &Subject::signal("cache.invalidate", "users:1")
        ));
        assert!(!matches(
            "cache.invalidate:users:*",
            &Subject::signal("cache.invalidate", "orders:1")
        ));
        assert!(matches("write.*", &Subject::signal("write.done", "")));
        assert!(matches(
            "cache.*",
            &Subject::signal("cache.invalidate.external", "k")
        ));
        assert!(!matches("write.done", &Subject::signal("write.done", "x")));
        assert!(matches("*", &Subject::signal("a", "b")));
        assert!(matches("", &Subject::text("")));
        assert!(!matches("", &Subject::text("a")));
    }

    #[test]
    fn question_mark_is_one_character_not_one_byte() {
        assert!(glob_match("caf?", "café"));
        assert!(!glob_match("caf??", "café"));
    }

    #[test]
    fn is_case_sensitive() {
        assert!(!glob_match("Write.*", "write.done"));
    }
}
