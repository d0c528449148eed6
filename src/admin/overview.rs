//! The overview's numbers: per span name, from `telescope_span_duration_seconds` over the
//! window ([`rate_window`](super::rate_window)): rate, error rate, p50/p90/p99, the latency
//! histogram, and the exemplars on its buckets (traces to open).

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde_json::{json, Value as Json};
use telescope_metrics::{FamilySnapshot, ValueSnapshot};

use super::rate_window::{Baseline, Counts};

/// One exemplar on a bucket of an operation's histogram.
#[derive(Debug, Clone)]
pub(crate) struct ExemplarPoint {
    /// The bucket index.
    pub(crate) bucket: usize,
    pub(crate) seconds: f64,
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) failed: bool,
    pub(crate) time: std::time::SystemTime,
}

/// One operation's line.
#[derive(Debug, Clone)]
pub(crate) struct OperationStats {
    pub(crate) name: String,
    /// Observations in the window, all and failed.
    pub(crate) count: u64,
    pub(crate) errors: u64,
    /// Per second over the window.
    pub(crate) rate: f64,
    /// Failed share, 0 to 1 (0 when nothing was observed).
    pub(crate) error_rate: f64,
    /// Seconds; `None` when nothing was observed.
    pub(crate) p50: Option<f64>,
    pub(crate) p90: Option<f64>,
    pub(crate) p99: Option<f64>,
    /// The histogram's bounds (`+Inf` not included) and the window's count per bucket.
    pub(crate) bounds: Arc<[f64]>,
    pub(crate) buckets: Vec<u64>,
    pub(crate) exemplars: Vec<ExemplarPoint>,
}

/// A section of the overview: which histogram it reads and how a series names its operation
/// and says whether it failed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source {
    pub(crate) metric: &'static str,
    pub(crate) title: &'static str,
    operation: OperationOf,
}

/// How a series' labels name its operation and say whether it failed.
type OperationOf = fn(&[(String, String)]) -> (String, bool);

fn label<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.as_str())
}

/// HTTP routes, named as their server spans are (`GET /orders/{id}`); a 5xx status failed.
pub(crate) const ROUTES: Source = Source {
    metric: crate::http::REQUEST_DURATION,
    title: "HTTP routes",
    operation: |labels| {
        let method = label(labels, "method");
        let route = label(labels, "route");
        let name = if route.is_empty() {
            method.to_owned()
        } else {
            format!("{method} {route}")
        };
        let failed = label(labels, "status").starts_with('5');
        (name, failed)
    },
};

/// Every span name, with the status the span metrics layer gave it.
pub(crate) const SPANS: Source = Source {
    metric: telescope_core::metric_names::SPAN_DURATION_SECONDS,
    title: "Spans",
    operation: |labels| {
        (
            label(labels, "span_name").to_owned(),
            label(labels, "status") == "error",
        )
    },
};

impl OperationStats {
    /// An operation with nothing observed yet, over histograms of `bounds` (`buckets` counts).
    fn empty(name: String, bounds: Arc<[f64]>, buckets: usize) -> Self {
        Self {
            name,
            count: 0,
            errors: 0,
            rate: 0.0,
            error_rate: 0.0,
            p50: None,
            p90: None,
            p99: None,
            bounds,
            buckets: vec![0; buckets],
            exemplars: Vec::new(),
        }
    }
}

/// Bucket counts since `before` (none: since the start); a bucket that went down (the series
/// was recreated since, by idle expiry) counts from zero.
fn since(now: &[u64], before: Option<&[u64]>) -> Vec<u64> {
    now.iter()
        .enumerate()
        .map(|(i, now)| {
            let then = before.and_then(|b| b.get(i)).copied().unwrap_or(0);
            if *now >= then {
                now - then
            } else {
                *now
            }
        })
        .collect()
}

/// The bucket counts of every series of `family`, read from `source`'s metric, into `counts`.
pub(crate) fn count_into(counts: &mut Counts, source: &Source, family: Option<&FamilySnapshot>) {
    for series in family.iter().flat_map(|family| family.series.iter()) {
        if let ValueSnapshot::Histogram(histogram) = &series.value {
            counts.insert(
                (source.metric, series.labels.clone()),
                histogram.buckets.clone(),
            );
        }
    }
}

