//! The state of one check: its latest result and the status that the thresholds allow.

use std::time::{Duration, Instant, SystemTime};

use crate::{CheckConfig, CheckResult, Status};

/// The latest run of a check.
#[derive(Debug, Clone)]
pub(crate) struct LastRun {
    pub(crate) result: CheckResult,
    /// Wall-clock time, for display.
    pub(crate) finished_at: SystemTime,
    /// Monotonic time, for judging age (immune to clock steps).
    pub(crate) finished: Instant,
    pub(crate) duration: Duration,
}

/// A change of a check's effective status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transition {
    /// `None`: the check had not produced a status yet.
    pub(crate) from: Option<Status>,
    pub(crate) to: Status,
}

/// What is known about a check.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckState {
    /// The status after thresholds; `None` until the check first settles.
    pub(crate) effective: Option<Status>,
    pub(crate) last: Option<LastRun>,
    pub(crate) runs: u64,
    consecutive_failures: u32,
    consecutive_successes: u32,
}

impl CheckState {
    /// Records one run and returns the change of effective status, if any.
    ///
    /// A failing (or not yet settled) check needs `success_threshold` successes in a row
    /// (pass or warn) to pass; a passing one needs `failure_threshold` failures in a row to
    /// fail. A check that has not settled fails at its first failure, since it was not
    /// passing anyway. Between pass and warn it follows each result at once.
    pub(crate) fn record(
        &mut self,
        result: CheckResult,
        finished_at: SystemTime,
        duration: Duration,
        config: &CheckConfig,
    ) -> Option<Transition> {
        self.runs += 1;
        let status = result.status();
        if status == Status::Fail {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
        } else {
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
        }
        let next = match (self.effective, status) {
            (None | Some(Status::Fail), Status::Fail) => Some(Status::Fail),
            (None, _) | (Some(Status::Fail), _) => {
                if self.consecutive_successes >= config.success_threshold {
                    Some(status)
                } else {
                    self.effective
                }
            }
            (Some(current), Status::Fail) => {
                if self.consecutive_failures >= config.failure_threshold {
                    Some(Status::Fail)
                } else {
                    Some(current)
                }
            }
            (Some(_), passing) => Some(passing),
        };
        self.last = Some(LastRun {
            result,
            finished_at,
            finished: Instant::now(),
            duration,
        });
        let from = self.effective;
        self.effective = next;
        match next {
            Some(to) if from != Some(to) => Some(Transition { from, to }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(state: &mut CheckState, config: &CheckConfig, status: Status) -> Option<Transition> {
        let result = match status {
            Status::Pass => CheckResult::pass(),
            Status::Warn => CheckResult::warn("w"),
            Status::Fail => CheckResult::fail("f"),
        };
        state.record(result, SystemTime::UNIX_EPOCH, Duration::ZERO, config)
    }

    #[test]
    fn thresholds_flip_at_exactly_the_configured_count() {
        let config = CheckConfig::readiness()
            .failure_threshold(3)
            .success_threshold(2);
        let mut state = CheckState::default();
        assert_eq!(
            run(&mut state, &config, Status::Pass),
            None,
            "1 of 2 successes"
        );
        assert_eq!(state.effective, None);
        assert_eq!(
            run(&mut state, &config, Status::Pass),
            Some(Transition {
                from: None,
                to: Status::Pass
            })
        );
        assert_eq!(run(&mut state, &config, Status::Fail), None);
        assert_eq!(run(&mut state, &config, Status::Fail), None);
        assert_eq!(state.effective, Some(Status::Pass), "2 of 3 failures");
        assert_eq!(
            run(&mut state, &config, Status::Fail),
            Some(Transition {
                from: Some(Status::Pass),
                to: Status::Fail
            })
        );
        assert_eq!(
            run(&mut state, &config, Status::Pass),
            None,
            "1 of 2 successes"
        );
        assert_eq!(
            run(&mut state, &config, Status::Fail),
            None,
            "a failure resets the count"
        );
        assert_eq!(run(&mut state, &config, Status::Pass), None);
        assert_eq!(
            run(&mut state, &config, Status::Warn),
            Some(Transition {
                from: Some(Status::Fail),
                to: Status::Warn
            })
        );
        assert_eq!(
            run(&mut state, &config, Status::Pass),
            Some(Transition {
                from: Some(Status::Warn),
                to: Status::Pass
            })
        );
        assert_eq!(state.runs, 10);
    }

    #[test]
    fn an_unsettled_check_fails_at_once() {
        let config = CheckConfig::readiness().failure_threshold(5);
        let mut state = CheckState::default();
        assert_eq!(
            run(&mut state, &config, Status::Fail),
            Some(Transition {
                from: None,
                to: Status::Fail
            })
        );
    }

    #[test]
    fn one_success_resets_the_failure_count() {
        let config = CheckConfig::readiness().failure_threshold(2);
        let mut state = CheckState::default();
        run(&mut state, &config, Status::Pass);
        for _ in 0..5 {
            assert_eq!(run(&mut state, &config, Status::Fail), None);
            assert_eq!(run(&mut state, &config, Status::Pass), None);
        }
        assert_eq!(state.effective, Some(Status::Pass));
    }
}
