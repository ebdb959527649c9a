//! The shared driver of the peer benchmark suite (`benches/run.sh`).
//!
//! Owns the workloads W1–W5 (which operations, how many producers, for how long), the clock
//! (warm-up, measured window, stop), latency histograms, the row-count check and the one JSON
//! line each measurement prints. It has no SQLite of its own: every contender crate links its
//! own and only supplies "run this operation". It must never give one contender a code path the
//! others do not get: the same operation mix, keys, SQL and timing apply to all.
//!
//! A measurement is one process: `<binary> --contender X --workload w1 --producers 4 --sync FULL
//! --secs 2 --db /fresh/file.db`. The database file is made by the orchestrator (schema, and for
//! W3/W4 10,000 rows); the contender opens it in WAL with the given `synchronous`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

#[cfg(feature = "async")]
pub mod aio;

/// The schema every contender gets (created by the orchestrator).
pub const SCHEMA: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b TEXT)";
/// W1, W2, W4, W5 insert: one row, two bound parameters.
pub const INSERT: &str = "INSERT INTO t(a, b) VALUES (?1, ?2)";
/// W4 update of one row by primary key.
pub const UPDATE: &str = "UPDATE t SET a = ?2 WHERE id = ?1";
/// W3, W4 point read by primary key.
pub const POINT: &str = "SELECT a, b FROM t WHERE id = ?1";
/// The row-count check after a run.
pub const COUNT: &str = "SELECT count(*) FROM t";
/// The text parameter of every insert.
pub const TEXT: &str = "payload-text";
/// Rows in the W3/W4 table.
pub const ROWS: i64 = 10_000;
/// W3 "cached hit": reads go to this many distinct keys, all warm (below every cache's size).
pub const HOT_KEYS: i64 = 512;
/// The Zipf exponent of W4's keys (YCSB's default).
pub const ZIPF_S: f64 = 0.99;

// ---------------------------------------------------------------------------------------------
// Arguments

/// One measurement's parameters.
#[derive(Clone, Debug)]
pub struct Args {
    pub contender: String,
    /// `w1` … `w5`.
    pub workload: String,
    /// Producers (W1, W2, W5) or threads (W3, W4).
    pub producers: usize,
    /// `NORMAL` or `FULL`.
    pub sync: String,
    /// The measured window, seconds.
    pub secs: f64,
    /// Warm-up before the window, seconds.
    pub warm: f64,
    pub db: PathBuf,
    /// W3: `uncached` or `hit`; W4: `cached` or `uncached` (singlewriter's read path).
    pub mode: String,
    /// W4 keys: `zipf` or `uniform`.
    pub keys: String,
    /// W2: writes in flight per producer.
    pub window: usize,
    /// W5: the harness's own cap on writes in flight (reached only by a contender without a
    /// bound of its own).
    pub cap: u64,
    /// W5: how long to wait after the window for the backlog to drain, seconds.
    pub drain: f64,
}

impl Args {
    /// Parses `--key value` pairs; exits with a message on anything unknown.
    pub fn parse() -> Args {
        let mut a = Args {
            contender: String::new(),
            workload: "w1".into(),
            producers: 1,
            sync: "NORMAL".into(),
            secs: 2.0,
            warm: 0.3,
            db: PathBuf::new(),
            mode: "uncached".into(),
            keys: "zipf".into(),
            window: 256,
            cap: 1_000_000,
            drain: 10.0,
        };
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let mut it = argv.chunks(2);
        for pair in &mut it {
            let [k, v] = pair else {
                die(&format!("argument {} has no value", pair[0]))
            };
            match k.as_str() {
                "--contender" => a.contender = v.clone(),
                "--workload" => a.workload = v.to_ascii_lowercase(),
                "--producers" | "--threads" => a.producers = num(k, v),
                "--sync" => a.sync = v.to_ascii_uppercase(),
                "--secs" => a.secs = num(k, v),
                "--warm" => a.warm = num(k, v),
                "--db" => a.db = PathBuf::from(v),
                "--mode" => a.mode = v.clone(),
                "--keys" => a.keys = v.clone(),
                "--window" => a.window = num(k, v),
                "--cap" => a.cap = num(k, v),
                "--drain" => a.drain = num(k, v),
                _ => die(&format!("unknown argument {k}")),
            }
        }
        if a.contender.is_empty() || a.db.as_os_str().is_empty() {
            die("--contender and --db are required");
        }
        if !matches!(a.sync.as_str(), "NORMAL" | "FULL") {
            die("--sync is NORMAL or FULL");
        }
        a
    }

