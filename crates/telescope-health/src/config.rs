//! Which probes a check belongs to and how it is run.

use std::fmt;
use std::time::Duration;

/// A Kubernetes probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Probe {
    /// `/startupz`: has the service finished starting? Latched once it passes.
    Startup,
    /// `/livez`: should the process be restarted? Keep dependencies out of it.
    Liveness,
    /// `/readyz`: should the service get traffic?
    Readiness,
}

impl Probe {
    /// All probes.
    pub const ALL: [Probe; 3] = [Probe::Startup, Probe::Liveness, Probe::Readiness];

    /// The endpoint name: `startupz`, `livez` or `readyz`.
    pub fn endpoint(self) -> &'static str {
        match self {
            Probe::Startup => "startupz",
            Probe::Liveness => "livez",
            Probe::Readiness => "readyz",
        }
    }

    /// The label used in metrics and logs: `startup`, `liveness`, `readiness`.
    pub fn label(self) -> &'static str {
        match self {
            Probe::Startup => "startup",
            Probe::Liveness => "liveness",
            Probe::Readiness => "readiness",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Probe::Startup => 1,
            Probe::Liveness => 2,
            Probe::Readiness => 4,
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How a registered check is run and what it counts for.
///
/// Defaults: critical, timeout 1 s (the kubelet's), every 5 s, no initial delay, a failure
/// and a success threshold of 1 (each result counts at once; Kubernetes applies its own
/// thresholds on top of the probe's answer).
///
/// ```
/// use std::time::Duration;
/// use telescope_health::{CheckConfig, Probe};
/// let config = CheckConfig::readiness()
///     .also_in(Probe::Startup)
///     .timeout(Duration::from_millis(500))
///     .interval(Duration::from_secs(10))
///     .failure_threshold(3);
/// assert!(config.belongs_to(Probe::Startup));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct CheckConfig {
    probes: u8,
    pub(crate) critical: bool,
    pub(crate) timeout: Duration,
    pub(crate) interval: Duration,
    pub(crate) initial_delay: Duration,
    pub(crate) failure_threshold: u32,
    pub(crate) success_threshold: u32,
}

impl CheckConfig {
    fn for_probe(probe: Probe) -> Self {
        Self {
            probes: probe.bit(),
            critical: true,
            timeout: Duration::from_secs(1),
            interval: Duration::from_secs(5),
            initial_delay: Duration::ZERO,
            failure_threshold: 1,
            success_threshold: 1,
        }
    }

    /// A check for the readiness probe (dependencies: databases, queues, downstream APIs).
    pub fn readiness() -> Self {
        Self::for_probe(Probe::Readiness)
    }

    /// A check for the liveness probe (the process itself: a stuck runtime, a dead worker).
    /// Do not put dependencies here: an outage of a database would restart every pod.
    pub fn liveness() -> Self {
        Self::for_probe(Probe::Liveness)
    }

    /// A check for the startup probe.
    pub fn startup() -> Self {
        Self::for_probe(Probe::Startup)
    }

    /// Counts for `probe` too.
    pub fn also_in(mut self, probe: Probe) -> Self {
        self.probes |= probe.bit();
        self
    }

    /// Whether the check counts for `probe`.
    pub fn belongs_to(&self, probe: Probe) -> bool {
        self.probes & probe.bit() != 0
    }

    /// `false`: a failure only makes the probe warn (200), never fail.
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// The longest one run may take; a run that takes longer fails with "timed out". Zero
    /// counts as 1 ms.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The pause between the end of one run and the start of the next. Zero counts as 1 ms.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long to wait before the first run.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// How many failures in a row turn a passing check into a failing one (0 counts as 1).
    pub fn failure_threshold(mut self, runs: u32) -> Self {
        self.failure_threshold = runs.max(1);
        self
    }

    /// How many successes in a row turn a failing (or not yet run) check into a passing one
    /// (0 counts as 1).
    pub fn success_threshold(mut self, runs: u32) -> Self {
        self.success_threshold = runs.max(1);
        self
    }

    /// The first thing wrong with the settings, if any.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        // Zero durations and thresholds are clamped by their setters.
        (self.probes == 0).then_some("the check belongs to no probe")
    }

    /// How old the latest result may get before the probes stop trusting it: a check whose
    /// runner is stuck (its runtime blocked) must not keep reporting its last pass.
    pub(crate) fn staleness_limit(&self) -> Duration {
        self.interval * 2 + self.timeout + Duration::from_secs(1)
    }
}
