//! Alerting from service level objectives: SLOs declared in code become Prometheus recording
//! rules, multi-window multi-burn-rate alerts (Google's SRE workbook: page when 2% of the
//! error budget goes in an hour or 5% in six hours, ticket when 10% goes in a day or three),
//! plain threshold alerts, and `promtool test rules` tests that prove them.
//!
//! ```
//! use std::time::Duration;
//! use telescope::slo::{Alert, Rules, Slo};
//!
//! let slos = [
//!     Slo::http_availability("checkout-availability", 0.999)?.route("/checkout"),
//!     Slo::http_latency("checkout-latency", 0.99, 0.25)?.route("/checkout"),
//! ];
//! let alerts = [Alert::new("HighErrorRate", "sum(rate(http_server_request_duration_seconds_count{status=~\"5..\"}[5m])) > 1")?
//!     .for_duration(Duration::from_secs(300))
//!     .severity("ticket")];
//! let rules = Rules::new(&slos, &alerts);
//! // Latency thresholds must be bucket bounds of the histogram the recorder really keeps:
//! rules.check_buckets(|_| telescope::recorder::DEFAULT_BUCKETS.to_vec())?;
//! std::fs::write(std::env::temp_dir().join("slo-rules.yml"), rules.prometheus_rules()).unwrap();
//! std::fs::write(std::env::temp_dir().join("slo-tests.yml"), rules.promtool_tests("slo-rules.yml")).unwrap();
//! # Ok::<(), telescope::slo::SloError>(())
//! ```
//!
//! Then `promtool check rules slo-rules.yml` and `promtool test rules slo-tests.yml`.

mod alertmanager;
mod file;
mod promql;
mod rules;
pub(crate) mod sampler;
mod spec;
mod status;

use std::fmt::Write as _;
use std::time::Duration;

pub use alertmanager::{Receiver, Routing};
pub use file::{SloFile, SloFileError};
pub use rules::{error_ratio_record, Rules, FAST_BURN_ALERT, SLOW_BURN_ALERT};
pub use spec::{Slo, SloError};
pub use status::{SloMonitor, SloStatus, BURN_RATE_GAUGE, STATUS_WINDOWS};

/// A plain alert: a PromQL condition held for a while, with a severity, labels and
/// annotations (`HighErrorRate`, `SlowResponses`, pool exhaustion).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    name: String,
    expr: String,
    for_duration: Option<Duration>,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
}

impl Alert {
    /// An alert named `name` (letters and digits, as Prometheus alert names go) on `expr`.
    ///
    /// # Errors
    /// [`SloError::InvalidName`] for another name, or an empty expression.
    pub fn new(name: &str, expr: &str) -> Result<Self, SloError> {
        let valid = promql::is_metric_name(name) && !name.contains(':') && !expr.trim().is_empty();
        if !valid {
            return Err(SloError::InvalidName(name.to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            expr: expr.to_owned(),
            for_duration: None,
            labels: vec![("severity".to_owned(), "ticket".to_owned())],
            annotations: Vec::new(),
        })
    }

    /// How long the condition must hold before the alert fires (rounded to seconds).
    pub fn for_duration(mut self, held: Duration) -> Self {
        self.for_duration = Some(held);
        self
    }

    /// The `severity` label (default `ticket`).
    pub fn severity(mut self, severity: &str) -> Self {
        self.labels[0].1 = severity.to_owned();
        self
    }

    /// Another label.
    ///
    /// # Errors
    /// [`SloError::InvalidLabelName`], also for `severity` (see [`severity`](Self::severity)).
    pub fn label(mut self, name: &str, value: &str) -> Result<Self, SloError> {
        self.labels
            .push((spec::checked_label(name)?, value.to_owned()));
        Ok(self)
    }

    /// An annotation (`summary`, `description`; Prometheus templates allowed).
    pub fn annotation(mut self, name: &str, text: &str) -> Self {
        self.annotations.push((name.to_owned(), text.to_owned()));
        self
    }

    /// The `runbook_url` annotation.
    pub fn runbook(self, url: &str) -> Self {
        self.annotation("runbook_url", url)
    }

    fn write_rule(&self, out: &mut String) {
        let quoted = |text: &str| serde_json::Value::from(text).to_string();
        let _ = writeln!(
            out,
            "      - alert: {}\n        expr: {}",
            quoted(&self.name),
            quoted(&self.expr)
        );
        if let Some(held) = self.for_duration {
            let _ = writeln!(
                out,
                "        for: {}",
                promql::duration(held.as_secs().max(1))
            );
        }
        out.push_str("        labels:\n");
        for (name, value) in &self.labels {
            let _ = writeln!(out, "          {name}: {}", quoted(value));
        }
        if !self.annotations.is_empty() {
            out.push_str("        annotations:\n");
            for (name, text) in &self.annotations {
                let _ = writeln!(out, "          {}: {}", quoted(name), quoted(text));
            }
        }
    }
}
