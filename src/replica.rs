//! LiteFS awareness: whether a database lives on a LiteFS mount, and whether this node is the
//! primary that may write it.
//!
//! LiteFS (a FUSE file system) gives a cluster one primary that writes and replicas that read.
//! On a replica the mount holds a `.primary` file naming the current primary; on the primary it
//! is absent; the database file's mode is 0666 on the primary and 0444 on a replica, and `.lag`
//! holds how far (ms) the replica trails the primary. A write on a replica otherwise fails only
//! at `COMMIT`, as a disk I/O error, after it was queued with a group of others. This module
//! answers "may this process write here?" before anything is queued, so the writer refuses the
//! write with `SW_STATUS_READONLY` naming the primary.
//!
//! Owns the per-database answer and its cache. Must never write to the database, and never cost
//! a write more than an atomic load, except once every [`RECHECK`] per database, when one
//! thread re-reads `.primary` (a FUSE round trip). Databases not on a LiteFS mount are told
//! apart once per path and process (from `/proc/self/mountinfo`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Status};
use crate::options::{Location, Options};
use crate::signal::Signals;
use crate::sync::Mutex;

/// How long an answer is trusted before `.primary` is read again.
pub(crate) const RECHECK: Duration = Duration::from_millis(5);

/// The file LiteFS keeps in its mount on replicas, naming the primary.
const PRIMARY_FILE: &str = ".primary";
/// The file LiteFS keeps in its mount: how far this node trails the primary, in ms.
const LAG_FILE: &str = ".lag";

/// What a node of a LiteFS cluster is for one database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// This node is the primary: writes are accepted.
    Primary,
    /// This node is a replica; writes go to the primary named here (the hostname LiteFS
    /// advertises in `.primary`), or `None` while the replica has not reached a primary yet.
    Replica {
        /// The current primary's hostname, as LiteFS names it.
        primary: Option<String>,
    },
}

/// Where a database lives, as far as replication goes ([`Writer::replica_status`]).
///
/// [`Writer::replica_status`]: crate::Writer::replica_status
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// The LiteFS mount holding the database, or `None` when it is not on one.
    pub litefs_mount: Option<PathBuf>,
    /// This node's role (`Primary` when not on LiteFS: the writer is the only one).
    pub role: Role,
    /// How far this node trails the primary (LiteFS's `.lag`), when on a LiteFS replica that
    /// has caught up at least once.
    pub lag: Option<Duration>,
}

/// One database's LiteFS mount and the cached answer for it.
struct Watch {
    mount: PathBuf,
    database: PathBuf,
    /// How long an answer is trusted ([`RECHECK`]).
    recheck: Duration,
    /// When the answer was last read, in ns since [`epoch`]; 0 = never.
    checked_at: AtomicU64,
    /// The cached answer's gist, for the fast path.
    writable: AtomicBool,
    /// A replica's lag (`.lag`) when the answer was read, µs; -1 when unknown or primary.
    lag_us: AtomicI64,
    /// The cached answer.
    role: Mutex<Role>,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    // +1: 0 means "never checked".
    epoch().elapsed().as_nanos() as u64 + 1
}

/// Per database path: its watch, or `None` when it is not on a LiteFS mount.
type Watches = HashMap<PathBuf, Option<Arc<Watch>>>;

fn watches() -> &'static Mutex<Watches> {
    static WATCHES: OnceLock<Mutex<Watches>> = OnceLock::new();
    WATCHES.get_or_init(|| Mutex::new(HashMap::new()))
}

