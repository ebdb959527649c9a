//! The real replicators on loopback, for tests/replicas.rs and benches/replicas.rs:
//! `litestream replicate` with a file replica, and a LiteFS primary and replica on one machine
//! (a `static` lease, two HTTP ports on 127.0.0.1). Installs the programs when missing
//! (tests/replicas/install.sh: `go install` from the Go module proxy, Debian's fuse3). Every
//! process started here is ended, and every mount unmounted, when its guard drops — also when
//! a test panics; tests/replicas/run.sh sweeps what a killed test process left.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where every test directory goes, so that run.sh can sweep leftovers (`sw-replicas-*`).
pub fn scratch(tag: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sw-replicas-{}-{}-{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn go_bin() -> Option<PathBuf> {
    let out = Command::new("go").args(["env", "GOPATH"]).output().ok()?;
    let gopath = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!gopath.is_empty()).then(|| Path::new(gopath.split(':').next().unwrap_or("")).join("bin"))
}

fn find(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(go_bin());
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// The path of `litestream` or `litefs`, installed by tests/replicas/install.sh when missing.
pub fn tool(name: &str) -> PathBuf {
    if let Some(p) = find(name) {
        return p;
    }
    let status = Command::new("bash")
        .arg(root().join("tests/replicas/install.sh"))
        .status()
        .expect("run tests/replicas/install.sh");
    assert!(status.success(), "tests/replicas/install.sh failed");
    find(name).unwrap_or_else(|| panic!("{name} is not installed after install.sh"))
}

/// A free loopback port (bound then released: good enough for a test on one machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A child process ended when dropped: SIGTERM, a grace period, then SIGKILL.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
    grace: Duration,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command, log: PathBuf, grace: Duration) -> Proc {
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc {
            name: name.into(),
            child,
            log,
            grace,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log holds `needle`; panics (with the log) after `limit` or if the
    /// process exits first.
    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if self.log_text().contains(needle) {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "{} exited ({st}) before logging {needle:?}:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not log {needle:?} within {limit:?}:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .stderr(Stdio::null())
            .status();
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, wait up to the grace period, then SIGKILL. Returns whether it ended by itself.
    pub fn stop(&mut self) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return true;
        }
        self.signal("TERM");
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// Litestream

/// `litestream replicate` of one database to a file replica, with its control socket (for
/// `litestream sync -wait`).
pub struct Litestream {
    pub dir: PathBuf,
    pub db: PathBuf,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub proc: Proc,
}

impl Litestream {
    /// Start replicating `db` (which should exist, in WAL mode) into `dir/replica`.
    pub fn start(dir: &Path, db: &Path) -> Litestream {
        let bin = tool("litestream");
        let config = dir.join("litestream.yml");
        let socket = dir.join("litestream.sock");
        std::fs::write(
            &config,
            format!(
                "socket:\n  enabled: true\n  path: {sock}\n\
                 dbs:\n  - path: {db}\n    monitor-interval: 100ms\n    busy-timeout: 5s\n\
                 \x20   replica:\n      type: file\n      path: {replica}\n      sync-interval: 200ms\n",
                sock = socket.display(),
                db = db.display(),
                replica = dir.join("replica").display(),
            ),
        )
        .expect("litestream config");
        let mut proc = Proc::spawn(
            "litestream",
            Command::new(&bin)
                .args(["replicate", "-config"])
                .arg(&config),
            dir.join("litestream.log"),
            Duration::from_secs(10),
        );
        // Ready once the control socket answers a sync.
        let deadline = Instant::now() + Duration::from_secs(30);
        let ls = loop {
            if socket.exists() {
                break Litestream {
                    dir: dir.into(),
                    db: db.into(),
                    config: config.clone(),
                    socket: socket.clone(),
                    proc,
                };
            }
            if let Ok(Some(st)) = proc.child.try_wait() {
                panic!("litestream exited ({st}):\n{}", proc.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "litestream did not open its socket:\n{}",
                proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        ls.sync().expect("first litestream sync");
        ls
    }

    /// `litestream sync -wait`: the database's WAL copied into LTX files and those uploaded to
    /// the replica before it returns.
    pub fn sync(&self) -> Result<(), String> {
        let out = Command::new(tool("litestream"))
            .args(["sync", "-wait", "-timeout", "60", "-socket"])
            .arg(&self.socket)
            .arg(&self.db)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "litestream sync: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// `litestream restore` of the replica into `out`.
    pub fn restore(&self, out: &Path) -> Result<(), String> {
        let o = Command::new(tool("litestream"))
            .args(["restore", "-config"])
            .arg(&self.config)
            .arg("-o")
            .arg(out)
            .arg(&self.db)
            .output()
            .map_err(|e| e.to_string())?;
        if o.status.success() {
            Ok(())
        } else {
            Err(format!(
                "litestream restore: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// LiteFS

/// Why LiteFS cannot run here, or `None` when it can (a FUSE device that opens, fusermount3).
pub fn fuse_unavailable() -> Option<String> {
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse does not exist".into());
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        return Some(format!("/dev/fuse cannot be opened: {e}"));
    }
    None
}

/// Whether `point` is a mount point now.
pub fn mounted(point: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let p = point.to_string_lossy();
    info.lines()
        .any(|l| l.split_whitespace().nth(4) == Some(&*p))
}

/// One LiteFS node: its process, mount and data directory.
pub struct Node {
    pub mount: PathBuf,
    pub data: PathBuf,
    pub port: u16,
    pub proc: Proc,
}

impl Node {
    fn start(dir: &Path, name: &str, port: u16, primary_port: u16, candidate: bool) -> Node {
        let mount = dir.join(name).join("mnt");
        let data = dir.join(name).join("data");
        std::fs::create_dir_all(&mount).expect("mount dir");
        std::fs::create_dir_all(&data).expect("data dir");
        let config = dir.join(format!("{name}.yml"));
        std::fs::write(
            &config,
            format!(
                "fuse:\n  dir: {mount}\n\
                 data:\n  dir: {data}\n\
                 http:\n  addr: 127.0.0.1:{port}\n\
                 lease:\n  type: static\n  hostname: sw-primary-{primary_port}\n  advertise-url: http://127.0.0.1:{primary_port}\n  candidate: {candidate}\n\
                 log:\n  format: text\n",
                mount = mount.display(),
                data = data.display(),
            ),
        )
        .expect("litefs config");
        let mut proc = Proc::spawn(
            &format!("litefs {name}"),
            Command::new(tool("litefs"))
                .args(["mount", "-config"])
                .arg(&config),
            dir.join(format!("{name}.log")),
            Duration::from_secs(10),
        );
        proc.wait_for_log("connected to cluster, ready", Duration::from_secs(30));
        assert!(mounted(&mount), "litefs {name} is ready but not mounted");
        Node {
            mount,
            data,
            port,
            proc,
        }
    }

    pub fn path(&self, db: &str) -> PathBuf {
        self.mount.join(db)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.proc.stop();
        if mounted(&self.mount) {
            let _ = Command::new("fusermount3")
                .arg("-uz")
                .arg(&self.mount)
                .status();
        }
    }
}

/// A LiteFS primary and one replica on loopback. Dropping it stops the replica, then the
/// primary, unmounts both and removes their directories.
pub struct LiteFs {
    pub dir: PathBuf,
    // Field order is drop order: the replica goes first.
    pub replica: Node,
    pub primary: Node,
}

impl LiteFs {
    pub fn start() -> LiteFs {
        if let Some(why) = fuse_unavailable() {
            panic!("LiteFS cannot run here: {why} (tests/replicas/run.sh skips these tests then)");
        }
        let dir = scratch("litefs");
        let (pp, rp) = (free_port(), free_port());
        let primary = Node::start(&dir, "primary", pp, pp, true);
        let replica = Node::start(&dir, "replica", rp, pp, false);
        // The replica knows its primary once `.primary` names it.
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::fs::read_to_string(replica.mount.join(".primary")).is_err() {
            assert!(
                Instant::now() < deadline,
                "the replica never named its primary"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        LiteFs {
            dir,
            replica,
            primary,
        }
    }

    /// Stop the primary's litefs (SIGTERM: it unmounts) and start it again on the same data,
    /// mount and port; `between` runs while it is down.
    pub fn restart_primary(&mut self, between: impl FnOnce()) {
        self.primary.proc.stop();
        let port = self.primary.port;
        between();
        let node = Node::start(&self.dir, "primary", port, port, true);
        // Keep the new node; the stopped one must not unmount the mount point they share.
        let mut old = std::mem::replace(&mut self.primary, node);
        old.mount = PathBuf::new();
    }

    /// The hostname the replica names as its primary.
    pub fn primary_name(&self) -> String {
        format!("sw-primary-{}", self.primary.port)
    }

    /// Poll `f` every ms until it returns `Some`, up to `limit`.
    pub fn wait<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f() {
                return Some(v);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for LiteFs {
    fn drop(&mut self) {
        // Nodes drop after this body (fields): stop them here in order, then remove the dir.
        self.replica.proc.stop();
        self.primary.proc.stop();
        for m in [&self.replica.mount, &self.primary.mount] {
            if mounted(m) {
                let _ = Command::new("fusermount3").arg("-uz").arg(m).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// The writer process (tests/replicas/writer.c)

/// Compile tests/replicas/writer.c against the committed header and the library this test
/// build made (the `libsinglewriter.so` beside the test executable, in target/<profile>/deps:
/// built by the same `cargo test` with the same features; the one cargo copies up to
/// target/<profile> may be from an earlier `cargo build`). The library is copied into a
/// directory of the program's own, under its file name and its SONAME; returns the program.
pub fn writer_program() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    let profile = deps.parent().expect("profile dir").to_path_buf();
    let lib = [
        deps.join("libsinglewriter.so"),
        profile.join("libsinglewriter.so"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .unwrap_or_else(|| {
        panic!(
            "no libsinglewriter.so in {}: run `cargo build --release` first",
            deps.display()
        )
    });
    let dir = profile.join("sw-replicas-writer.d");
    std::fs::create_dir_all(&dir).expect("writer dir");
    let soname = format!("libsinglewriter.so.{}", singlewriter::ABI_VERSION);
    for name in ["libsinglewriter.so", soname.as_str()] {
        let _ = std::fs::remove_file(dir.join(name));
        std::fs::copy(&lib, dir.join(name)).expect("copy libsinglewriter.so");
    }
    let out = dir.join("writer");
    let status = Command::new("cc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(root().join("include"))
        .arg(root().join("tests/replicas/writer.c"))
        .arg("-L")
        .arg(&dir)
        .args(["-lsinglewriter", "-lpthread"])
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("cc");
    assert!(status.success(), "compiling tests/replicas/writer.c failed");
    out
}

/// The payload writer.c stores for row (t, s).
pub fn payload(t: i64, s: i64) -> String {
    let unit = format!("{t}.{s};");
    let mut p = String::new();
    while p.len() < 120 {
        p.push_str(&unit);
    }
    p.truncate(120);
    p
}

/// A running writer.c: its stdout read on a thread into the set of acknowledged rows.
pub struct WriterProc {
    pub child: Child,
    pub acked: std::sync::Arc<std::sync::Mutex<Vec<(i64, i64)>>>,
    pub errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub closed_ms: std::sync::Arc<std::sync::Mutex<Option<f64>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl WriterProc {
    pub fn spawn(
        program: &Path,
        cs: &str,
        threads: u32,
        per_thread: u32,
        setup: &[String],
    ) -> Self {
        let mut child = Command::new(program)
            .arg(cs)
            .arg(threads.to_string())
            .arg(per_thread.to_string())
            .args(setup)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("stdout");
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let closed_ms = std::sync::Arc::new(std::sync::Mutex::new(None));
        let (a, e, c) = (acked.clone(), errors.clone(), closed_ms.clone());
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let f: Vec<&str> = line.split_whitespace().collect();
                match f.as_slice() {
                    ["ack", t, s] => a
                        .lock()
                        .unwrap()
                        .push((t.parse().unwrap(), s.parse().unwrap())),
                    ["closed", ms, ..] => *c.lock().unwrap() = ms.parse().ok(),
                    ["ready"] => {}
                    _ => e.lock().unwrap().push(line),
                }
            }
        });
        WriterProc {
            child,
            acked,
            errors,
            closed_ms,
            reader: Some(reader),
        }
    }

    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    pub fn acked_now(&self) -> Vec<(i64, i64)> {
        self.acked.lock().unwrap().clone()
    }

    /// Wait for the process to end and its output to be read.
    pub fn finish(&mut self) -> std::process::ExitStatus {
        let st = self.child.wait().expect("wait writer");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        st
    }
}

impl Drop for WriterProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
