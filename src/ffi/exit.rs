//! Writes queued at exit: a normal process exit (`return` from `main`, `exit()`) first waits,
//! for a bounded time, until every write accepted through the C ABI has committed.
//!
//! Owns the process's exit handler, its timeout (`sw_exit_set_drain_timeout`) and
//! `sw_flush_all`. Must never hold up an exit beyond that timeout, and must not touch the exiting
//! thread's Rust thread-locals (glibc destroys them before exit handlers run): the drain runs on
//! a thread of its own, started with `pthread_create`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

use super::boundary::boundary;
use super::handle::open_writers;
use super::status::sw_status;
use crate::error::{Error, Result, Status};

/// The exit drain's default bound, in milliseconds.
pub const SW_EXIT_DRAIN_DEFAULT_MS: u32 = 5000;

static DRAIN_MS: AtomicU32 = AtomicU32::new(SW_EXIT_DRAIN_DEFAULT_MS);

/// Set how long a normal process exit waits for accepted writes to commit.
///
/// At a normal exit (`return` from `main`, `exit()`; not `_exit`, `abort`, a fatal signal, or
/// Go's `os.Exit`/return from `main`, which bypass C exit handlers), the library waits up to
/// `timeout_ms` for every write accepted through any open writer handle (`sw_writer_enqueue`
/// included) to commit and its callback to fire; then the process exits, whatever is left.
/// `0` turns the wait off. The default is `SW_EXIT_DRAIN_DEFAULT_MS` (5000). Handles closed with
/// `sw_writer_close` before exit were drained already and cost nothing here. Returns the previous
/// value. Thread: any.
#[no_mangle]
pub extern "C" fn sw_exit_set_drain_timeout(timeout_ms: u32) -> u32 {
    DRAIN_MS.swap(timeout_ms, Ordering::AcqRel)
}

/// Wait until every write accepted so far by every open writer handle has been acknowledged:
/// `sw_writer_flush` on all of them, sharing one deadline.
///
/// `timeout_ms` 0 waits without limit. What a program calls before an exit that bypasses C exit
/// handlers (Go's `os.Exit`, `_exit`). Thread: any; from inside a transaction
/// or completion callback it returns `SW_STATUS_MISUSE`. Errors: TIMEOUT (some writes are still
/// queued), MISUSE, or the first flush's error.
#[no_mangle]
pub extern "C" fn sw_flush_all(timeout_ms: u32) -> sw_status {
    boundary(|| flush_all((timeout_ms > 0).then(|| Duration::from_millis(timeout_ms.into()))))
}

fn flush_all(timeout: Option<Duration>) -> Result<()> {
    if crate::reentry::inside_callback() {
        return Err(Error::misuse(
            "sw_flush_all from inside a transaction or callback would deadlock",
        ));
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut first_error = None;
    for writer in open_writers() {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            first_error.get_or_insert(Error::new(
                Status::Timeout,
                "sw_flush_all timed out; some writes are still queued",
            ));
            break;
        }
        match writer.flush(left) {
            // A handle closing concurrently has nothing left to wait for here.
            Err(e) if e.status() == Status::Closed => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
            Ok(()) => {}
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Registered with `atexit` when the library is loaded (an ELF constructor), so it runs before
/// the C runtime tears the process down, and — for the shared library — at `dlclose`.
#[cfg(all(unix, not(target_vendor = "apple")))]
#[used]
#[link_section = ".init_array"]
static REGISTER_AT_EXIT: extern "C" fn() = register_at_exit;

#[cfg(all(unix, not(target_vendor = "apple")))]
extern "C" fn register_at_exit() {
    // SAFETY: `atexit` with a plain `extern "C" fn()`; glibc's (libc_nonshared.a) passes this
    // object's `__dso_handle`, so a `dlclose` runs the handler before unmapping the code.
    unsafe {
        libc::atexit(drain_at_exit);
    }
}

/// The exit handler: flush every open handle from a new thread and wait for it at most the
/// drain timeout.
extern "C" fn drain_at_exit() {
    let ms = DRAIN_MS.load(Ordering::Acquire);
    if ms == 0 {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        if open_writers().is_empty() {
            return;
        }
        let timeout = Duration::from_millis(ms.into());
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let job = Box::new(DrainJob {
            timeout,
            done: done.clone(),
        });
        if !spawn_drain(job) {
            return;
        }
        let (finished, wake) = &*done;
        let mut finished = finished.lock();
        let deadline = Instant::now() + timeout + Duration::from_millis(100);
        while !*finished {
            if wake.wait_until(&mut finished, deadline).timed_out() {
                break;
            }
        }
    });
}

struct DrainJob {
    timeout: Duration,
    done: Arc<(Mutex<bool>, Condvar)>,
}

/// Start the drain on a raw pthread: `std::thread::spawn` would read this thread's Rust
/// thread-locals, which exit has already destroyed.
fn spawn_drain(job: Box<DrainJob>) -> bool {
    extern "C" fn run(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `arg` is the `Box<DrainJob>` leaked by `spawn_drain`, handed over exactly once.
        let job = unsafe { Box::from_raw(arg.cast::<DrainJob>()) };
        let _ = std::panic::catch_unwind(|| flush_all(Some(job.timeout)));
        let (finished, wake) = &*job.done;
        *finished.lock() = true;
        wake.notify_all();
        std::ptr::null_mut()
    }
    let arg = Box::into_raw(job);
    // SAFETY: a detached thread running `run` with the leaked job; on failure we take it back.
    unsafe {
        let mut thread: libc::pthread_t = std::mem::zeroed();
        if libc::pthread_create(&mut thread, std::ptr::null(), run, arg.cast()) != 0 {
            drop(Box::from_raw(arg));
            return false;
        }
        libc::pthread_detach(thread);
    }
    true
}
