//! Operation tracking: the recent, running and queued jobs behind `operations_json`.
//!
//! Owns the bounded lists of finished operations (the last `Max Tracked Writes`) and of the
//! group running now, and their JSON form. Must never grow beyond `Max Tracked Writes` entries
//! and never hold its locks across anything but list updates.

use std::collections::VecDeque;
use std::fmt::Write as _;

use super::conn::WriteResult;
use super::lane::{Job, Lane, Work};
use super::sql_text::SqlText;
use crate::error::Result;
use crate::json::json_string;
use crate::sync::Mutex;

/// The operation lists of one engine.
pub(crate) struct Operations {
    /// `Max Tracked Writes`.
    max: usize,
    /// One lock for both lists: a group takes it once when it starts and once when it ends.
    lists: Mutex<Lists>,
}

struct Lists {
    /// The last `max` finished operations.
    done: VecDeque<OpRecord>,
    /// The group running now (its first `max` jobs).
    running: Vec<RunningOp>,
}

/// A finished operation.
struct OpRecord {
    id: u64,
    kind: &'static str,
    committed: bool,
    sql: Option<SqlText>,
    submitted_us: i64,
    finished_us: i64,
    latency_us: i64,
    error: Option<String>,
}

/// A write being executed now: (id, kind, sql).
type RunningOp = (u64, &'static str, Option<SqlText>);

/// What an operation is, for the operations list.
pub(crate) fn kind_of(work: &Work) -> (&'static str, Option<SqlText>) {
    match work {
        Work::Exec { sql, .. } => ("execute", Some(sql.clone())),
        Work::Batch { .. } => ("batch", None),
        Work::Txn => ("transaction", None),
        Work::Barrier => ("flush", None),
        Work::Raise { .. } => ("raise", None),
        Work::Checkpoint => ("checkpoint", None),
    }
}

/// SQL shown in the operations list: one line, at most 60 characters.
fn preview(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

impl Operations {
    pub(crate) fn new(max: usize) -> Operations {
        Operations {
            max,
            lists: Mutex::new(Lists {
                done: VecDeque::new(),
                running: Vec::new(),
            }),
        }
    }

    /// Note a group's jobs as running (the first `Max Tracked Writes` of them).
    pub(crate) fn track_running(&self, jobs: &[Job]) {
        let max = self.max;
        if max == 0 {
            return;
        }
        let mut lists = self.lists.lock();
        lists.running.clear();
        lists.running.extend(jobs.iter().take(max).map(|job| {
            let (kind, sql) = kind_of(&job.work);
            (job.op, kind, sql)
        }));
    }

    /// Record a group's finished jobs, keeping the last `Max Tracked Writes`.
    pub(crate) fn track_done(&self, jobs: &[Job], results: &[Result<WriteResult>], done_us: i64) {
        let max = self.max;
        if max == 0 {
            return;
        }
        let skip = jobs.len().saturating_sub(max);
        let mut lists = self.lists.lock();
        let Lists { done: ops, running } = &mut *lists;
        // The running entries' SQL moves into the records (they were this group's first
        // `max` jobs; the records are its last `max`).
        let mut noted = running.drain(..).skip(skip);
        for (job, result) in jobs.iter().zip(results).skip(skip) {
            let (kind, sql) = match noted.next() {
                Some((id, kind, sql)) if id == job.op => (kind, sql),
                _ => kind_of(&job.work),
            };
            let latency = (done_us - job.submitted_us).max(0);
            if ops.len() >= max {
                ops.pop_front();
            }
            ops.push_back(OpRecord {
                id: job.op,
                kind,
                committed: result.is_ok(),
                sql,
                submitted_us: job.submitted_us,
                finished_us: done_us,
                latency_us: latency,
                error: result.as_ref().err().map(|e| e.message().to_owned()),
            });
        }
    }

    /// The recent operations as a JSON array: the last `Max Tracked Writes` finished ones
    /// (committed, failed), then those running, then up to that many queued in `lane`.
    pub(crate) fn json(&self, lane: &Lane) -> String {
        let mut out = String::from("[");
        let mut first = true;
        let mut item =
            |out: &mut String, id: u64, kind: &str, state: &str, sql: Option<&str>, extra: &str| {
                if !first {
                    out.push(',');
                }
                first = false;
                let _ = write!(
                    out,
                    "{{\"id\":{id},\"kind\":\"{kind}\",\"state\":\"{state}\",\"sql\":"
                );
                match sql {
                    Some(s) => json_string(out, &preview(s)),
                    None => out.push_str("null"),
                }
                out.push_str(extra);
                out.push('}');
            };
        let lists = self.lists.lock();
        for r in lists.done.iter() {
            let mut extra = format!(
                ",\"submitted_us\":{},\"finished_us\":{},\"latency_us\":{},\"error\":",
                r.submitted_us, r.finished_us, r.latency_us
            );
            match &r.error {
                Some(e) => json_string(&mut extra, e),
                None => extra.push_str("null"),
            }
            let state = if r.committed { "committed" } else { "failed" };
            item(&mut out, r.id, r.kind, state, r.sql.as_deref(), &extra);
        }
        for (id, kind, sql) in lists.running.iter() {
            item(&mut out, *id, kind, "running", sql.as_deref(), "");
        }
        drop(lists);
        let now_us = crate::signal::now_us();
        let queued: Vec<_> = lane.with_queued(|jobs| {
            jobs.take(self.max)
                .map(|j| {
                    let (kind, sql) = kind_of(&j.work);
                    (j.op, kind, sql, (now_us - j.submitted_us).max(0) as u64)
                })
                .collect()
        });
        for (id, kind, sql, waited) in queued {
            item(
                &mut out,
                id,
                kind,
                "queued",
                sql.as_deref(),
                &format!(",\"waiting_us\":{waited}"),
            );
        }
        out.push(']');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::value::Packed;
    use crate::writer::lane::{LaneConfig, Notify};
    use std::time::Duration;

    fn job(op: u64, sql: &str) -> Job {
        Job {
            work: Work::Exec {
                sql: SqlText::from(sql),
                params: Packed::new(),
                invalidate: vec![],
                alone: false,
            },
            notify: Notify::Nothing,
            submitted_us: 1,
            op,
            sampled: false,
        }
    }

    #[test]
    fn a_group_longer_than_the_list_keeps_its_last_jobs_each_with_its_own_sql() {
        let ops = Operations::new(2);
        let lane = Lane::new(LaneConfig {
            capacity: 8,
            max_batch: 8,
            enqueue_timeout: Duration::ZERO,
            poll: Duration::ZERO,
        });
        let jobs = [
            job(1, "INSERT one"),
            job(2, "INSERT two"),
            job(3, "INSERT three"),
        ];
        ops.track_running(&jobs);
        let running = ops.json(&lane);
        assert!(
            running.contains("\"id\":1") && running.contains("\"id\":2"),
            "{running}"
        );
        assert!(
            !running.contains("\"id\":3"),
            "only the first 2 are listed: {running}"
        );
        let results = [
            Ok(WriteResult::default()),
            Err(Error::invalid("two failed")),
            Ok(WriteResult::default()),
        ];
        ops.track_done(&jobs, &results, 5);
        let done = ops.json(&lane);
        assert!(
            !done.contains("running") && !done.contains("\"id\":1,"),
            "{done}"
        );
        assert!(
            done.contains(
                "\"id\":2,\"kind\":\"execute\",\"state\":\"failed\",\"sql\":\"INSERT two\""
            ),
            "{done}"
        );
        assert!(
            done.contains(
                "\"id\":3,\"kind\":\"execute\",\"state\":\"committed\",\"sql\":\"INSERT three\""
            ),
            "{done}"
        );
    }
}
