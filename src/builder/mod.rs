//! [`TelemetryBuilder`]: every knob of `init()`, set in code or read from the environment.
//! [`resolve`] decides each setting (code, then environment, then default); [`assemble`]
//! builds the subscriber, the recorder, the admin server and the guard from the decisions.

mod assemble;
mod resolve;

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use telescope_health::Health;
use telescope_log::audit::AuditLog;
use telescope_log::{Redaction, Schema};
use telescope_metrics::TelescopeRecorderBuilder;
use telescope_otlp::propagation::Propagators;
use telescope_otlp::sampler::Sampler;
use telescope_otlp::{OtlpExportConfig, TraceRetention};
use tracing::Dispatch;

use crate::env::ProcessEnv;
use crate::{InitError, Telemetry};
use assemble::global_subscriber_exists;
use resolve::AdminSetting;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// One JSON object per line ([`JsonLayer`](telescope_log::JsonLayer)); the default.
    #[default]
    Json,
    /// `tracing-subscriber`'s human-readable format, coloured on a terminal.
    Pretty,
}

/// Configures telemetry. Settings made here win; anything left unset is read from the
/// environment when the builder finishes (table below), and otherwise defaults.
///
/// | setting | method | variable | default |
/// |---|---|---|---|
/// | log filter: which events are recorded | [`log_filter`](Self::log_filter) | `RUST_LOG` | `info` |
/// | span filter: which spans exist | [`span_filter`](Self::span_filter) | `TELESCOPE_SPAN_FILTER` | `info` |
/// | `log` crate records | [`log_records`](Self::log_records) | `TELESCOPE_LOG_RECORDS` (`true`, `false`) | captured |
/// | log format | [`log_format`](Self::log_format) | `TELESCOPE_LOG_FORMAT` (`json`, `pretty`) | `json` |
/// | JSON schema | [`log_schema`](Self::log_schema) | `TELESCOPE_LOG_SCHEMA` (`default`, `ecs`, `gcp`) | `default` |
/// | service name | [`service_name`](Self::service_name) | `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES` | `unknown_service:<executable>` |
/// | service version | [`service_version`](Self::service_version) | `service.version` in `OTEL_RESOURCE_ATTRIBUTES` | none |
/// | environment | [`deployment_environment`](Self::deployment_environment) | `deployment.environment.name` (or `deployment.environment`) in `OTEL_RESOURCE_ATTRIBUTES` | none |
/// | propagation formats | [`propagators`](Self::propagators) | `OTEL_PROPAGATORS` (`tracecontext`, `baggage`, `b3`, `b3multi`, `jaeger`, `none`; unknown names are ignored with a warning) | `tracecontext,baggage` |
/// | baggage keys on log lines and spans | [`baggage_fields`](Self::baggage_fields) | `TELESCOPE_BAGGAGE_FIELDS` (`tenant,region`) | none |
/// | span sampler | [`sampler`](Self::sampler) | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` (also `adaptive`, its argument the traces per second) | parent-based, always on |
/// | OTLP export | [`otlp_export`](Self::otlp_export) | `OTEL_EXPORTER_OTLP_{TRACES_,}ENDPOINT` (`http://` or `https://`), `…PROTOCOL` (`http/protobuf`, `grpc`), `…HEADERS`, `…TIMEOUT`, `…COMPRESSION` (`gzip`, `none`), `…CERTIFICATE`, `…CLIENT_CERTIFICATE`, `…CLIENT_KEY`, `…INSECURE`; the `LOGS_` and `METRICS_` forms are checked at start-up too | none: spans stay in the in-process ring |
/// | span queue and batches | — | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_EXPORT_TIMEOUT`, `OTEL_BSP_MAX_CONCURRENT_EXPORTS` | 2048, 512, 5 s, 30 s, 1 |
/// | extra redacted field names | [`redaction`](Self::redaction) | `TELESCOPE_REDACT` (`ssn,iban`: added to the default list) | the default list |
/// | lossy log queue | [`lossy_logs`](Self::lossy_logs) | `TELESCOPE_LOG_LOSSY` (`true`, `false`) | `true` |
/// | log queue size | [`log_queue_lines`](Self::log_queue_lines), [`log_queue_bytes`](Self::log_queue_bytes) | `TELESCOPE_LOG_QUEUE_LINES`, `TELESCOPE_LOG_QUEUE_BYTES` | 128,000 lines, 64 MiB |
/// | shutdown budget | [`shutdown_timeout`](Self::shutdown_timeout) | `TELESCOPE_SHUTDOWN_TIMEOUT` (ms) | 5 s |
/// | admin server (`/metrics`, probes, `/debug/traces`) | [`admin_address`](Self::admin_address), [`without_admin_server`](Self::without_admin_server) | `TELESCOPE_ADMIN_ADDR` (`off` to disable) | `127.0.0.1:9464` |
/// | admin bearer token | [`admin_token`](Self::admin_token) | `TELESCOPE_ADMIN_TOKEN` | none |
/// | metrics recorder | [`metrics`](Self::metrics) | `TELESCOPE_METRICS_CARDINALITY_LIMIT`, `TELESCOPE_METRICS_SERIES_LIMIT` (when no recorder is set in code) | 2,000 series per metric, 100,000 in all |
/// | exemplars | [`exemplar_interval`](Self::exemplar_interval) | `TELESCOPE_EXEMPLAR_INTERVAL` (ms, `off`) | one per histogram bucket per second |
/// | traces kept for `/debug/traces` beyond the recent 2,048 spans | [`trace_retention`](Self::trace_retention) | `TELESCOPE_TRACES_RETAIN_ERRORS`, `TELESCOPE_TRACES_RETAIN_SLOWEST` (per operation), `TELESCOPE_TRACES_SLOW_WINDOW` (ms), `TELESCOPE_TRACES_RETAIN_BYTES` (`0` turns retention off) | 20, 20, 15 min, 16 MiB; and every exemplar's trace |
/// | health checks | [`health`](Self::health) | — | a new [`Health`]; register checks on [`Telemetry::health`] |
/// | audit trail | [`audit_log`](Self::audit_log), [`audit_file`](Self::audit_file) | `TELESCOPE_AUDIT_FILE`, `TELESCOPE_AUDIT_KEY_FILE` (HMAC key), `TELESCOPE_AUDIT_SIGNING_KEY_FILE` (Ed25519 secret for checkpoints) | none |
///
/// The admin server's address is bound when the builder finishes. When it is the default and
/// that port is busy, telemetry starts without the admin server and says so on stderr; an
/// address set in code or in `TELESCOPE_ADMIN_ADDR` must bind, or the finisher fails.
///
/// A variable that is set but invalid makes the finisher fail with
/// [`InitError::InvalidEnv`] naming it; an empty variable counts as unset.
///
/// ```
/// let (dispatch, _telemetry) = telescope::builder()
///     .service_name("checkout")
///     .log_filter("info,my_crate=debug")?
///     .build()?;
/// tracing::dispatcher::with_default(&dispatch, || tracing::info!("configured in code"));
/// # Ok::<(), telescope::InitError>(())
/// ```
#[must_use]
#[derive(Default)]
pub struct TelemetryBuilder {
    service_name: Option<String>,
    service_version: Option<String>,
    environment: Option<String>,
    log_filter: Option<String>,
    span_filter: Option<String>,
    log_format: Option<LogFormat>,
    log_schema: Option<Schema>,
    redaction: Option<Redaction>,
    lossy_logs: Option<bool>,
    log_queue_lines: Option<usize>,
    log_queue_bytes: Option<usize>,
    shutdown_timeout: Option<Duration>,
    log_writer: Option<Box<dyn Write + Send>>,
    sampler: Option<Box<dyn Sampler>>,
    propagators: Option<Propagators>,
    baggage_fields: Option<Vec<String>>,
    otlp_export: Option<OtlpExportConfig>,
    otlp_logs: Option<OtlpExportConfig>,
    zipkin_export: Option<telescope_otlp::ZipkinConfig>,
    otlp_metrics: Option<OtlpExportConfig>,
    metric_export_interval: Option<Duration>,
    metric_temporality: Option<telescope_otlp::Temporality>,
    exponential_histograms: Option<bool>,
    statsd: Option<crate::statsd::StatsdConfig>,
    admin: Option<AdminSetting>,
    admin_token: Option<String>,
    metrics: Option<TelescopeRecorderBuilder>,
    health: Option<Health>,
    audit_log: Option<AuditLog>,
    audit_file: Option<PathBuf>,
    /// `Some(None)`: no exemplars; `None`: not set in code.
    exemplar_interval: Option<Option<Duration>>,
    trace_retention: Option<TraceRetention>,
    log_records: Option<bool>,
    slos: Vec<crate::slo::Slo>,
    alerts: Vec<crate::slo::Alert>,
    slo_sample_interval: Option<Duration>,
}