/// The operations of `family` (read from `source`'s metric) over the window `baseline` to
/// now.
pub(crate) fn operations(
    source: &Source,
    family: Option<&FamilySnapshot>,
    baseline: &Baseline<'_>,
) -> Vec<OperationStats> {
    let mut by_name: FxHashMap<String, OperationStats> = FxHashMap::default();
    let seconds = baseline.length.as_secs_f64().max(1e-3);
    for series in family.iter().flat_map(|family| family.series.iter()) {
        let ValueSnapshot::Histogram(histogram) = &series.value else {
            continue;
        };
        let (name, failed) = (source.operation)(&series.labels);
        let before = baseline
            .counts
            .and_then(|counts| counts.get(&(source.metric, series.labels.clone())));
        let window = since(&histogram.buckets, before.map(Vec::as_slice));
        let stats = by_name.entry(name.clone()).or_insert_with(|| {
            OperationStats::empty(name, histogram.bounds.clone(), histogram.buckets.len())
        });
        if stats.buckets.len() != window.len() {
            // Series of one operation with different bounds (not expected): the first wins.
            continue;
        }
        let observed: u64 = window.iter().sum();
        stats.count += observed;
        if failed {
            stats.errors += observed;
        }
        for (total, add) in stats.buckets.iter_mut().zip(&window) {
            *total += add;
        }
        stats
            .exemplars
            .extend(
                histogram
                    .exemplars
                    .iter()
                    .map(|(bucket, exemplar)| ExemplarPoint {
                        bucket: *bucket,
                        seconds: exemplar.value,
                        trace_id: exemplar.trace_id.to_string(),
                        span_id: exemplar.span_id.to_string(),
                        failed,
                        time: exemplar.time,
                    }),
            );
    }
    let mut operations: Vec<OperationStats> = by_name.into_values().collect();
    for stats in &mut operations {
        stats.rate = stats.count as f64 / seconds;
        stats.error_rate = if stats.count == 0 {
            0.0
        } else {
            stats.errors as f64 / stats.count as f64
        };
        stats.p50 = quantile(&stats.bounds, &stats.buckets, 0.5);
        stats.p90 = quantile(&stats.bounds, &stats.buckets, 0.9);
        stats.p99 = quantile(&stats.bounds, &stats.buckets, 0.99);
    }
    operations
}

/// The `q` quantile of bucket counts, as PromQL's `histogram_quantile` estimates it: linear
/// within the bucket holding it, the lowest bucket starting at 0, the highest bound for a
/// quantile above every bound. `None` with no observations.
pub(crate) fn quantile(bounds: &[f64], buckets: &[u64], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (index, count) in buckets.iter().enumerate() {
        let through = below + count;
        if through as f64 >= rank && *count > 0 {
            let Some(&upper) = bounds.get(index) else {
                return bounds.last().copied().or(Some(0.0));
            };
            let lower = if index == 0 {
                0.0_f64.min(upper)
            } else {
                bounds[index - 1]
            };
            let within = (rank - below as f64) / *count as f64;
            return Some(lower + (upper - lower) * within.clamp(0.0, 1.0));
        }
        below = through;
    }
    bounds.last().copied()
}

/// A column of the overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Name,
    Rate,
    ErrorRate,
    P50,
    P90,
    P99,
}

impl Column {
    pub(crate) const ALL: [Column; 6] = [
        Column::Name,
        Column::Rate,
        Column::ErrorRate,
        Column::P50,
        Column::P90,
        Column::P99,
    ];

    /// Its name in `?sort=`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Rate => "rate",
            Column::ErrorRate => "error_rate",
            Column::P50 => "p50",
            Column::P90 => "p90",
            Column::P99 => "p99",
        }
    }

    /// Its heading.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Column::Name => "operation",
            Column::Rate => "rate",
            Column::ErrorRate => "errors",
            Column::P50 => "p50",
            Column::P90 => "p90",
            Column::P99 => "p99",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|column| column.key() == text)
    }
}

