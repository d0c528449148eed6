//! What an SLO says: its indicator (which requests are good), objective and window, and the
//! labels and runbook its alerts carry. Checked when declared.

use std::time::Duration;

use telescope_metrics::bucket_label;

use super::promql::{is_label_name, is_metric_name, Selector};

/// The histogram the HTTP middleware records (`telescope::http`).
const HTTP_DURATION: &str = "http_server_request_duration_seconds";

/// Labels the generated rules set themselves.
const RESERVED_LABELS: [&str; 3] = ["slo", "severity", "alertname"];

/// Why an SLO (or alert) cannot be declared or turned into rules.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SloError {
    /// A name must be letters, digits, `_`, `-` and `.`.
    #[error("SLO name {0:?} must be non-empty letters, digits, '_', '-' or '.'")]
    InvalidName(String),
    /// The objective must lie strictly between 0 and 1 (`0.999` for 99.9%).
    #[error("objective {0} must be between 0 and 1, exclusive (0.999 for 99.9%)")]
    InvalidObjective(f64),
    /// A window of at least a minute, in whole minutes.
    #[error("window {0:?} must be whole minutes, at least one")]
    InvalidWindow(Duration),
    /// Not a Prometheus metric name.
    #[error("{0:?} is not a valid metric name")]
    InvalidMetricName(String),
    /// Not a Prometheus label name, or one the rules set themselves.
    #[error("{0:?} is not a label name an SLO can use")]
    InvalidLabelName(String),
    /// A latency threshold must be a bucket bound of its histogram: the SLI counts the
    /// requests in the buckets at or under it.
    #[error("SLO {slo}: threshold {threshold} is not a bucket bound of {metric} ({buckets:?})")]
    ThresholdNotABucket {
        /// The SLO.
        slo: String,
        /// The histogram.
        metric: String,
        /// The threshold asked for.
        threshold: f64,
        /// The histogram's bounds.
        buckets: Vec<f64>,
    },
}

/// Which requests are good.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Indicator {
    /// The share of `total` that is not `errors`.
    Availability {
        total: Selector,
        errors: Selector,
        /// A label value of an error and of a success, for the generated tests, when errors
        /// are told apart by a label of the same metric.
        examples: Option<(String, String, String)>,
    },
    /// The share of a histogram's observations at or under `threshold`.
    Latency {
        histogram: String,
        filters: Vec<(String, String)>,
        threshold: f64,
    },
}

/// A service level objective: an indicator, the share of good events it promises over a
/// window, and what its alerts carry.
///
/// ```
/// use std::time::Duration;
/// use telescope::slo::Slo;
///
/// let available = Slo::http_availability("checkout-availability", 0.999)?
///     .route("/checkout")
///     .label("team", "payments")?
///     .runbook("https://runbooks.example/checkout");
/// let fast = Slo::http_latency("checkout-latency", 0.99, 0.25)?.window(Duration::from_secs(7 * 86_400))?;
/// assert_eq!(available.name(), "checkout-availability");
/// # drop(fast);
/// # Ok::<(), telescope::slo::SloError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub(crate) name: String,
    pub(crate) objective: f64,
    pub(crate) window: Duration,
    pub(crate) indicator: Indicator,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) runbook: Option<String>,
}

/// `name` if it is letters, digits, `_`, `-` and `.` (SLO and receiver names).
pub(crate) fn checked_name(name: &str) -> Result<String, SloError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    valid
        .then(|| name.to_owned())
        .ok_or_else(|| SloError::InvalidName(name.to_owned()))
}

fn checked_objective(objective: f64) -> Result<f64, SloError> {
    (objective > 0.0 && objective < 1.0)
        .then_some(objective)
        .ok_or(SloError::InvalidObjective(objective))
}

fn checked_metric(name: &str) -> Result<String, SloError> {
    is_metric_name(name)
        .then(|| name.to_owned())
        .ok_or_else(|| SloError::InvalidMetricName(name.to_owned()))
}

pub(crate) fn checked_label(name: &str) -> Result<String, SloError> {
    (is_label_name(name) && !RESERVED_LABELS.contains(&name) && !name.starts_with("__"))
        .then(|| name.to_owned())
        .ok_or_else(|| SloError::InvalidLabelName(name.to_owned()))
}

impl Slo {
    fn new(name: &str, objective: f64, indicator: Indicator) -> Result<Self, SloError> {
        Ok(Self {
            name: checked_name(name)?,
            objective: checked_objective(objective)?,
            window: Duration::from_secs(30 * 86_400),
            indicator,
            labels: Vec::new(),
            runbook: None,
        })
    }

