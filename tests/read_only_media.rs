//! Databases on read-only media: a real read-only bind mount of a directory holding a WAL
//! database (with and without its -wal/-shm files) and a rollback-journal one, opened with
//! `Mode=ReadOnly`, `?mode=ro` and `immutable=1`, compared with what plain SQLite can do there.
//! Needs `mount` (root); where it cannot mount, each test says it was skipped and why — it does
//! not pass silently.
mod common;
use singlewriter::{Status, Writer};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory bind-mounted read-only over a writable one; unmounted on drop.
struct ReadOnlyMount {
    _src: tempfile::TempDir,
    point: PathBuf,
}

impl ReadOnlyMount {
    /// `fill` prepares the files in the writable source before it is mounted read-only.
    fn new(fill: impl FnOnce(&Path)) -> Result<ReadOnlyMount, String> {
        let src = tempfile::tempdir().map_err(|e| e.to_string())?;
        fill(src.path());
        let point = std::env::temp_dir().join(format!(
            "sw-ro-{}-{}",
            std::process::id(),
            src.path().file_name().unwrap().to_string_lossy()
        ));
        std::fs::create_dir_all(&point).map_err(|e| e.to_string())?;
        let run = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("mount")
                .args(args)
                .output()
                .map_err(|e| format!("mount: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "mount {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        let p = point.to_str().unwrap();
        run(&["--bind", src.path().to_str().unwrap(), p])?;
        if let Err(e) = run(&["-o", "remount,bind,ro", p]) {
            let _ = Command::new("umount").arg(p).status();
            return Err(e);
        }
        Ok(ReadOnlyMount { _src: src, point })
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.point).status();
        let _ = std::fs::remove_dir(&self.point);
    }
}

fn sqlite(path: &Path, sql: &str) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(sql).unwrap();
    // Closing checkpoints and removes -wal/-shm unless asked to keep them.
}

fn count(w: &Writer) -> i64 {
    w.query("SELECT count(*) FROM t", &[])
        .unwrap()
        .get(0, 0)
        .unwrap()
        .as_i64()
}

macro_rules! mount_or_skip {
    ($fill:expr) => {
        match ReadOnlyMount::new($fill) {
            Ok(m) => m,
            Err(why) => {
                eprintln!("SKIPPED: cannot make a read-only mount here ({why})");
                return;
            }
        }
    };
}

#[test]
fn a_wal_database_without_its_shm_on_read_only_media_opens_immutable() {
    let m = mount_or_skip!(|dir| sqlite(
        &dir.join("w.db"),
        "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);"
    ));
    let db = m.point.join("w.db");
    assert!(!m.point.join("w.db-shm").exists());
    // Plain SQLite cannot open it read-only either (it would have to create the -shm file)...
    let plain =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)));
    assert!(plain.is_err(), "plain SQLite read it: {plain:?}");
    // ...and neither can we, but the message says what works.
    for cs in [
        format!("Data Source={};Mode=ReadOnly", db.display()),
        format!("file:{}?mode=ro", db.display()),
    ] {
        let e = Writer::open(&cs).unwrap_err();
        assert_eq!(e.status(), Status::Io, "{cs}");
        assert!(e.message().contains("Immutable=True"), "{cs}: {e}");
    }
    let e = Writer::open(&format!("Data Source={}", db.display())).unwrap_err();
    assert!(e.message().contains("Mode=ReadOnly"), "{e}");
    // Immutable: SQLite reads it without locks or shared memory.
    for cs in [
        format!("file:{}?immutable=1", db.display()),
        format!("Data Source={};Immutable=True", db.display()),
    ] {
        let w = Writer::open(&cs).unwrap();
        assert_eq!(count(&w), 2, "{cs}");
        let cached = w.read("all", "SELECT count(*) FROM t", &[]).unwrap();
        assert_eq!(cached.get(0, 0).unwrap().as_i64(), 2);
        let e = w.execute("INSERT INTO t VALUES (3)", &[]).unwrap_err();
        assert_eq!(e.status(), Status::ReadOnly, "{e}");
        assert!(e.message().contains("Immutable"), "{e}");
        w.close().unwrap();
    }
}

#[test]
fn a_wal_database_with_its_files_on_read_only_media_opens_read_only() {
    let m = mount_or_skip!(|dir| {
        // Copies of a live database's three files, the last commits still in the -wal.
        let live = tempfile::tempdir().unwrap();
        let path = live.path().join("w.db");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);",
        )
        .unwrap();
        for suffix in ["", "-wal", "-shm"] {
            std::fs::copy(
                format!("{}{suffix}", path.display()),
                dir.join(format!("w.db{suffix}")),
            )
            .unwrap();
        }
        drop(c);
    });
    let db = m.point.join("w.db");
    let w = Writer::open(&format!("Data Source={};Mode=ReadOnly", db.display())).unwrap();
    assert_eq!(count(&w), 3, "the commits in the -wal are read");
    assert_eq!(
        w.read("k", "SELECT max(x) FROM t", &[])
            .unwrap()
            .get(0, 0)
            .unwrap()
            .as_i64(),
        3
    );
    let e = w.execute("INSERT INTO t VALUES (4)", &[]).unwrap_err();
    assert_eq!(e.status(), Status::ReadOnly);
    w.close().unwrap();
}

#[test]
fn a_rollback_database_on_read_only_media_opens_read_only() {
    let m = mount_or_skip!(|dir| sqlite(
        &dir.join("d.db"),
        "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
    ));
    let db = m.point.join("d.db");
    for cs in [
        format!("Data Source={};Mode=ReadOnly", db.display()),
        format!("file:{}?mode=ro", db.display()),
        format!("file:{}?immutable=1", db.display()),
    ] {
        let w = Writer::open(&cs).unwrap();
        assert_eq!(count(&w), 1, "{cs}");
        assert_eq!(
            w.execute("DELETE FROM t", &[]).unwrap_err().status(),
            Status::ReadOnly
        );
        w.close().unwrap();
    }
}
