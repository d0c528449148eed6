//! The two reservoirs of one operation: its last error traces, and its slowest traces of a
//! recent window.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::TraceId;

/// One operation's kept traces, by id (the traces themselves are in `Kept`).
#[derive(Debug, Default)]
pub(crate) struct Operation {
    /// The last error traces, oldest first.
    errors: VecDeque<TraceId>,
    /// The slowest traces that finished within the window, in no order.
    slowest: Vec<Slow>,
}

#[derive(Debug, Clone, Copy)]
struct Slow {
    trace: TraceId,
    duration: Duration,
    finished: SystemTime,
}

impl Operation {
    /// Keeps `trace` as the newest error trace; returns the one it pushes out of the last
    /// `limit` (`limit` is at least 1).
    pub(crate) fn add_error(&mut self, trace: TraceId, limit: usize) -> Option<TraceId> {
        self.errors.push_back(trace);
        (self.errors.len() > limit)
            .then(|| self.errors.pop_front())
            .flatten()
    }

    /// Offers a trace of `duration` that finished at `finished`: kept while among the `limit`
    /// slowest (`limit` at least 1). Returns whether it was kept and the trace it replaced.
    /// Ties keep the earlier trace.
    pub(crate) fn offer_slow(
        &mut self,
        trace: TraceId,
        duration: Duration,
        finished: SystemTime,
        limit: usize,
    ) -> (bool, Option<TraceId>) {
        let entry = Slow {
            trace,
            duration,
            finished,
        };
        if self.slowest.len() < limit {
            self.slowest.push(entry);
            return (true, None);
        }
        let fastest = self
            .slowest
            .iter()
            .enumerate()
            .min_by_key(|(_, slow)| (slow.duration, std::cmp::Reverse(slow.finished)));
        match fastest {
            Some((index, slow)) if slow.duration < duration => {
                let replaced = slow.trace;
                self.slowest[index] = entry;
                (true, Some(replaced))
            }
            _ => (false, None),
        }
    }

    /// Lets go of the slow traces that finished before `oldest`, into `out`.
    pub(crate) fn expire(&mut self, oldest: SystemTime, out: &mut Vec<TraceId>) {
        self.slowest.retain(|slow| {
            let keep = slow.finished >= oldest;
            if !keep {
                out.push(slow.trace);
            }
            keep
        });
    }

    /// Forgets `trace` (evicted for the byte budget) in both reservoirs.
    pub(crate) fn forget(&mut self, trace: TraceId) {
        self.errors.retain(|kept| *kept != trace);
        self.slowest.retain(|slow| slow.trace != trace);
    }

    /// Whether it holds no trace.
    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.slowest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TraceId {
        TraceId::from_bytes([n; 16])
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn errors_keep_the_last_ones() {
        let mut operation = Operation::default();
        assert_eq!(operation.add_error(id(1), 2), None);
        assert_eq!(operation.add_error(id(2), 2), None);
        assert_eq!(operation.add_error(id(3), 2), Some(id(1)));
        operation.forget(id(2));
        assert_eq!(operation.errors, [id(3)]);
    }

    #[test]
    fn the_slowest_stay_and_faster_ones_are_refused() {
        let mut operation = Operation::default();
        let ms = Duration::from_millis;
        assert_eq!(operation.offer_slow(id(1), ms(50), at(1), 2), (true, None));
        assert_eq!(operation.offer_slow(id(2), ms(10), at(2), 2), (true, None));
        assert_eq!(operation.offer_slow(id(3), ms(5), at(3), 2), (false, None));
        // Equal to the fastest kept: the earlier one stays.
        assert_eq!(operation.offer_slow(id(4), ms(10), at(4), 2), (false, None));
        assert_eq!(
            operation.offer_slow(id(5), ms(20), at(5), 2),
            (true, Some(id(2)))
        );
        let mut out = Vec::new();
        operation.expire(at(2), &mut out);
        assert_eq!(out, [id(1)]);
        assert_eq!(operation.offer_slow(id(6), ms(1), at(6), 2), (true, None));
        operation.forget(id(5));
        operation.forget(id(6));
        assert!(operation.is_empty());
    }
}