    /// Requests that `telescope::http` answered without a 5xx, among all it answered
    /// (`http_server_request_duration_seconds_count`, by `status`).
    ///
    /// # Errors
    /// [`SloError::InvalidName`], [`SloError::InvalidObjective`].
    pub fn http_availability(name: &str, objective: f64) -> Result<Self, SloError> {
        let total = Selector::new(format!("{HTTP_DURATION}_count"));
        let errors = total.clone().matching("status", "5..");
        Self::new(
            name,
            objective,
            Indicator::Availability {
                total,
                errors,
                examples: Some(("status".to_owned(), "500".to_owned(), "200".to_owned())),
            },
        )
    }

    /// Requests that `telescope::http` answered within `threshold` seconds, which must be a
    /// bucket bound of `http_server_request_duration_seconds` (checked when rules are made).
    ///
    /// # Errors
    /// [`SloError::InvalidName`], [`SloError::InvalidObjective`].
    pub fn http_latency(name: &str, objective: f64, threshold: f64) -> Result<Self, SloError> {
        Self::latency(name, objective, HTTP_DURATION, threshold)
    }

    /// Observations of the histogram `histogram` (its base name) at or under `threshold`.
    ///
    /// # Errors
    /// [`SloError::InvalidName`], [`SloError::InvalidObjective`],
    /// [`SloError::InvalidMetricName`].
    pub fn latency(
        name: &str,
        objective: f64,
        histogram: &str,
        threshold: f64,
    ) -> Result<Self, SloError> {
        Self::new(
            name,
            objective,
            Indicator::Latency {
                histogram: checked_metric(histogram)?,
                filters: Vec::new(),
                threshold,
            },
        )
    }

    /// Events counted by the counter `total` that the counter `errors` did not count
    /// (`jobs_failed_total` among `jobs_total`).
    ///
    /// # Errors
    /// [`SloError::InvalidName`], [`SloError::InvalidObjective`],
    /// [`SloError::InvalidMetricName`].
    pub fn counters(
        name: &str,
        objective: f64,
        errors: &str,
        total: &str,
    ) -> Result<Self, SloError> {
        Self::new(
            name,
            objective,
            Indicator::Availability {
                total: Selector::new(checked_metric(total)?),
                errors: Selector::new(checked_metric(errors)?),
                examples: None,
            },
        )
    }

    /// Counts as errors only the series of the errors counter whose `label` is `value`: with
    /// the same counter for both (`orders_total{outcome="unavailable"}` among `orders_total`).
    ///
    /// # Errors
    /// [`SloError::InvalidLabelName`]; [`SloError::InvalidName`] for an SLO that is not made
    /// with [`counters`](Self::counters).
    pub fn errors_where(mut self, label: &str, value: &str) -> Result<Self, SloError> {
        let label = checked_label(label)?;
        let Indicator::Availability {
            total,
            errors,
            examples,
        } = &mut self.indicator
        else {
            return Err(SloError::InvalidName(self.name));
        };
        *errors = errors.clone().equal(&label, value);
        if errors.metric() == total.metric() {
            let other = if value == "ok" { "not_ok" } else { "ok" };
            *examples = Some((label, value.to_owned(), other.to_owned()));
        }
        Ok(self)
    }

    /// Only the series whose `label` is `value` (both counters, or the histogram).
    ///
    /// # Errors
    /// [`SloError::InvalidLabelName`].
    pub fn filter(self, label: &str, value: &str) -> Result<Self, SloError> {
        Ok(self.with_filter(&checked_label(label)?, value))
    }

    /// Only requests to this route template (`route="/checkout"`).
    pub fn route(self, route: &str) -> Self {
        self.with_filter("route", route)
    }

    /// [`filter`](Self::filter) with a label name already checked.
    fn with_filter(mut self, label: &str, value: &str) -> Self {
        match &mut self.indicator {
            Indicator::Availability { total, errors, .. } => {
                *total = total.clone().equal(label, value);
                *errors = errors.clone().equal(label, value);
            }
            Indicator::Latency { filters, .. } => {
                filters.push((label.to_owned(), value.to_owned()));
            }
        }
        self
    }

