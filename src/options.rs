//! Connection strings and options.
//!
//! Owns parsing a connection string — a plain path, `:memory:`, a `file:` URI, or
//! Microsoft.Data.Sqlite-style `Key=Value;` pairs — into [`Options`], and the canonical key
//! that decides which strings name the same database. Must never accept an unknown keyword or a
//! bad value silently: each is [`Status::InvalidArgument`](crate::Status) naming it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

/// Where the database lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    /// A file, by its canonical absolute path.
    File(PathBuf),
    /// A named in-memory database, shared by every open that uses the same name.
    NamedMemory(String),
    /// An anonymous in-memory database (`:memory:`): each open creates a new one.
    AnonymousMemory(u64),
}

/// How the database file is opened (`Mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file if missing (default).
    ReadWriteCreate,
    /// The file must exist.
    ReadWrite,
    /// Read-only: every write fails with `SW_STATUS_READONLY`.
    ReadOnly,
    /// In memory.
    Memory,
}

/// Who checkpoints the WAL (`Checkpoints`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoints {
    /// The writer (default): it restarts the WAL whenever it passes `WAL Limit`, holding back
    /// new reads for the moment it needs, and checkpoints at close.
    Writer,
    /// Another program (Litestream, a backup tool): the writer never checkpoints — neither by
    /// size nor at close — and SQLite's own automatic checkpoints are off.
    External,
}

/// `PRAGMA synchronous`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    /// OFF.
    Off,
    /// NORMAL (default): durable across application crashes; in WAL mode a power loss may lose
    /// the last commits.
    Normal,
    /// FULL.
    Full,
    /// EXTRA.
    Extra,
}

impl Synchronous {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        }
    }
}

/// Every option of a writer, with the defaults of the C ABI contract.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The database.
    pub location: Location,
    /// `Mode`.
    pub mode: OpenMode,
    /// `Busy Timeout`: how long the writer lane waits for another process's lock.
    pub busy_timeout: Duration,
    /// `Journal Mode` (upper case: WAL, DELETE, TRUNCATE, PERSIST, MEMORY, OFF).
    pub journal_mode: String,
    /// `Synchronous`.
    pub synchronous: Synchronous,
    /// `Foreign Keys`.
    pub foreign_keys: bool,
    /// `Recursive Triggers`.
    pub recursive_triggers: bool,
    /// `Sample Rate`: one in N high-volume signals is emitted.
    pub sample_rate: u32,
    /// `Cache Size`: cached read results.
    pub cache_size: usize,
    /// `Cache TTL`.
    pub cache_ttl: Duration,
    /// `Hot Key TTL`.
    pub hot_key_ttl: Duration,
    /// `Hot Access Threshold`.
    pub hot_access_threshold: u32,
    /// `Max Tracked Writes`: operation snapshots kept.
    pub max_tracked_writes: usize,
    /// `Signal Capacity`: the signal ring's size.
    pub signal_capacity: usize,
    /// `Queue Capacity`: queued writes before submitters block.
    pub queue_capacity: usize,
    /// `Max Batch`: writes per transaction (1 disables group commit).
    pub max_batch: usize,
    /// `Readers`: read-only connections.
    pub readers: usize,
    /// `Enqueue Timeout`: how long a full queue may block a submitter (0: fail at once).
    pub enqueue_timeout: Duration,
    /// `Invalidation Poll`: interval of the check for other processes' commits (0: off).
    pub invalidation_poll: Duration,
    /// `WAL Limit`: the WAL size (bytes) past which the writer checkpoints and restarts it (0:
    /// leave checkpoints to SQLite's automatic ones).
    pub wal_limit: u64,
    /// `Checkpoints`: who checkpoints the WAL.
    pub checkpoints: Checkpoints,
    /// `Pragmas`: connection settings (`name=value; ...`, from the list in `session.rs`)
    /// applied to every connection of the writer.
    pub pragmas: Vec<(String, String)>,
    /// `Immutable` (URI `immutable=1`): the file cannot change while open — read-only media, a
    /// snapshot. SQLite then reads without locks and without its `-shm`/`-wal` files; implies
    /// `Mode=ReadOnly`.
    pub immutable: bool,
    /// The option keywords the connection string named explicitly (normalised), for comparing
    /// a second open of the same database with the first.
    pub explicit: BTreeSet<&'static str>,
}

