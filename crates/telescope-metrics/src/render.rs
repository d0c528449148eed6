//! Prometheus text 0.0.4 and OpenMetrics 1.0 from the registry, in a stable order.
//!
//! Series are cloned out of the registry under short read locks and formatted afterwards, so
//! rendering never holds a lock that recording needs.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use metrics::Unit;

use crate::exemplar::Exemplar;
use crate::names::{escape_help, escape_label_value, metric_name, push_float};
use crate::registry::{AnySeries, Description, FamilySnapshot, Registry};
use crate::Matcher;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// OpenMetrics if `accept` (an `Accept` header value) prefers it, else Prometheus text:
    /// OpenMetrics needs a non-zero quality at least as high as any that text gets (from
    /// `text/plain`, `text/*` or `*/*`); `q=0` refuses a type.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let mut open_metrics = 0.0f32;
        let mut text = 0.0f32;
        for (media, quality) in crate::negotiate::weighted(accept.unwrap_or("")) {
            if media.eq_ignore_ascii_case("application/openmetrics-text") {
                open_metrics = open_metrics.max(quality);
            } else if ["text/plain", "text/*", "*/*"]
                .iter()
                .any(|t| media.eq_ignore_ascii_case(t))
            {
                text = text.max(quality);
            }
        }
        if open_metrics > 0.0 && open_metrics >= text {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
}

/// How histograms are rendered, and the labels added to every series.
#[derive(Debug, Clone)]
pub(crate) struct RenderSettings {
    pub(crate) global_labels: Vec<(String, String)>,
    pub(crate) summaries: Vec<(Matcher, Arc<[f64]>)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl Kind {
    fn type_name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// A global label, pre-rendered, with the prefixes that tell whether a series has its own.
struct GlobalLabel {
    rendered: String,
    own_at_start: String,
    own_later: String,
}

/// What the formatting of every family shares.
struct Writer<'a> {
    out: String,
    format: Format,
    globals: Vec<GlobalLabel>,
    settings: &'a RenderSettings,
}

impl Writer<'_> {
    /// `{labels,globals,extra}` (or nothing when there are none).
    fn labels(&mut self, labels: &str, extra: Option<(&str, &str)>) {
        let mut open = false;
        let mut separator = |out: &mut String| {
            out.push(if open { ',' } else { '{' });
            open = true;
        };
        if !labels.is_empty() {
            separator(&mut self.out);
            self.out.push_str(labels);
        }
        for global in &self.globals {
            // A series' own label of the same name wins.
            if labels.starts_with(&global.own_at_start) || labels.contains(&global.own_later) {
                continue;
            }
            separator(&mut self.out);
            self.out.push_str(&global.rendered);
        }
        if let Some((key, value)) = extra {
            separator(&mut self.out);
            self.out.push_str(key);
            self.out.push_str("=\"");
            self.out.push_str(value);
            self.out.push('"');
        }
        if open {
            self.out.push('}');
        }
    }

    fn sample(&mut self, name: &str, suffix: &str, labels: &str, extra: Option<(&str, &str)>) {
        self.out.push_str(name);
        self.out.push_str(suffix);
        self.labels(labels, extra);
        self.out.push(' ');
    }

    fn integer(&mut self, value: u64) {
        self.out.push_str(itoa::Buffer::new().format(value));
        self.out.push('\n');
    }

    /// A bucket's count, then its exemplar when there is one and the format has them
    /// (OpenMetrics: ` # {trace_id="…",span_id="…"} value timestamp`).
    fn count_with_exemplar(&mut self, count: u64, exemplar: Option<Exemplar>) {
        self.out.push_str(itoa::Buffer::new().format(count));
        if let (Format::OpenMetrics, Some(exemplar)) = (self.format, exemplar) {
            self.out.push_str(" # {trace_id=\"");
            self.out
                .push_str(std::str::from_utf8(&exemplar.trace_id.to_hex()).unwrap_or_default());
            self.out.push_str("\",span_id=\"");
            self.out
                .push_str(std::str::from_utf8(&exemplar.span_id.to_hex()).unwrap_or_default());
            self.out.push_str("\"} ");
            push_float(&mut self.out, exemplar.value);
            let since_epoch = exemplar
                .time
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            self.out.push(' ');
            self.out
                .push_str(itoa::Buffer::new().format(since_epoch.as_secs()));
            self.out.push('.');
            let millis = since_epoch.subsec_millis();
            let _ = write!(self.out, "{millis:03}");
        }
        self.out.push('\n');
    }

