//! SLO status computed in the process, from telescope's own metric data, with no Prometheus:
//! samples of each SLO's bad and total events, burn rates over the alerting windows, the error
//! budget left over what the process has seen, and `telescope_slo_burn_rate{slo,window}`.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use telescope_metrics::MetricsHandle;

use super::promql::duration;
use super::Slo;

/// The windows burn rates are shown and published for.
pub const STATUS_WINDOWS: [Duration; 6] = [
    Duration::from_secs(300),
    Duration::from_secs(1_800),
    Duration::from_secs(3_600),
    Duration::from_secs(21_600),
    Duration::from_secs(86_400),
    Duration::from_secs(259_200),
];

/// The burn-rate gauge's name.
pub const BURN_RATE_GAUGE: &str = "telescope_slo_burn_rate";

/// Samples kept per SLO at most (3 days at one per 30 s, plus one).
const MAX_SAMPLES: usize = 8_641;

/// Bad and all events counted at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    bad: f64,
    total: f64,
}

/// Where one SLO stands.
#[derive(Debug, Clone, PartialEq)]
pub struct SloStatus {
    /// The SLO's name.
    pub name: String,
    /// Its objective (`0.999`).
    pub objective: f64,
    /// Its window.
    pub window: Duration,
    /// How much of the window the process has seen (since its first sample).
    pub observed: Duration,
    /// The share of good events over what was observed; `None` without events, or when the
    /// SLI's selectors are beyond the in-process reader.
    pub sli: Option<f64>,
    /// The share of the error budget left over what was observed (below 0 when overspent).
    pub budget_left: Option<f64>,
    /// The burn rate over each of [`STATUS_WINDOWS`] (1 spends the budget exactly over the
    /// window); `None` without events in it. Over a window longer than what was observed,
    /// the rate is over what was observed.
    pub burn_rates: Vec<(Duration, Option<f64>)>,
}

/// Keeps each SLO's samples and answers with their status.
#[derive(Debug)]
pub struct SloMonitor {
    slos: Vec<Slo>,
    metrics: MetricsHandle,
    history: Mutex<Vec<VecDeque<Sample>>>,
}

impl SloMonitor {
    /// A monitor of `slos` over the series `metrics` holds.
    pub fn new(slos: Vec<Slo>, metrics: MetricsHandle) -> Self {
        let history = slos.iter().map(|_| VecDeque::new()).collect();
        Self {
            slos,
            metrics,
            history: Mutex::new(history),
        }
    }

    /// The SLOs.
    pub fn slos(&self) -> &[Slo] {
        &self.slos
    }

    /// Reads every SLO's events now and publishes the burn rates in
    /// `telescope_slo_burn_rate{slo,window}` (to the `metrics` recorder in scope).
    pub fn sample(&self) {
        let now = Instant::now();
        let readings: Vec<Option<(f64, f64)>> = self
            .slos
            .iter()
            .map(|slo| slo.read_totals(&self.metrics))
            .collect();
        {
            let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
            for (samples, reading) in history.iter_mut().zip(&readings) {
                if let Some((bad, total)) = reading {
                    samples.push_back(Sample {
                        at: now,
                        bad: *bad,
                        total: *total,
                    });
                    if samples.len() > MAX_SAMPLES {
                        samples.pop_front();
                    }
                }
            }
        }
        for status in self.status() {
            for (window, rate) in &status.burn_rates {
                if let Some(rate) = rate {
                    metrics::gauge!(BURN_RATE_GAUGE, "slo" => status.name.clone(), "window" => duration(window.as_secs()))
                        .set(*rate);
                }
            }
        }
    }

    /// Every SLO's status, from the samples taken so far.
    pub fn status(&self) -> Vec<SloStatus> {
        let history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        self.slos
            .iter()
            .zip(history.iter())
            .map(|(slo, samples)| status_of(slo, samples))
            .collect()
    }
}

