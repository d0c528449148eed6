//! Is a background task still alive? It says so by beating.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{CheckFuture, CheckResult, HealthCheck};

#[derive(Debug)]
struct Beats {
    origin: Instant,
    /// Nanoseconds from `origin` to the latest beat (0: none yet).
    last: AtomicU64,
}

impl Beats {
    fn since_last(&self) -> Duration {
        let now = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(now.saturating_sub(self.last.load(Ordering::Relaxed)))
    }
}

/// The task's side: call [`beat`](Self::beat) each time round its loop. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    beats: Arc<Beats>,
}

impl Heartbeat {
    /// Says the task is alive.
    pub fn beat(&self) {
        let now = u64::try_from(self.beats.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.beats.last.store(now, Ordering::Relaxed);
    }
}

/// The check's side: fails when no beat came for longer than the deadline (counting from
/// creation before the first beat).
#[derive(Debug)]
pub struct HeartbeatCheck {
    name: String,
    beats: Arc<Beats>,
    deadline: Duration,
}

/// A heartbeat for a background task named `name` that must beat at least every `deadline`.
///
/// ```
/// use std::time::Duration;
/// use telescope_health::{checks::heartbeat, CheckConfig, Health};
/// let (beat, check) = heartbeat("consumer", Duration::from_secs(30));
/// Health::new().register(check, CheckConfig::liveness())?;
/// // In the task's loop:
/// beat.beat();
/// # Ok::<(), telescope_health::RegisterError>(())
/// ```
pub fn heartbeat(name: impl Into<String>, deadline: Duration) -> (Heartbeat, HeartbeatCheck) {
    let beats = Arc::new(Beats {
        origin: Instant::now(),
        last: AtomicU64::new(0),
    });
    (
        Heartbeat {
            beats: beats.clone(),
        },
        HeartbeatCheck {
            name: name.into(),
            beats,
            deadline,
        },
    )
}

impl HealthCheck for HeartbeatCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        let silent_for = self.beats.since_last();
        let result = if silent_for > self.deadline {
            CheckResult::fail(format!(
                "no heartbeat from {} for {silent_for:?} (deadline {:?})",
                self.name, self.deadline
            ))
        } else {
            CheckResult::pass()
        };
        let result =
            result.with_observation("sinceLastBeat", super::millis(silent_for), Some("ms"));
        Box::pin(async move { result })
    }
}