impl Options {
    fn defaults(location: Location) -> Options {
        Options {
            location,
            mode: OpenMode::ReadWriteCreate,
            busy_timeout: Duration::from_millis(10_000),
            journal_mode: "WAL".into(),
            synchronous: Synchronous::Normal,
            foreign_keys: true,
            recursive_triggers: false,
            sample_rate: 1,
            // The original package's 1,000 held a quarter of a 10,000-row table's point reads
            // under Zipf keys (63 % hits on the W4 mix, against 93 % with 10,000); entries cost
            // memory only once cached, and the admission policy keeps results that are never
            // read again from displacing ones that are (BENCHMARKS.md, issue 11).
            cache_size: 10_000,
            cache_ttl: Duration::from_millis(300_000),
            hot_key_ttl: Duration::from_millis(1_800_000),
            hot_access_threshold: 3,
            max_tracked_writes: 128,
            signal_capacity: 4096,
            queue_capacity: 65_536,
            max_batch: 4096,
            readers: 4,
            enqueue_timeout: Duration::from_millis(5_000),
            invalidation_poll: Duration::from_millis(10),
            immutable: false,
            wal_limit: 64 << 20,
            checkpoints: Checkpoints::Writer,
            pragmas: Vec::new(),
            explicit: BTreeSet::new(),
        }
    }

    /// Parse a connection string.
    pub fn parse(connection_string: &str) -> Result<Options> {
        let mut opts = Options::parse_syntax(connection_string)?;
        if opts.immutable {
            if opts.in_memory() {
                return Err(Error::invalid(
                    "Immutable: an in-memory database cannot be immutable",
                ));
            }
            opts.mode = OpenMode::ReadOnly;
        }
        Ok(opts)
    }

    fn parse_syntax(connection_string: &str) -> Result<Options> {
        let s = connection_string.trim();
        if s.is_empty() {
            return Err(Error::invalid("the connection string is empty"));
        }
        if s == ":memory:" {
            return Ok(Options::defaults(anonymous_memory()));
        }
        if s.starts_with("file:") {
            return parse_uri(s);
        }
        if looks_like_pairs(s) {
            return parse_pairs(s);
        }
        Ok(Options::defaults(file_location(s)?))
    }

    /// Whether the database is in memory.
    pub fn in_memory(&self) -> bool {
        !matches!(self.location, Location::File(_))
    }

    /// The options explicitly named here whose values differ from `running`'s.
    pub(crate) fn conflicts_with(&self, running: &Options) -> Vec<&'static str> {
        self.explicit
            .iter()
            .copied()
            .filter(|&k| option_value(self, k) != option_value(running, k))
            .collect()
    }

    /// What SQLite opens: a path or a URI.
    pub(crate) fn sqlite_target(&self) -> String {
        match &self.location {
            Location::File(p) if self.immutable => {
                let mut uri = String::from("file:");
                for b in p.to_string_lossy().bytes() {
                    if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                        uri.push(b as char);
                    } else {
                        uri.push_str(&format!("%{b:02X}"));
                    }
                }
                uri.push_str("?immutable=1");
                uri
            }
            Location::File(p) => p.to_string_lossy().into_owned(),
            Location::NamedMemory(name) => format!("file:/sw-mem-{}?vfs=memdb", uri_escape(name)),
            Location::AnonymousMemory(id) => format!("file:/sw-anon-{id}?vfs=memdb"),
        }
    }

    /// Whether the database file is on a file system mounted read-only (from
    /// `/proc/self/mountinfo`; `false` when that cannot be told).
    pub(crate) fn on_read_only_media(&self) -> bool {
        let Location::File(path) = &self.location else {
            return false;
        };
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        // Field 5 is the mount point (octal escapes for spaces and such), field 6 its options;
        // the longest mount point that holds the path is the one it lives on.
        let unescape = |s: &str| -> String {
            let b = s.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'\\'
                    && i + 3 < b.len()
                    && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
                {
                    let code = u32::from(b[i + 1] - b'0') * 64
                        + u32::from(b[i + 2] - b'0') * 8
                        + u32::from(b[i + 3] - b'0');
                    out.push(u8::try_from(code).unwrap_or(b'?'));
                    i += 4;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        };
        info.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (point, options) = (unescape(f.get(4)?), *f.get(5)?);
                path.starts_with(&point).then_some((point.len(), options))
            })
            .max_by_key(|(len, _)| *len)
            .is_some_and(|(_, options)| options.split(',').any(|o| o == "ro"))
    }

    /// The effective journal mode (in-memory databases cannot use WAL).
    pub(crate) fn effective_journal_mode(&self) -> &str {
        if self.in_memory() {
            "MEMORY"
        } else {
            &self.journal_mode
        }
    }
}

