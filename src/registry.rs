//! The process-wide registry: canonical database → its one writer, with handle counting.
//!
//! Owns deciding whether an open joins a running writer or starts one, and making a new open of
//! a database wait while its previous writer is still shutting down. Must never let two writers
//! of one database exist in a process.

use std::collections::HashMap;
use std::sync::Arc;

use crate::sync::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::options::{Location, Options};
use crate::writer::engine::Engine;

/// One database's state in the registry.
enum Entry {
    /// Its writer is being opened by one thread, outside the registry lock (opening may wait up
    /// to `Busy Timeout` for another process); other opens of the same database wait for it,
    /// opens of other databases do not. The fork generation it started in.
    Opening { generation: u64 },
    /// Open, with this many handles.
    Open { shared: Arc<Engine>, handles: usize },
    /// The last handle was released; the writer is shutting down. Opens wait for it to finish.
    Closing { shared: Arc<Engine> },
}

struct Registry {
    writers: Mutex<HashMap<Location, Entry>>,
    changed: Condvar,
}

fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    static HELD: std::sync::Once = std::sync::Once::new();
    let reg = REGISTRY.get_or_init(|| Registry {
        writers: Mutex::new(HashMap::new()),
        changed: Condvar::new(),
    });
    // A child process must find the map consistent, not half-updated by a thread that does
    // not exist there.
    HELD.call_once(|| crate::process::hold_across_fork(&reg.writers));
    reg
}

/// Why an open in a forked child cannot use what the parent had open.
fn inherited(what: &str) -> Error {
    Error::misuse(format!(
        "this process was forked while its parent {what} this database; SQLite's state for it, copied by fork(), cannot be used safely in the child (https://sqlite.org/howtocorrupt.html). Open the database in the child only when the parent was not using it at fork() (its writer idle), or in a process that did not inherit it"
    ))
}

/// Join the running writer of the database, or start it.
///
/// A second open may name options; each it names must equal the running writer's, or the open
/// fails naming the differing options. Options it does not name are the running writer's.
pub(crate) fn acquire(connection_string: &str) -> Result<Arc<Engine>> {
    let opts = Options::parse(connection_string)?;
    crate::process::configure_once();
    let generation = crate::process::generation();
    let reg = registry();
    let mut writers = reg.writers.lock();
    loop {
        match writers.get_mut(&opts.location) {
            // Left by the parent of this (forked) process: nobody here will finish them.
            Some(Entry::Opening { generation: g }) if *g != generation => {
                return Err(inherited("was opening"))
            }
            Some(Entry::Closing { shared }) if shared.generation() != generation => {
                return Err(inherited("was closing"))
            }
            Some(Entry::Open { shared, .. }) if shared.generation() != generation => {
                // The parent's writer: its SQLite connections must be closed here before
                // the file can be opened afresh, which is safe only if none was in use.
                if !shared.release_inherited() {
                    return Err(inherited("was writing or reading"));
                }
                if let Some(Entry::Open { shared, .. }) = writers.remove(&opts.location) {
                    // Never dropped here: dropping would join threads that do not exist.
                    std::mem::forget(shared);
                }
            }
            Some(Entry::Opening { .. } | Entry::Closing { .. }) => reg.changed.wait(&mut writers),
            Some(Entry::Open { shared, handles }) => {
                let conflicts = opts.conflicts_with(&shared.opts);
                if !conflicts.is_empty() {
                    return Err(Error::invalid(format!(
                        "this database is already open with different options: {} (open it without those options to join it, or with the same values)",
                        conflicts.join(", ")
                    )));
                }
                if opts.mode != shared.opts.mode {
                    return Err(Error::invalid(
                        "this database is already open with a different Mode",
                    ));
                }
                *handles += 1;
                return Ok(shared.clone());
            }
            None => {
                writers.insert(opts.location.clone(), Entry::Opening { generation });
                drop(writers);
                // Outside the lock: a locked database delays only the opens of itself.
                let opened = std::panic::catch_unwind(|| Engine::open(opts.clone()))
                    .unwrap_or_else(|_| {
                        Err(Error::new(
                            crate::Status::Panic,
                            "opening the database panicked",
                        ))
                    });
                let mut writers = reg.writers.lock();
                match &opened {
                    Ok(shared) => {
                        writers.insert(
                            opts.location.clone(),
                            Entry::Open {
                                shared: shared.clone(),
                                handles: 1,
                            },
                        );
                    }
                    Err(_) => {
                        writers.remove(&opts.location);
                    }
                }
                reg.changed.notify_all();
                return opened;
            }
        }
    }
}