/// Sorts by `column`, descending unless `ascending`; ties by name.
pub(crate) fn sort(operations: &mut [OperationStats], column: Column, ascending: bool) {
    let value = |stats: &OperationStats| -> f64 {
        match column {
            Column::Name => 0.0,
            Column::Rate => stats.rate,
            Column::ErrorRate => stats.error_rate,
            // An operation with no observation sorts below every measured one.
            Column::P50 => stats.p50.unwrap_or(-1.0),
            Column::P90 => stats.p90.unwrap_or(-1.0),
            Column::P99 => stats.p99.unwrap_or(-1.0),
        }
    };
    operations.sort_by(|a, b| {
        let order = match column {
            Column::Name => a.name.cmp(&b.name),
            _ => value(a).partial_cmp(&value(b)).unwrap_or(Ordering::Equal),
        };
        let order = if ascending { order } else { order.reverse() };
        order.then_with(|| a.name.cmp(&b.name))
    });
}

fn millis(seconds: Option<f64>) -> Json {
    seconds.map_or(Json::Null, |s| json!(s * 1e3))
}

/// One operation as JSON.
pub(crate) fn operation_json(stats: &OperationStats, kept_traces: usize) -> Json {
    let bound = |index: usize| stats.bounds.get(index).map_or(Json::Null, |b| json!(b));
    json!({
        "name": stats.name,
        "count": stats.count,
        "errors": stats.errors,
        "rate_per_s": stats.rate,
        "error_rate": stats.error_rate,
        "p50_ms": millis(stats.p50),
        "p90_ms": millis(stats.p90),
        "p99_ms": millis(stats.p99),
        "kept_traces": kept_traces,
        "buckets": stats.buckets.iter().enumerate().map(|(i, count)| json!({
            "le_s": bound(i),
            "count": count,
        })).collect::<Vec<_>>(),
        "exemplars": stats.exemplars.iter().map(|e| json!({
            "le_s": bound(e.bucket),
            "value_ms": e.seconds * 1e3,
            "trace_id": e.trace_id,
            "span_id": e.span_id,
            "status": if e.failed { "error" } else { "ok" },
            "time": telescope_core::time::rfc3339(e.time),
        })).collect::<Vec<_>>(),
    })
}

/// How the window reads on the page.
pub(crate) fn window_words(baseline: &Baseline<'_>) -> String {
    let seconds = baseline.length.as_secs();
    match baseline.counts {
        Some(_) => format!("over the last {seconds} s"),
        None => format!("since the start ({seconds} s ago)"),
    }
}

/// The window's length in seconds.
pub(crate) fn window_seconds(baseline: &Baseline<'_>) -> f64 {
    Duration::as_secs_f64(&baseline.length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_as_promql_does() {
        let bounds = [0.1, 0.2, 0.4];
        // 10 in (0, 0.1], 10 in (0.1, 0.2], none above.
        let buckets = [10, 10, 0, 0];
        assert_eq!(quantile(&bounds, &buckets, 0.5), Some(0.1));
        assert!((quantile(&bounds, &buckets, 0.75).expect("some") - 0.15).abs() < 1e-12);
        assert!((quantile(&bounds, &buckets, 0.25).expect("some") - 0.05).abs() < 1e-12);
        // In +Inf: the highest bound.
        assert_eq!(quantile(&bounds, &[0, 0, 0, 5], 0.5), Some(0.4));
        assert_eq!(quantile(&bounds, &[0, 0, 0, 0], 0.5), None);
    }

    fn stats(name: &str, rate: f64, p99: Option<f64>) -> OperationStats {
        OperationStats {
            name: name.to_owned(),
            count: 0,
            errors: 0,
            rate,
            error_rate: 0.0,
            p50: None,
            p90: None,
            p99,
            bounds: Arc::from(Vec::new()),
            buckets: Vec::new(),
            exemplars: Vec::new(),
        }
    }

    #[test]
    fn sorting_by_each_column() {
        let mut ops = vec![
            stats("b", 2.0, Some(0.3)),
            stats("a", 5.0, None),
            stats("c", 2.0, Some(0.1)),
        ];
        sort(&mut ops, Column::Rate, false);
        assert_eq!(
            ops.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        sort(&mut ops, Column::P99, false);
        assert_eq!(
            ops.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["b", "c", "a"]
        );
        sort(&mut ops, Column::Name, true);
        assert_eq!(
            ops.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(Column::parse("error_rate"), Some(Column::ErrorRate));
        assert_eq!(Column::parse("bogus"), None);
    }
}