fn uri_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn anonymous_memory() -> Location {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    Location::AnonymousMemory(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The canonical location of a file: absolute, symlinks resolved (the parent's, when the file
/// does not exist yet).
fn file_location(path: &str) -> Result<Location> {
    if path.contains('\0') {
        return Err(Error::invalid("the database path contains a NUL character"));
    }
    let p = Path::new(path);
    let absolute = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::invalid(format!("cannot resolve relative path '{path}': {e}")))?
            .join(p)
    };
    if let Ok(c) = absolute.canonicalize() {
        return Ok(Location::File(c));
    }
    let name = absolute
        .file_name()
        .ok_or_else(|| Error::invalid(format!("'{path}' does not name a file")))?
        .to_owned();
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    let parent = parent.canonicalize().map_err(|e| {
        Error::new(
            crate::Status::Io,
            format!(
                "cannot open database '{path}': directory '{}': {e}",
                parent.display()
            ),
        )
    })?;
    Ok(Location::File(parent.join(name)))
}

/// The normalised keyword: lower case, spaces removed.
fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// How an option's value is written and checked.
enum Value {
    /// Handled by the parser itself (location, mode, compatibility keywords).
    Special,
    /// `true`/`false` (also 1/0, yes/no, on/off).
    Bool {
        get: fn(&Options) -> bool,
        set: fn(&mut Options, bool),
    },
    /// A whole number in `min..=max` (milliseconds where the unit says so).
    Number {
        min: u64,
        max: u64,
        get: fn(&Options) -> u64,
        set: fn(&mut Options, u64),
    },
    /// One of a fixed set of words.
    Choice {
        get: fn(&Options) -> String,
        set: fn(&mut Options, &str) -> Result<()>,
    },
}

/// One connection-string option: the single source of its keyword, spellings, range, unit and
/// how it is read and set. The README's table is checked against it (`tests::readme_lists_every_option`).
struct Spec {
    /// The canonical keyword, used in messages.
    name: &'static str,
    /// Other spellings (normalised: lower case, no spaces).
    aliases: &'static [&'static str],
    value: Value,
}

