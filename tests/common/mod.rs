#![allow(dead_code)]
use singlewriter::Writer;

pub struct Db {
    pub dir: tempfile::TempDir,
    pub path: std::path::PathBuf,
}

impl Db {
    pub fn new(name: &str) -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        Db { dir, path }
    }
    pub fn cs(&self, extra: &str) -> String {
        format!("Data Source={};{extra}", self.path.display())
    }
    pub fn open(&self, extra: &str) -> Writer {
        Writer::open(&self.cs(extra)).expect("open")
    }
}

pub fn items_schema(w: &Writer) {
    w.execute(
        "CREATE TABLE IF NOT EXISTS Items(Id INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT NOT NULL UNIQUE, Value INTEGER NOT NULL)",
        &[],
    )
    .expect("schema");
}

pub fn count(w: &Writer, table: &str) -> i64 {
    w.query(&format!("SELECT count(*) FROM {table}"), &[])
        .expect("count")
        .get(0, 0)
        .expect("cell")
        .as_i64()
}

/// Run `body` while another thread holds the writer lane (inside a transaction) for `hold`:
/// whatever `body` submits queues up behind it.
pub fn with_lane_held<R>(w: &Writer, hold: std::time::Duration, body: impl FnOnce() -> R) -> R {
    let gate = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            w.transaction(|_| {
                gate.wait();
                std::thread::sleep(hold);
                Ok(())
            })
            .unwrap()
        });
        gate.wait();
        body()
    })
}
