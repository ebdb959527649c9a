//! Two contenders in one binary, each with its own SQLite: singlewriter through its C ABI
//! (`libsinglewriter.so`, which exports only `sw_*` and carries its own SQLite), and
//! tokio-rusqlite (one `Connection`: one SQLite connection on its own thread, fed by an
//! unbounded channel). One measurement per process; see `harness`.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::{Arc, Mutex};

use harness::aio::{self, AsyncOp, BoxFut};
use harness::{
    die, report, Args, Clock, Extra, Fail, Op, Outcome, Sampler, Ticket, COUNT, INSERT, POINT,
    TEXT, UPDATE,
};

#[path = "../../common/rusqlite_ops.rs"]
mod ops;

fn main() {
    let args = Args::parse();
    match args.contender.as_str() {
        "singlewriter-c" => singlewriter_c(&args),
        "tokio-rusqlite" => tokio_rusqlite(&args),
        other => die(&format!("unknown contender {other}")),
    }
}

fn rows_now(args: &Args) -> i64 {
    match ops::open(&args.db, "NORMAL", false) {
        Ok(c) => ops::count(&c),
        Err(e) => die(&e),
    }
}

fn no_edge() -> impl FnMut() {
    || {}
}

// ---------------------------------------------------------------------------------------------
// singlewriter, C ABI (declarations as in include/singlewriter.h)

#[allow(non_camel_case_types)]
mod sw {
    use std::ffi::{c_char, c_void};

    pub const OK: u32 = 0;
    pub const BUSY: u32 = 3;
    pub const QUEUE_FULL: u32 = 4;
    pub const TIMEOUT: u32 = 5;
    pub const TYPE_INTEGER: u32 = 1;
    pub const TYPE_TEXT: u32 = 3;