fn ms_u64(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Every keyword. Numeric ranges bound what an option can cost: nothing is allocated up front in
/// proportion to a value (the cache, the queue and the ring grow as entries arrive).
const OPTIONS: &[Spec] = &[
    Spec {
        name: "Data Source",
        aliases: &["filename"],
        value: Value::Special,
    },
    Spec {
        name: "Mode",
        aliases: &[],
        value: Value::Special,
    },
    Spec {
        name: "Cache",
        aliases: &[],
        value: Value::Special,
    },
    Spec {
        name: "Pooling",
        aliases: &[],
        value: Value::Special,
    },
    Spec {
        name: "Default Timeout",
        aliases: &["commandtimeout"],
        value: Value::Special,
    },
    Spec {
        name: "Foreign Keys",
        aliases: &[],
        value: Value::Bool {
            get: |o| o.foreign_keys,
            set: |o, v| o.foreign_keys = v,
        },
    },
    Spec {
        name: "Recursive Triggers",
        aliases: &[],
        value: Value::Bool {
            get: |o| o.recursive_triggers,
            set: |o, v| o.recursive_triggers = v,
        },
    },
    Spec {
        name: "WAL Limit",
        aliases: &[],
        value: Value::Number {
            min: 0,
            max: 1 << 40,
            get: |o| o.wal_limit,
            set: |o, v| o.wal_limit = v,
        },
    },
    Spec {
        name: "Checkpoints",
        aliases: &[],
        value: Value::Choice {
            get: |o| {
                match o.checkpoints {
                    Checkpoints::Writer => "Writer",
                    Checkpoints::External => "External",
                }
                .to_string()
            },
            set: |o, v| {
                o.checkpoints = match normalise(v).as_str() {
                    "writer" => Checkpoints::Writer,
                    "external" => Checkpoints::External,
                    _ => {
                        return Err(Error::invalid(format!(
                            "Checkpoints: '{v}' is not one of Writer, External"
                        )))
                    }
                };
                Ok(())
            },
        },
    },
    Spec {
        name: "Pragmas",
        aliases: &[],
        value: Value::Choice {
            get: |o| {
                o.pragmas
                    .iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join(";")
            },
            set: |o, v| {
                o.pragmas = crate::session::parse_pragmas(v)?;
                Ok(())
            },
        },
    },
    Spec {
        name: "Immutable",
        aliases: &[],
        value: Value::Bool {
            get: |o| o.immutable,
            set: |o, v| o.immutable = v,
        },
    },
    Spec {
        name: "Busy Timeout",
        aliases: &[],
        value: Value::Number {
            min: 0,
            max: 86_400_000,
            get: |o| ms_u64(o.busy_timeout),
            set: |o, v| o.busy_timeout = Duration::from_millis(v),
        },
    },
    Spec {
        name: "Journal Mode",
        aliases: &[],
        value: Value::Choice {
            get: |o| o.journal_mode.clone(),
            set: |o, v| {
                let m = v.trim().to_ascii_uppercase();
                if !["WAL", "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "OFF"].contains(&m.as_str())
                {
                    return Err(Error::invalid(format!(
                        "Journal Mode: '{v}' is not one of WAL, DELETE, TRUNCATE, PERSIST, MEMORY, OFF"
                    )));
                }
                o.journal_mode = m;
                Ok(())
            },
        },
    },
    Spec {
        name: "Synchronous",
        aliases: &[],
        value: Value::Choice {
            get: |o| o.synchronous.sql().to_string(),
            set: |o, v| {
                o.synchronous = match v.trim().to_ascii_uppercase().as_str() {
                    "OFF" | "0" => Synchronous::Off,
                    "NORMAL" | "1" => Synchronous::Normal,
                    "FULL" | "2" => Synchronous::Full,
                    "EXTRA" | "3" => Synchronous::Extra,
                    _ => {
                        return Err(Error::invalid(format!(
                            "Synchronous: '{v}' is not one of OFF, NORMAL, FULL, EXTRA"
                        )))
                    }
                };
                Ok(())
            },
        },
    },
    Spec {
        name: "Sample Rate",
        aliases: &[],
        value: Value::Number {
            min: 1,
            max: u32::MAX as u64,
            get: |o| o.sample_rate as u64,
            set: |o, v| o.sample_rate = v as u32,
        },
    },
    Spec {
        name: "Cache Size",
        aliases: &[],
        value: Value::Number {
            min: 0,
            max: 10_000_000,
            get: |o| o.cache_size as u64,
            set: |o, v| o.cache_size = v as usize,
        },
    },
    Spec {
        name: "Cache TTL",
        aliases: &[],
        value: Value::Number {
            min: 1,
            max: 1 << 40,
            get: |o| ms_u64(o.cache_ttl),
            set: |o, v| o.cache_ttl = Duration::from_millis(v),
        },
    },
    Spec {
        name: "Hot Key TTL",
        aliases: &[],
        value: Value::Number {
            min: 1,
            max: 1 << 40,
            get: |o| ms_u64(o.hot_key_ttl),
            set: |o, v| o.hot_key_ttl = Duration::from_millis(v),
        },
    },
    Spec {
        name: "Hot Access Threshold",
        aliases: &[],
        value: Value::Number {
            min: 1,
            max: u32::MAX as u64,
            get: |o| o.hot_access_threshold as u64,
            set: |o, v| o.hot_access_threshold = v as u32,
        },
    },
    Spec {
        name: "Max Tracked Writes",
        aliases: &[],
        value: Value::Number {
            min: 0,
            max: 1 << 20,
            get: |o| o.max_tracked_writes as u64,
            set: |o, v| o.max_tracked_writes = v as usize,
        },
    },
    Spec {
        name: "Signal Capacity",
        aliases: &[],
        value: Value::Number {
            min: 1,
            max: 1 << 24,
            get: |o| o.signal_capacity as u64,
            set: |o, v| o.signal_capacity = v as usize,
        },
    },
    Spec {
        name: "Queue Capacity",
        aliases: &[],
        value: Value::Number {
            min: 1,
            max: 1 << 24,
            get: |o| o.queue_capacity as u64,
            set: |o, v| o.queue_capacity = v as usize,
        },
    },
    Spec {
        name: "Max Batch",
        aliases: &[],
        value: Value::Number {
            min: 1,
            max: 1 << 20,
            get: |o| o.max_batch as u64,
            set: |o, v| o.max_batch = v as usize,
        },
    },
    Spec {
        name: "Readers",
        aliases: &[],
        value: Value::Number {
            min: 1,
            max: 256,
            get: |o| o.readers as u64,
            set: |o, v| o.readers = v as usize,
        },
    },
    Spec {
        name: "Enqueue Timeout",
        aliases: &[],
        value: Value::Number {
            min: 0,
            max: 86_400_000,
            get: |o| ms_u64(o.enqueue_timeout),
            set: |o, v| o.enqueue_timeout = Duration::from_millis(v),
        },
    },
    Spec {
        name: "Invalidation Poll",
        aliases: &[],
        value: Value::Number {
            min: 0,
            max: 3_600_000,
            get: |o| ms_u64(o.invalidation_poll),
            set: |o, v| o.invalidation_poll = Duration::from_millis(v),
        },
    },
];

fn spec(name: &str) -> Option<&'static Spec> {
    OPTIONS.iter().find(|s| s.name == name)
}

/// The canonical keyword for `key` (any case, any spaces), or `None` when it is unknown.
fn keyword(key: &str) -> Option<&'static str> {
    let n = normalise(key);
    OPTIONS
        .iter()
        .find(|s| normalise(s.name) == n || s.aliases.contains(&n.as_str()))
        .map(|s| s.name)
}