    /// The window the objective holds over (default 30 days).
    ///
    /// # Errors
    /// [`SloError::InvalidWindow`] unless whole minutes, at least one.
    pub fn window(mut self, window: Duration) -> Result<Self, SloError> {
        if window.as_secs() < 60
            || !window.as_secs().is_multiple_of(60)
            || window.subsec_nanos() != 0
        {
            return Err(SloError::InvalidWindow(window));
        }
        self.window = window;
        Ok(self)
    }

    /// A label every alert of this SLO carries (`team="payments"`), for routing.
    ///
    /// # Errors
    /// [`SloError::InvalidLabelName`], also for `slo`, `severity` and `alertname`.
    pub fn label(mut self, name: &str, value: &str) -> Result<Self, SloError> {
        self.labels.push((checked_label(name)?, value.to_owned()));
        Ok(self)
    }

    /// The runbook linked from every alert of this SLO (`runbook_url`).
    pub fn runbook(mut self, url: &str) -> Self {
        self.runbook = Some(url.to_owned());
        self
    }

    /// The SLO's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The share of good events promised (`0.999`).
    pub fn objective(&self) -> f64 {
        self.objective
    }

    /// The histogram a latency SLO reads.
    pub(crate) fn histogram(&self) -> Option<&str> {
        match &self.indicator {
            Indicator::Latency { histogram, .. } => Some(histogram),
            Indicator::Availability { .. } => None,
        }
    }

    /// The share of events allowed to be bad: `1 - objective`.
    pub fn error_budget(&self) -> f64 {
        1.0 - self.objective
    }

    /// Checks a latency threshold against the bounds its histogram really has.
    pub(crate) fn check_buckets(
        &self,
        buckets_of: &dyn Fn(&str) -> Vec<f64>,
    ) -> Result<(), SloError> {
        let Indicator::Latency {
            histogram,
            threshold,
            ..
        } = &self.indicator
        else {
            return Ok(());
        };
        let buckets = buckets_of(histogram);
        if buckets.iter().any(|bound| bound == threshold) {
            return Ok(());
        }
        Err(SloError::ThresholdNotABucket {
            slo: self.name.clone(),
            metric: histogram.clone(),
            threshold: *threshold,
            buckets,
        })
    }

    /// The bad and all events counted so far, read from the recorder's series the way the
    /// rules' PromQL selects them; `None` when the SLI's selectors are beyond the in-process
    /// reader.
    pub(crate) fn read_totals(
        &self,
        metrics: &telescope_metrics::MetricsHandle,
    ) -> Option<(f64, f64)> {
        use telescope_metrics::SeriesValue;
        match &self.indicator {
            Indicator::Availability { total, errors, .. } => {
                Some((sum_of(metrics, errors)?, sum_of(metrics, total)?))
            }
            Indicator::Latency {
                histogram,
                filters,
                threshold,
            } => {
                let (mut bad, mut all) = (0.0, 0.0);
                metrics.for_each_series(histogram, |labels, value| {
                    let selected = filters
                        .iter()
                        .all(|(name, wanted)| labels.contains(&(name.as_str(), wanted.as_str())));
                    if let (
                        true,
                        SeriesValue::Histogram {
                            bounds,
                            buckets,
                            count,
                        },
                    ) = (selected, value)
                    {
                        let within = bounds
                            .iter()
                            .take_while(|bound| *bound <= threshold)
                            .count();
                        let good: u64 = buckets.iter().take(within).sum();
                        all += count as f64;
                        bad += count.saturating_sub(good) as f64;
                    }
                });
                Some((bad, all))
            }
        }
    }

    /// PromQL for the share of bad events over `range` (`5m`).
    pub(crate) fn error_ratio(&self, range: &str) -> String {
        match &self.indicator {
            Indicator::Availability { total, errors, .. } => format!(
                "sum(rate({}[{range}])) / sum(rate({}[{range}]))",
                errors.promql(),
                total.promql()
            ),
            Indicator::Latency {
                histogram,
                filters,
                threshold,
            } => {
                let mut good = Selector::new(format!("{histogram}_bucket"));
                let mut all = Selector::new(format!("{histogram}_count"));
                for (label, value) in filters {
                    good = good.equal(label, value);
                    all = all.equal(label, value);
                }
                good = good.equal("le", &bucket_label(*threshold));
                format!(
                    "1 - (sum(rate({}[{range}])) / sum(rate({}[{range}])))",
                    good.promql(),
                    all.promql()
                )
            }
        }
    }
}