    #[repr(C)]
    pub struct sw_writer {
        _p: [u8; 0],
    }
    #[repr(C)]
    pub struct sw_rows {
        _p: [u8; 0],
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct sw_value {
        pub r#type: u32,
        pub integer: i64,
        pub real: f64,
        pub data: *const u8,
        pub len: usize,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct sw_param {
        pub name: *const c_char,
        pub value: sw_value,
    }
    #[repr(C)]
    #[derive(Default)]
    pub struct sw_write_result {
        pub rows_affected: i64,
        pub last_insert_rowid: i64,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    pub struct sw_stats {
        pub queued: u64,
        pub committed: u64,
        pub failed: u64,
        pub transactions: u64,
        pub busy_retries: u64,
        pub latency_p50_us: u64,
        pub latency_p99_us: u64,
    }
    pub type sw_write_callback =
        extern "C" fn(*mut c_void, u32, *const sw_write_result, *const c_char);

    extern "C" {
        pub fn sw_version() -> *const c_char;
        pub fn sw_last_error_message() -> *const c_char;
        pub fn sw_writer_open(cs: *const c_char, out: *mut *const sw_writer) -> u32;
        pub fn sw_writer_close(w: *const sw_writer) -> u32;
        pub fn sw_writer_execute(
            w: *const sw_writer,
            sql: *const c_char,
            p: *const sw_param,
            n: usize,
            out: *mut sw_write_result,
        ) -> u32;
        pub fn sw_writer_enqueue(
            w: *const sw_writer,
            sql: *const c_char,
            p: *const sw_param,
            n: usize,
            cb: Option<sw_write_callback>,
            userdata: *mut c_void,
        ) -> u32;
        pub fn sw_writer_flush(w: *const sw_writer, timeout_ms: u32) -> u32;
        pub fn sw_writer_query(
            w: *const sw_writer,
            sql: *const c_char,
            p: *const sw_param,
            n: usize,
            out: *mut *const sw_rows,
        ) -> u32;
        pub fn sw_writer_read(
            w: *const sw_writer,
            key: *const c_char,
            sql: *const c_char,
            p: *const sw_param,
            n: usize,
            out: *mut *const sw_rows,
        ) -> u32;
        pub fn sw_writer_stats(w: *const sw_writer, out: *mut sw_stats) -> u32;
        pub fn sw_rows_row_count(rows: *const sw_rows) -> usize;
        pub fn sw_rows_int64(rows: *const sw_rows, row: usize, col: usize) -> i64;
        pub fn sw_rows_text(
            rows: *const sw_rows,
            row: usize,
            col: usize,
            out_len: *mut usize,
        ) -> *const c_char;
        pub fn sw_rows_free(rows: *const sw_rows);
    }
}

/// A writer handle; the header says handles may be used from any thread.
#[derive(Clone, Copy)]
struct W(*const sw::sw_writer);
// SAFETY: see above.
unsafe impl Send for W {}
unsafe impl Sync for W {}

fn last_error() -> String {
    // SAFETY: the library returns a valid NUL-terminated string for this thread.
    unsafe {
        CStr::from_ptr(sw::sw_last_error_message())
            .to_string_lossy()
            .into_owned()
    }
}

fn status_fail(st: u32) -> Fail {
    let m = format!("status {st}: {}", last_error());
    match st {
        sw::BUSY => Fail::Busy(m),
        sw::QUEUE_FULL => Fail::QueueFull(m),
        sw::TIMEOUT => Fail::Timeout(m),
        _ => Fail::Other(m),
    }
}

fn int(v: i64) -> sw::sw_param {
    sw::sw_param {
        name: ptr::null(),
        value: sw::sw_value {
            r#type: sw::TYPE_INTEGER,
            integer: v,
            real: 0.0,
            data: ptr::null(),
            len: 0,
        },
    }
}

fn text(s: &'static str) -> sw::sw_param {
    sw::sw_param {
        name: ptr::null(),
        value: sw::sw_value {
            r#type: sw::TYPE_TEXT,
            integer: 0,
            real: 0.0,
            data: s.as_ptr(),
            len: s.len(),
        },
    }
}

/// Runs a query and hands its rows to `f` (freed afterwards).
fn query<T>(
    w: W,
    key: Option<&CStr>,
    sql: &CStr,
    params: &[sw::sw_param],
    f: impl FnOnce(*const sw::sw_rows) -> T,
) -> Result<T, Fail> {
    let mut rows: *const sw::sw_rows = ptr::null();
    // SAFETY: valid handle, strings, parameter array and out-pointer; rows freed once.
    unsafe {
        let st = match key {
            Some(k) => sw::sw_writer_read(
                w.0,
                k.as_ptr(),
                sql.as_ptr(),
                params.as_ptr(),
                params.len(),
                &mut rows,
            ),
            None => {
                sw::sw_writer_query(w.0, sql.as_ptr(), params.as_ptr(), params.len(), &mut rows)
            }
        };
        if st != sw::OK {
            return Err(status_fail(st));
        }
        let v = f(rows);
        sw::sw_rows_free(rows);
        Ok(v)
    }
}

fn stats(w: W) -> Option<sw::sw_stats> {
    let mut s = sw::sw_stats::default();
    // SAFETY: valid handle and out-pointer.
    (unsafe { sw::sw_writer_stats(w.0, &mut s) } == sw::OK).then_some(s)
}

/// The completion callback: hands the outcome to the ticket (on the writer's library thread).
extern "C" fn on_done(
    userdata: *mut c_void,
    status: u32,
    _r: *const sw::sw_write_result,
    msg: *const c_char,
) {
    // SAFETY: userdata is a Ticket made by `Ticket::into_raw` for this write, completed once.
    let ticket = unsafe { Ticket::from_raw(userdata) };
    if status == sw::OK {
        ticket.complete(Ok(()));
    } else {
        let m = if msg.is_null() {
            String::new()
        } else {
            // SAFETY: valid during the call.
            unsafe { CStr::from_ptr(msg).to_string_lossy().into_owned() }
        };
        let m = format!("status {status}: {m}");
        ticket.complete(Err(match status {
            sw::BUSY => Fail::Busy(m),
            sw::QUEUE_FULL => Fail::QueueFull(m),
            sw::TIMEOUT => Fail::Timeout(m),
            _ => Fail::Other(m),
        }));
    }
}

/// singlewriter through the C ABI, default options except `Synchronous` (and, for W5, the
/// default `Queue Capacity` spelled out).
fn singlewriter_c(args: &Args) {
    let mut cs = format!(
        "Data Source={};Synchronous={}",
        args.db.display(),
        args.sync
    );
    if args.workload == "w5" {
        cs.push_str(";Queue Capacity=65536;Max Batch=4096"); // the defaults, spelled out
    }
    // Extra options for ablations, e.g. SW_EXTRA=";Sample Rate=1000" (empty in the suite).
    cs.push_str(&std::env::var("SW_EXTRA").unwrap_or_default());
    let ccs = CString::new(cs).unwrap_or_else(|_| die("NUL in path"));
    let mut h: *const sw::sw_writer = ptr::null();
    // SAFETY: valid string and out-pointer.
    if unsafe { sw::sw_writer_open(ccs.as_ptr(), &mut h) } != sw::OK {
        die(&format!("sw_writer_open: {}", last_error()));
    }
    let w = W(h);
    let c = |s: &str| CString::new(s).unwrap_or_else(|_| die("NUL in SQL"));
    let (insert, update, point, count) = (c(INSERT), c(UPDATE), c(POINT), c(COUNT));
    let version = query(w, None, &c("SELECT sqlite_version()"), &[], |r| {
        let mut n = 0usize;
        // SAFETY: a one-row result; the pointer is valid until rows are freed (copied here).
        unsafe {
            CStr::from_ptr(sw::sw_rows_text(r, 0, 0, &mut n))
                .to_string_lossy()
                .into_owned()
        }
    })
    .unwrap_or_default();
    // SAFETY: `r` is a live result.
    let count_rows = || {
        query(w, None, &count, &[], |r| unsafe {
            sw::sw_rows_int64(r, 0, 0)
        })
        .unwrap_or(-1)
    };
    // SAFETY: static string.
    let lib_version = unsafe {
        CStr::from_ptr(sw::sw_version())
            .to_string_lossy()
            .into_owned()
    };
    let mut x = Extra {
        sqlite_version: version,
        library: format!("singlewriter {lib_version} (C ABI, libsinglewriter.so)"),
        rows_before: count_rows(),
        note: "default options; Synchronous from the run".into(),
        ..Extra::default()
    };
    let keys: Vec<CString> = (0..=harness::ROWS)
        .map(|id| c(&format!("t:{id}")))
        .collect();
    let cached = (args.workload == "w3" && (args.mode == "hit" || args.mode == "hitone"))
        || (args.workload == "w4" && args.mode == "cached");
    let blocking_op = |op: Op| -> Outcome {
        match op {
            Op::Insert { a } => exec(w, &insert, &[int(a), text(TEXT)]),
            Op::Update { id, a } => exec(w, &update, &[int(id), int(a)]),
            Op::Read { id } => query(
                w,
                cached.then(|| keys[id as usize].as_c_str()),
                &point,
                &[int(id)],
                |r| {
                    // SAFETY: `r` is a live result.
                    std::hint::black_box(unsafe {
                        (sw::sw_rows_row_count(r), sw::sw_rows_int64(r, 0, 0))
                    });
                },
            ),
        }
    };
    let submit = |op: Op, ticket: Ticket| {
        let Op::Insert { a } = op else {
            ticket.refused(Fail::Other("inserts only".into()));
            return;
        };
        let w: W = w; // the whole handle (Sync), not its raw field
        let params = [int(a), text(TEXT)];
        let ud = ticket.into_raw();
        // SAFETY: valid handle, SQL and parameters (copied before return); `ud` is completed by
        // `on_done` exactly once, or here when enqueue refuses (then no callback comes).
        let st = unsafe {
            sw::sw_writer_enqueue(
                w.0,
                insert.as_ptr(),
                params.as_ptr(),
                params.len(),
                Some(on_done),
                ud,
            )
        };
        if st != sw::OK {
            // SAFETY: the library did not take `ud`.
            unsafe { Ticket::from_raw(ud) }.refused(status_fail(st));
        }
    };
    let clock = Arc::new(Clock::default());
    let before = Mutex::new(None);
    let after = Mutex::new(None);
    let mut on_start = || *before.lock().unwrap() = stats(w);
    let mut on_end = || *after.lock().unwrap() = stats(w);
    let t = match args.workload.as_str() {
        "w1" | "w3" | "w4" => harness::threads(
            args,
            &clock,
            args.producers,
            &|_| (),
            &|_, op| blocking_op(op),
            &mut on_start,
            &mut on_end,
        ),
        "w2" | "w5" => {
            let sampler = (args.workload == "w5")
                .then(|| Sampler::start(Some(Box::new(move || stats(w).map(|s| s.queued)))));
            let window = (args.workload == "w2").then_some(args.window);
            let (t, flow) = harness::callbacks(
                args,
                &clock,
                args.producers,
                window,
                &submit,
                &mut on_start,
                &mut on_end,
                &mut || {
                    // SAFETY: valid handle.
                    unsafe { sw::sw_writer_flush(w.0, 120_000) };
                },
            );
            x.flow = Some(flow);
            if let Some(s) = sampler {
                let (rss, q) = s.finish();
                x.rss_kb = Some(rss);
                x.max_queued = q;
                // `queued` counts every write not yet acknowledged: the queue (≤ Queue Capacity)
                // plus the group being committed (≤ Max Batch).
                x.queue_bound = Some(65536 + 1024);
            }
            if !flow.drained {
                report(args, &clock, &t, &x); // exits: the backlog outlived the drain deadline
            }
            t
        }
        _ => die("unknown workload"),
    };
    if let (Some(b), Some(a)) = (*before.lock().unwrap(), *after.lock().unwrap()) {
        let txns = a.transactions.saturating_sub(b.transactions);
        if txns > 0 && args.workload != "w3" {
            x.writes_per_txn = Some(a.committed.saturating_sub(b.committed) as f64 / txns as f64);
        }
        x.lib_p50_us = Some(a.latency_p50_us as f64);
        x.lib_p99_us = Some(a.latency_p99_us as f64);
    }
    x.rows_after = count_rows();
    // SAFETY: the handle is closed once; nothing uses it afterwards.
    if unsafe { sw::sw_writer_close(w.0) } != sw::OK {
        die(&format!("sw_writer_close: {}", last_error()));
    }
    report(args, &clock, &t, &x);
}

fn exec(w: W, sql: &CStr, params: &[sw::sw_param]) -> Outcome {
    let mut r = sw::sw_write_result::default();
    // SAFETY: valid handle, SQL, parameters and out-pointer.
    let st =
        unsafe { sw::sw_writer_execute(w.0, sql.as_ptr(), params.as_ptr(), params.len(), &mut r) };
    if st == sw::OK {
        Ok(())
    } else {
        Err(status_fail(st))
    }
}

// ---------------------------------------------------------------------------------------------
// tokio-rusqlite

/// tokio-rusqlite as its documentation shows it: one `Connection` (one SQLite connection on a
/// background thread) shared by every task, for reads and writes.
fn tokio_rusqlite(args: &Args) {
    let rt = aio::runtime();
    let mut x = Extra {
        sqlite_version: ops::sqlite_version(),
        library: "tokio-rusqlite 0.8.0 (rusqlite 0.40.2)".into(),
        txn_note: if args.workload == "w3" {
            String::new()
        } else {
            "1 (autocommit)".into()
        },
        rows_before: rows_now(args),
        note: "one Connection (one background thread) for reads and writes".into(),
        ..Extra::default()
    };
    let sync = args.sync.clone();
    let conn = rt.block_on(async {
        let conn = tokio_rusqlite::Connection::open(&args.db)
            .await
            .unwrap_or_else(|e| die(&format!("open: {e}")));
        conn.call(move |c| Ok::<_, rusqlite::Error>(ops::configure(c, &sync, false)))
            .await
            .unwrap_or_else(|e| die(&e.to_string()))
            .unwrap_or_else(|e| die(&e));
        conn
    });
    let op: AsyncOp = {
        let conn = conn.clone();
        Arc::new(move |_w, op: Op| -> BoxFut {
            let conn = conn.clone();
            Box::pin(async move {
                match conn
                    .call(move |c| Ok::<_, rusqlite::Error>(ops::run(c, op)))
                    .await
                {
                    Ok(o) => o,
                    Err(tokio_rusqlite::Error::Error(e)) => Err(ops::fail(e)),
                    Err(e) => Err(Fail::Other(e.to_string())),
                }
            })
        })
    };
    let clock = Arc::new(Clock::default());
    let t = match args.workload.as_str() {
        "w1" | "w3" | "w4" => aio::tasks(
            &rt,
            args,
            &clock,
            args.producers,
            op,
            &mut no_edge(),
            &mut no_edge(),
        ),
        "w2" => {
            let (t, flow) = aio::pipelined(
                &rt,
                args,
                &clock,
                args.producers,
                args.window,
                op,
                &mut no_edge(),
                &mut no_edge(),
            );
            x.flow = Some(flow);
            t
        }
        "w5" => {
            let sampler = Sampler::start(None);
            let (t, flow) = aio::overload(
                &rt,
                args,
                &clock,
                args.producers,
                op,
                &mut no_edge(),
                &mut no_edge(),
            );
            x.flow = Some(flow);
            x.rss_kb = Some(sampler.finish().0);
            if !flow.drained {
                report(args, &clock, &t, &x); // exits: the backlog outlived the drain deadline
            }
            x.note
                .push_str("; its channel to the connection thread is unbounded");
            t
        }
        _ => die("unknown workload"),
    };
    rt.block_on(async {
        let _ = conn.close().await;
    });
    x.rows_after = rows_now(args);
    report(args, &clock, &t, &x);
}