fn looks_like_pairs(s: &str) -> bool {
    match s.split_once('=') {
        Some((k, _)) => keyword(k).is_some() || s.contains(';'),
        None => false,
    }
}

/// Split `a=b; c="d;e"` into pairs, honouring single or double quotes (a doubled quote inside
/// quotes is a literal quote).
fn split_pairs(s: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            key.push(c);
            chars.next();
        }
        match chars.next() {
            None if key.trim().is_empty() => break,
            Some(';') if key.trim().is_empty() => continue,
            Some('=') => {}
            _ => {
                return Err(Error::invalid(format!(
                    "'{}' has no value (expected Key=Value)",
                    key.trim()
                )))
            }
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        match chars.peek().copied() {
            Some(q @ ('"' | '\'')) => {
                chars.next();
                loop {
                    match chars.next() {
                        Some(c) if c == q => {
                            if chars.peek() == Some(&q) {
                                chars.next();
                                value.push(q);
                            } else {
                                break;
                            }
                        }
                        Some(c) => value.push(c),
                        None => {
                            return Err(Error::invalid(format!(
                                "unterminated quote in the value of '{}'",
                                key.trim()
                            )))
                        }
                    }
                }
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                match chars.next() {
                    None | Some(';') => {}
                    Some(c) => {
                        return Err(Error::invalid(format!(
                            "unexpected '{c}' after the quoted value of '{}'",
                            key.trim()
                        )))
                    }
                }
            }
            _ => {
                for c in chars.by_ref() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                }
                value = value.trim().to_owned();
            }
        }
        pairs.push((key.trim().to_owned(), value));
    }
    Ok(pairs)
}

fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid(format!(
            "{name}: '{v}' is not a boolean (true/false)"
        ))),
    }
}