/// Sends records of the `log` crate to the global `tracing` subscriber, up to `level` (the
/// most verbose the log filter lets through, so disabled `log` calls stay cheap). Another `log`
/// logger already installed keeps them; that is said on stderr, not an error.
fn bridge_log_records(level: tracing::level_filters::LevelFilter) {
    use tracing::level_filters::LevelFilter;
    let max = match level {
        LevelFilter::OFF => log::LevelFilter::Off,
        LevelFilter::ERROR => log::LevelFilter::Error,
        LevelFilter::WARN => log::LevelFilter::Warn,
        LevelFilter::INFO => log::LevelFilter::Info,
        LevelFilter::DEBUG => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    if tracing_log::LogTracer::builder()
        .with_max_level(max)
        .init()
        .is_err()
    {
        eprintln!(
            "telescope: another `log` logger is installed; records of the `log` crate go to it, \
             not to telescope (or build with .log_records(false) to silence this)"
        );
    }
}

/// `directives` if they parse as a filter.
fn valid_filter(directives: String) -> Result<String, InitError> {
    match crate::signal_filter::parse_directives(&directives) {
        Ok(_) => Ok(directives),
        Err(reason) => Err(InitError::InvalidFilter { directives, reason }),
    }
}

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("service_name", &self.service_name)
            .field("service_version", &self.service_version)
            .field("environment", &self.environment)
            .field("log_filter", &self.log_filter)
            .field("span_filter", &self.span_filter)
            .field("log_format", &self.log_format)
            .field("log_schema", &self.log_schema)
            .field("lossy_logs", &self.lossy_logs)
            .field("sampler", &self.sampler)
            .field("propagators", &self.propagators)
            .field("otlp_export", &self.otlp_export)
            .field("otlp_logs", &self.otlp_logs)
            .field("otlp_metrics", &self.otlp_metrics)
            .field("admin", &self.admin)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<hidden>"),
            )
            .field("audit_file", &self.audit_file)
            .finish_non_exhaustive()
    }
}