/// Release one handle; the last one shuts the writer down. A writer inherited from the parent
/// of a forked process is left alone.
pub(crate) fn release(shared: &Arc<Engine>) {
    if shared.generation() != crate::process::generation() {
        return;
    }
    let reg = registry();
    let location = shared.opts.location.clone();
    let last = {
        let mut writers = reg.writers.lock();
        match writers.get_mut(&location) {
            Some(Entry::Open { shared: s, handles }) if Arc::ptr_eq(s, shared) => {
                *handles -= 1;
                if *handles == 0 {
                    writers.insert(
                        location.clone(),
                        Entry::Closing {
                            shared: shared.clone(),
                        },
                    );
                    true
                } else {
                    false
                }
            }
            _ => false,
        }
    };
    if last {
        let finish = {
            let shared = shared.clone();
            let location = location.clone();
            move || {
                shared.shutdown();
                let mut writers = reg.writers.lock();
                if matches!(writers.get(&location), Some(Entry::Closing { shared: s }) if Arc::ptr_eq(s, &shared))
                {
                    writers.remove(&location);
                }
                reg.changed.notify_all();
            }
        };
        if crate::reentry::inside_callback() {
            // The last handle was dropped inside a callback, maybe on the writer's own thread,
            // which the drain would wait for: shut down from a thread of its own instead.
            if !spawn_close(finish) {
                // No thread could be started: the writer stays open with no handles (the next
                // open joins it, its last close shuts it down) rather than deadlock here or
                // leave every later open waiting for a shutdown that never runs.
                let mut writers = reg.writers.lock();
                if matches!(writers.get(&location), Some(Entry::Closing { shared: s }) if Arc::ptr_eq(s, shared))
                {
                    writers.insert(
                        location,
                        Entry::Open {
                            shared: shared.clone(),
                            handles: 0,
                        },
                    );
                }
                reg.changed.notify_all();
            }
        } else {
            finish();
        }
    }
}

/// Start the closing thread; false when no thread can be started.
fn spawn_close(finish: impl FnOnce() + Send + 'static) -> bool {
    #[cfg(test)]
    if tests::SPAWN_FAILS.with(|f| f.get()) {
        return false;
    }
    std::thread::Builder::new()
        .name("sw-close".into())
        .spawn(finish)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    thread_local! {
        pub(super) static SPAWN_FAILS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    #[test]
    fn a_failed_close_thread_leaves_the_database_openable() {
        let dir = std::env::temp_dir().join(format!("sw-reg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cs = format!("Data Source={}", dir.join("spawn.db").display());
        let shared = acquire(&cs).unwrap();
        SPAWN_FAILS.with(|f| f.set(true));
        crate::reentry::in_callback(|| release(&shared));
        SPAWN_FAILS.with(|f| f.set(false));
        // The next open joins the writer that could not be shut down, at once.
        let again = acquire(&cs).unwrap();
        assert!(Arc::ptr_eq(&again, &shared));
        release(&again);
        let third = acquire(&cs).unwrap();
        assert!(
            !Arc::ptr_eq(&third, &shared),
            "the last close shut the old writer down"
        );
        release(&third);
    }

    #[test]
    fn opening_one_database_does_not_hold_up_others() {
        let dir = std::env::temp_dir().join(format!("sw-reg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let locked = dir.join("locked.db");
        // Another connection holds an exclusive lock on a rollback-journal database: opening it
        // waits up to Busy Timeout.
        let holder = rusqlite::Connection::open(&locked).unwrap();
        holder
            .execute_batch("PRAGMA journal_mode=DELETE; CREATE TABLE IF NOT EXISTS t(x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);")
            .unwrap();
        std::thread::scope(|s| {
            let slow = s.spawn(|| {
                acquire(&format!(
                    "Data Source={};Journal Mode=DELETE;Busy Timeout=4000",
                    locked.display()
                ))
            });
            std::thread::sleep(Duration::from_millis(200));
            let start = Instant::now();
            let other = acquire(&format!("Data Source={}", dir.join("free.db").display())).unwrap();
            let took = start.elapsed();
            release(&other);
            assert!(
                took < Duration::from_millis(2000),
                "another database's open waited {took:?} for the locked one"
            );
            match slow.join().unwrap() {
                Ok(s) => release(&s),
                Err(e) => assert_eq!(e.status(), crate::Status::Busy, "{e}"),
            }
        });
        drop(holder);
    }
}
