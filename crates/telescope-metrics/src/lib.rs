//! A `metrics` 0.24 recorder built for production: a cardinality limit per metric name (label
//! sets beyond it fold into one `otel_metric_overflow="true"` series, counted), a lock-free
//! histogram core that keeps no raw samples (exact classic buckets, plus quantiles within
//! 0.55% for histograms rendered as summaries), series of about 160 bytes (counters) and 320
//! (histograms) that grow per-thread shards only when contended, stable Prometheus 0.0.4 /
//! OpenMetrics 1.0 output, and a bundled `/metrics` server.
//!
//! ```
//! use telescope_metrics::{Format, TelescopeRecorder};
//!
//! let (recorder, handle) = TelescopeRecorder::builder().cardinality_limit(2).build();
//! metrics::with_local_recorder(&recorder, || {
//!     for user in ["a", "b", "c", "d"] {
//!         metrics::counter!("logins_total", "user" => user).increment(1);
//!     }
//!     metrics::histogram!("request_seconds").record(0.042);
//! });
//! let text = handle.render(Format::Prometheus);
//! assert!(text.contains(r#"logins_total{user="a"} 1"#));
//! assert!(text.contains(r#"logins_total{otel_metric_overflow="true"} 2"#));
//! assert!(text.contains(r#"request_seconds_bucket{le="0.05"} 1"#));
//! ```
//!
//! Supported Rust version: 1.88 or newer.

mod cells;
mod claims;
mod exemplar;
mod exporter;
mod histogram;
mod labels;
mod lazy_slice;
mod names;
mod negotiate;
mod recorder;
mod registry;
mod render;
mod shard;
mod shared_scrape;
mod short_eq;
mod snapshot;
mod sync;

pub use exemplar::ExemplarSource;
pub use exporter::{scrape_response, MetricsServer, MetricsServerBuilder, DEFAULT_ADDRESS};
pub use recorder::{
    BuildError, InstallError, MetricsHandle, SeriesValue, TelescopeRecorder,
    TelescopeRecorderBuilder, DEFAULT_BUCKETS, DEFAULT_CARDINALITY_LIMIT, DEFAULT_SERIES_LIMIT,
};
pub use render::Format;
pub use snapshot::{
    ExemplarSnapshot, ExponentialSnapshot, FamilySnapshot, HistogramSnapshot, SeriesSnapshot,
    ValueSnapshot,
};
/// Why the `/metrics` server could not start (shared with the health and admin servers).
pub use telescope_core::server::ServerError;

/// The label that marks the series where label sets beyond the cardinality limit are folded.
pub const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// A bucket bound as the `le` label of a scrape writes it (`0.25`, `1.0`, `+Inf`): what a
/// PromQL selector must match, e.g. in generated SLO rules.
///
/// ```
/// assert_eq!(telescope_metrics::bucket_label(1.0), "1.0");
/// assert_eq!(telescope_metrics::bucket_label(0.25), "0.25");
/// assert_eq!(telescope_metrics::bucket_label(f64::INFINITY), "+Inf");
/// ```
pub fn bucket_label(bound: f64) -> String {
    let mut label = String::new();
    names::push_float(&mut label, bound);
    label
}

/// Selects metric names for per-name settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Exactly this name.
    Full(String),
    /// Names starting with this.
    Prefix(String),
    /// Names ending with this.
    Suffix(String),
}

impl Matcher {
    /// Whether `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Full(full) => name == full,
            Matcher::Prefix(prefix) => name.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => name.ends_with(suffix.as_str()),
        }
    }
}