impl TelemetryBuilder {
    /// The service's name (`service.name` on every log line).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The service's version (`service.version`).
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// The deployment environment (`deployment.environment.name`), e.g. `production`.
    pub fn deployment_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Which events are recorded, in `RUST_LOG` syntax (`info,my_crate=debug`): written as
    /// log lines, and kept as events of the spans they happen in. Span directives select
    /// events by the spans around them (`warn,[checkout]=debug`). Which spans exist is the
    /// [`span_filter`](Self::span_filter)'s decision, so a quiet log level
    /// (`RUST_LOG=warn`) keeps traces, propagation and span metrics whole.
    ///
    /// # Errors
    /// [`InitError::InvalidFilter`] if the directives do not parse.
    pub fn log_filter(mut self, directives: impl Into<String>) -> Result<Self, InitError> {
        self.log_filter = Some(valid_filter(directives.into())?);
        Ok(self)
    }

    /// Which spans exist, in `RUST_LOG` syntax (default `info`): spans are the trace context
    /// (the ids on log lines, what `inject_context` forwards, the parent of outgoing calls) and
    /// the source of span metrics; the sampler then decides which are exported. A span
    /// filtered out here is no context: events inside it belong to its nearest enabled
    /// ancestor. Set `debug` to also trace `#[instrument(level = "debug")]` functions.
    ///
    /// ```
    /// let (dispatch, _telemetry) = telescope::builder()
    ///     .log_filter("warn")?
    ///     .span_filter("info,my_crate::db=debug")?
    ///     .build()?;
    /// tracing::dispatcher::with_default(&dispatch, || {
    ///     let span = tracing::info_span!("request");
    ///     assert!(!span.is_disabled(), "an INFO span exists at RUST_LOG=warn");
    /// });
    /// # Ok::<(), telescope::InitError>(())
    /// ```
    ///
    /// # Errors
    /// [`InitError::InvalidFilter`] if the directives do not parse.
    pub fn span_filter(mut self, directives: impl Into<String>) -> Result<Self, InitError> {
        self.span_filter = Some(valid_filter(directives.into())?);
        Ok(self)
    }