    /// True for the workloads whose operations are all inserts.
    pub fn writes_only(&self) -> bool {
        matches!(self.workload.as_str(), "w1" | "w2" | "w5")
    }
}

fn num<T: std::str::FromStr>(k: &str, v: &str) -> T {
    v.parse()
        .unwrap_or_else(|_| die(&format!("{k}: not a number: {v}")))
}

/// Prints an error line the orchestrator understands and exits with status 2.
pub fn die(msg: &str) -> ! {
    println!("{}", Json::new().s("error", msg).finish());
    eprintln!("error: {msg}");
    std::process::exit(2)
}

/// The workload a contender does not implement: reported as such, not as a failure.
pub fn unsupported(args: &Args, why: &str) -> ! {
    println!(
        "{}",
        Json::new()
            .s("contender", &args.contender)
            .s("workload", &args.workload)
            .s("unsupported", why)
            .finish()
    );
    std::process::exit(0)
}

// ---------------------------------------------------------------------------------------------
// Operations

/// One operation of a workload.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// `INSERT` with `a` and [`TEXT`].
    Insert { a: i64 },
    /// `UPDATE t SET a = ?2 WHERE id = ?1`.
    Update { id: i64, a: i64 },
    /// `SELECT a, b FROM t WHERE id = ?1`.
    Read { id: i64 },
}

impl Op {
    fn is_read(&self) -> bool {
        matches!(self, Op::Read { .. })
    }
}

/// Why an operation failed, as the caller saw it.
#[derive(Clone, Debug)]
pub enum Fail {
    /// SQLITE_BUSY (or the library's busy status).
    Busy(String),
    /// The library refused the write because its queue was full.
    QueueFull(String),
    /// The library's wait ran out (enqueue/flush timeout).
    Timeout(String),
    /// Anything else.
    Other(String),
}

/// The outcome of one operation.
pub type Outcome = Result<(), Fail>;

/// xorshift64*: cheap per-thread pseudo-random numbers.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        (((self.next_u64() >> 11) as u128 * n as u128) >> 53) as u64
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(`ZIPF_S`) over `1..=ROWS`: key 1 is the most popular.
fn zipf_cdf() -> &'static [f64] {
    static CDF: OnceLock<Vec<f64>> = OnceLock::new();
    CDF.get_or_init(|| {
        let mut acc = 0.0;
        let mut v: Vec<f64> = (1..=ROWS)
            .map(|k| {
                acc += 1.0 / (k as f64).powf(ZIPF_S);
                acc
            })
            .collect();
        for x in &mut v {
            *x /= acc;
        }
        v
    })
}

/// The operation stream of one worker.
pub struct OpGen {
    workload: String,
    mode: String,
    zipf: bool,
    rng: Rng,
    seq: i64,
}

impl OpGen {
    pub fn new(args: &Args, worker: usize) -> OpGen {
        OpGen {
            workload: args.workload.clone(),
            mode: args.mode.clone(),
            zipf: args.keys == "zipf",
            rng: Rng::new(worker as u64 * 7919 + 17),
            seq: (worker as i64) << 40,
        }
    }

    fn key(&mut self) -> i64 {
        if self.zipf {
            let u = self.rng.unit();
            zipf_cdf()
                .partition_point(|&c| c < u)
                .min(ROWS as usize - 1) as i64
                + 1
        } else {
            self.rng.below(ROWS as u64) as i64 + 1
        }
    }

