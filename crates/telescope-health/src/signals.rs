//! What the registry tells the rest of the system: a log event on every change of a check's
//! status (not on every run), and metrics on every run.

use std::time::Duration;

use telescope_core::metric_names::{HEALTH_CHECK_DURATION_SECONDS, HEALTH_STATUS};

use crate::state::Transition;
use crate::{CheckConfig, CheckResult, Probe, Status};

/// Reports one finished run of `check`.
pub(crate) fn after_run(
    check: &str,
    config: &CheckConfig,
    effective: Option<Status>,
    result: &CheckResult,
    duration: Duration,
    transition: Option<Transition>,
) {
    metrics::histogram!(HEALTH_CHECK_DURATION_SECONDS, "check" => check.to_owned())
        .record(duration.as_secs_f64());
    if let Some(status) = effective {
        for probe in Probe::ALL.into_iter().filter(|p| config.belongs_to(*p)) {
            metrics::gauge!(HEALTH_STATUS, "check" => check.to_owned(), "probe" => probe.label())
                .set(status.gauge_value());
        }
    }
    let Some(Transition { from, to }) = transition else {
        return;
    };
    let from = from.map_or("unknown", Status::as_str);
    let reason = result.message().unwrap_or("");
    match to {
        Status::Fail => tracing::warn!(
            target: "telescope_health",
            check,
            from,
            to = to.as_str(),
            reason,
            critical = config.critical,
            "health check failing"
        ),
        Status::Warn => {
            tracing::warn!(target: "telescope_health", check, from, to = to.as_str(), reason, "health check degraded")
        }
        Status::Pass => {
            tracing::info!(target: "telescope_health", check, from, to = to.as_str(), "health check passing")
        }
    }
}
