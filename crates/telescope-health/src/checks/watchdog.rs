//! Is the application's tokio runtime still running timers on time?

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::{CheckFuture, CheckResult, HealthCheck};

/// What the ticker on the watched runtime reports.
#[derive(Debug)]
struct Ticks {
    origin: Instant,
    /// Nanoseconds from `origin` to the latest tick.
    last_tick: AtomicU64,
    /// How late the latest timer fired, in nanoseconds.
    lag: AtomicU64,
}

impl Ticks {
    fn nanos_since_origin(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A liveness check that catches a blocked or starved tokio runtime, which is what a liveness
/// probe exists for: a task on the watched runtime sleeps `tick` in a loop; the check fails
/// when a tick is late by more than `threshold`, or when no tick has come for
/// `tick + threshold`. Register it on a [`Health`](crate::Health) whose checks run elsewhere
/// (the default dedicated runtime), so that the check runs while the watched runtime is stuck.
///
/// ```
/// use std::time::Duration;
/// use telescope_health::{checks::RuntimeWatchdog, CheckConfig, Health};
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # let _guard = runtime.enter();
/// let watchdog = RuntimeWatchdog::start("runtime", &tokio::runtime::Handle::current(),
///     Duration::from_millis(100), Duration::from_millis(500));
/// Health::new().register(watchdog, CheckConfig::liveness())?;
/// # Ok::<(), telescope_health::RegisterError>(())
/// ```
#[derive(Debug)]
pub struct RuntimeWatchdog {
    name: String,
    ticks: Arc<Ticks>,
    tick: Duration,
    threshold: Duration,
    ticker: AbortHandle,
}

impl RuntimeWatchdog {
    /// Starts ticking on the runtime of `handle`.
    pub fn start(
        name: impl Into<String>,
        handle: &Handle,
        tick: Duration,
        threshold: Duration,
    ) -> Self {
        let ticks = Arc::new(Ticks {
            origin: Instant::now(),
            last_tick: AtomicU64::new(0),
            lag: AtomicU64::new(0),
        });
        let ticker = {
            let ticks = ticks.clone();
            handle.spawn(async move {
                loop {
                    let before = Instant::now();
                    tokio::time::sleep(tick).await;
                    let lag = before.elapsed().saturating_sub(tick);
                    ticks.lag.store(
                        u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX),
                        Ordering::Relaxed,
                    );
                    ticks
                        .last_tick
                        .store(ticks.nanos_since_origin(), Ordering::Relaxed);
                }
            })
        };
        Self {
            name: name.into(),
            ticks,
            tick,
            threshold,
            ticker: ticker.abort_handle(),
        }
    }

    fn judge(&self) -> CheckResult {
        let since_tick = Duration::from_nanos(
            self.ticks
                .nanos_since_origin()
                .saturating_sub(self.ticks.last_tick.load(Ordering::Relaxed)),
        );
        let lag = Duration::from_nanos(self.ticks.lag.load(Ordering::Relaxed));
        if since_tick > self.tick + self.threshold {
            CheckResult::fail(format!(
                "the runtime has not run a timer for {since_tick:?}: blocked or starved"
            ))
        } else if lag > self.threshold {
            CheckResult::fail(format!(
                "a timer fired {lag:?} late (limit {:?})",
                self.threshold
            ))
        } else {
            CheckResult::pass()
        }
        .with_observation("timerLag", super::millis(lag), Some("ms"))
    }
}

impl Drop for RuntimeWatchdog {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

impl HealthCheck for RuntimeWatchdog {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        let result = self.judge();
        Box::pin(async move { result })
    }
}