thread_local! {
    /// The last database this thread wrote to, and its watch: a write loop on one database
    /// never takes the process-wide map's lock.
    static LAST: std::cell::RefCell<Option<(PathBuf, Option<Arc<Watch>>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The watch of `path`, made on first use (the mount table is read once per path).
fn watch_for(path: &Path, signals: &Signals) -> Option<Arc<Watch>> {
    let cached = LAST
        .try_with(|last| {
            last.borrow()
                .as_ref()
                .filter(|(p, _)| p == path)
                .map(|(_, w)| w.clone())
        })
        .ok()
        .flatten();
    if let Some(w) = cached {
        return w;
    }
    let w = {
        let mut map = watches().lock();
        match map.get(path) {
            Some(w) => w.clone(),
            None => {
                let w = litefs_mount_of(path).map(|mount| {
                    signals.emit("replica.litefs", mount.to_string_lossy().into_owned());
                    Arc::new(Watch {
                        mount,
                        database: path.to_path_buf(),
                        recheck: RECHECK,
                        checked_at: AtomicU64::new(0),
                        writable: AtomicBool::new(true),
                        lag_us: AtomicI64::new(-1),
                        role: Mutex::new(Role::Primary),
                    })
                });
                map.insert(path.to_path_buf(), w.clone());
                w
            }
        }
    };
    let _ = LAST.try_with(|last| *last.borrow_mut() = Some((path.to_path_buf(), w.clone())));
    w
}

/// The LiteFS mount holding `path`: the longest mount point in `/proc/self/mountinfo` that is
/// a prefix of it, if that mount is LiteFS's (FUSE, source `litefs`).
pub(crate) fn litefs_mount_of(path: &Path) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // Fields: id parent major:minor root mount-point options [optional...] - fstype source ...
    let (point, fstype, source) = info
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = unescape(left.split_whitespace().nth(4)?);
            let mut r = right.split_whitespace();
            let fstype = r.next()?.to_owned();
            let source = r.next().unwrap_or("").to_owned();
            path.starts_with(&point).then_some((point, fstype, source))
        })
        .max_by_key(|(point, _, _)| point.as_os_str().len())?;
    (fstype.starts_with("fuse") && source == "litefs").then_some(point)
}

/// Undo mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