    pub fn next_op(&mut self) -> Op {
        self.seq += 1;
        match self.workload.as_str() {
            // One key every thread shares.
            "w3" if self.mode == "hitone" => Op::Read { id: 1 },
            "w3" if self.mode == "hit" => Op::Read {
                id: self.rng.below(HOT_KEYS as u64) as i64 + 1,
            },
            "w3" => Op::Read {
                id: self.rng.below(ROWS as u64) as i64 + 1,
            },
            "w4" => match self.rng.below(20) {
                0 => Op::Insert { a: self.seq },
                1 => Op::Update {
                    id: self.key(),
                    a: self.seq,
                },
                _ => Op::Read { id: self.key() },
            },
            _ => Op::Insert { a: self.seq },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Latency histogram and tallies

const SUB: u32 = 64;

/// A log-linear latency histogram in nanoseconds (64 buckets per power of two, ≤ 1.6 % error).
#[derive(Clone)]
pub struct Hist {
    buckets: Vec<u64>,
    count: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            buckets: vec![0; 64 * SUB as usize],
            count: 0,
        }
    }
}

impl Hist {
    fn index(ns: u64) -> usize {
        if ns < SUB as u64 * 2 {
            return ns as usize;
        }
        let e = 63 - ns.leading_zeros(); // ≥ 7
        let shift = e - 6;
        (SUB * 2 + (e - 7) * SUB) as usize + ((ns >> shift) as usize & (SUB as usize - 1))
    }

    fn value(i: usize) -> u64 {
        if i < SUB as usize * 2 {
            return i as u64;
        }
        let e = (i - SUB as usize * 2) / SUB as usize + 7;
        let m = (i - SUB as usize * 2) % SUB as usize;
        let shift = e - 6;
        ((SUB as u64 + m as u64) << shift) + (1u64 << shift) / 2
    }

    pub fn record(&mut self, ns: u64) {
        let i = Self::index(ns).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
    }

    pub fn merge(&mut self, o: &Hist) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.count += o.count;
    }

    /// The `q` quantile in microseconds; `None` when empty.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::value(i) as f64 / 1000.0);
            }
        }
        None
    }
}

/// What one worker (or producer) saw.
#[derive(Clone, Default)]
pub struct Tally {
    /// Operations acknowledged OK inside the measured window.
    pub reads: u64,
    pub writes: u64,
    /// Inserts acknowledged OK in any phase (for the row-count check).
    pub inserts_total: u64,
    /// Errors callers saw over the whole run.
    pub busy: u64,
    pub queue_full: u64,
    pub timeouts: u64,
    pub other: u64,
    pub read_hist: Hist,
    pub write_hist: Hist,
    pub first_error: Option<String>,
}

