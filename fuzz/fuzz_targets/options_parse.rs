//! The connection-string parser (`Options::parse`): any text gives options or an error, never a
//! panic; the same text always gives the same answer; options that parse stay within the ranges
//! the README documents; a string that parses also parses with its keywords re-cased and
//! re-spaced (keywords are case-insensitive and ignore spaces).
#![no_main]

use libfuzzer_sys::fuzz_target;
use singlewriter::{Location, Options, Status};

fn check_ranges(s: &str, o: &Options) {
    assert!(o.sample_rate >= 1, "{s:?}: Sample Rate {}", o.sample_rate);
    assert!(o.readers >= 1, "{s:?}: Readers {}", o.readers);
    assert!(o.max_batch >= 1, "{s:?}: Max Batch {}", o.max_batch);
    assert!(
        o.queue_capacity >= 1,
        "{s:?}: Queue Capacity {}",
        o.queue_capacity
    );
    assert!(
        o.signal_capacity >= 1,
        "{s:?}: Signal Capacity {}",
        o.signal_capacity
    );
    assert!(o.hot_access_threshold >= 1, "{s:?}: Hot Access Threshold");
    assert!(
        ["WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF"]
            .contains(&o.journal_mode.as_str()),
        "{s:?}: Journal Mode {}",
        o.journal_mode
    );
    if let Location::File(p) = &o.location {
        assert!(p.is_absolute(), "{s:?}: relative location {p:?}");
    }
}

/// The same string with every keyword's letters re-cased by `flip` (bit per byte) and a space
/// after its first character; values are untouched. Only for `Key=Value;` strings.
fn recase_keywords(s: &str, flip: &[u8]) -> Option<String> {
    if s.trim_start().starts_with("file:") || !s.contains('=') || s.contains(['"', '\'']) {
        return None;
    }
    let mut out = String::new();
    for (n, pair) in s.split(';').enumerate() {
        if n > 0 {
            out.push(';');
        }
        match pair.split_once('=') {
            Some((k, v)) => {
                for (i, c) in k.chars().enumerate() {
                    let bit = flip.get(i % flip.len().max(1)).copied().unwrap_or(0) & 1 == 1;
                    if bit {
                        out.extend(c.to_uppercase());
                    } else {
                        out.extend(c.to_lowercase());
                    }
                    if i == 0 {
                        out.push(' ');
                    }
                }
                out.push('=');
                out.push_str(v);
            }
            None => out.push_str(pair),
        }
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    sw_fuzz::scratch_dir();
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let first = Options::parse(s);
    let second = Options::parse(s);
    match (&first, &second) {
        (Ok(a), Ok(b)) => {
            // Anonymous in-memory databases get a new id per parse; everything else is equal.
            if !matches!(a.location, Location::AnonymousMemory(_)) {
                assert_eq!(a, b, "{s:?} parsed twice differently");
            }
            check_ranges(s, a);
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.status(), b.status(), "{s:?}");
            assert!(
                matches!(
                    a.status(),
                    Status::InvalidArgument | Status::InvalidUtf8 | Status::Io
                ),
                "{s:?}: unexpected status {:?}: {}",
                a.status(),
                a.message()
            );
        }
        _ => panic!("{s:?}: parsed once, failed once: {first:?} / {second:?}"),
    }
    // Only strings that set an option as `Key=Value` (ASCII: Unicode case mapping can change a
    // keyword's length) are re-cased; a plain path with a '=' in it is no pair string.
    if let Ok(a) = &first {
        if a.explicit.is_empty() || !s.is_ascii() {
            return;
        }
        if let Some(recased) = recase_keywords(s, data) {
            let b = Options::parse(&recased).unwrap_or_else(|e| {
                panic!("{s:?} parses but its re-cased form {recased:?} does not: {e:?}")
            });
            if !matches!(a.location, Location::AnonymousMemory(_)) {
                assert_eq!(a.location, b.location, "{s:?} vs {recased:?}");
            }
            assert_eq!(a.explicit, b.explicit, "{s:?} vs {recased:?}");
            assert_eq!(a.cache_size, b.cache_size, "{s:?} vs {recased:?}");
            assert_eq!(a.busy_timeout, b.busy_timeout, "{s:?} vs {recased:?}");
        }
    }
});