/// The sum of the series `selector` picks: counters by their name, or a histogram's counts
/// for `<histogram>_count`.
fn sum_of(metrics: &telescope_metrics::MetricsHandle, selector: &Selector) -> Option<f64> {
    use telescope_metrics::SeriesValue;
    let mut sum = 0.0;
    let mut unreadable = false;
    let mut add = |labels: &[(&str, &str)], amount: u64| match selector.matches(labels) {
        Some(true) => sum += amount as f64,
        Some(false) => {}
        None => unreadable = true,
    };
    metrics.for_each_series(selector.metric(), |labels, value| {
        if let SeriesValue::Counter(count) = value {
            add(labels, count);
        }
    });
    if let Some(histogram) = selector.metric().strip_suffix("_count") {
        metrics.for_each_series(histogram, |labels, value| {
            if let SeriesValue::Histogram { count, .. } = value {
                add(labels, count);
            }
        });
    }
    (!unreadable).then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_declarations_are_refused_with_their_reason() {
        assert!(matches!(
            Slo::http_availability("", 0.99),
            Err(SloError::InvalidName(_))
        ));
        assert!(matches!(
            Slo::http_availability("a b", 0.99),
            Err(SloError::InvalidName(_))
        ));
        for objective in [0.0, 1.0, 99.9, -0.5, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    Slo::http_availability("x", objective),
                    Err(SloError::InvalidObjective(_))
                ),
                "{objective}"
            );
        }
        let slo = Slo::http_latency("x", 0.99, 0.25).expect("valid");
        assert!(matches!(
            slo.clone().label("severity", "high"),
            Err(SloError::InvalidLabelName(_))
        ));
        assert!(matches!(
            slo.clone().label("bad-name", "v"),
            Err(SloError::InvalidLabelName(_))
        ));
        assert!(matches!(
            slo.clone().window(Duration::from_secs(90)),
            Err(SloError::InvalidWindow(_))
        ));
        assert!(matches!(
            Slo::counters("x", 0.99, "9bad", "jobs_total"),
            Err(SloError::InvalidMetricName(_))
        ));
    }

    #[test]
    fn a_latency_threshold_must_be_a_bucket_bound() {
        let buckets = |_: &str| vec![0.1, 0.25, 1.0];
        let on_bound = Slo::http_latency("x", 0.99, 0.25).expect("valid");
        assert_eq!(on_bound.check_buckets(&buckets), Ok(()));
        let between = Slo::http_latency("x", 0.99, 0.3).expect("valid");
        assert!(matches!(
            between.check_buckets(&buckets),
            Err(SloError::ThresholdNotABucket { threshold, .. }) if threshold == 0.3
        ));
    }

    #[test]
    fn error_ratios_in_promql() {
        let available = Slo::http_availability("a", 0.999)
            .expect("valid")
            .route("/orders/{id}");
        assert_eq!(
            available.error_ratio("5m"),
            "sum(rate(http_server_request_duration_seconds_count{status=~\"5..\",route=\"/orders/{id}\"}[5m])) \
             / sum(rate(http_server_request_duration_seconds_count{route=\"/orders/{id}\"}[5m]))"
        );
        let fast = Slo::http_latency("l", 0.99, 1.0).expect("valid");
        assert_eq!(
            fast.error_ratio("1h"),
            "1 - (sum(rate(http_server_request_duration_seconds_bucket{le=\"1.0\"}[1h])) \
             / sum(rate(http_server_request_duration_seconds_count[1h])))"
        );
        let orders = Slo::counters("o", 0.99, "orders_total", "orders_total")
            .and_then(|slo| slo.errors_where("outcome", "unavailable"))
            .expect("valid");
        assert_eq!(
            orders.error_ratio("5m"),
            "sum(rate(orders_total{outcome=\"unavailable\"}[5m])) / sum(rate(orders_total[5m]))"
        );
        assert!(matches!(
            Slo::http_latency("l", 0.99, 1.0).and_then(|slo| slo.errors_where("a", "b")),
            Err(SloError::InvalidName(_))
        ));
        let jobs = Slo::counters("j", 0.99, "jobs_failed_total", "jobs_total")
            .and_then(|slo| slo.filter("queue", "say \"hi\""))
            .expect("valid");
        assert_eq!(
            jobs.error_ratio("5m"),
            "sum(rate(jobs_failed_total{queue=\"say \\\"hi\\\"\"}[5m])) / sum(rate(jobs_total{queue=\"say \\\"hi\\\"\"}[5m]))"
        );
    }
}
