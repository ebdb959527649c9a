//! The async drivers: the same workloads as the thread drivers, for libraries whose API is
//! async (tokio-rusqlite, async-sqlite, sqlx). Producers are tokio tasks on a multi-thread
//! runtime with one worker per core, as an async application would run them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};

use crate::{drain_deadline, Args, Clock, Flow, Op, OpGen, Outcome, Tally};

/// One operation's future.
pub type BoxFut = Pin<Box<dyn Future<Output = Outcome> + Send>>;
/// Starts operation `Op` for worker `usize`.
pub type AsyncOp = Arc<dyn Fn(usize, Op) -> BoxFut + Send + Sync>;

/// The runtime every async contender runs on: tokio's default multi-thread runtime.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| crate::die(&format!("tokio runtime: {e}")))
}

/// W1, W3, W4: `n` tasks, each awaiting its operation before starting the next.
pub fn tasks(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    clock: &Arc<Clock>,
    n: usize,
    op: AsyncOp,
    on_start: &mut dyn FnMut(),
    on_end: &mut dyn FnMut(),
) -> Tally {
    let handles: Vec<_> = (0..n)
        .map(|w| {
            let (op, clock, args) = (op.clone(), clock.clone(), args.clone());
            rt.spawn(async move {
                let mut gen = OpGen::new(&args, w);
                let mut t = Tally::default();
                while !clock.stopped() {
                    let o = gen.next_op();
                    let t0 = Instant::now();
                    let r = op(w, o).await;
                    t.record(clock.in_window(), o, t0, Instant::now(), &r);
                }
                t
            })
        })
        .collect();
    clock.run(args, on_start, on_end);
    let mut total = Tally::default();
    for h in handles {
        match rt.block_on(h) {
            Ok(t) => total.merge(&t),
            Err(e) => {
                total.other += 1;
                total
                    .first_error
                    .get_or_insert_with(|| format!("task failed: {e}"));
            }
        }
    }
    total
}

/// W2: each of `n` producer tasks keeps up to `window` operations in flight
/// (`FuturesUnordered`, the idiom behind `buffer_unordered`).
#[allow(clippy::too_many_arguments)] // every knob of a run, named at the call site
pub fn pipelined(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    clock: &Arc<Clock>,
    n: usize,
    window: usize,
    op: AsyncOp,
    on_start: &mut dyn FnMut(),
    on_end: &mut dyn FnMut(),
) -> (Tally, Flow) {
    let in_flight = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..n)
        .map(|w| {
            let (op, clock, args) = (op.clone(), clock.clone(), args.clone());
            let (in_flight, max_in_flight) = (in_flight.clone(), max_in_flight.clone());
            rt.spawn(async move {
                let mut gen = OpGen::new(&args, w);
                let mut t = Tally::default();
                let mut fu = FuturesUnordered::new();
                loop {
                    while fu.len() < window && !clock.stopped() {
                        let o = gen.next_op();
                        let f = op(w, o);
                        let now = in_flight.fetch_add(1, Ordering::AcqRel) + 1;
                        max_in_flight.fetch_max(now, Ordering::Relaxed);
                        let t0 = Instant::now();
                        fu.push(async move { (o, t0, f.await) });
                    }
                    match fu.next().await {
                        Some((o, t0, r)) => {
                            in_flight.fetch_sub(1, Ordering::AcqRel);
                            t.record(clock.in_window(), o, t0, Instant::now(), &r);
                        }
                        None if clock.stopped() => break,
                        None => {}
                    }
                }
                t
            })
        })
        .collect();
    let backlog = AtomicU64::new(0);
    clock.run(args, on_start, &mut || {
        backlog.store(in_flight.load(Ordering::Acquire), Ordering::Relaxed);
        on_end();
    });
    let ended = Instant::now();
    let mut total = Tally::default();
    for h in handles {
        match rt.block_on(h) {
            Ok(t) => total.merge(&t),
            Err(e) => {
                total.other += 1;
                total
                    .first_error
                    .get_or_insert_with(|| format!("task failed: {e}"));
            }
        }
    }
    let flow = Flow {
        max_in_flight: max_in_flight.load(Ordering::Relaxed),
        cap_reached: false,
        drained: in_flight.load(Ordering::Acquire) == 0,
        backlog_at_end: backlog.load(Ordering::Relaxed),
        drain_secs: ended.elapsed().as_secs_f64(),
    };
    (total, flow)
}

/// W5: `n` producer tasks submit without waiting (a spawned task per write, as fire-and-forget
/// async code does), limited only by the harness cap on writes in flight.
pub fn overload(
    rt: &tokio::runtime::Runtime,
    args: &Args,
    clock: &Arc<Clock>,
    n: usize,
    op: AsyncOp,
    on_start: &mut dyn FnMut(),
    on_end: &mut dyn FnMut(),
) -> (Tally, Flow) {
    let in_flight = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let cap_reached = Arc::new(AtomicBool::new(false));
    let tallies: Vec<Arc<Mutex<Tally>>> = (0..n)
        .map(|_| Arc::new(Mutex::new(Tally::default())))
        .collect();
    let handles: Vec<_> = (0..n)
        .map(|w| {
            let (op, clock, args) = (op.clone(), clock.clone(), args.clone());
            let (in_flight, max_in_flight, cap_reached) = (
                in_flight.clone(),
                max_in_flight.clone(),
                cap_reached.clone(),
            );
            let tally = tallies[w].clone();
            rt.spawn(async move {
                let mut gen = OpGen::new(&args, w);
                let mut k = 0u64;
                while !clock.stopped() {
                    if in_flight.load(Ordering::Acquire) >= args.cap {
                        cap_reached.store(true, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                    let o = gen.next_op();
                    let f = op(w, o);
                    let now = in_flight.fetch_add(1, Ordering::AcqRel) + 1;
                    max_in_flight.fetch_max(now, Ordering::Relaxed);
                    let (tally, in_flight, clock) =
                        (tally.clone(), in_flight.clone(), clock.clone());
                    let t0 = Instant::now();
                    tokio::spawn(async move {
                        let r = f.await;
                        let done = Instant::now();
                        tally
                            .lock()
                            .unwrap()
                            .record(clock.in_window(), o, t0, done, &r);
                        in_flight.fetch_sub(1, Ordering::AcqRel);
                    });
                    k += 1;
                    if k.is_multiple_of(64) {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    let backlog = AtomicU64::new(0);
    clock.run(args, on_start, &mut || {
        backlog.store(in_flight.load(Ordering::Acquire), Ordering::Relaxed);
        on_end();
    });
    let ended = Instant::now();
    for h in handles {
        let _ = rt.block_on(h);
    }
    let deadline = ended + drain_deadline(args);
    while in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut total = Tally::default();
    for t in &tallies {
        total.merge(&t.lock().unwrap());
    }
    let flow = Flow {
        max_in_flight: max_in_flight.load(Ordering::Relaxed),
        cap_reached: cap_reached.load(Ordering::Relaxed),
        drained: in_flight.load(Ordering::Acquire) == 0,
        backlog_at_end: backlog.load(Ordering::Relaxed),
        drain_secs: ended.elapsed().as_secs_f64(),
    };
    (total, flow)
}