    /// JSON or pretty log lines.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = Some(format);
        self
    }

    /// The JSON schema: telescope's keys, ECS or Google Cloud Logging.
    pub fn log_schema(mut self, schema: Schema) -> Self {
        self.log_schema = Some(schema);
        self
    }

    /// Which names are secret (default: [`Redaction::default`]), for every signal: log fields,
    /// span and event attributes (so the ring, `/debug/traces` and the OTLP export), audit
    /// records' free-form fields, `url.query` parameters.
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = Some(redaction);
        self
    }

    /// `true` (default): when the log queue is full, lines are dropped and counted in
    /// `telescope_log_dropped_total`. `false`: logging waits for room, losing nothing.
    pub fn lossy_logs(mut self, lossy: bool) -> Self {
        self.lossy_logs = Some(lossy);
        self
    }

    /// How many lines the log queue holds.
    pub fn log_queue_lines(mut self, lines: usize) -> Self {
        self.log_queue_lines = Some(lines);
        self
    }

    /// How many bytes of lines the log queue holds (default 64 MiB): the bound that counts
    /// when lines are large and the sink is stuck.
    pub fn log_queue_bytes(mut self, bytes: usize) -> Self {
        self.log_queue_bytes = Some(bytes);
        self
    }

    /// How long the guard waits when dropped (default 5 s): up to half of it for exporting
    /// spans, then up to all of it for writing queued log lines.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// How spans are sampled (default: `OTEL_TRACES_SAMPLER`, else parent-based always on).
    pub fn sampler(mut self, sampler: impl Sampler) -> Self {
        self.sampler = Some(Box::new(sampler));
        self
    }

    /// Which trace-context and baggage formats incoming requests are read in and outgoing
    /// calls written in (default: `OTEL_PROPAGATORS`, else `tracecontext,baggage`).
    ///
    /// ```
    /// use telescope::otlp::propagation::{Format, Propagators};
    /// let builder = telescope::builder()
    ///     .propagators(Propagators::new([Format::TraceContext, Format::Baggage, Format::B3Multi]));
    /// ```
    pub fn propagators(mut self, propagators: Propagators) -> Self {
        self.propagators = Some(propagators);
        self
    }

    /// Baggage keys (from callers' `baggage` headers, or attached in code with
    /// [`Baggage::attach_to`](telescope_core::Baggage::attach_to)) written on every JSON log
    /// line of a request and recorded as attributes of its sampled spans (default:
    /// `TELESCOPE_BAGGAGE_FIELDS`, else none: baggage comes from callers, so which keys the
    /// logs and traces keep is the service's choice). Secret names are redacted as any field.
    pub fn baggage_fields<K: Into<String>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.baggage_fields = Some(keys.into_iter().map(Into::into).collect());
        self
    }

    /// Exports spans to this OTLP endpoint (default: `OTEL_EXPORTER_OTLP_*`; with neither,
    /// spans stay in the in-process ring only). The resource is filled in from the service
    /// settings.
    pub fn otlp_export(mut self, config: OtlpExportConfig) -> Self {
        self.otlp_export = Some(config);
        self
    }

    /// Also sends spans to Zipkin as v2 JSON (default: `OTEL_TRACES_EXPORTER` naming `zipkin`,
    /// with `OTEL_EXPORTER_ZIPKIN_ENDPOINT` and `OTEL_EXPORTER_ZIPKIN_TIMEOUT`). The service
    /// name and resource are filled in from the service settings. Jaeger needs no exporter of
    /// its own: it takes OTLP (see the README).
    pub fn zipkin_export(mut self, config: telescope_otlp::ZipkinConfig) -> Self {
        self.zipkin_export = Some(config);
        self
    }

    /// Also exports every log event that passes the log filter as an OTLP log record to this
    /// endpoint (its HTTP URL ending in `/v1/logs`; [`OtlpExportConfig::from_env_for`] with
    /// [`OtlpSignal::Logs`](telescope_otlp::OtlpSignal::Logs) reads it). Default:
    /// `OTEL_LOGS_EXPORTER=otlp` turns it on with the `OTEL_EXPORTER_OTLP_LOGS_*` settings
    /// (or the generic ones, or `http://localhost:4318`); unset or `none`, log events are
    /// lines only. The same redaction applies as on the lines; the resource is filled in
    /// from the service settings; the queue and batches follow `OTEL_BLRP_*`.
    pub fn otlp_logs(mut self, config: OtlpExportConfig) -> Self {
        self.otlp_logs = Some(config);
        self
    }

    /// Also pushes the recorder's metrics over OTLP to this endpoint (its HTTP URL ending in
    /// `/v1/metrics`), every [`metric_export_interval`](Self::metric_export_interval):
    /// counters as monotonic sums, gauges, histograms with their buckets and exemplars, the
    /// values a scrape at that moment shows. Default: `OTEL_METRICS_EXPORTER=otlp` turns it
    /// on with the `OTEL_EXPORTER_OTLP_METRICS_*` settings; cumulative unless
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta`. `/metrics` is served either
    /// way.
    pub fn otlp_metrics(mut self, config: OtlpExportConfig) -> Self {
        self.otlp_metrics = Some(config);
        self
    }

    /// How often metrics are pushed over OTLP (default: `OTEL_METRIC_EXPORT_INTERVAL` in
    /// milliseconds, else 60 s). Zero counts as 1 ms.
    pub fn metric_export_interval(mut self, interval: Duration) -> Self {
        self.metric_export_interval = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// Also pushes the recorder's metrics to a StatsD daemon (default: `TELESCOPE_STATSD_ADDR`
    /// and the other `TELESCOPE_STATSD_*` variables; see [`crate::statsd`] for what is sent).
    pub fn statsd(mut self, config: crate::statsd::StatsdConfig) -> Self {
        self.statsd = Some(config);
        self
    }

    /// Whether histograms are pushed over OTLP as base-2 exponential histograms (default:
    /// `OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=base2_exponential_bucket_histogram`,
    /// else explicit buckets). Then every histogram keeps exponential buckets (scale 6, 64
    /// per power of two: 768 bytes a series, plus 512 per power of two its values fall in),
    /// which are sent as they are counted: exact, with no re-bucketing. A scrape still shows
    /// the classic buckets.
    pub fn exponential_histograms(mut self, exponential: bool) -> Self {
        self.exponential_histograms = Some(exponential);
        self
    }

    /// Whether pushed sums and histograms are cumulative or delta (default:
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`, else cumulative).
    pub fn metric_temporality(mut self, temporality: telescope_otlp::Temporality) -> Self {
        self.metric_temporality = Some(temporality);
        self
    }

    /// Serves `/metrics`, the health probes and `/debug/traces` on `address` (default
    /// `127.0.0.1:9464`, or `TELESCOPE_ADMIN_ADDR`; port 0 picks a free port, see
    /// [`Telemetry::admin_addr`]).
    pub fn admin_address(mut self, address: impl Into<String>) -> Self {
        self.admin = Some(AdminSetting::At(address.into()));
        self
    }

    /// Starts no admin server (as `TELESCOPE_ADMIN_ADDR=off` does).
    pub fn without_admin_server(mut self) -> Self {
        self.admin = Some(AdminSetting::Off);
        self
    }

    /// Requires `Authorization: Bearer <token>` on the admin server's `/metrics` and
    /// `/debug/traces` (the probes stay open).
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// How often each histogram bucket may take a new exemplar (the trace of an observation
    /// made inside a sampled span; shown on `/metrics` in OpenMetrics). Default 1 s; `None`
    /// takes none. Applies to a recorder given to [`metrics`](Self::metrics) too.
    pub fn exemplar_interval(mut self, interval: Option<Duration>) -> Self {
        self.exemplar_interval = Some(interval);
        self
    }

    /// What `/debug/traces` keeps beyond its most recent spans: per operation the last error
    /// traces and the slowest of a window, and the trace behind every exemplar on `/metrics`,
    /// within a byte budget (see [`TraceRetention`]). The environment's
    /// `TELESCOPE_TRACES_RETAIN_*` and `TELESCOPE_TRACES_SLOW_WINDOW` apply when this is not
    /// called.
    pub fn trace_retention(mut self, retention: TraceRetention) -> Self {
        self.trace_retention = Some(retention);
        self
    }

    /// Configures the metrics recorder (buckets, cardinality limits, global labels).
    pub fn metrics(mut self, recorder: TelescopeRecorderBuilder) -> Self {
        self.metrics = Some(recorder);
        self
    }

    /// Serves these health checks on the admin server (default: a new, empty [`Health`]; add
    /// checks through [`Telemetry::health`] either way).
    pub fn health(mut self, health: Health) -> Self {
        self.health = Some(health);
        self
    }

    /// Sends `tracing` events with target `audit` to this audit log, and flushes it on
    /// shutdown. The log filter is widened so that audit events always pass.
    pub fn audit_log(mut self, log: AuditLog) -> Self {
        self.audit_log = Some(log);
        self
    }

    /// Opens an audit log at `path` (keys from `TELESCOPE_AUDIT_KEY_FILE` and
    /// `TELESCOPE_AUDIT_SIGNING_KEY_FILE` when set); see [`audit_log`](Self::audit_log).
    pub fn audit_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit_file = Some(path.into());
        self
    }

    /// `true` (default): [`try_init`](Self::try_init) also captures records of the `log`
    /// crate (what many libraries use), written like `tracing` events with their own level,
    /// target, file and line, filtered by the same `RUST_LOG`.
    pub fn log_records(mut self, capture: bool) -> Self {
        self.log_records = Some(capture);
        self
    }

    /// Monitors these SLOs: `/slo` on the admin server shows each one's SLI, error budget
    /// left and burn rates, computed in the process from its own metrics (no Prometheus
    /// needed); `/slo/rules.yml` serves their Prometheus rules (with [`alerts`](Self::alerts));
    /// `telescope_slo_burn_rate{slo,window}` publishes the burn rates. Latency thresholds are
    /// checked against the recorder's buckets when the builder finishes.
    pub fn slos(mut self, slos: impl IntoIterator<Item = crate::slo::Slo>) -> Self {
        self.slos.extend(slos);
        self
    }

    /// Threshold alerts served in `/slo/rules.yml` with the SLOs' rules.
    pub fn alerts(mut self, alerts: impl IntoIterator<Item = crate::slo::Alert>) -> Self {
        self.alerts.extend(alerts);
        self
    }

    /// How often the SLOs' events are sampled for `/slo` (default 30 s).
    pub fn slo_sample_interval(mut self, interval: Duration) -> Self {
        self.slo_sample_interval = Some(interval);
        self
    }

    /// Writes log lines to `writer` instead of stdout (through the same non-blocking queue).
    pub fn log_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.log_writer = Some(Box::new(writer));
        self
    }
}