fn parse_u64(name: &str, v: &str, min: u64, max: u64) -> Result<u64> {
    let t = v.trim();
    let n: u64 = match t.parse() {
        Ok(n) => n,
        // All digits but too large for 64 bits: out of range like any other large number.
        Err(_) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => u64::MAX,
        Err(_) => {
            return Err(Error::invalid(format!(
                "{name}: '{v}' is not a whole number ({min}..={max})"
            )))
        }
    };
    if n < min || n > max {
        return Err(Error::invalid(format!(
            "{name}: {n} is out of range ({min}..={max})"
        )));
    }
    Ok(n)
}

fn parse_pairs(s: &str) -> Result<Options> {
    let pairs = split_pairs(s)?;
    let mut data_source: Option<String> = None;
    let mut mode = OpenMode::ReadWriteCreate;
    let mut shared_cache = false;
    let mut default_timeout: Option<u64> = None;
    let mut settings: Vec<(&'static str, String)> = Vec::new();
    let mut seen = BTreeSet::new();
    for (key, value) in pairs {
        let name = keyword(&key)
            .ok_or_else(|| Error::invalid(format!("unknown connection string keyword '{key}'")))?;
        if !seen.insert(name) {
            return Err(Error::invalid(format!("keyword '{name}' is given twice")));
        }
        match name {
            "Data Source" => data_source = Some(value),
            "Mode" => {
                mode = match normalise(&value).as_str() {
                    "readwritecreate" => OpenMode::ReadWriteCreate,
                    "readwrite" => OpenMode::ReadWrite,
                    "readonly" => OpenMode::ReadOnly,
                    "memory" => OpenMode::Memory,
                    _ => {
                        return Err(Error::invalid(format!(
                    "Mode: '{value}' is not one of ReadWriteCreate, ReadWrite, ReadOnly, Memory"
                )))
                    }
                }
            }
            "Cache" => {
                shared_cache = match normalise(&value).as_str() {
                    "default" | "private" => false,
                    "shared" => true,
                    _ => {
                        return Err(Error::invalid(format!(
                            "Cache: '{value}' is not one of Default, Private, Shared"
                        )))
                    }
                }
            }
            "Pooling" => {
                parse_bool(name, &value)?;
            }
            "Default Timeout" => default_timeout = Some(parse_u64(name, &value, 0, 86_400)?),
            _ => settings.push((name, value)),
        }
    }
    let source = data_source.unwrap_or_default();
    let location = if mode == OpenMode::Memory || source == ":memory:" {
        if source.is_empty() || source == ":memory:" {
            if shared_cache && !source.is_empty() {
                Location::NamedMemory(source)
            } else {
                anonymous_memory()
            }
        } else {
            Location::NamedMemory(source)
        }
    } else if source.is_empty() {
        return Err(Error::invalid("the connection string has no 'Data Source'"));
    } else if source.starts_with("file:") {
        let mut opts = parse_uri(&source)?;
        apply_settings(&mut opts, settings, default_timeout)?;
        if mode != OpenMode::ReadWriteCreate {
            opts.mode = mode;
        }
        return Ok(opts);
    } else {
        file_location(&source)?
    };
    let mut opts = Options::defaults(location);
    opts.mode = mode;
    // `Cache=Shared` is accepted for compatibility and deliberately not passed to SQLite:
    // shared-cache mode replaces WAL's reader concurrency with table locks (readers would fail
    // with SQLITE_LOCKED during writes). Named in-memory databases are shared by name instead.
    let _ = shared_cache;
    apply_settings(&mut opts, settings, default_timeout)?;
    Ok(opts)
}

fn apply_settings(
    opts: &mut Options,
    settings: Vec<(&'static str, String)>,
    default_timeout: Option<u64>,
) -> Result<()> {
    if let Some(secs) = default_timeout {
        // Microsoft.Data.Sqlite's command timeout bounds its busy retries; here it bounds the
        // lane's busy policy unless `Busy Timeout` says otherwise.
        opts.busy_timeout = Duration::from_secs(secs);
        opts.explicit.insert("Busy Timeout");
    }
    for (name, v) in settings {
        let Some(spec) = spec(name) else {
            return Err(Error::invalid(format!(
                "unknown connection string keyword '{name}'"
            )));
        };
        match spec.value {
            Value::Special => {
                return Err(Error::invalid(format!("'{name}' cannot be set here")));
            }
            Value::Bool { set, .. } => set(opts, parse_bool(name, &v)?),
            Value::Number { min, max, set, .. } => set(opts, parse_u64(name, &v, min, max)?),
            Value::Choice { set, .. } => set(opts, &v)?,
        }
        opts.explicit.insert(name);
    }
    Ok(())
}

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::invalid(format!("bad percent escape in URI '{s}'")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        Error::new(
            crate::Status::InvalidUtf8,
            "URI path decodes to invalid UTF-8",
        )
    })
}