impl Watch {
    /// Read the role from the mount now.
    fn read_role(&self) -> Result<Role> {
        match std::fs::read_to_string(self.mount.join(PRIMARY_FILE)) {
            Ok(name) => {
                let name = name.trim();
                Ok(Role::Replica {
                    primary: (!name.is_empty()).then(|| name.to_owned()),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // No `.primary`: this node is the primary — or a replica that has not reached
                // a primary yet, whose database file LiteFS shows without write permission.
                use std::os::unix::fs::PermissionsExt;
                match std::fs::metadata(&self.database) {
                    Ok(m) if m.permissions().mode() & 0o222 == 0 => {
                        Ok(Role::Replica { primary: None })
                    }
                    _ => Ok(Role::Primary),
                }
            }
            Err(e) => Err(Error::new(
                Status::Io,
                format!(
                    "the LiteFS mount {} does not answer ({e}): is litefs running?",
                    self.mount.display()
                ),
            )),
        }
    }

    /// The role, read again when the cached one is older than `recheck`. One thread re-reads
    /// at a time; the others use the cached answer meanwhile.
    fn role(&self, signals: &Signals) -> Result<bool> {
        let checked = self.checked_at.load(Ordering::Acquire);
        let now = now_ns();
        if checked != 0 && now.saturating_sub(checked) < self.recheck.as_nanos() as u64 {
            return Ok(self.writable.load(Ordering::Acquire));
        }
        if checked != 0
            && self
                .checked_at
                .compare_exchange(checked, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            // Another thread is re-reading it.
            return Ok(self.writable.load(Ordering::Acquire));
        }
        let role = match self.read_role() {
            Ok(r) => r,
            Err(e) => {
                // Unknown: ask again at the next write.
                self.checked_at.store(0, Ordering::Release);
                return Err(e);
            }
        };
        let mut cached = self.role.lock();
        // The cached role starts as Primary: a replica is announced at its first check.
        if *cached != role {
            let key = match &role {
                Role::Primary => String::new(),
                Role::Replica { primary } => primary.clone().unwrap_or_default(),
            };
            // rows: 1 when this node is now the primary, 0 when a replica.
            signals.emit_full(
                "replica.primary_changed",
                key,
                Status::Ok,
                -1,
                i64::from(role == Role::Primary),
            );
            *cached = role.clone();
        }
        drop(cached);
        let lag = match role {
            Role::Primary => None,
            Role::Replica { .. } => read_lag(&self.mount),
        };
        self.lag_us
            .store(lag.map_or(-1, |l| l.as_micros() as i64), Ordering::Relaxed);
        self.writable
            .store(role == Role::Primary, Ordering::Release);
        self.checked_at.store(now_ns(), Ordering::Release);
        Ok(role == Role::Primary)
    }

    /// The refusal of a write on this replica.
    fn refusal(&self, signals: &Signals) -> Error {
        let role = self.role.lock().clone();
        let primary = match role {
            Role::Replica { primary } => primary,
            Role::Primary => None,
        };
        // duration_us: the replica's lag when last read (-1 when unknown).
        signals.emit_full(
            "replica.write_refused",
            primary.clone().unwrap_or_default(),
            Status::ReadOnly,
            self.lag_us.load(Ordering::Relaxed),
            -1,
        );
        let message = match primary {
            Some(p) => format!(
                "this node is a LiteFS replica of {}: writes go to the primary, {p} (named in {}); send the write there (LiteFS's HTTP proxy forwards HTTP requests that write)",
                self.database.display(),
                self.mount.join(PRIMARY_FILE).display()
            ),
            None => format!(
                "this node is a LiteFS replica of {} that has not reached a primary yet ({} is missing): writes go to the primary",
                self.database.display(),
                self.mount.join(PRIMARY_FILE).display()
            ),
        };
        Error::new(Status::ReadOnly, message)
    }
}

/// Whether `path` is on a LiteFS mount whose node is a replica (its mount has `.primary`).
pub(crate) fn is_litefs_replica(path: &Path) -> bool {
    litefs_mount_of(path).is_some_and(|m| m.join(PRIMARY_FILE).exists())
}

/// How far the node of the LiteFS mount `mount` trails its primary (`None` on the primary, and
/// on a replica that has not caught up yet).
fn read_lag(mount: &Path) -> Option<Duration> {
    let text = std::fs::read_to_string(mount.join(LAG_FILE)).ok()?;
    let ms: i64 = text.trim().parse().ok()?;
    // LiteFS writes i32::MAX before the first catch-up, and 0 on the primary.
    (ms > 0 && ms < i64::from(i32::MAX)).then(|| Duration::from_millis(ms as u64))
}

/// A writer's database as far as replication goes: its LiteFS watch, looked up at the first
/// write and kept by the writer (the mount table is read once per path in any case; keeping
/// it here spares every write the thread-local look-up and its path comparison).
#[derive(Default)]
pub(crate) struct Site(std::sync::OnceLock<Option<Arc<Watch>>>);

impl Site {
    /// Whether a write may be queued on this database: `Err(READONLY)` naming the primary on
    /// a LiteFS replica; `Err(INVALID_ARGUMENT)` for a journal mode LiteFS does not replicate.
    /// Called by `Writer::writable` before every write is queued; off LiteFS it costs an
    /// atomic load, on LiteFS one more and a clock reading, except once every [`RECHECK`].
    #[inline]
    pub(crate) fn check_write(&self, opts: &Options, signals: &Signals) -> Result<()> {
        // Known to be off LiteFS: nothing to check (inlined into every write's submission).
        if let Some(None) = self.0.get() {
            return Ok(());
        }
        self.check_write_watched(opts, signals)
    }

    /// [`Site::check_write`] until the database is known to be off LiteFS.
    fn check_write_watched(&self, opts: &Options, signals: &Signals) -> Result<()> {
        let Location::File(path) = &opts.location else {
            return Ok(());
        };
        let Some(watch) = self.0.get_or_init(|| watch_for(path, signals)) else {
            return Ok(());
        };
        check_journal_mode(opts, &watch.mount)?;
        if watch.role(signals)? {
            Ok(())
        } else {
            Err(watch.refusal(signals))
        }
    }
}

/// LiteFS turns a transaction into a change set when SQLite ends it through the rollback
/// journal (DELETE, TRUNCATE, PERSIST) or the WAL; with `MEMORY` or `OFF` there is no journal
/// file, so commits stay on this node and are never replicated (tried with LiteFS v0.5.14:
/// the database does not even show in the mount's listing).
fn check_journal_mode(opts: &Options, mount: &Path) -> Result<()> {
    let mode = opts.effective_journal_mode();
    if ["WAL", "DELETE", "TRUNCATE", "PERSIST"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(mode))
    {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "Journal Mode={mode} on the LiteFS mount {}: LiteFS replicates only transactions that go through a journal file (Journal Mode=WAL, DELETE, TRUNCATE or PERSIST); with {mode} commits would stay on this node",
        mount.display()
    )))
}