impl TelemetryBuilder {
    /// Builds the subscriber without installing it (and starts the admin server): for tests,
    /// or to install it yourself. The metrics recorder is not installed either; it is
    /// [`Telemetry::metrics_recorder`].
    ///
    /// # Errors
    /// [`InitError::InvalidEnv`] for a bad environment variable, [`InitError::InvalidFilter`]
    /// for filter directives that stopped parsing, [`InitError::Admin`] if a configured admin
    /// address cannot be bound, [`InitError::Audit`] if the audit log cannot be opened,
    /// [`InitError::Slo`] for an SLO whose latency threshold is no bucket bound,
    /// [`InitError::OtlpTls`] for TLS files of an exporter set in code that cannot be used,
    /// [`InitError::Statsd`] for a StatsD address that does not resolve,
    /// [`InitError::Thread`] if a thread telemetry needs cannot start.
    pub fn build(mut self) -> Result<(Dispatch, Telemetry), InitError> {
        let resolved = self.resolve(&ProcessEnv)?;
        self.build_resolved(resolved)
    }

    /// Builds, then installs the subscriber and the metrics recorder as the global defaults.
    ///
    /// # Errors
    /// As [`build`](Self::build), and [`InitError::AlreadyInitialized`] if a global
    /// subscriber is already set, [`InitError::MetricsAlreadyInstalled`] if another global
    /// `metrics` recorder is. Nothing is installed when it fails.
    pub fn try_init(self) -> Result<Telemetry, InitError> {
        if global_subscriber_exists() {
            return Err(InitError::AlreadyInitialized);
        }
        let (dispatch, telemetry) = self.build()?;
        metrics::set_global_recorder(telemetry.metrics_recorder())
            .map_err(|_| InitError::MetricsAlreadyInstalled)?;
        // For what is not built here (the HTTP middleware's `url.query`). A policy set
        // earlier by the application stays.
        let _ = telescope_core::redact::set_global(telemetry.redaction().clone());
        let _ = telescope_otlp::propagation::set_global(telemetry.propagators().clone());
        tracing::dispatcher::set_global_default(dispatch)
            .map_err(|_| InitError::AlreadyInitialized)?;
        if let Some(level) = telemetry.log_records_up_to() {
            bridge_log_records(level);
        }
        Ok(telemetry)
    }

    /// Like [`try_init`](Self::try_init), but panics with the reason.
    ///
    /// # Panics
    /// When [`try_init`](Self::try_init) fails.
    pub fn init(self) -> Telemetry {
        match self.try_init() {
            Ok(telemetry) => telemetry,
            Err(error) => panic!("telescope::init failed: {error}"),
        }
    }
}