/// `file:path?mode=ro|rw|rwc|memory&cache=shared|private` plus any option keyword as a query
/// parameter (`file:app.db?Sample%20Rate=10`).
fn parse_uri(s: &str) -> Result<Options> {
    let rest = &s["file:".len()..];
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.split('#').next().unwrap_or("");
    let path = if let Some(p) = path.strip_prefix("//") {
        // file://host/path: only an empty host or localhost.
        let (host, p) = p.split_at(p.find('/').unwrap_or(p.len()));
        if !host.is_empty() && host != "localhost" {
            return Err(Error::invalid(format!(
                "URI authority '{host}' is not supported"
            )));
        }
        p
    } else {
        path
    };
    let path = percent_decode(path)?;
    let mut mode = OpenMode::ReadWriteCreate;
    let mut settings = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let k = percent_decode(k)?;
        let v = percent_decode(v)?;
        match k.as_str() {
            "mode" => {
                mode = match v.as_str() {
                    "ro" => OpenMode::ReadOnly,
                    "rw" => OpenMode::ReadWrite,
                    "rwc" => OpenMode::ReadWriteCreate,
                    "memory" => OpenMode::Memory,
                    _ => {
                        return Err(Error::invalid(format!(
                            "URI mode '{v}' is not ro, rw, rwc or memory"
                        )))
                    }
                }
            }
            "cache" => {
                if v != "shared" && v != "private" {
                    return Err(Error::invalid(format!(
                        "URI cache '{v}' is not shared or private"
                    )));
                }
            }
            other => match keyword(other) {
                Some(name) if !["Data Source", "Mode", "Cache"].contains(&name) => {
                    settings.push((name, v))
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "unsupported URI parameter '{other}'"
                    )))
                }
            },
        }
    }
    let location = if mode == OpenMode::Memory || path == ":memory:" || path.is_empty() {
        if path.is_empty() || path == ":memory:" {
            anonymous_memory()
        } else {
            Location::NamedMemory(path)
        }
    } else {
        file_location(&path)?
    };
    let mut opts = Options::defaults(location);
    opts.mode = mode;
    apply_settings(&mut opts, settings, None)?;
    Ok(opts)
}

