//! Metrics as OTLP sends them: sums, gauges and explicit-bucket histograms with their data
//! points, in a form independent of any recorder (the facade fills it from telescope's
//! recorder), and [`OtlpExport::export_metrics`](crate::OtlpExport::export_metrics), which
//! sends one batch of them.

use std::time::SystemTime;

/// Whether the points of a sum or histogram count since a fixed start (cumulative) or since
/// the previous export (delta).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Temporality {
    /// Since the start time, which stays the same from one export to the next (the default).
    #[default]
    Cumulative,
    /// Since the previous export
    /// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta`).
    Delta,
}

/// One metric: its name, description, unit, and points.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The name (`http.server.request.duration`).
    pub name: String,
    /// What it measures; empty when not described.
    pub description: String,
    /// Its unit in UCUM (`s`, `By`, `1`); empty when not given.
    pub unit: String,
    /// The points.
    pub data: MetricData,
}

/// A metric's kind and its points.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricData {
    /// A sum: a counter when monotonic.
    Sum {
        /// Whether it only goes up.
        monotonic: bool,
        /// Cumulative or delta.
        temporality: Temporality,
        /// One point per attribute set.
        points: Vec<NumberPoint>,
    },
    /// A value at a moment.
    Gauge {
        /// One point per attribute set.
        points: Vec<NumberPoint>,
    },
    /// A histogram with explicit bucket bounds.
    Histogram {
        /// Cumulative or delta.
        temporality: Temporality,
        /// One point per attribute set.
        points: Vec<HistogramPoint>,
    },
    /// A histogram with base-2 exponential buckets.
    ExponentialHistogram {
        /// Cumulative or delta.
        temporality: Temporality,
        /// One point per attribute set.
        points: Vec<ExponentialPoint>,
    },
}

/// An exponential histogram's buckets for one attribute set: bucket `offset + k` of a side
/// holds the magnitudes in `(2^((offset+k)/2^scale), 2^((offset+k+1)/2^scale)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExponentialPoint {
    /// The attributes (a series' labels).
    pub attributes: Vec<(String, String)>,
    /// Since when it counts.
    pub start: SystemTime,
    /// When it was read.
    pub time: SystemTime,
    /// Observations in all: the zero count and every bucket's.
    pub count: u64,
    /// Their sum; `None` when it is no counter (negative values were recorded).
    pub sum: Option<f64>,
    /// Buckets per power of two are `2^scale`.
    pub scale: i32,
    /// Observations at or below `zero_threshold` in magnitude.
    pub zero_count: u64,
    /// The zero bucket's bound.
    pub zero_threshold: f64,
    /// The index of the first positive bucket.
    pub positive_offset: i32,
    /// Positive buckets from `positive_offset` on.
    pub positive: Vec<u64>,
    /// The index of the first negative bucket.
    pub negative_offset: i32,
    /// Negative buckets from `negative_offset` on.
    pub negative: Vec<u64>,
    /// Observations kept as examples, with their traces.
    pub exemplars: Vec<MetricExemplar>,
}

/// A sum's or gauge's value for one attribute set.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberPoint {
    /// The attributes (a series' labels).
    pub attributes: Vec<(String, String)>,
    /// Since when the value counts (sums; ignored for gauges).
    pub start: SystemTime,
    /// When it was read.
    pub time: SystemTime,
    /// The value.
    pub value: NumberValue,
}

/// An integer or a floating-point value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumberValue {
    /// `as_int`.
    Int(i64),
    /// `as_double`.
    Double(f64),
}

/// A histogram's buckets for one attribute set.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPoint {
    /// The attributes (a series' labels).
    pub attributes: Vec<(String, String)>,
    /// Since when it counts.
    pub start: SystemTime,
    /// When it was read.
    pub time: SystemTime,
    /// Observations in all.
    pub count: u64,
    /// Their sum; `None` when it is no counter (negative values were recorded).
    pub sum: Option<f64>,
    /// The upper bounds, `+Inf` not included.
    pub bounds: Vec<f64>,
    /// Observations per bucket, not cumulative: one more than `bounds`.
    pub counts: Vec<u64>,
    /// Observations kept as examples, with their traces.
    pub exemplars: Vec<MetricExemplar>,
}

/// An observation kept as an example, with the trace it was made in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricExemplar {
    /// The observed value.
    pub value: f64,
    /// When it was observed.
    pub time: SystemTime,
    /// The trace's id.
    pub trace_id: [u8; 16],
    /// The span's id.
    pub span_id: [u8; 8],
}

impl Metric {
    /// How many data points it carries.
    pub fn points(&self) -> usize {
        match &self.data {
            MetricData::Sum { points, .. } | MetricData::Gauge { points } => points.len(),
            MetricData::Histogram { points, .. } => points.len(),
            MetricData::ExponentialHistogram { points, .. } => points.len(),
        }
    }
}
