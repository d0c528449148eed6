//! Every series at one moment, as data rather than text: what a push exporter (OTLP) sends.
//! The same series, labels (global labels included) and values a scrape at that moment
//! renders; telescope's own `telescope_metrics_*` families, which a scrape computes as it
//! renders, are not in it.

use std::sync::Arc;
use std::time::SystemTime;

use telescope_core::{SpanId, TraceId};

use crate::registry::{AnySeries, Registry};
use crate::render::RenderSettings;

/// One metric name and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilySnapshot {
    /// The name as recorded (`http.server.duration` stays as it is; a scrape writes
    /// `http_server_duration`).
    pub name: String,
    /// Its description, if one was given (`describe_counter!` and the like).
    pub help: Option<String>,
    /// Its unit, if one was given.
    pub unit: Option<metrics::Unit>,
    /// Its series, in label order.
    pub series: Vec<SeriesSnapshot>,
}

/// One series: its labels (as a scrape writes their names) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSnapshot {
    /// `(name, value)` pairs, the recorder's global labels included.
    pub labels: Vec<(String, String)>,
    /// What it holds now.
    pub value: ValueSnapshot,
}

/// A series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueSnapshot {
    /// A counter's total since the series was created.
    Counter(u64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram's buckets, count and sum since the series was created.
    Histogram(HistogramSnapshot),
}

/// A histogram series at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// The upper bounds, `+Inf` not included.
    pub bounds: Arc<[f64]>,
    /// Observations per bucket, not cumulative: one more than `bounds`, the last above them
    /// all.
    pub buckets: Vec<u64>,
    /// Observations in all (the sum of `buckets`; NaN is never recorded).
    pub count: u64,
    /// The sum of the finite observations.
    pub sum: f64,
    /// Whether a negative value was ever recorded (then the sum is no counter).
    pub negative: bool,
    /// The exemplar kept on each bucket that has one: `(bucket index, exemplar)`.
    pub exemplars: Vec<(usize, ExemplarSnapshot)>,
    /// The exponential buckets, for a histogram that keeps them
    /// ([`TelescopeRecorderBuilder::exponential_buckets_for`](crate::TelescopeRecorderBuilder::exponential_buckets_for)
    /// or `summary_for`).
    pub exponential: Option<ExponentialSnapshot>,
}

/// A histogram's exponential buckets, in OpenTelemetry's base-2 layout: bucket
/// `offset + k` of a side holds the magnitudes in `(2^((offset+k)/2^scale),
/// 2^((offset+k+1)/2^scale)]`. The recorder counts in exactly these buckets (scale 6), so
/// they are sent as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct ExponentialSnapshot {
    /// 6: 64 buckets per power of two.
    pub scale: i32,
    /// Observations at or below `zero_threshold` in magnitude.
    pub zero_count: u64,
    /// `2^-48`: smaller magnitudes are counted as zero.
    pub zero_threshold: f64,
    /// The index of the first positive bucket.
    pub positive_offset: i32,
    /// Positive buckets from `positive_offset` on. Magnitudes above `2^48` are counted in the
    /// highest bucket.
    pub positive: Vec<u64>,
    /// The index of the first negative bucket (by magnitude).
    pub negative_offset: i32,
    /// Negative buckets from `negative_offset` on.
    pub negative: Vec<u64>,
}

/// An observation kept as an example of its bucket, with the trace it was made in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExemplarSnapshot {
    /// The observed value.
    pub value: f64,
    /// When it was observed.
    pub time: SystemTime,
    /// The trace it was observed in.
    pub trace_id: TraceId,
    /// The span it was observed in.
    pub span_id: SpanId,
}

/// Every family of `registry`, sorted by name.
pub(crate) fn snapshot(registry: &Registry, settings: &RenderSettings) -> Vec<FamilySnapshot> {
    let mut families = registry.families_snapshot();
    families.sort_by(|a, b| a.name.cmp(&b.name));
    let descriptions = registry
        .descriptions
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    families
        .into_iter()
        .filter(|family| !family.series.is_empty())
        .map(|family| {
            let description = descriptions.get(&family.name);
            FamilySnapshot {
                help: description
                    .and_then(|d| d.help.as_ref())
                    .map(|h| h.to_string()),
                unit: description.and_then(|d| d.unit),
                series: family
                    .series
                    .iter()
                    .map(|series| SeriesSnapshot {
                        labels: labels_of(series, &settings.global_labels),
                        value: value_of(series),
                    })
                    .collect(),
                name: family.name,
            }
        })
        .collect()
}

/// The family `name` of `registry`, if it has series; series sorted by labels.
pub(crate) fn family(
    registry: &Registry,
    settings: &RenderSettings,
    name: &str,
) -> Option<FamilySnapshot> {
    let mut series: Vec<SeriesSnapshot> = registry
        .series_of(name)
        .iter()
        .map(|series| SeriesSnapshot {
            labels: labels_of(series, &settings.global_labels),
            value: value_of(series),
        })
        .collect();
    if series.is_empty() {
        return None;
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let descriptions = registry
        .descriptions
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let description = descriptions.get(name);
    Some(FamilySnapshot {
        name: name.to_owned(),
        help: description
            .and_then(|d| d.help.as_ref())
            .map(|h| h.to_string()),
        unit: description.and_then(|d| d.unit),
        series,
    })
}

/// A series' own labels, then the global ones it does not set itself (as a scrape writes
/// them).
fn labels_of(series: &AnySeries, global: &[(String, String)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = series
        .labels()
        .pairs()
        .map(|(name, value)| (name.to_owned(), unescape(value)))
        .collect();
    for (name, value) in global {
        if !labels.iter().any(|(own, _)| own == name) {
            labels.push((name.clone(), value.clone()));
        }
    }
    labels
}

/// A label value as recorded: the stored text is escaped as a scrape writes it.
fn unescape(value: &str) -> String {
    if !value.contains('\\') {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn value_of(series: &AnySeries) -> ValueSnapshot {
    match series {
        AnySeries::Counter(counter) => ValueSnapshot::Counter(counter.cell.value()),
        AnySeries::Gauge(gauge) => ValueSnapshot::Gauge(gauge.cell.value()),
        AnySeries::Histogram(histogram) => {
            let cell = &histogram.cell;
            let snapshot = cell.snapshot();
            let exemplars = (0..=cell.bounds().len())
                .filter_map(|index| {
                    cell.exemplar(index).map(|exemplar| {
                        (
                            index,
                            ExemplarSnapshot {
                                value: exemplar.value,
                                time: exemplar.time,
                                trace_id: exemplar.trace_id,
                                span_id: exemplar.span_id,
                            },
                        )
                    })
                })
                .collect();
            let exponential = cell.exponential().map(|e| ExponentialSnapshot {
                scale: e.scale,
                zero_count: e.zero_count,
                zero_threshold: e.zero_threshold,
                positive_offset: e.positive_offset,
                positive: e.positive,
                negative_offset: e.negative_offset,
                negative: e.negative,
            });
            ValueSnapshot::Histogram(HistogramSnapshot {
                exponential,
                bounds: cell.bounds_shared(),
                buckets: snapshot.classic,
                count: snapshot.count,
                sum: snapshot.sum,
                negative: snapshot.negative,
                exemplars,
            })
        }
    }
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;

    #[test]
    fn escaped_label_values_come_back_as_recorded() {
        assert_eq!(unescape(r#"a\"b\\c\nd"#), "a\"b\\c\nd");
        assert_eq!(unescape("plain"), "plain");
    }
}