impl Tally {
    /// Records one completed operation. Throughput and latency count only completions inside
    /// the window; errors and inserts count always.
    pub fn record(
        &mut self,
        in_window: bool,
        op: Op,
        started: Instant,
        done: Instant,
        r: &Outcome,
    ) {
        match r {
            Ok(()) => {
                if matches!(op, Op::Insert { .. }) {
                    self.inserts_total += 1;
                }
                if in_window {
                    let ns = done.saturating_duration_since(started).as_nanos() as u64;
                    if op.is_read() {
                        self.reads += 1;
                        self.read_hist.record(ns);
                    } else {
                        self.writes += 1;
                        self.write_hist.record(ns);
                    }
                }
            }
            Err(f) => {
                let msg = match f {
                    Fail::Busy(m) => {
                        self.busy += 1;
                        m
                    }
                    Fail::QueueFull(m) => {
                        self.queue_full += 1;
                        m
                    }
                    Fail::Timeout(m) => {
                        self.timeouts += 1;
                        m
                    }
                    Fail::Other(m) => {
                        self.other += 1;
                        m
                    }
                };
                if self.first_error.is_none() {
                    self.first_error = Some(msg.clone());
                }
            }
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        self.reads += o.reads;
        self.writes += o.writes;
        self.inserts_total += o.inserts_total;
        self.busy += o.busy;
        self.queue_full += o.queue_full;
        self.timeouts += o.timeouts;
        self.other += o.other;
        self.read_hist.merge(&o.read_hist);
        self.write_hist.merge(&o.write_hist);
        if self.first_error.is_none() {
            self.first_error.clone_from(&o.first_error);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The clock

pub const WARM: u8 = 0;
pub const MEASURE: u8 = 1;
pub const STOP: u8 = 2;

/// Warm-up, window, stop; shared by all workers.
pub struct Clock {
    phase: AtomicU8,
    origin: Instant,
    window: Mutex<(Option<Instant>, Option<Instant>)>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            phase: AtomicU8::new(WARM),
            origin: Instant::now(),
            window: Mutex::new((None, None)),
        }
    }
}

impl Clock {
    pub fn phase(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }

    pub fn in_window(&self) -> bool {
        self.phase() == MEASURE
    }

    pub fn stopped(&self) -> bool {
        self.phase() == STOP
    }

    /// Sleeps through warm-up and window; `on_start`/`on_end` run at the window's edges (e.g.
    /// to snapshot a library's statistics).
    pub fn run(&self, args: &Args, on_start: &mut dyn FnMut(), on_end: &mut dyn FnMut()) {
        std::thread::sleep(Duration::from_secs_f64(args.warm));
        on_start();
        self.window.lock().unwrap().0 = Some(Instant::now());
        self.phase.store(MEASURE, Ordering::SeqCst);
        let total = Duration::from_secs_f64(args.secs);
        let start = Instant::now();
        // Progress for long windows (stderr; the orchestrator shows it).
        while start.elapsed() < total {
            let left = total.saturating_sub(start.elapsed());
            std::thread::sleep(left.min(Duration::from_secs(1)));
            if total >= Duration::from_secs(5) && start.elapsed() < total {
                eprint!(".");
            }
        }
        self.phase.store(STOP, Ordering::SeqCst);
        self.window.lock().unwrap().1 = Some(Instant::now());
        on_end();
    }

    /// Sets the window by hand, for a contender that times itself (the bulk transaction).
    pub fn set_window(&self, start: Instant, end: Instant) {
        *self.window.lock().unwrap() = (Some(start), Some(end));
        self.phase.store(STOP, Ordering::SeqCst);
    }

    /// The measured window's length.
    pub fn measured(&self) -> Duration {
        match *self.window.lock().unwrap() {
            (Some(a), Some(b)) => b - a,
            _ => Duration::ZERO,
        }
    }

    fn ns(&self, t: Instant) -> u64 {
        t.duration_since(self.origin).as_nanos() as u64
    }

    fn at(&self, ns: u64) -> Instant {
        self.origin + Duration::from_nanos(ns)
    }
}

// ---------------------------------------------------------------------------------------------
// Drivers: blocking threads

/// Runs `threads` OS threads, each doing `op` in a loop (blocking until acknowledged) until the
/// clock stops. `setup(worker)` runs on the worker's thread before the start (e.g. opens its own
/// connection).
pub fn threads<S>(
    args: &Args,
    clock: &Clock,
    threads: usize,
    setup: &(dyn Fn(usize) -> S + Sync),
    op: &(dyn Fn(&mut S, Op) -> Outcome + Sync),
    on_start: &mut dyn FnMut(),
    on_end: &mut dyn FnMut(),
) -> Tally {
    let barrier = Barrier::new(threads + 1);
    let total = Mutex::new(Tally::default());
    std::thread::scope(|s| {
        for worker in 0..threads {
            let (barrier, total) = (&barrier, &total);
            s.spawn(move || {
                let mut state = setup(worker);
                let mut gen = OpGen::new(args, worker);
                let mut tally = Tally::default();
                barrier.wait();
                while !clock.stopped() {
                    let o = gen.next_op();
                    let t0 = Instant::now();
                    let r = op(&mut state, o);
                    let t1 = Instant::now();
                    tally.record(clock.in_window(), o, t0, t1, &r);
                }
                drop(state);
                total.lock().unwrap().merge(&tally);
            });
        }
        barrier.wait();
        clock.run(args, on_start, on_end);
    });
    total.into_inner().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Drivers: callback pipelines (a library thread acknowledges)

/// One write in flight, handed to a library as its callback's userdata (a raw pointer) or
/// captured by a completion closure.
#[repr(C)]
pub struct Pending {
    producer: *const Producer,
    t0_ns: AtomicU64,
    busy: AtomicBool,
    boxed: bool,
    /// The operation's kind (see [`kind_of`]); only what the tally needs.
    kind: AtomicU8,
}

fn kind_of(op: Op) -> u8 {
    match op {
        Op::Insert { .. } => 0,
        Op::Update { .. } => 1,
        Op::Read { .. } => 2,
    }
}

fn op_of(kind: u8) -> Op {
    match kind {
        0 => Op::Insert { a: 0 },
        1 => Op::Update { id: 0, a: 0 },
        _ => Op::Read { id: 0 },
    }
}

/// A write's completion handle. `complete` must be called exactly once, unless the submission
/// itself failed (then hand it back with [`Ticket::refused`]).
pub struct Ticket(*const Pending);

// SAFETY: a Ticket points at a Pending owned by a Producer that outlives every completion (the
// driver waits for all of them before dropping producers); its fields are atomics.
unsafe impl Send for Ticket {}

impl Ticket {
    pub fn into_raw(self) -> *mut std::ffi::c_void {
        self.0 as *mut std::ffi::c_void
    }

    /// # Safety
    /// `p` came from [`Ticket::into_raw`] and was not completed yet.
    pub unsafe fn from_raw(p: *mut std::ffi::c_void) -> Ticket {
        Ticket(p as *const Pending)
    }

    /// Acknowledges the write (called on the library's completion thread).
    pub fn complete(self, r: Outcome) {
        let done = Instant::now();
        // SAFETY: see the Send impl.
        let pending = unsafe { &*self.0 };
        let producer = unsafe { &*pending.producer };
        let started = producer.clock.at(pending.t0_ns.load(Ordering::Relaxed));
        let op = op_of(pending.kind.load(Ordering::Relaxed));
        producer
            .tally
            .lock()
            .unwrap()
            .record(producer.clock.in_window(), op, started, done, &r);
        // The counter outlives the producers (the driver holds it); it is decremented last, so
        // nothing here touches a producer the driver may free once it reads zero.
        let in_flight: *const AtomicU64 = &*producer.in_flight;
        if pending.boxed {
            // SAFETY: boxed tickets are made by Box::into_raw in `callbacks` and completed once.
            drop(unsafe { Box::from_raw(self.0 as *mut Pending) });
        } else {
            pending.busy.store(false, Ordering::SeqCst);
        }
        if producer.waiting.load(Ordering::SeqCst) {
            if let Some(t) = producer.thread.get() {
                t.unpark();
            }
        }
        // SAFETY: see above.
        unsafe { (*in_flight).fetch_sub(1, Ordering::AcqRel) };
    }

    /// The library refused the submission (it will never call back): record the failure.
    pub fn refused(self, f: Fail) {
        self.complete(Err(f));
    }
}

/// A ticket moved into a completion closure: if the library drops the closure without calling
/// it (it refused the submission), the ticket is parked for this thread's
/// [`Held::take_refused`] instead of being lost.
pub struct Held(Option<Ticket>);

thread_local! {
    static REFUSED: std::cell::Cell<Option<Ticket>> = const { std::cell::Cell::new(None) };
}

impl Held {
    pub fn new(t: Ticket) -> Held {
        Held(Some(t))
    }

    /// Completes the held ticket (in the closure, when the library calls it).
    pub fn complete(mut self, r: Outcome) {
        if let Some(t) = self.0.take() {
            t.complete(r);
        }
    }

    /// After the library refused a submission on this thread: the ticket its closure held.
    pub fn take_refused() -> Option<Ticket> {
        REFUSED.with(|c| c.take())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            REFUSED.with(|c| c.set(Some(t)));
        }
    }
}

/// A producer thread's state, shared with its completions.
pub struct Producer {
    slots: Vec<Pending>,
    tally: Mutex<Tally>,
    thread: OnceLock<Thread>,
    waiting: AtomicBool,
    clock: Arc<Clock>,
    in_flight: Arc<AtomicU64>,
}

// SAFETY: a Producer's raw pointers point into itself (its slots) or at a Producer that the
// driver keeps alive until every completion returned; everything mutable is atomic or locked.
unsafe impl Send for Producer {}
unsafe impl Sync for Producer {}

/// What a callback pipeline observed besides the tally.
#[derive(Default, Clone, Copy)]
pub struct Flow {
    /// Most writes in flight at once (submitted, not yet acknowledged), all producers.
    pub max_in_flight: u64,
    /// Whether the harness's cap stopped producers (the contender had no bound of its own).
    pub cap_reached: bool,
    /// Whether every write was acknowledged before the drain deadline.
    pub drained: bool,
    /// Writes in flight when the window closed.
    pub backlog_at_end: u64,
    /// Seconds from the window's end until every write was acknowledged.
    pub drain_secs: f64,
}

/// How long a driver waits after the window for the writes still in flight: W5's unbounded
/// backlogs may need far longer than the run, and that is a result, not a harness failure.
pub fn drain_deadline(args: &Args) -> Duration {
    if args.workload == "w5" {
        Duration::from_secs_f64(args.drain)
    } else {
        Duration::from_secs(120)
    }
}

/// W2 (`window` = writes in flight per producer, slots reused) and W5 (`window` = None: submit
/// without waiting, up to the harness cap across all producers, a boxed ticket per write).
/// `submit` hands the ticket to the library; `drain` waits until the library acknowledged
/// everything (e.g. a flush), after which the driver checks that every ticket came back.
#[allow(clippy::too_many_arguments)] // every knob of a run, named at the call site
pub fn callbacks(
    args: &Args,
    clock: &Arc<Clock>,
    producers: usize,
    window: Option<usize>,
    submit: &(dyn Fn(Op, Ticket) + Sync),
    on_start: &mut dyn FnMut(),
    on_end: &mut dyn FnMut(),
    drain: &mut dyn FnMut(),
) -> (Tally, Flow) {
    let in_flight = Arc::new(AtomicU64::new(0));
    let max_in_flight = AtomicU64::new(0);
    let cap_reached = AtomicBool::new(false);
    let backlog = AtomicU64::new(0);
    let prods: Vec<Arc<Producer>> = (0..producers)
        .map(|_| {
            let n = window.unwrap_or(0);
            let mut p = Arc::new(Producer {
                slots: Vec::new(),
                tally: Mutex::new(Tally::default()),
                thread: OnceLock::new(),
                waiting: AtomicBool::new(false),
                clock: clock.clone(),
                in_flight: in_flight.clone(),
            });
            let ptr: *const Producer = Arc::as_ptr(&p);
            let me = Arc::get_mut(&mut p).expect("fresh Arc");
            me.slots = (0..n)
                .map(|_| Pending {
                    producer: ptr,
                    t0_ns: AtomicU64::new(0),
                    busy: AtomicBool::new(false),
                    boxed: false,
                    kind: AtomicU8::new(0),
                })
                .collect();
            p
        })
        .collect();
    let barrier = Barrier::new(producers + 1);
    std::thread::scope(|s| {
        for (worker, p) in prods.iter().enumerate() {
            let (barrier, in_flight, max_in_flight, cap_reached) =
                (&barrier, &in_flight, &max_in_flight, &cap_reached);
            s.spawn(move || {
                let _ = p.thread.set(std::thread::current());
                let mut gen = OpGen::new(args, worker);
                let mut k = 0usize;
                barrier.wait();
                while !clock.stopped() {
                    let op = gen.next_op();
                    let pending: *const Pending = match window {
                        Some(n) => {
                            let slot = &p.slots[k % n];
                            k += 1;
                            while slot.busy.load(Ordering::SeqCst) {
                                p.waiting.store(true, Ordering::SeqCst);
                                if slot.busy.load(Ordering::SeqCst) {
                                    std::thread::park_timeout(Duration::from_millis(2));
                                }
                                p.waiting.store(false, Ordering::SeqCst);
                            }
                            slot.busy.store(true, Ordering::SeqCst);
                            slot.kind.store(kind_of(op), Ordering::Relaxed);
                            slot
                        }
                        None => {
                            while in_flight.load(Ordering::Acquire) >= args.cap && !clock.stopped()
                            {
                                cap_reached.store(true, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_micros(200));
                            }
                            Box::into_raw(Box::new(Pending {
                                producer: Arc::as_ptr(p),
                                t0_ns: AtomicU64::new(0),
                                busy: AtomicBool::new(true),
                                boxed: true,
                                kind: AtomicU8::new(kind_of(op)),
                            }))
                        }
                    };
                    let now = in_flight.fetch_add(1, Ordering::AcqRel) + 1;
                    max_in_flight.fetch_max(now, Ordering::Relaxed);
                    // SAFETY: `pending` is valid until its completion.
                    unsafe {
                        (*pending)
                            .t0_ns
                            .store(clock.ns(Instant::now()), Ordering::Relaxed)
                    };
                    submit(op, Ticket(pending));
                }
            });
        }
        barrier.wait();
        clock.run(args, on_start, &mut || {
            backlog.store(in_flight.load(Ordering::Acquire), Ordering::Relaxed);
            on_end();
        });
    });
    let ended = Instant::now();
    if args.workload != "w5" {
        drain();
    }
    // Every ticket must come back; give stragglers a bounded time.
    let deadline = ended + drain_deadline(args);
    while in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let drained = in_flight.load(Ordering::Acquire) == 0;
    let mut total = Tally::default();
    for p in &prods {
        total.merge(&p.tally.lock().unwrap());
    }
    if !drained {
        // Completions may still arrive: leak the producers rather than free what they point at.
        std::mem::forget(prods);
    }
    (
        total,
        Flow {
            max_in_flight: max_in_flight.load(Ordering::Relaxed),
            cap_reached: cap_reached.load(Ordering::Relaxed),
            drained,
            backlog_at_end: backlog.load(Ordering::Relaxed),
            drain_secs: ended.elapsed().as_secs_f64(),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Memory and queue sampling (W5)

/// Samples the process's resident memory and a queue-depth probe every 10 ms while alive.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<(u64, Option<u64>)>>,
}

impl Sampler {
    pub fn start(probe: Option<Box<dyn Fn() -> Option<u64> + Send>>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut rss, mut queued): (u64, Option<u64>) = (0, None);
            while !s.load(Ordering::Relaxed) {
                rss = rss.max(rss_kb());
                if let Some(q) = probe.as_ref().and_then(|p| p()) {
                    queued = Some(queued.unwrap_or(0).max(q));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (rss, queued)
        });
        Sampler {
            stop,
            handle: Some(handle),
        }
    }

    /// (peak RSS in KiB, deepest queue seen).
    pub fn finish(mut self) -> (u64, Option<u64>) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .map(|h| h.join().unwrap_or((0, None)))
            .unwrap_or((0, None))
    }
}

/// The process's resident set now, KiB.
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The process's peak resident set (VmHWM), KiB.
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The report

/// A flat JSON object, written by hand (no dependencies).
pub struct Json(String);

impl Default for Json {
    fn default() -> Self {
        Self::new()
    }
}

impl Json {
    pub fn new() -> Json {
        Json(String::from("{"))
    }

    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push_str(&format!("\"{k}\":"));
    }

    pub fn s(mut self, k: &str, v: &str) -> Json {
        self.key(k);
        self.0.push('"');
        for c in v.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                c if (c as u32) < 0x20 => self.0.push_str(&format!("\\u{:04x}", c as u32)),
                c => self.0.push(c),
            }
        }
        self.0.push('"');
        self
    }

    pub fn n(mut self, k: &str, v: f64) -> Json {
        self.key(k);
        if v.is_finite() {
            self.0.push_str(&format!("{v}"));
        } else {
            self.0.push_str("null");
        }
        self
    }

    pub fn opt(self, k: &str, v: Option<f64>) -> Json {
        match v {
            Some(v) => self.n(k, v),
            None => self,
        }
    }

    pub fn b(mut self, k: &str, v: bool) -> Json {
        self.key(k);
        self.0.push_str(if v { "true" } else { "false" });
        self
    }

    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// Everything a measurement reports besides the tally.