/// The value of one option as text, for comparing two opens.
fn option_value(o: &Options, name: &str) -> String {
    match spec(name).map(|s| &s.value) {
        Some(Value::Bool { get, .. }) => get(o).to_string(),
        Some(Value::Number { get, .. }) => get(o).to_string(),
        Some(Value::Choice { get, .. }) => get(o),
        Some(Value::Special) | None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn keywords_ignore_case_and_spaces() {
        let o = Options::parse("data source=/tmp/x.db; SAMPLERATE=5; cache ttl = 100").unwrap();
        assert_eq!(o.location, Location::File(PathBuf::from("/tmp/x.db")));
        assert_eq!(o.sample_rate, 5);
        assert_eq!(o.cache_ttl, Duration::from_millis(100));
    }

    #[test]
    fn unknown_keyword_is_named() {
        let e = Options::parse("Data Source=/tmp/x.db;Colour=blue").unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument);
        assert!(e.message().contains("Colour"), "{}", e.message());
    }

    #[test]
    fn bad_value_is_named() {
        let e = Options::parse("Data Source=/tmp/x.db;Synchronous=sometimes").unwrap_err();
        assert!(e.message().contains("Synchronous"), "{}", e.message());
        let e = Options::parse("Data Source=/tmp/x.db;Readers=0").unwrap_err();
        assert!(e.message().contains("Readers"), "{}", e.message());
    }

    #[test]
    fn memory_databases() {
        assert!(matches!(
            Options::parse(":memory:").unwrap().location,
            Location::AnonymousMemory(_)
        ));
        assert_ne!(
            Options::parse(":memory:").unwrap().location,
            Options::parse(":memory:").unwrap().location
        );
        assert_eq!(
            Options::parse("Data Source=shared1;Mode=Memory")
                .unwrap()
                .location,
            Options::parse("file:shared1?mode=memory&cache=shared")
                .unwrap()
                .location
        );
    }

    #[test]
    fn quoted_values() {
        let o = Options::parse("Data Source='/tmp/a;b.db';Readers=2").unwrap();
        assert_eq!(o.location, Location::File(PathBuf::from("/tmp/a;b.db")));
        assert_eq!(o.readers, 2);
    }

    #[test]
    fn numbers_outside_their_range_are_refused_by_name() {
        for (opt, bad) in [
            ("Cache Size", "1073741824"),
            ("Cache Size", "99999999999999999999999"),
            ("Queue Capacity", "0"),
            ("Readers", "257"),
            ("Signal Capacity", "18446744073709551615"),
            ("Busy Timeout", "-1"),
            ("Max Batch", "1.5"),
        ] {
            let e = Options::parse(&format!("Data Source=/tmp/x.db;{opt}={bad}")).unwrap_err();
            assert_eq!(e.status(), Status::InvalidArgument, "{opt}={bad}");
            assert!(e.message().contains(opt), "{opt}={bad}: {}", e.message());
        }
        let o = Options::parse("Data Source=/tmp/x.db;Cache Size=10000000").unwrap();
        assert_eq!(o.cache_size, 10_000_000);
    }

    /// The README's option table is the users' reference: every keyword, its default and its
    /// range must be the ones this table enforces.
    #[test]
    fn readme_lists_every_option() {
        let readme = include_str!("../README.md");
        let defaults = Options::defaults(Location::AnonymousMemory(0));
        for spec in OPTIONS {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}`", spec.name)))
                .unwrap_or_else(|| panic!("README has no row for `{}`", spec.name));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (default, range) = (cells[2], cells[3]);
            match &spec.value {
                Value::Number { min, max, get, .. } => {
                    assert_eq!(
                        default,
                        get(&defaults).to_string(),
                        "default of {}",
                        spec.name
                    );
                    assert_eq!(range, format!("{min}–{max}"), "range of {}", spec.name);
                }
                Value::Bool { get, .. } => {
                    assert_eq!(
                        default,
                        get(&defaults).to_string(),
                        "default of {}",
                        spec.name
                    );
                    assert_eq!(range, "true, false", "range of {}", spec.name);
                }
                Value::Choice { get, .. } => {
                    assert_eq!(default, get(&defaults), "default of {}", spec.name);
                }
                Value::Special => {}
            }
        }
    }

    #[test]
    fn immutable_opens_read_only_through_a_uri() {
        for cs in [
            "file:/tmp/a b%3F.db?immutable=1",
            "Data Source=/tmp/a b?.db;Immutable=True",
        ] {
            let o = Options::parse(cs).unwrap();
            assert!(o.immutable, "{cs}");
            assert_eq!(o.mode, OpenMode::ReadOnly, "{cs}");
            assert_eq!(
                o.sqlite_target(),
                "file:/tmp/a%20b%3F.db?immutable=1",
                "{cs}"
            );
        }
        assert!(Options::parse("Data Source=x;Mode=Memory;Immutable=1").is_err());
    }

    #[test]
    fn conflicts_name_the_differing_options() {
        let a = Options::parse("Data Source=/tmp/x.db;Readers=2").unwrap();
        let b = Options::parse("Data Source=/tmp/x.db;Readers=3;Sample Rate=1").unwrap();
        assert_eq!(b.conflicts_with(&a), vec!["Readers"]);
    }
}
