//! [`TelescopeRecorder`], its builder and its handle.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

use crate::exemplar::ExemplarSource;
use crate::registry::{Registry, Settings};
use crate::render::{self, Format, RenderSettings};
use crate::Matcher;

/// Prometheus' default histogram buckets.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The default cardinality limit per metric name.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;
/// The default limit on series across all metric names: 1,000 names at their 2,000-series
/// limit would be 2,000,000 series (gigabytes, and scrapes of hundreds of megabytes).
pub const DEFAULT_SERIES_LIMIT: usize = 100_000;

/// Why a builder setting was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BuildError {
    /// Bucket bounds must be finite and strictly increasing.
    #[error("histogram buckets must be finite and strictly increasing: {0:?}")]
    InvalidBuckets(Vec<f64>),
    /// Quantiles must be within 0..=1.
    #[error("quantiles must be within 0..=1: {0:?}")]
    InvalidQuantiles(Vec<f64>),
    /// A global label whose name is reserved (`le`, `quantile`, `otel_metric_overflow`).
    #[error("the label name {0:?} is reserved")]
    ReservedLabel(String),
    /// A label name that cannot be made valid or a limit of 0.
    #[error("invalid setting: {0}")]
    Invalid(String),
}

/// Why the recorder could not be installed globally.
#[derive(Debug, thiserror::Error)]
#[error("a global metrics recorder is already installed")]
pub struct InstallError {
    /// The handle of the recorder that was not installed, so the caller can still render it.
    pub handle: MetricsHandle,
}

fn check_buckets(bounds: &[f64]) -> Result<Arc<[f64]>, BuildError> {
    let valid = bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1]);
    if valid {
        Ok(Arc::from(bounds))
    } else {
        Err(BuildError::InvalidBuckets(bounds.to_vec()))
    }
}

/// Configures a [`TelescopeRecorder`].
///
/// ```
/// use telescope_metrics::{Matcher, TelescopeRecorder};
/// let (recorder, handle) = TelescopeRecorder::builder()
///     .cardinality_limit(1000)
///     .cardinality_limit_for(Matcher::Prefix("http_".into()), 5000)
///     .buckets_for(Matcher::Full("db_query_seconds".into()), &[0.001, 0.01, 0.1, 1.0])?
///     .global_label("service", "checkout")?
///     .build();
/// metrics::with_local_recorder(&recorder, || metrics::counter!("orders_total").increment(1));
/// assert!(handle.render(telescope_metrics::Format::Prometheus).contains("orders_total{service=\"checkout\"} 1"));
/// # Ok::<(), telescope_metrics::BuildError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TelescopeRecorderBuilder {
    settings: Settings,
    render: RenderSettings,
}

impl Default for TelescopeRecorderBuilder {
    fn default() -> Self {
        Self {
            settings: Settings {
                default_limit: DEFAULT_CARDINALITY_LIMIT,
                total_limit: DEFAULT_SERIES_LIMIT,
                limits: Vec::new(),
                default_buckets: Arc::from(DEFAULT_BUCKETS.as_slice()),
                buckets: Vec::new(),
                idle_timeout: None,
                exemplars: None,
                redaction: telescope_core::Redaction::default(),
                shards: crate::shard::default_shard_count(),
                quantiles: Vec::new(),
            },
            render: RenderSettings {
                global_labels: Vec::new(),
                summaries: Vec::new(),
            },
        }
    }
}

impl TelescopeRecorderBuilder {
    /// The series limit for every metric name (default 2000; 0 counts as 1).
    pub fn cardinality_limit(mut self, series: usize) -> Self {
        self.settings.default_limit = series.max(1);
        self
    }

    /// The most series across all metric names (default [`DEFAULT_SERIES_LIMIT`]): past it,
    /// a new label set folds into its name's `otel_metric_overflow="true"` series, counted in
    /// `telescope_metrics_cardinality_overflow_total{metric}`, however many names there are.
    /// 0 counts as 1.
    pub fn series_limit(mut self, series: usize) -> Self {
        self.settings.total_limit = series.max(1);
        self
    }

    /// Which label names are secret (default: [`telescope_core::Redaction::default`]): a
    /// label such as `counter!("logins", "api_key" => key)` gets `[REDACTED]` as its value, so
    /// every key lands in one series and none is stored or scraped.
    pub fn redaction(mut self, redaction: telescope_core::Redaction) -> Self {
        self.settings.redaction = redaction;
        self
    }

    /// The series limit for names that `matcher` matches (the first matching rule wins).
    pub fn cardinality_limit_for(mut self, matcher: Matcher, series: usize) -> Self {
        self.settings.limits.push((matcher, series.max(1)));
        self
    }

