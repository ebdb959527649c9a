//! The lane's queue of jobs, and how a group is taken out of it.
//!
//! The queue is read and changed only under the lane's lock, which every submission takes: the
//! longer a group's take holds it, the more submitters find it held, spin and then sleep (each
//! sleep a thread switch and a wake the leader pays for). Moving a group job by job (counted,
//! then moved, 176 bytes each) held it about 100 instructions per job: a pipelined group of
//! 2,400 writes kept 16 producers out for tens of microseconds. So the queue counts the jobs in
//! it that must run alone, and when a group can take everything (none must run alone, no more
//! than `Max Batch`, the common case under load) the whole list changes hands: the group gets
//! the queue's buffer and the queue an emptied one, whatever the length.
//!
//! Must keep the jobs' order, and never put a job that runs alone into a group with others.
//! Knows of a job only whether it runs alone ([`Grouped`]; the lane's `Job` implements it).

use std::collections::VecDeque;

/// What the queue needs to know of a job.
pub(crate) trait Grouped {
    /// It must run in a group by itself.
    fn runs_alone(&self) -> bool;
}

/// The queued jobs, in order, with the number of them that run alone.
pub(crate) struct Queue<Job> {
    jobs: VecDeque<Job>,
    alone: usize,
}

impl<Job> Default for Queue<Job> {
    fn default() -> Self {
        Queue {
            jobs: VecDeque::new(),
            alone: 0,
        }
    }
}

impl<Job: Grouped> Queue<Job> {
    pub(crate) fn len(&self) -> usize {
        self.jobs.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub(crate) fn front(&self) -> Option<&Job> {
        self.jobs.front()
    }

    /// The jobs in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Job> {
        self.jobs.iter()
    }

    pub(crate) fn push_back(&mut self, job: Job) {
        self.alone += usize::from(job.runs_alone());
        self.jobs.push_back(job);
    }

    pub(crate) fn push_front(&mut self, job: Job) {
        self.alone += usize::from(job.runs_alone());
        self.jobs.push_front(job);
    }

    /// Move the next group into `group` (empty, its buffer reused): a job that runs alone by
    /// itself, else the jobs up to the first that runs alone, at most `max`.
    pub(crate) fn take_group(&mut self, max: usize, group: &mut VecDeque<Job>) {
        debug_assert!(group.is_empty());
        match self.jobs.front() {
            None => {}
            Some(front) if front.runs_alone() => {
                group.extend(self.jobs.pop_front());
                self.alone -= 1;
            }
            Some(_) => self.take_more(max, group),
        }
    }

    /// Append to `group` the queued jobs that may join it, until it holds `max` jobs. When all
    /// of them may and `group` is empty, the lists change hands instead of the jobs.
    pub(crate) fn take_more(&mut self, max: usize, group: &mut VecDeque<Job>) {
        let room = max.saturating_sub(group.len());
        if self.alone == 0 && self.jobs.len() <= room {
            if group.is_empty() {
                std::mem::swap(&mut self.jobs, group);
            } else {
                group.append(&mut self.jobs);
            }
            return;
        }
        let n = self
            .jobs
            .iter()
            .take(room)
            .take_while(|j| !j.runs_alone())
            .count();
        group.extend(self.jobs.drain(..n));
    }

    /// Drop every queued job (the lane's tests).
    #[cfg(test)]
    pub(crate) fn clear(&mut self) {
        self.jobs.clear();
        self.alone = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job: its number, and whether it runs alone.
    struct J(u64, bool);

    impl Grouped for J {
        fn runs_alone(&self) -> bool {
            self.1
        }
    }

    fn ops(group: &mut VecDeque<J>) -> Vec<u64> {
        group.drain(..).map(|j| j.0).collect()
    }

    fn queue(alone: &[bool]) -> Queue<J> {
        let mut q = Queue::default();
        for (i, &a) in alone.iter().enumerate() {
            q.push_back(J(i as u64 + 1, a));
        }
        q
    }

    #[test]
    fn a_group_takes_everything_in_order_and_the_queue_keeps_working_afterwards() {
        let mut q = queue(&[false; 5]);
        let mut group = VecDeque::new();
        q.take_group(10, &mut group);
        assert!(q.is_empty());
        assert_eq!(group.make_contiguous().len(), 5);
        assert_eq!(ops(&mut group), [1, 2, 3, 4, 5]);
        // The queue now holds the group's old (empty) buffer.
        q.push_back(J(6, false));
        q.push_front(J(7, false));
        q.take_group(10, &mut group);
        assert_eq!(ops(&mut group), [7, 6]);
    }

    #[test]
    fn a_job_that_runs_alone_is_taken_by_itself_and_ends_the_group_before_it() {
        let mut q = queue(&[false, false, true, false]);
        let mut group = VecDeque::new();
        q.take_group(10, &mut group);
        assert_eq!(ops(&mut group), [1, 2]);
        q.take_group(10, &mut group);
        assert_eq!(ops(&mut group), [3]);
        // Nothing left that runs alone: the rest changes hands whole.
        assert_eq!(q.alone, 0);
        q.push_back(J(5, false));
        q.take_group(10, &mut group);
        assert_eq!(ops(&mut group), [4, 5]);
        assert!(q.is_empty());
        // One pushed to the front is counted as well.
        q.push_back(J(6, false));
        q.push_front(J(8, true));
        q.take_group(10, &mut group);
        assert_eq!(ops(&mut group), [8]);
        q.take_group(10, &mut group);
        assert_eq!(ops(&mut group), [6]);
        assert_eq!(q.alone, 0);
    }

    #[test]
    fn max_batch_bounds_a_group_and_growing_it() {
        let mut q = queue(&[false; 7]);
        let mut group = VecDeque::new();
        q.take_group(3, &mut group);
        assert_eq!(ops(&mut group), [1, 2, 3]);
        q.take_group(3, &mut group);
        assert_eq!(group.len(), 3);
        q.take_more(5, &mut group);
        assert_eq!(ops(&mut group), [4, 5, 6, 7]);
        // Growing stops at a job that runs alone too.
        let mut q = queue(&[false, true]);
        group.push_back(J(9, false));
        q.take_more(10, &mut group);
        assert_eq!(ops(&mut group), [9, 1]);
        assert_eq!((q.len(), q.alone), (1, 1));
        q.take_group(10, &mut group);
        assert_eq!(ops(&mut group), [2]);
        assert_eq!(q.alone, 0);
    }
}