#[derive(Default)]
pub struct Extra {
    /// The contender's SQLite (`sqlite_version()` through its own connection).
    pub sqlite_version: String,
    /// The library and its version, e.g. "rusqlite 0.41.1".
    pub library: String,
    /// Writes per transaction inside the window, when the library counts commits.
    pub writes_per_txn: Option<f64>,
    /// How writes map to transactions when the library does not count them (e.g. "1 (autocommit)").
    pub txn_note: String,
    /// Rows in the table before and after, and inserts acknowledged OK.
    pub rows_before: i64,
    pub rows_after: i64,
    /// W5 / W2 flow.
    pub flow: Option<Flow>,
    /// W5: peak RSS (KiB) and the deepest library queue seen, with the library's bound.
    pub rss_kb: Option<u64>,
    pub max_queued: Option<u64>,
    pub queue_bound: Option<u64>,
    /// The library's own submit-to-ack percentiles, when it reports them (µs).
    pub lib_p50_us: Option<f64>,
    pub lib_p99_us: Option<f64>,
    /// Free text (how the contender is set up).
    pub note: String,
    /// Reads served from / missed by an application cache inside the window, when the
    /// contender has one it counts (reported only when set).
    pub cache_hits: Option<u64>,
    pub cache_misses: Option<u64>,
}