    /// Whether a histogram's or summary's `_sum` (and with it `_count`: OpenMetrics parsers
    /// want both or neither; a histogram's count is its `+Inf` bucket) may be written:
    /// OpenMetrics 1.0 treats the sum as a counter, so not after negative observations (or
    /// with buckets below zero).
    fn sum_allowed(&self, negative: bool) -> bool {
        !(negative && self.format == Format::OpenMetrics)
    }

    fn float(&mut self, value: f64) {
        push_float(&mut self.out, value);
        self.out.push('\n');
    }

    fn header(&mut self, name: &str, kind: Kind, description: Option<&Description>) {
        let open_metrics = self.format == Format::OpenMetrics;
        let _ = write!(self.out, "# HELP {name} ");
        // Every family gets HELP (promtool flags a missing one); undescribed ones say so.
        match description.and_then(|d| d.help.as_ref()) {
            Some(help) => escape_help(&mut self.out, help, open_metrics),
            None => self.out.push_str("(no description registered)"),
        }
        self.out.push('\n');
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.type_name());
        if let (true, Some(unit)) = (
            open_metrics,
            description.and_then(|d| d.unit).and_then(unit_suffix),
        ) {
            if name.ends_with(&format!("_{unit}")) {
                let _ = writeln!(self.out, "# UNIT {name} {unit}");
            }
        }
    }

    // One function (~120 lines): the exposition of one family is written top to bottom in
    // the order the formats require (HELP, TYPE, UNIT, then each series with its buckets and
    // exemplars), inside the scrape's hot loop; split, the order would be spread over helpers.
    fn family(&mut self, name: &str, family: &FamilySnapshot, description: Option<&Description>) {
        let Some(first) = family.series.first() else {
            return;
        };
        let kind = match first {
            AnySeries::Counter(_) => Kind::Counter,
            AnySeries::Gauge(_) => Kind::Gauge,
            AnySeries::Histogram(_)
                if self
                    .settings
                    .summaries
                    .iter()
                    .any(|(m, _)| m.matches(&family.name)) =>
            {
                Kind::Summary
            }
            AnySeries::Histogram(_) => Kind::Histogram,
        };
        // OpenMetrics names a counter family without `_total` and its sample with it.
        let open_metrics = self.format == Format::OpenMetrics;
        let family_name = match (kind, open_metrics) {
            (Kind::Counter, true) => crate::claims::counter_family(name),
            _ => name,
        };
        self.header(family_name, kind, description);
        let counter_suffix = if kind == Kind::Counter && open_metrics {
            "_total"
        } else {
            ""
        };
        let counter_name = if counter_suffix.is_empty() {
            name
        } else {
            family_name
        };
        let quantiles: Option<Arc<[f64]>> = (kind == Kind::Summary).then(|| {
            self.settings
                .summaries
                .iter()
                .find(|(m, _)| m.matches(&family.name))
                .map(|(_, q)| q.clone())
                .unwrap_or_else(|| Arc::from(vec![0.5, 0.9, 0.99]))
        });
        let mut bucket_labels: Vec<String> = Vec::new();
        let mut labels = String::new();
        // One name, one type (claims.rs refuses another kind at registration; this guard
        // keeps a render from mixing them whatever happens).
        for series in &family.series {
            labels.clear();
            series.labels().render(&mut labels);
            let labels = labels.as_str();
            match (series, kind) {
                (AnySeries::Counter(counter), Kind::Counter) => {
                    self.sample(counter_name, counter_suffix, labels, None);
                    self.integer(counter.cell.value());
                }
                (AnySeries::Gauge(gauge), Kind::Gauge) => {
                    self.sample(name, "", labels, None);
                    self.float(gauge.cell.value());
                }
                (AnySeries::Histogram(histogram), Kind::Histogram) => {
                    let snapshot = histogram.cell.snapshot();
                    if bucket_labels.len() != histogram.cell.bounds().len() {
                        bucket_labels = histogram
                            .cell
                            .bounds()
                            .iter()
                            .map(|bound| {
                                let mut le = String::new();
                                push_float(&mut le, *bound);
                                le
                            })
                            .collect();
                    }
                    let mut cumulative = 0u64;
                    for (index, (le, count)) in
                        bucket_labels.iter().zip(&snapshot.classic).enumerate()
                    {
                        cumulative += count;
                        self.sample(name, "_bucket", labels, Some(("le", le)));
                        self.count_with_exemplar(cumulative, histogram.cell.exemplar(index));
                    }
                    self.sample(name, "_bucket", labels, Some(("le", "+Inf")));
                    let last = histogram.cell.bounds().len();
                    self.count_with_exemplar(snapshot.count, histogram.cell.exemplar(last));
                    let negative_bound = histogram.cell.bounds().first().is_some_and(|b| *b < 0.0);
                    if self.sum_allowed(snapshot.negative || negative_bound) {
                        self.sample(name, "_sum", labels, None);
                        self.float(snapshot.sum);
                        self.sample(name, "_count", labels, None);
                        self.integer(snapshot.count);
                    }
                }
                (AnySeries::Histogram(histogram), Kind::Summary) => {
                    let quantiles = quantiles.clone().unwrap_or_else(|| Arc::from(vec![]));
                    let snapshot = histogram.cell.snapshot();
                    if let Some(estimates) = histogram.cell.quantiles(&quantiles) {
                        for (q, estimate) in quantiles.iter().zip(estimates) {
                            // OpenMetrics has no negative quantiles (nor a sum, below).
                            if estimate < 0.0 && self.format == Format::OpenMetrics {
                                continue;
                            }
                            let mut quantile = String::new();
                            push_float(&mut quantile, *q);
                            self.sample(name, "", labels, Some(("quantile", &quantile)));
                            self.float(estimate);
                        }
                    }
                    if self.sum_allowed(snapshot.negative) {
                        self.sample(name, "_sum", labels, None);
                        self.float(snapshot.sum);
                        self.sample(name, "_count", labels, None);
                        self.integer(snapshot.count);
                    }
                }
                _ => {}
            }
        }
    }

    /// A family of telescope's own, one series per metric name.
    fn own_family(
        &mut self,
        name: &str,
        kind: Kind,
        help: &'static str,
        unit: Option<Unit>,
        rows: &[(String, f64)],
    ) {
        let description = Description {
            help: Some(help.into()),
            unit,
        };
        let family_name = match (kind, self.format) {
            (Kind::Counter, Format::OpenMetrics) => crate::claims::counter_family(name),
            _ => name,
        };
        self.header(family_name, kind, Some(&description));
        let suffix = if family_name.len() < name.len() {
            "_total"
        } else {
            ""
        };
        for (labels, value) in rows {
            self.sample(family_name, suffix, labels, None);
            self.float(*value);
        }
    }
}