impl crate::Writer {
    /// Where the database lives as far as replication goes: on a LiteFS mount or not, this
    /// node's role there (read from the mount now, not cached), and a replica's lag. A host
    /// routes writes by it: on a replica, send them to [`Role::Replica`]'s primary.
    pub fn replica_status(&self) -> Result<ReplicaStatus> {
        let opts = self.options();
        let Location::File(path) = &opts.location else {
            return Ok(ReplicaStatus {
                litefs_mount: None,
                role: Role::Primary,
                lag: None,
            });
        };
        let Some(mount) = litefs_mount_of(path) else {
            return Ok(ReplicaStatus {
                litefs_mount: None,
                role: Role::Primary,
                lag: None,
            });
        };
        let watch = Watch {
            mount: mount.clone(),
            database: path.clone(),
            recheck: RECHECK,
            checked_at: AtomicU64::new(0),
            writable: AtomicBool::new(true),
            lag_us: AtomicI64::new(-1),
            role: Mutex::new(Role::Primary),
        };
        let role = watch.read_role()?;
        let lag = match role {
            Role::Primary => None,
            Role::Replica { .. } => read_lag(&mount),
        };
        Ok(ReplicaStatus {
            litefs_mount: Some(mount),
            role,
            lag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/tmp/a\040b"), PathBuf::from("/tmp/a b"));
        assert_eq!(unescape(r"/x\134y"), PathBuf::from(r"/x\y"));
        assert_eq!(unescape("/plain"), PathBuf::from("/plain"));
        assert_eq!(unescape(r"/end\04"), PathBuf::from(r"/end\04"));
    }

    #[test]
    fn a_database_outside_litefs_is_not_watched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.db");
        assert_eq!(litefs_mount_of(&path), None);
        let signals = Signals::new(16, 1);
        assert!(watch_for(&path, &signals).is_none());
        // Asked again: the cached answer, still no watch, no signal.
        assert!(watch_for(&path, &signals).is_none());
        assert!(signals.poll(Some("replica.*"), 0).signals.is_empty());
    }

    /// The role logic on a real directory standing in for a mount's root (the files LiteFS
    /// serves, written by hand): `.primary` present names the primary; absent with a writable
    /// database file is the primary; absent with a read-only one is a replica with no primary
    /// yet. The LiteFS tests (`tests/replicas.rs`) cover the real mounts.
    #[test]
    fn role_follows_the_primary_file_and_is_rechecked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        std::fs::write(&db, b"").unwrap();
        let watch = |recheck| Watch {
            mount: dir.path().to_path_buf(),
            database: db.clone(),
            recheck,
            checked_at: AtomicU64::new(0),
            writable: AtomicBool::new(true),
            lag_us: AtomicI64::new(-1),
            role: Mutex::new(Role::Primary),
        };
        // Trusted for an hour: the first answer sticks.
        let cached = watch(Duration::from_secs(3600));
        // Read again at every call.
        let fresh = watch(Duration::ZERO);
        let signals = Signals::new(64, 1);
        assert!(cached.role(&signals).unwrap());
        assert!(fresh.role(&signals).unwrap());
        assert!(signals.poll(Some("replica.*"), 0).signals.is_empty());

        std::fs::write(dir.path().join(PRIMARY_FILE), b"node-a\n").unwrap();
        assert!(
            cached.role(&signals).unwrap(),
            "a cached answer is not read again"
        );
        assert!(!fresh.role(&signals).unwrap());
        let e = fresh.refusal(&signals);
        assert_eq!(e.status(), Status::ReadOnly);
        assert!(e.to_string().contains("node-a"), "{e}");
        let got: Vec<(String, String)> = signals
            .poll(Some("replica.*"), 0)
            .signals
            .iter()
            .map(|s| (s.name.to_string(), s.key.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("replica.primary_changed".into(), "node-a".into()),
                ("replica.write_refused".into(), "node-a".into()),
            ]
        );
        // The same answer again: no new signal.
        assert!(!fresh.role(&signals).unwrap());
        assert_eq!(
            signals
                .poll(Some("replica.primary_changed*"), 0)
                .signals
                .len(),
            1
        );

        std::fs::remove_file(dir.path().join(PRIMARY_FILE)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
        assert!(!fresh.role(&signals).unwrap());
        assert_eq!(*fresh.role.lock(), Role::Replica { primary: None });
        assert!(fresh
            .refusal(&signals)
            .to_string()
            .contains("has not reached a primary"));

        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(fresh.role(&signals).unwrap());
        let last = signals.poll(Some("replica.primary_changed"), 0).signals;
        assert_eq!(
            last.last().map(|s| (s.key.to_string(), s.rows)),
            Some((String::new(), 1))
        );
    }

    #[test]
    fn journal_modes_without_a_journal_file_are_refused_on_litefs() {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path();
        for (mode, ok) in [
            ("WAL", true),
            ("delete", true),
            ("TRUNCATE", true),
            ("PERSIST", true),
            ("MEMORY", false),
            ("OFF", false),
        ] {
            let cs = format!("Data Source={}/x.db;Journal Mode={mode}", mount.display());
            let opts = Options::parse(&cs).unwrap();
            let r = check_journal_mode(&opts, mount);
            assert_eq!(r.is_ok(), ok, "{mode}: {r:?}");
            if let Err(e) = r {
                assert_eq!(e.status(), Status::InvalidArgument);
                assert!(e.to_string().contains("LiteFS"), "{e}");
            }
        }
    }
}