/// Prints the measurement's JSON line; exits non-zero when the row check or the drain failed.
pub fn report(args: &Args, clock: &Clock, t: &Tally, x: &Extra) {
    let secs = clock.measured().as_secs_f64();
    let ops = t.reads + t.writes;
    let mut all = t.read_hist.clone();
    all.merge(&t.write_hist);
    let expected = x.rows_before + t.inserts_total as i64;
    let drained = x.flow.map(|f| f.drained).unwrap_or(true);
    // A W5 backlog still draining after the deadline is a result: the row check needs every
    // write acknowledged, so it is skipped then (and the process exits without a clean close).
    let overload_undrained = !drained && args.workload == "w5";
    let rows_ok = overload_undrained || x.rows_after == expected;
    let mut j = Json::new()
        .s("contender", &args.contender)
        .s("workload", &args.workload)
        .n("producers", args.producers as f64)
        .s("sync", &args.sync)
        .s("mode", &args.mode)
        .s("keys", &args.keys)
        .n("secs", secs)
        .n("ops", ops as f64)
        .n("rate", if secs > 0.0 { ops as f64 / secs } else { 0.0 })
        .n("reads", t.reads as f64)
        .n("writes", t.writes as f64)
        .opt("p50_us", all.quantile_us(0.5))
        .opt("p99_us", all.quantile_us(0.99))
        .opt("read_p50_us", t.read_hist.quantile_us(0.5))
        .opt("read_p99_us", t.read_hist.quantile_us(0.99))
        .opt("write_p50_us", t.write_hist.quantile_us(0.5))
        .opt("write_p99_us", t.write_hist.quantile_us(0.99))
        .n("busy", t.busy as f64)
        .n("queue_full", t.queue_full as f64)
        .n("timeouts", t.timeouts as f64)
        .n("other_errors", t.other as f64)
        .s("first_error", t.first_error.as_deref().unwrap_or(""))
        .s("sqlite_version", &x.sqlite_version)
        .s("library", &x.library)
        .opt("writes_per_txn", x.writes_per_txn)
        .s("txn_note", &x.txn_note)
        .n("rows_expected", expected as f64)
        .n("rows_found", x.rows_after as f64)
        .b("rows_ok", rows_ok)
        .b("drained", drained)
        .n("peak_rss_kb", x.rss_kb.unwrap_or_else(peak_rss_kb) as f64)
        .opt("max_queued", x.max_queued.map(|v| v as f64))
        .opt("queue_bound", x.queue_bound.map(|v| v as f64))
        .opt("lib_p50_us", x.lib_p50_us)
        .opt("lib_p99_us", x.lib_p99_us)
        .s("note", &x.note)
        .opt("cache_hits", x.cache_hits.map(|v| v as f64))
        .opt("cache_misses", x.cache_misses.map(|v| v as f64));
    if let Some(f) = x.flow {
        j = j
            .n("max_in_flight", f.max_in_flight as f64)
            .b("cap_reached", f.cap_reached)
            .n("backlog_at_end", f.backlog_at_end as f64)
            .n("drain_secs", f.drain_secs);
    }
    println!("{}", j.finish());
    if overload_undrained {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(0);
    }
    if !rows_ok {
        eprintln!(
            "row check failed: {} rows, expected {expected}",
            x.rows_after
        );
        std::process::exit(3);
    }
    if !drained {
        eprintln!("not every write was acknowledged within 120 s after the window");
        std::process::exit(3);
    }
}