    /// The classic buckets of every histogram (default: Prometheus' default buckets).
    ///
    /// # Errors
    /// [`BuildError::InvalidBuckets`] unless finite and strictly increasing.
    pub fn buckets(mut self, bounds: &[f64]) -> Result<Self, BuildError> {
        self.settings.default_buckets = check_buckets(bounds)?;
        Ok(self)
    }

    /// The classic buckets of histograms whose name `matcher` matches.
    ///
    /// # Errors
    /// [`BuildError::InvalidBuckets`] unless finite and strictly increasing.
    pub fn buckets_for(mut self, matcher: Matcher, bounds: &[f64]) -> Result<Self, BuildError> {
        let bounds = check_buckets(bounds)?;
        self.settings.buckets.push((matcher, bounds));
        Ok(self)
    }

    /// Renders histograms whose name `matcher` matches as summaries with these quantiles,
    /// estimated from the histogram core (within 0.55% relative error). Such histograms keep
    /// exponential buckets for the estimates (768 bytes, plus 512 per power of two their
    /// values fall in); the others keep only their classic buckets.
    ///
    /// # Errors
    /// [`BuildError::InvalidQuantiles`] for a quantile outside `0..=1`.
    pub fn summary_for(mut self, matcher: Matcher, quantiles: &[f64]) -> Result<Self, BuildError> {
        if !quantiles.iter().all(|q| (0.0..=1.0).contains(q)) {
            return Err(BuildError::InvalidQuantiles(quantiles.to_vec()));
        }
        self.settings.quantiles.push(matcher.clone());
        self.render.summaries.push((matcher, Arc::from(quantiles)));
        Ok(self)
    }

    /// Histograms whose name `matcher` matches also keep exponential buckets (OpenTelemetry's
    /// base-2 layout, scale 6: 64 per power of two), which an OTLP push sends as exponential
    /// histograms, exactly; a scrape still shows their classic buckets. Each such series
    /// takes 768 bytes more, plus 512 per power of two its values fall in. Histograms
    /// rendered as summaries ([`summary_for`](Self::summary_for)) keep them too.
    pub fn exponential_buckets_for(mut self, matcher: Matcher) -> Self {
        self.settings.quantiles.push(matcher);
        self
    }

    /// How many per-thread shards a contended series spreads its writes over (rounded up to
    /// a power of two, 1 to 64; default: the CPUs, at most 8).
    ///
    /// Every series starts as one cell that all threads write: the many cold series of a big
    /// label set cost no more than that. The first time two threads collide on a series, it
    /// grows this many shards (64 bytes each for a counter, one histogram shard per thread
    /// that writes it), so a hot series' throughput grows with threads instead of falling.
    pub fn shards(mut self, shards: usize) -> Self {
        self.settings.shards = crate::shard::valid_shard_count(shards);
        self
    }

    /// Removes series not updated for `idle` (checked at each render or
    /// [`MetricsHandle::run_upkeep`]), freeing their place under the cardinality limit. A
    /// series someone holds a handle to is kept, so nothing recorded through it is lost.
    /// Off by default.
    pub fn idle_timeout(mut self, idle: std::time::Duration) -> Self {
        self.settings.idle_timeout = Some(idle);
        self
    }

    /// Keeps exemplars on histogram buckets: an observation made inside a sampled trace
    /// leaves the trace and span ids (found by `source`) on its bucket, shown in OpenMetrics
    /// renders as `# {trace_id="…",span_id="…"} value timestamp`. Each bucket of each series
    /// looks for a trace at most once per `interval` (at least 1 ms), so recording stays
    /// cheap. Off by default; `telescope::init()` turns it on with
    /// [`telescope_core::current_sampled_ids`] as the source.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_recorder, _handle) = telescope_metrics::TelescopeRecorder::builder()
    ///     .exemplars(Duration::from_secs(1), telescope_core::current_sampled_ids)
    ///     .build();
    /// ```
    pub fn exemplars(mut self, interval: std::time::Duration, source: ExemplarSource) -> Self {
        self.settings.exemplars = Some(crate::exemplar::ExemplarSettings {
            interval: interval.max(std::time::Duration::from_millis(1)),
            source,
        });
        self
    }

