//! The process-wide registry: canonical database → its one writer, with handle counting.
//!
//! Owns deciding whether an open joins a running writer or starts one, and making a new open of
//! a database wait while its previous writer is still shutting down. Must never let two writers
//! of one database exist in a process.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::options::{Location, Options};
use crate::writer::Shared;

struct Entry {
    shared: Arc<Shared>,
    handles: usize,
    closing: bool,
}

struct Registry {
    writers: Mutex<HashMap<Location, Entry>>,
    changed: Condvar,
}

fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        writers: Mutex::new(HashMap::new()),
        changed: Condvar::new(),
    })
}

/// Join the running writer of the database, or start it.
///
/// A second open may name options; each it names must equal the running writer's, or the open
/// fails naming the differing options. Options it does not name are the running writer's.
pub(crate) fn acquire(connection_string: &str) -> Result<Arc<Shared>> {
    let opts = Options::parse(connection_string)?;
    crate::ffi::configure_sqlite();
    let reg = registry();
    let mut writers = reg.writers.lock();
    loop {
        match writers.get_mut(&opts.location) {
            Some(e) if e.closing => reg.changed.wait(&mut writers),
            Some(e) => {
                let conflicts = opts.conflicts_with(&e.shared.opts);
                if !conflicts.is_empty() {
                    return Err(Error::invalid(format!(
                        "this database is already open with different options: {} (open it without those options to join it, or with the same values)",
                        conflicts.join(", ")
                    )));
                }
                if opts.mode != e.shared.opts.mode {
                    return Err(Error::invalid(
                        "this database is already open with a different Mode",
                    ));
                }
                e.handles += 1;
                return Ok(e.shared.clone());
            }
            None => {
                let shared = Shared::open(opts.clone())?;
                writers.insert(
                    opts.location.clone(),
                    Entry {
                        shared: shared.clone(),
                        handles: 1,
                        closing: false,
                    },
                );
                return Ok(shared);
            }
        }
    }
}

/// Release one handle; the last one shuts the writer down.
pub(crate) fn release(shared: &Arc<Shared>) {
    let reg = registry();
    let location = shared.opts.location.clone();
    let last = {
        let mut writers = reg.writers.lock();
        match writers.get_mut(&location) {
            Some(e) if Arc::ptr_eq(&e.shared, shared) => {
                e.handles -= 1;
                if e.handles == 0 {
                    e.closing = true;
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
            move || {
                shared.shutdown();
                let mut writers = reg.writers.lock();
                if writers
                    .get(&location)
                    .is_some_and(|e| Arc::ptr_eq(&e.shared, &shared))
                {
                    writers.remove(&location);
                }
                reg.changed.notify_all();
            }
        };
        if crate::writer::inside_callback() {
            // The last handle was dropped inside a callback, maybe on the writer's own thread,
            // which the drain would wait for: shut down from a thread of its own instead. If no
            // thread can be started, the writer stays open rather than deadlock.
            let _ = std::thread::Builder::new()
                .name("sw-close".into())
                .spawn(finish);
        } else {
            finish();
        }
    }
}