/// The share of bad events between the sample at or before `since` (or the first) and the
/// last; `None` without events between them.
fn bad_share(samples: &VecDeque<Sample>, since: Option<Instant>) -> Option<f64> {
    let last = samples.back()?;
    let base = match since {
        Some(since) => samples
            .iter()
            .rev()
            .find(|sample| sample.at <= since)
            .or_else(|| samples.front())?,
        None => samples.front()?,
    };
    let total = last.total - base.total;
    let bad = (last.bad - base.bad).max(0.0);
    (total > 0.0).then(|| (bad / total).min(1.0))
}

fn status_of(slo: &Slo, samples: &VecDeque<Sample>) -> SloStatus {
    let budget = slo.error_budget();
    let observed = match (samples.front(), samples.back()) {
        (Some(first), Some(last)) => last.at.duration_since(first.at),
        _ => Duration::ZERO,
    };
    let now = samples.back().map(|last| last.at);
    let over_window = now.and_then(|now| now.checked_sub(slo.window));
    // Since the start when the process has not seen a whole window yet.
    let bad = bad_share(samples, over_window).or_else(|| {
        // A single sample: the events counted since the process started.
        let only = samples.back()?;
        (samples.len() == 1 && only.total > 0.0).then(|| only.bad / only.total)
    });
    let burn_rates = STATUS_WINDOWS
        .iter()
        .map(|window| {
            let since = now.and_then(|now| now.checked_sub(*window));
            (*window, bad_share(samples, since).map(|bad| bad / budget))
        })
        .collect();
    SloStatus {
        name: slo.name().to_owned(),
        objective: slo.objective(),
        window: slo.window,
        observed,
        sli: bad.map(|bad| 1.0 - bad),
        budget_left: bad.map(|bad| 1.0 - bad / budget),
        burn_rates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telescope_metrics::TelescopeRecorder;

    #[test]
    fn status_follows_the_recorded_requests() {
        let (recorder, handle) = TelescopeRecorder::builder().build();
        let slos = vec![
            Slo::http_availability("available", 0.99).expect("valid"),
            Slo::http_latency("fast", 0.9, 0.25).expect("valid"),
            Slo::counters("orders", 0.99, "orders_total", "orders_total")
                .and_then(|slo| slo.errors_where("outcome", "unavailable"))
                .expect("valid"),
        ];
        let monitor = SloMonitor::new(slos, handle.clone());
        let record = |status: &'static str, seconds: f64, times: usize| {
            metrics::with_local_recorder(&recorder, || {
                for _ in 0..times {
                    metrics::histogram!("http_server_request_duration_seconds", "route" => "/a", "status" => status)
                        .record(seconds);
                }
            });
        };
        metrics::with_local_recorder(&recorder, || monitor.sample());
        let empty = monitor.status();
        assert_eq!(empty[0].sli, None, "no events yet");

        record("200", 0.1, 90);
        record("500", 0.5, 10);
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("orders_total", "outcome" => "placed").increment(99);
            metrics::counter!("orders_total", "outcome" => "unavailable").increment(1);
            monitor.sample();
        });
        let status = monitor.status();
        let available = &status[0];
        assert!(
            (available.sli.expect("events") - 0.9).abs() < 1e-9,
            "{available:?}"
        );
        // 10% bad against a 1% budget: ten times the sustainable rate, the budget overspent.
        let burn = available.burn_rates[0].1.expect("events in 5 minutes");
        assert!((burn - 10.0).abs() < 1e-9, "{burn}");
        assert!((available.budget_left.expect("events") - -9.0).abs() < 1e-9);
        let fast = &status[1];
        assert!(
            (fast.sli.expect("events") - 0.9).abs() < 1e-9,
            "10 of 100 over 0.25 s: {fast:?}"
        );
        assert!(
            (fast.budget_left.expect("events")).abs() < 1e-9,
            "exactly spent"
        );
        let orders = &status[2];
        assert!(
            (orders.sli.expect("events") - 0.99).abs() < 1e-9,
            "{orders:?}"
        );

        let text = handle.render(telescope_metrics::Format::Prometheus);
        let published: f64 = text
            .lines()
            .find_map(|line| {
                line.strip_prefix(r#"telescope_slo_burn_rate{slo="available",window="5m"} "#)
            })
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no burn-rate gauge:\n{text}"));
        assert!((published - 10.0).abs() < 1e-9, "{published}");
    }
}