/// The text of every series in `format`: families sorted by name, series by labels.
// One function (~125 lines): a scrape in the order its text is written (families sorted,
// each family, telescope's own self-telemetry families last, the render time, `# EOF`).
pub(crate) fn render(registry: &Registry, settings: &RenderSettings, format: Format) -> String {
    let started = Instant::now();
    let mut families: Vec<(String, FamilySnapshot)> = registry
        .families_snapshot()
        .into_iter()
        .map(|f| (metric_name(&f.name), f))
        .collect();
    families.sort_by(|a, b| a.0.cmp(&b.0));
    let series_total: usize = families.iter().map(|(_, f)| f.series.len()).sum();
    let globals = settings
        .global_labels
        .iter()
        .map(|(name, value)| {
            let mut rendered = format!("{name}=\"");
            escape_label_value(&mut rendered, value);
            rendered.push('"');
            GlobalLabel {
                rendered,
                own_at_start: format!("{name}=\""),
                own_later: format!(",{name}=\""),
            }
        })
        .collect();
    let mut writer = Writer {
        out: String::with_capacity(series_total * 96 + 1024),
        format,
        globals,
        settings,
    };
    {
        let descriptions = registry
            .descriptions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut previous: Option<&str> = None;
        for (name, family) in &families {
            // Two raw names that sanitize to one cannot both hold series (the second is
            // refused at registration, claims.rs); kept so a render never writes a family twice.
            if previous == Some(name.as_str()) {
                continue;
            }
            writer.family(name, family, descriptions.get(&family.name));
            previous = Some(name);
        }
    }

    // telescope's own series.
    let per_metric = |value: &dyn Fn(&FamilySnapshot) -> f64| -> Vec<(String, f64)> {
        families
            .iter()
            .map(|(_, f)| {
                let mut labels = String::from("metric=\"");
                escape_label_value(&mut labels, &f.name);
                labels.push('"');
                (labels, value(f))
            })
            .collect()
    };
    writer.own_family(
        "telescope_metrics_cardinality_overflow_total",
        Kind::Counter,
        "Registrations folded into the otel_metric_overflow series because the metric reached its cardinality limit.",
        None,
        &per_metric(&|f| f.folds as f64),
    );
    let nan_rows: Vec<(String, f64)> = families
        .iter()
        .filter(|(_, f)| {
            f.series
                .iter()
                .any(|s| matches!(s, AnySeries::Histogram(_)))
        })
        .map(|(_, f)| {
            let nan: u64 = f
                .series
                .iter()
                .filter_map(|s| match s {
                    AnySeries::Histogram(h) => Some(h.cell.nan_count()),
                    _ => None,
                })
                .sum();
            let mut labels = String::from("metric=\"");
            escape_label_value(&mut labels, &f.name);
            labels.push('"');
            (labels, nan as f64)
        })
        .collect();
    writer.own_family(
        "telescope_metrics_nan_observations_total",
        Kind::Counter,
        "NaN values recorded into histograms: counted here, left out of their buckets, count and sum.",
        None,
        &nan_rows,
    );
    let rejected: Vec<(String, f64)> = registry
        .rejected()
        .into_iter()
        .map(|(reason, count)| (format!("reason=\"{}\"", reason.label()), count as f64))
        .collect();
    writer.own_family(
        "telescope_metrics_rejected_total",
        Kind::Counter,
        "Metric registrations refused because a name they would produce belongs to another metric; their updates are dropped.",
        None,
        &rejected,
    );
    writer.own_family(
        "telescope_metrics_series",
        Kind::Gauge,
        "Series per metric name, overflow series excluded.",
        None,
        &per_metric(&|f| f.series_count as f64),
    );
    let elapsed = started.elapsed().as_secs_f64();
    writer.own_family(
        "telescope_metrics_render_seconds",
        Kind::Gauge,
        "How long this render took up to this line, in seconds.",
        Some(Unit::Seconds),
        &[(String::new(), elapsed)],
    );
    if format == Format::OpenMetrics {
        writer.out.push_str("# EOF\n");
    }
    writer.out
}

/// The unit's suffix, as OpenMetrics expects the family name to end with it.
fn unit_suffix(unit: Unit) -> Option<&'static str> {
    match unit {
        Unit::Seconds => Some("seconds"),
        Unit::Bytes => Some("bytes"),
        Unit::Percent => Some("percent"),
        Unit::Milliseconds => Some("milliseconds"),
        Unit::Microseconds => Some("microseconds"),
        Unit::Nanoseconds => Some("nanoseconds"),
        _ => None,
    }
}
