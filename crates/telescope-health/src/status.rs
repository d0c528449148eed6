//! What a check says: pass, warn or fail, with an explanation and an observed value.

use std::collections::BTreeMap;
use std::fmt;

/// The health of one check or of a whole probe, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Healthy.
    Pass,
    /// Working, but something needs attention; probes still answer 200.
    Warn,
    /// Not healthy; probes answer 503.
    Fail,
}

impl Status {
    /// The IETF health+json spelling: `pass`, `warn`, `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// The value of the `telescope_health_status` gauge: 1, 0.5 or 0.
    pub fn gauge_value(self) -> f64 {
        match self {
            Status::Pass => 1.0,
            Status::Warn => 0.5,
            Status::Fail => 0.0,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One observation a check reports, for health+json (`observedValue`, `observedUnit`).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// What was measured, e.g. `responseTime` or `freeBytes`: the part after `:` in the
    /// health+json key `component:measurement`.
    pub measurement: String,
    /// The value.
    pub value: serde_json::Value,
    /// The unit, e.g. `ms` or `bytes`.
    pub unit: Option<String>,
}

/// The outcome of one run of a check.
///
/// ```
/// use telescope_health::{CheckResult, Status};
/// let result = CheckResult::warn("replication lag is high").with_observation("lag", 12.5, Some("s"));
/// assert_eq!(result.status(), Status::Warn);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    status: Status,
    message: Option<String>,
    observation: Option<Observation>,
    details: BTreeMap<String, String>,
}

impl CheckResult {
    fn new(status: Status, message: Option<String>) -> Self {
        Self {
            status,
            message,
            observation: None,
            details: BTreeMap::new(),
        }
    }

    /// Healthy.
    pub fn pass() -> Self {
        Self::new(Status::Pass, None)
    }

    /// Working, with a reason for attention.
    pub fn warn(message: impl Into<String>) -> Self {
        Self::new(Status::Warn, Some(message.into()))
    }

    /// Not healthy, with the reason.
    pub fn fail(message: impl Into<String>) -> Self {
        Self::new(Status::Fail, Some(message.into()))
    }

    /// Adds what was measured (shown in health+json).
    #[must_use]
    pub fn with_observation(
        mut self,
        measurement: impl Into<String>,
        value: impl Into<serde_json::Value>,
        unit: Option<&str>,
    ) -> Self {
        self.observation = Some(Observation {
            measurement: measurement.into(),
            value: value.into(),
            unit: unit.map(str::to_owned),
        });
        self
    }

    /// Adds a detail (shown in health+json under the check).
    #[must_use]
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The reason given, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The observation, if any.
    pub fn observation(&self) -> Option<&Observation> {
        self.observation.as_ref()
    }

    /// The details.
    pub fn details(&self) -> &BTreeMap<String, String> {
        &self.details
    }
}