    /// A label added to every series (a series' own label of the same name wins).
    ///
    /// # Errors
    /// [`BuildError::ReservedLabel`] for a name that, once made valid, the formats give a
    /// meaning to (`le`, `quantile`) or that marks the overflow series
    /// ([`crate::OVERFLOW_LABEL`]): it would make every histogram or summary unreadable.
    pub fn global_label(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, BuildError> {
        let name = crate::names::sanitized_label_name(&name.into());
        if crate::names::RESERVED_LABELS.contains(&name.as_str()) {
            return Err(BuildError::ReservedLabel(name));
        }
        self.render
            .global_labels
            .retain(|(existing, _)| *existing != name);
        self.render.global_labels.push((name, value.into()));
        Ok(self)
    }

    /// The recorder and a handle to render what it holds.
    pub fn build(self) -> (TelescopeRecorder, MetricsHandle) {
        let registry = Arc::new(Registry::new(self.settings));
        let handle = MetricsHandle {
            registry: registry.clone(),
            render: Arc::new(self.render),
            scrapes: Arc::default(),
        };
        (TelescopeRecorder { registry }, handle)
    }

    /// Builds and installs the recorder globally.
    ///
    /// # Errors
    /// [`InstallError`] (with the handle) if a global recorder is already installed.
    pub fn install(self) -> Result<MetricsHandle, InstallError> {
        let (recorder, handle) = self.build();
        match metrics::set_global_recorder(recorder) {
            Ok(()) => Ok(handle),
            Err(_) => Err(InstallError { handle }),
        }
    }
}

/// A `metrics::Recorder` with a cardinality limit per metric name, a lock-free histogram
/// core with bounded memory, and Prometheus/OpenMetrics rendering.
///
/// Looking up an existing series (what every `counter!`/`histogram!` call does) uses the key's
/// precomputed hash, takes only a shard's read lock, and allocates nothing.
#[derive(Debug, Clone)]
pub struct TelescopeRecorder {
    registry: Arc<Registry>,
}

impl TelescopeRecorder {
    /// A builder with the defaults.
    pub fn builder() -> TelescopeRecorderBuilder {
        TelescopeRecorderBuilder::default()
    }
}

impl metrics::Recorder for TelescopeRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.registry.describe(key.as_str(), unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.registry.describe(key.as_str(), unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.registry.describe(key.as_str(), unit, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        self.registry
            .counter(key)
            .map_or_else(Counter::noop, Counter::from_arc)
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        self.registry
            .gauge(key)
            .map_or_else(Gauge::noop, Gauge::from_arc)
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        self.registry
            .histogram(key)
            .map_or_else(Histogram::noop, Histogram::from_arc)
    }
}

/// A series' current value, as [`MetricsHandle::for_each_series`] gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SeriesValue<'a> {
    /// A counter's total.
    Counter(u64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram: its bucket bounds, the count in each bucket (not cumulative; one more
    /// than the bounds, the last above them all) and the count of observations.
    Histogram {
        /// The upper bounds, `+Inf` not included.
        bounds: &'a [f64],
        /// Observations per bucket.
        buckets: &'a [u64],
        /// Observations in all.
        count: u64,
    },
}

/// Renders what a [`TelescopeRecorder`] holds. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetricsHandle {
    registry: Arc<Registry>,
    render: Arc<RenderSettings>,
    scrapes: Arc<crate::shared_scrape::SharedScrapes>,
}

impl MetricsHandle {
    /// A scrape's body: `format`, gzipped or not (`None` if compression failed). Scrapes that
    /// arrive while the same body is being rendered wait for it and share it (one render, one
    /// body in memory); a fresh render is refused ([`Busy`](crate::shared_scrape::Busy)) while
    /// too many rendered bodies are still alive in responses not yet read.
    pub(crate) fn scrape_body(
        &self,
        format: Format,
        gzipped: bool,
    ) -> Result<Option<bytes::Bytes>, crate::shared_scrape::Busy> {
        let body = self.scrapes.body((format, gzipped), || {
            let text = self.render(format).into_bytes();
            if gzipped {
                // An empty body stands for a compression failure (never a gzip stream).
                crate::exporter::gzip(&text).unwrap_or_default()
            } else {
                text
            }
        })?;
        Ok((!(gzipped && body.is_empty())).then_some(body))
    }

    /// Calls `visit` with the labels and current value of every series of `name` (the
    /// overflow series included, with its `otel_metric_overflow` label): for readers in the
    /// process, such as SLO status, that need sums over series without a scrape.
    ///
    /// ```
    /// use telescope_metrics::{SeriesValue, TelescopeRecorder};
    ///
    /// let (recorder, handle) = TelescopeRecorder::builder().build();
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::counter!("orders_total", "outcome" => "placed").increment(3);
    ///     metrics::counter!("orders_total", "outcome" => "declined").increment(1);
    /// });
    /// let mut placed = 0;
    /// handle.for_each_series("orders_total", |labels, value| {
    ///     if let (true, SeriesValue::Counter(count)) = (labels.contains(&("outcome", "placed")), value) {
    ///         placed += count;
    ///     }
    /// });
    /// assert_eq!(placed, 3);
    /// ```
    pub fn for_each_series(
        &self,
        name: &str,
        mut visit: impl FnMut(&[(&str, &str)], SeriesValue<'_>),
    ) {
        use crate::registry::AnySeries;
        for series in self.registry.series_of(name) {
            let labels: Vec<(&str, &str)> = series.labels().pairs().collect();
            match &series {
                AnySeries::Counter(counter) => {
                    visit(&labels, SeriesValue::Counter(counter.cell.value()));
                }
                AnySeries::Gauge(gauge) => visit(&labels, SeriesValue::Gauge(gauge.cell.value())),
                AnySeries::Histogram(histogram) => {
                    let snapshot = histogram.cell.snapshot();
                    visit(
                        &labels,
                        SeriesValue::Histogram {
                            bounds: histogram.cell.bounds(),
                            buckets: &snapshot.classic,
                            count: snapshot.count,
                        },
                    );
                }
            }
        }
    }

    /// The bucket bounds histograms named `name` get (those configured for it, else the
    /// default ones), `+Inf` not included.
    pub fn buckets_for(&self, name: &str) -> Vec<f64> {
        self.registry.settings.buckets_for(name).to_vec()
    }

    /// Every series as data, families sorted by name and series by labels: what a scrape at
    /// this moment would render (telescope's own `telescope_metrics_*` families aside), for
    /// pushing elsewhere. Runs the idle expiry first, if configured, as a scrape does.
    ///
    /// ```
    /// use telescope_metrics::{TelescopeRecorder, ValueSnapshot};
    ///
    /// let (recorder, handle) = TelescopeRecorder::builder().build();
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::counter!("orders_total", "region" => "eu").increment(3);
    /// });
    /// let families = handle.snapshot();
    /// assert_eq!(families[0].name, "orders_total");
    /// assert_eq!(families[0].series[0].labels, [("region".to_owned(), "eu".to_owned())]);
    /// assert_eq!(families[0].series[0].value, ValueSnapshot::Counter(3));
    /// ```
    pub fn snapshot(&self) -> Vec<crate::FamilySnapshot> {
        self.registry.expire_idle();
        crate::snapshot::snapshot(&self.registry, &self.render)
    }

    /// The series of one metric as data, sorted by labels, or `None` if it has none: what
    /// [`snapshot`](Self::snapshot) gives for that name, without reading the others.
    ///
    /// ```
    /// use telescope_metrics::{TelescopeRecorder, ValueSnapshot};
    ///
    /// let (recorder, handle) = TelescopeRecorder::builder().build();
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::counter!("orders_total").increment(2);
    ///     metrics::counter!("refunds_total").increment(1);
    /// });
    /// let orders = handle.snapshot_of("orders_total").expect("recorded");
    /// assert_eq!(orders.series[0].value, ValueSnapshot::Counter(2));
    /// assert!(handle.snapshot_of("nothing_total").is_none());
    /// ```
    pub fn snapshot_of(&self, name: &str) -> Option<crate::FamilySnapshot> {
        crate::snapshot::family(&self.registry, &self.render, name)
    }

    /// Every series in `format`, families sorted by name and series by labels. Runs the
    /// idle expiry first, if configured.
    pub fn render(&self, format: Format) -> String {
        self.registry.expire_idle();
        render::render(&self.registry, &self.render, format)
    }

    /// Removes idle series now (see [`TelescopeRecorderBuilder::idle_timeout`]); returns how
    /// many were removed.
    pub fn run_upkeep(&self) -> usize {
        self.registry.expire_idle()
    }

    /// Estimated quantiles of the histogram series `key`, or `None` if there is no such
    /// series or nothing was recorded in it: within 0.55% for histograms rendered as
    /// summaries ([`TelescopeRecorderBuilder::summary_for`]); for the others, interpolated
    /// within the classic bucket that holds the quantile, as PromQL's `histogram_quantile`
    /// does.
    pub fn histogram_quantiles(&self, key: &Key, quantiles: &[f64]) -> Option<Vec<f64>> {
        self.registry.histograms.get(key)?.cell.quantiles(quantiles)
    }

    /// How many series `name` has (the overflow series not included).
    pub fn series_count(&self, name: &str) -> usize {
        self.registry
            .family_stats()
            .into_iter()
            .find(|(n, ..)| n == name)
            .map_or(0, |(_, series, _)| series)
    }

    /// Approximate bytes held by histogram series.
    pub fn histogram_bytes(&self) -> usize {
        self.registry
            .histograms
            .collect()
            .iter()
            .map(|h| h.cell.bytes())
            .sum()
    }
}
