//! The one busy policy: how long to pause between attempts while another connection or process
//! holds the lock.
//!
//! Owns the pause schedule every retry in the writer uses (BEGIN IMMEDIATE of a group, a
//! statement that runs alone, the journal-mode switch at open, change-table maintenance). Must
//! never pause longer than the time left before the caller's limit, and never spin.

use std::time::{Duration, Instant};

use crate::error::{Error, Result, Status};

/// The pause after having waited `waited` so far: short at first (most locks are held for
/// one commit, well under a millisecond), longer as the wait goes on.
pub(crate) fn pause(waited: Duration) -> Duration {
    Duration::from_micros(match waited.as_millis() {
        0..=4 => 500,
        5..=49 => 2_000,
        _ => 10_000,
    })
}

/// Retry `f` while SQLite says BUSY/LOCKED, pausing by [`pause`], for up to `limit`.
pub(crate) fn retry<T>(limit: Duration, mut f: impl FnMut() -> rusqlite::Result<T>) -> Result<T> {
    // The clock is read at the first BUSY, not before every attempt (most succeed at once).
    let mut start = None;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) => {
                let err = Error::from(e);
                let waited = start.get_or_insert_with(Instant::now).elapsed();
                if err.status() != Status::Busy || waited >= limit {
                    return Err(err);
                }
                std::thread::sleep(pause(waited).min(limit - waited));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_never_outlast_the_limit() {
        assert!(pause(Duration::ZERO) < pause(Duration::from_millis(10)));
        assert!(pause(Duration::from_millis(10)) < pause(Duration::from_secs(1)));
        let start = Instant::now();
        let mut tries = 0;
        let r: Result<()> = retry(Duration::from_millis(30), || {
            tries += 1;
            Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                None,
            ))
        });
        assert_eq!(r.unwrap_err().status(), Status::Busy);
        assert!(start.elapsed() < Duration::from_millis(500));
        assert!(tries > 2, "retried ({tries} tries)");
    }
}
