//! Deciding each setting of the builder: what code set wins, then the environment variable,
//! then the default. A bad variable is an error naming it.

use std::path::PathBuf;
use std::time::Duration;

use crate::signal_filter::parse_directives;
use telescope_log::{Redaction, Schema};
use telescope_otlp::propagation::Propagators;
use telescope_otlp::sampler::{sampler_from_env, Sampler};
use telescope_otlp::{
    OtlpExportConfig, OtlpSignal, PipelineConfig, Temporality, TraceRetention, ZipkinConfig,
};

use crate::metrics_push::PushSchedule;

use super::{LogFormat, TelemetryBuilder};
use crate::env::{self, setting, Env};
use crate::resource;
use crate::InitError;

impl LogFormat {
    fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            _ => Err("expected json or pretty".to_owned()),
        }
    }
}

fn parse_schema(text: &str) -> Result<Schema, String> {
    match text.to_ascii_lowercase().as_str() {
        "default" | "telescope" => Ok(Schema::Default),
        "ecs" => Ok(Schema::Ecs),
        "gcp" => Ok(Schema::Gcp),
        _ => Err("expected default, ecs or gcp".to_owned()),
    }
}

fn sampler_error(error: telescope_otlp::sampler::SamplerConfigError) -> InitError {
    use telescope_otlp::sampler::SamplerConfigError;
    match error {
        SamplerConfigError::UnknownSampler(value) => env::invalid(
            "OTEL_TRACES_SAMPLER",
            &value,
            format!("not one of {}", telescope_otlp::sampler::SAMPLER_NAMES),
        ),
        SamplerConfigError::InvalidArgument {
            sampler,
            value,
            reason,
        } => env::invalid(
            "OTEL_TRACES_SAMPLER_ARG",
            &value,
            format!("{reason} (for {sampler})"),
        ),
    }
}

fn otlp_error(error: telescope_otlp::OtlpConfigError) -> InitError {
    env::invalid(error.var, &error.value, error.reason)
}

/// How long the guard waits when dropped unless told otherwise.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

fn parse_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err("expected a whole number greater than 0".to_owned()),
    }
}

fn parse_millis(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| "expected a whole number of milliseconds".to_owned())
}

/// Milliseconds, more than zero.
fn parse_positive_millis(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(millis) if millis > 0 => Ok(Duration::from_millis(millis)),
        _ => Err("expected a whole number of milliseconds greater than 0".to_owned()),
    }
}

/// A whole number, zero included.
fn parse_whole(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .map_err(|_| "expected a whole number (0 or more)".to_owned())
}

/// The trace retention the `TELESCOPE_TRACES_*` variables ask for, each unset one at its
/// default (checked even when the retention is set in code).
fn retention_from_env(env: &(impl Env + ?Sized)) -> Result<TraceRetention, InitError> {
    let mut retention = TraceRetention::default();
    if let Some(traces) = env::parse(env, "TELESCOPE_TRACES_RETAIN_ERRORS", parse_whole)? {
        retention = retention.errors_per_operation(traces);
    }
    if let Some(traces) = env::parse(env, "TELESCOPE_TRACES_RETAIN_SLOWEST", parse_whole)? {
        retention = retention.slowest_per_operation(traces);
    }
    if let Some(window) = env::parse(env, "TELESCOPE_TRACES_SLOW_WINDOW", parse_positive_millis)? {
        retention = retention.slow_window(window);
    }
    if let Some(bytes) = env::parse(env, "TELESCOPE_TRACES_RETAIN_BYTES", parse_whole)? {
        retention = retention.max_bytes(bytes);
    }
    Ok(retention)
}

/// Milliseconds, or `off` (also `0`) for none.
fn parse_interval(text: &str) -> Result<Option<Duration>, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    parse_millis(text).map(|interval| (!interval.is_zero()).then_some(interval))
}

/// Field names to redact on top of the default list, comma-separated.
/// Names separated by commas (spaces around them ignored); at least one.
fn parse_names(text: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return Err("expected names separated by commas".to_owned());
    }
    Ok(names)
}

fn parse_redact(text: &str) -> Result<Redaction, String> {
    Ok(parse_names(text)?
        .into_iter()
        .fold(Redaction::default(), |redaction, name| {
            redaction.with_name(&name)
        }))
}

/// How often a histogram bucket may take a new exemplar unless told otherwise.
const DEFAULT_EXEMPLAR_INTERVAL: Duration = Duration::from_secs(1);

/// The default log filter when neither the builder nor `RUST_LOG` sets one, and the default
/// span filter when neither the builder nor `TELESCOPE_SPAN_FILTER` does.
pub(super) const DEFAULT_FILTER: &str = "info";

/// Whether and where the admin server listens, as set in code or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AdminSetting {
    /// Listen here; failing to bind is an error.
    At(String),
    /// No admin server.
    Off,
}

fn parse_admin(text: &str) -> Result<AdminSetting, String> {
    match text.to_ascii_lowercase().as_str() {
        "off" | "none" | "disabled" | "false" | "0" => Ok(AdminSetting::Off),
        _ if text.contains(':') => Ok(AdminSetting::At(text.to_owned())),
        _ => Err("expected host:port (such as 127.0.0.1:9464) or off".to_owned()),
    }
}

/// Everything the builder and the environment decided.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// Which events are recorded.
    pub(crate) filter: String,
    /// Which spans exist.
    pub(crate) span_filter: String,
    pub(crate) format: LogFormat,
    pub(crate) schema: Schema,
    pub(crate) service_name: String,
    pub(crate) service_version: Option<String>,
    pub(crate) environment: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES` with the three above filled in: what exported spans carry.
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) sampler: Option<Box<dyn Sampler>>,
    pub(crate) propagators: Propagators,
    /// Baggage keys written on log lines and recorded on spans.
    pub(crate) baggage_fields: Vec<String>,
    pub(crate) otlp_export: Option<OtlpExportConfig>,
    /// Where spans are sent as Zipkin JSON, if they are.
    pub(crate) zipkin: Option<ZipkinConfig>,
    pub(crate) pipeline: PipelineConfig,
    /// What the span ring keeps beyond its recent spans.
    pub(crate) retention: TraceRetention,
    /// Where metrics are pushed as StatsD, if they are.
    pub(crate) statsd: Option<crate::statsd::StatsdConfig>,
    /// Where and how often metrics are pushed over OTLP, if they are.
    pub(crate) metrics_push: Option<(OtlpExportConfig, PushSchedule)>,
    /// Where log records are exported over OTLP, if they are.
    pub(crate) otlp_logs: Option<OtlpExportConfig>,
    pub(crate) log_pipeline: PipelineConfig,
    /// `None`: the default address, where a busy port is not fatal.
    pub(crate) admin: Option<AdminSetting>,
    pub(crate) admin_token: Option<String>,
    pub(crate) audit: Option<AuditFiles>,
    pub(crate) redaction: Redaction,
    pub(crate) lossy_logs: bool,
    pub(crate) log_queue_lines: usize,
    pub(crate) log_queue_bytes: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) exemplar_interval: Option<Duration>,
    /// From `TELESCOPE_METRICS_CARDINALITY_LIMIT` when no recorder was configured in code.
    pub(crate) cardinality_limit: Option<usize>,
    /// The limit on series across all metric names, from the environment.
    pub(crate) series_limit: Option<usize>,
    /// Whether `try_init` captures records of the `log` crate.
    pub(crate) log_records: bool,
}

/// What is logged and how, as resolved.
struct Logs {
    filter: String,
    span_filter: String,
    format: LogFormat,
    schema: Schema,
    redaction: Redaction,
    lossy_logs: bool,
    log_queue_lines: usize,
    log_queue_bytes: usize,
    log_records: bool,
    baggage_fields: Vec<String>,
}

/// Which exporters `OTEL_TRACES_EXPORTER` / `OTEL_LOGS_EXPORTER` name: a list, as the
/// specification allows (`otlp,zipkin`); `none` alone for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Exporters {
    otlp: bool,
    zipkin: bool,
}

fn parse_exporters(text: &str, zipkin_allowed: bool) -> Result<Exporters, String> {
    let mut chosen = Exporters::default();
    for name in text.split(',').map(|name| name.trim().to_ascii_lowercase()) {
        match name.as_str() {
            "otlp" => chosen.otlp = true,
            "zipkin" if zipkin_allowed => chosen.zipkin = true,
            "none" | "" => {}
            other => {
                let expected = if zipkin_allowed {
                    "otlp, zipkin or none"
                } else {
                    "otlp or none"
                };
                return Err(format!(
                    "{other:?} is not an exporter of this build; expected {expected}"
                ));
            }
        }
    }
    Ok(chosen)
}

/// Whether `OTEL_METRICS_EXPORTER` asks for an OTLP push: `otlp` among `otlp`, `prometheus`
/// (the scrape endpoint, always served with the admin server) and `none`.
fn parse_metrics_exporters(text: &str) -> Result<bool, String> {
    let mut push = false;
    for name in text.split(',').map(|name| name.trim().to_ascii_lowercase()) {
        match name.as_str() {
            "otlp" => push = true,
            "prometheus" | "none" | "" => {}
            other => {
                return Err(format!(
                    "{other:?} is not an exporter of this build; expected otlp, prometheus or none"
                ))
            }
        }
    }
    Ok(push)
}

/// `cumulative`, `delta` or `lowmemory` (delta for counters and histograms, which are all
/// telescope has that the choice concerns).
fn parse_temporality(text: &str) -> Result<Temporality, String> {
    match text.to_ascii_lowercase().as_str() {
        "cumulative" => Ok(Temporality::Cumulative),
        "delta" | "lowmemory" => Ok(Temporality::Delta),
        _ => Err("expected cumulative, delta or lowmemory".to_owned()),
    }
}

/// Whether histograms are pushed as base-2 exponential histograms: `explicit_bucket_histogram`
/// (the default) or `base2_exponential_bucket_histogram`.
fn parse_histogram_aggregation(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "explicit_bucket_histogram" => Ok(false),
        "base2_exponential_bucket_histogram" => Ok(true),
        _ => Err("expected explicit_bucket_histogram or base2_exponential_bucket_histogram".into()),
    }
}

/// How often metrics are pushed unless told otherwise (the specification's default).
const DEFAULT_METRIC_EXPORT_INTERVAL: Duration = Duration::from_secs(60);
/// How long one push may take unless told otherwise.
const DEFAULT_METRIC_EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// How log records are exported, as resolved.
struct LogExport {
    otlp_logs: Option<OtlpExportConfig>,
    log_pipeline: PipelineConfig,
}

/// How spans are propagated, sampled and exported, as resolved.
struct Traces {
    propagators: Propagators,
    retention: TraceRetention,
    sampler: Option<Box<dyn Sampler>>,
    otlp_export: Option<OtlpExportConfig>,
    zipkin: Option<ZipkinConfig>,
    pipeline: PipelineConfig,
}

/// Who the service is, as resolved.
struct Service {
    name: String,
    version: Option<String>,
    environment: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES` with the three above filled in.
    resource: Vec<(String, String)>,
}

/// The audit trail's files, from code or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditFiles {
    pub(crate) path: PathBuf,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) signing_key_file: Option<PathBuf>,
}

impl TelemetryBuilder {
    /// The service's name, version and environment (code, then `OTEL_SERVICE_NAME` and
    /// `OTEL_RESOURCE_ATTRIBUTES`), and the resource with them filled in.
    fn service(&self, env: &(impl Env + ?Sized)) -> Result<Service, InitError> {
        let attributes = env::parse(env, "OTEL_RESOURCE_ATTRIBUTES", |text| {
            telescope_core::key_values::parse_key_values(text).map_err(|e| e.to_string())
        })?
        .unwrap_or_default();
        let attribute = |key: &str| {
            attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let service_name = self
            .service_name
            .clone()
            .or_else(|| {
                env.get("OTEL_SERVICE_NAME")
                    .map(|name| name.trim().to_owned())
            })
            .or_else(|| attribute("service.name"))
            .unwrap_or_else(resource::default_service_name);
        let service_version = self
            .service_version
            .clone()
            .or_else(|| attribute("service.version"));
        let environment = self
            .environment
            .clone()
            .or_else(|| attribute("deployment.environment.name"))
            .or_else(|| attribute("deployment.environment"));
        let mut resource = attributes;
        let mut set = |key: &str, value: Option<&String>| {
            if let Some(value) = value {
                resource.retain(|(k, _)| k != key);
                resource.push((key.to_owned(), value.clone()));
            }
        };
        set("service.name", Some(&service_name));
        set("service.version", service_version.as_ref());
        set("deployment.environment.name", environment.as_ref());
        Ok(Service {
            name: service_name,
            version: service_version,
            environment,
            resource,
        })
    }

    /// How spans are propagated, sampled and exported.
    fn traces(&mut self, env: &(impl Env + ?Sized)) -> Result<Traces, InitError> {
        let get = |name: &str| env.get(name);
        let propagators = match self.propagators.take() {
            Some(propagators) => propagators,
            None => match env.get("OTEL_PROPAGATORS") {
                Some(text) => {
                    let (propagators, unknown) = Propagators::parse(&text);
                    // The specification asks unknown names to be ignored, not to fail: a
                    // setting shared with services in other languages may name theirs.
                    for name in unknown {
                        eprintln!("telescope: OTEL_PROPAGATORS: {name}; ignored");
                    }
                    propagators
                }
                None => Propagators::default(),
            },
        };
        let sampler = match self.sampler.take() {
            Some(sampler) => Some(sampler),
            None => match sampler_from_env(get) {
                Ok(sampler) => env.get("OTEL_TRACES_SAMPLER").map(|_| sampler),
                Err(error) => return Err(sampler_error(error)),
            },
        };
        let choice = env::parse(env, "OTEL_TRACES_EXPORTER", |text| {
            parse_exporters(text, true)
        })?;
        // Checked whatever is chosen.
        let from_env = OtlpExportConfig::from_env(get).map_err(otlp_error)?;
        let zipkin_from_env = ZipkinConfig::from_env("", get).map_err(otlp_error)?;
        let otlp_export = match (self.otlp_export.take(), choice) {
            (Some(config), _) => {
                config.tls.validate()?;
                Some(config)
            }
            (None, Some(Exporters { otlp: true, .. })) => Some(
                OtlpExportConfig::from_env_or_default(OtlpSignal::Traces, get)
                    .map_err(otlp_error)?,
            ),
            (None, Some(_)) => None,
            (None, None) => from_env,
        };
        let zipkin = match (self.zipkin_export.take(), choice) {
            (Some(config), _) => Some(config),
            (None, Some(Exporters { zipkin: true, .. })) => Some(zipkin_from_env),
            _ => None,
        };
        let pipeline = PipelineConfig::from_env(get).map_err(otlp_error)?;
        let retention_from_env = retention_from_env(env)?;
        Ok(Traces {
            retention: self.trace_retention.take().unwrap_or(retention_from_env),
            propagators,
            sampler,
            otlp_export,
            zipkin,
            pipeline,
        })
    }

    /// Whether, where and how often metrics are pushed over OTLP: code, then
    /// `OTEL_METRICS_EXPORTER`; every metrics variable checked either way.
    fn metrics_push(
        &mut self,
        env: &(impl Env + ?Sized),
    ) -> Result<Option<(OtlpExportConfig, PushSchedule)>, InitError> {
        let get = |name: &str| env.get(name);
        let push = env::parse(env, "OTEL_METRICS_EXPORTER", parse_metrics_exporters)?;
        OtlpExportConfig::from_env_for(OtlpSignal::Metrics, get).map_err(otlp_error)?;
        let interval = setting(
            self.metric_export_interval,
            env,
            "OTEL_METRIC_EXPORT_INTERVAL",
            parse_positive_millis,
            || DEFAULT_METRIC_EXPORT_INTERVAL,
        )?;
        let timeout = env::parse(env, "OTEL_METRIC_EXPORT_TIMEOUT", parse_positive_millis)?
            .unwrap_or(DEFAULT_METRIC_EXPORT_TIMEOUT);
        let temporality = setting(
            self.metric_temporality,
            env,
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            parse_temporality,
            Temporality::default,
        )?;
        let exponential = setting(
            self.exponential_histograms,
            env,
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
            parse_histogram_aggregation,
            || false,
        )?;
        let config = match (self.otlp_metrics.take(), push) {
            (Some(config), _) => {
                config.tls.validate()?;
                config
            }
            (None, Some(true)) => OtlpExportConfig::from_env_or_default(OtlpSignal::Metrics, get)
                .map_err(otlp_error)?,
            (None, Some(false) | None) => return Ok(None),
        };
        Ok(Some((
            config,
            PushSchedule {
                interval,
                timeout,
                temporality,
                exponential,
            },
        )))
    }

    /// Where metrics go as StatsD: code, then `TELESCOPE_STATSD_*` (checked either way).
    fn statsd_export(
        &mut self,
        env: &(impl Env + ?Sized),
    ) -> Result<Option<crate::statsd::StatsdConfig>, InitError> {
        let from_env = crate::statsd::StatsdConfig::from_env(|name| env.get(name))
            .map_err(|e| env::invalid(e.var, &e.value, e.reason))?;
        Ok(self.statsd.take().or(from_env))
    }

    /// The exemplar interval, and the series limits when no recorder was given in code.
    #[allow(clippy::type_complexity)] // three settings, each with its own type
    fn recorder_settings(
        &self,
        env: &(impl Env + ?Sized),
    ) -> Result<(Option<Duration>, Option<usize>, Option<usize>), InitError> {
        let exemplar_interval = setting(
            self.exemplar_interval,
            env,
            "TELESCOPE_EXEMPLAR_INTERVAL",
            parse_interval,
            || Some(DEFAULT_EXEMPLAR_INTERVAL),
        )?;
        let (cardinality_limit, series_limit) = match &self.metrics {
            Some(_) => (None, None),
            None => (
                env::parse(env, "TELESCOPE_METRICS_CARDINALITY_LIMIT", parse_count)?,
                env::parse(env, "TELESCOPE_METRICS_SERIES_LIMIT", parse_count)?,
            ),
        };
        Ok((exemplar_interval, cardinality_limit, series_limit))
    }

    /// Whether and where log records are exported over OTLP: code, then
    /// `OTEL_LOGS_EXPORTER`; every logs variable checked either way.
    fn log_export(&mut self, env: &(impl Env + ?Sized)) -> Result<LogExport, InitError> {
        let get = |name: &str| env.get(name);
        let choice = env::parse(env, "OTEL_LOGS_EXPORTER", |text| {
            parse_exporters(text, false)
        })?;
        // Checked whatever is chosen.
        OtlpExportConfig::from_env_for(OtlpSignal::Logs, get).map_err(otlp_error)?;
        let otlp_logs = match (self.otlp_logs.take(), choice) {
            (Some(config), _) => {
                config.tls.validate()?;
                Some(config)
            }
            (None, Some(Exporters { otlp: true, .. })) => Some(
                OtlpExportConfig::from_env_or_default(OtlpSignal::Logs, get).map_err(otlp_error)?,
            ),
            // An endpoint alone does not turn log export on: the lines may already be
            // collected from stdout, and twice is not better.
            (None, _) => None,
        };
        let log_pipeline = PipelineConfig::logs_from_env(get).map_err(otlp_error)?;
        Ok(LogExport {
            otlp_logs,
            log_pipeline,
        })
    }

    /// The admin server's address and token, and the audit trail's files.
    #[allow(clippy::type_complexity)] // three settings, each with its own type
    fn admin_and_audit(
        &self,
        env: &(impl Env + ?Sized),
    ) -> Result<(Option<AdminSetting>, Option<String>, Option<AuditFiles>), InitError> {
        let admin = match &self.admin {
            Some(setting) => Some(setting.clone()),
            None => env::parse(env, "TELESCOPE_ADMIN_ADDR", parse_admin)?,
        };
        let admin_token = self
            .admin_token
            .clone()
            .or_else(|| env.get("TELESCOPE_ADMIN_TOKEN"));
        let audit_path = match &self.audit_file {
            Some(path) => Some(path.clone()),
            None => env.get("TELESCOPE_AUDIT_FILE").map(PathBuf::from),
        };
        let audit = audit_path.map(|path| AuditFiles {
            path,
            key_file: env.get("TELESCOPE_AUDIT_KEY_FILE").map(PathBuf::from),
            signing_key_file: env
                .get("TELESCOPE_AUDIT_SIGNING_KEY_FILE")
                .map(PathBuf::from),
        });
        Ok((admin, admin_token, audit))
    }

    /// What is logged and how: filters, format, redaction, the log queue. (Over 80 lines:
    /// one `setting` per knob, each written over several lines.)
    fn logs(&mut self, env: &(impl Env + ?Sized)) -> Result<Logs, InitError> {
        let directives = |text: &str| parse_directives(text).map(|_| text.to_owned());
        let default_filter = || DEFAULT_FILTER.to_owned();
        let filter = setting(
            self.log_filter.clone(),
            env,
            "RUST_LOG",
            directives,
            default_filter,
        )?;
        let span_filter = setting(
            self.span_filter.clone(),
            env,
            "TELESCOPE_SPAN_FILTER",
            directives,
            default_filter,
        )?;
        let format = setting(
            self.log_format,
            env,
            "TELESCOPE_LOG_FORMAT",
            LogFormat::parse,
            LogFormat::default,
        )?;
        let schema = setting(
            self.log_schema,
            env,
            "TELESCOPE_LOG_SCHEMA",
            parse_schema,
            Schema::default,
        )?;
        let baggage_fields = setting(
            self.baggage_fields.take(),
            env,
            "TELESCOPE_BAGGAGE_FIELDS",
            parse_names,
            Vec::new,
        )?;
        let redaction = setting(
            self.redaction.clone(),
            env,
            "TELESCOPE_REDACT",
            parse_redact,
            Redaction::default,
        )?;
        let lossy_logs = setting(
            self.lossy_logs,
            env,
            "TELESCOPE_LOG_LOSSY",
            parse_bool,
            || true,
        )?;
        let log_queue_lines = setting(
            self.log_queue_lines,
            env,
            "TELESCOPE_LOG_QUEUE_LINES",
            parse_count,
            || telescope_log::DEFAULT_QUEUE_LINES,
        )?;
        let log_queue_bytes = setting(
            self.log_queue_bytes,
            env,
            "TELESCOPE_LOG_QUEUE_BYTES",
            parse_count,
            || telescope_log::DEFAULT_QUEUE_BYTES,
        )?;
        let log_records = setting(
            self.log_records,
            env,
            "TELESCOPE_LOG_RECORDS",
            parse_bool,
            || true,
        )?;
        Ok(Logs {
            filter,
            span_filter,
            format,
            schema,
            redaction,
            lossy_logs,
            log_queue_lines,
            log_queue_bytes,
            log_records,
            baggage_fields,
        })
    }

    /// Fills what was not set from `env`.
    pub(crate) fn resolve(&mut self, env: &(impl Env + ?Sized)) -> Result<Resolved, InitError> {
        let Logs {
            filter,
            span_filter,
            format,
            schema,
            redaction,
            lossy_logs,
            log_queue_lines,
            log_queue_bytes,
            log_records,
            baggage_fields,
        } = self.logs(env)?;
        let Service {
            name: service_name,
            version: service_version,
            environment,
            resource,
        } = self.service(env)?;

        let Traces {
            propagators,
            sampler,
            otlp_export,
            zipkin,
            pipeline,
            retention,
        } = self.traces(env)?;
        let LogExport {
            otlp_logs,
            log_pipeline,
        } = self.log_export(env)?;
        let metrics_push = self.metrics_push(env)?;
        let statsd = self.statsd_export(env)?;
        let (admin, admin_token, audit) = self.admin_and_audit(env)?;
        let shutdown_timeout = setting(
            self.shutdown_timeout,
            env,
            "TELESCOPE_SHUTDOWN_TIMEOUT",
            parse_millis,
            || DEFAULT_SHUTDOWN_TIMEOUT,
        )?;
        let (exemplar_interval, cardinality_limit, series_limit) = self.recorder_settings(env)?;
        Ok(Resolved {
            filter,
            span_filter,
            format,
            schema,
            service_name,
            service_version,
            environment,
            resource,
            sampler,
            propagators,
            baggage_fields,
            otlp_export,
            zipkin,
            pipeline,
            retention,
            otlp_logs,
            log_pipeline,
            metrics_push,
            statsd,
            admin,
            admin_token,
            audit,
            redaction,
            lossy_logs,
            log_queue_lines,
            log_queue_bytes,
            shutdown_timeout,
            exemplar_interval,
            cardinality_limit,
            series_limit,
            log_records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(env: &[(&str, &str)]) -> Result<Resolved, InitError> {
        TelemetryBuilder::default().resolve(env)
    }

    /// `var=value` alone is refused, and the error names `var`.
    fn refused_naming(var: &'static str, value: &str) {
        match resolve(&[(var, value)]) {
            Err(InitError::InvalidEnv { var: named, .. }) => assert_eq!(named, var),
            other => panic!("{var}={value}: {:?}", other.err()),
        }
    }

    #[test]
    fn trace_retention_from_the_environment_and_code() {
        assert_eq!(
            resolve(&[]).expect("valid").retention,
            TraceRetention::default()
        );
        let resolved = resolve(&[
            ("TELESCOPE_TRACES_RETAIN_ERRORS", "50"),
            ("TELESCOPE_TRACES_RETAIN_SLOWEST", "0"),
            ("TELESCOPE_TRACES_SLOW_WINDOW", "60000"),
            ("TELESCOPE_TRACES_RETAIN_BYTES", "1048576"),
        ])
        .expect("valid");
        let expected = TraceRetention::default()
            .errors_per_operation(50)
            .slowest_per_operation(0)
            .slow_window(Duration::from_secs(60))
            .max_bytes(1 << 20);
        assert_eq!(resolved.retention, expected);
        let in_code = TelemetryBuilder::default()
            .trace_retention(TraceRetention::off())
            .resolve(&[("TELESCOPE_TRACES_RETAIN_ERRORS", "50")][..])
            .expect("valid");
        assert_eq!(in_code.retention, TraceRetention::off(), "code wins");
        for (var, value) in [
            ("TELESCOPE_TRACES_RETAIN_ERRORS", "-1"),
            ("TELESCOPE_TRACES_RETAIN_SLOWEST", "many"),
            ("TELESCOPE_TRACES_SLOW_WINDOW", "0"),
            ("TELESCOPE_TRACES_RETAIN_BYTES", "16MiB"),
        ] {
            refused_naming(var, value);
        }
        // Checked even when code sets the retention.
        let checked = TelemetryBuilder::default()
            .trace_retention(TraceRetention::off())
            .resolve(&[("TELESCOPE_TRACES_RETAIN_BYTES", "lots")][..]);
        assert!(matches!(
            checked,
            Err(InitError::InvalidEnv {
                var: "TELESCOPE_TRACES_RETAIN_BYTES",
                ..
            })
        ));
    }

    #[test]
    fn traces_settings_from_the_environment() {
        let resolved = resolve(&[
            ("OTEL_SERVICE_NAME", "checkout"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=ignored,team=payments",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ])
        .expect("valid");
        let export = resolved.otlp_export.expect("an endpoint");
        assert_eq!(export.endpoint, "http://127.0.0.1:4318/v1/traces");
        assert!(resolved.sampler.is_some());
        assert_eq!(resolved.pipeline.max_queue_size, 100);
        assert!(resolved
            .resource
            .contains(&("service.name".to_owned(), "checkout".to_owned())));
        assert!(resolved
            .resource
            .contains(&("team".to_owned(), "payments".to_owned())));
        assert_eq!(
            resolved
                .resource
                .iter()
                .filter(|(k, _)| k == "service.name")
                .count(),
            1
        );

        let quiet = resolve(&[]).expect("defaults");
        assert!(quiet.otlp_export.is_none(), "no endpoint: the ring only");
        assert!(quiet.sampler.is_none());
    }

    #[test]
    fn exporters_are_chosen_by_name_with_the_specification_defaults() {
        let logs = |env: &[(&str, &str)]| {
            resolve(env)
                .expect("valid")
                .otlp_logs
                .map(|config| (config.endpoint, config.protocol))
        };
        use telescope_otlp::OtlpProtocol::{Grpc, HttpProtobuf};
        assert_eq!(
            logs(&[("OTEL_LOGS_EXPORTER", "otlp")]),
            Some(("http://localhost:4318/v1/logs".to_owned(), HttpProtobuf))
        );
        assert_eq!(
            logs(&[
                ("OTEL_LOGS_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc")
            ]),
            Some(("http://localhost:4317".to_owned(), Grpc))
        );
        assert_eq!(
            logs(&[
                ("OTEL_LOGS_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")
            ]),
            Some(("http://c:4318/v1/logs".to_owned(), HttpProtobuf))
        );
        assert_eq!(
            logs(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]),
            None,
            "an endpoint alone exports spans, not log records"
        );
        assert_eq!(logs(&[("OTEL_LOGS_EXPORTER", "none")]), None);

        let traces = |env: &[(&str, &str)]| {
            resolve(env)
                .expect("valid")
                .otlp_export
                .map(|config| config.endpoint)
        };
        assert_eq!(
            traces(&[
                ("OTEL_TRACES_EXPORTER", "none"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")
            ]),
            None
        );
        assert_eq!(
            traces(&[("OTEL_TRACES_EXPORTER", "otlp")]).as_deref(),
            Some("http://localhost:4318/v1/traces")
        );
        let both = resolve(&[
            ("OTEL_TRACES_EXPORTER", "otlp,zipkin"),
            (
                "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
                "http://zipkin:9411/api/v2/spans",
            ),
        ])
        .expect("valid");
        assert!(both.otlp_export.is_some());
        assert_eq!(
            both.zipkin.map(|z| z.endpoint).as_deref(),
            Some("http://zipkin:9411/api/v2/spans")
        );
        let zipkin_only = resolve(&[
            ("OTEL_TRACES_EXPORTER", "zipkin"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
        ])
        .expect("valid");
        assert!(zipkin_only.otlp_export.is_none(), "not named: not exported");
        assert!(zipkin_only.zipkin.is_some());
        for (var, value) in [
            ("OTEL_LOGS_EXPORTER", "zipkin"),
            ("OTEL_EXPORTER_ZIPKIN_TIMEOUT", "soon"),
            ("OTEL_LOGS_EXPORTER", "console"),
            ("OTEL_TRACES_EXPORTER", "jaeger"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "soon"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "nowhere"),
        ] {
            refused_naming(var, value);
        }
    }

    #[test]
    fn metrics_push_settings_from_the_environment() {
        let push = |env: &[(&str, &str)]| resolve(env).expect("valid").metrics_push;
        assert!(push(&[]).is_none());
        assert!(push(&[("OTEL_METRICS_EXPORTER", "prometheus")]).is_none());
        let (config, schedule) = push(&[
            ("OTEL_METRICS_EXPORTER", "prometheus,otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
        ])
        .expect("on");
        assert_eq!(config.endpoint, "http://c:4318/v1/metrics");
        assert_eq!(schedule.interval, Duration::from_secs(15));
        assert_eq!(schedule.timeout, Duration::from_secs(30));
        assert_eq!(schedule.temporality, Temporality::Delta);
        let statsd = resolve(&[
            ("TELESCOPE_STATSD_ADDR", "statsd.internal:8125"),
            ("TELESCOPE_STATSD_PREFIX", "checkout"),
            ("TELESCOPE_STATSD_TAGS", "off"),
            ("TELESCOPE_STATSD_INTERVAL", "2000"),
        ])
        .expect("valid")
        .statsd
        .expect("on");
        assert_eq!(statsd.address, "statsd.internal:8125");
        assert_eq!(statsd.prefix.as_deref(), Some("checkout"));
        assert_eq!(statsd.tags, crate::statsd::StatsdTags::Off);
        assert_eq!(statsd.interval, Duration::from_secs(2));
        let (_, defaults) = push(&[("OTEL_METRICS_EXPORTER", "otlp")]).expect("on");
        assert_eq!(defaults.interval, Duration::from_secs(60));
        assert_eq!(defaults.temporality, Temporality::Cumulative);
        for (var, value) in [
            ("OTEL_METRICS_EXPORTER", "statsd"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "never"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "sometimes",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "novalue"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
                "summary",
            ),
            ("TELESCOPE_STATSD_ADDR", "statsd"),
            ("TELESCOPE_STATSD_TAGS", "influx"),
            ("TELESCOPE_STATSD_INTERVAL", "0"),
            ("TELESCOPE_STATSD_MAX_PACKET", "10"),
        ] {
            refused_naming(var, value);
        }
    }

    #[test]
    fn tls_files_of_an_exporter_set_in_code_are_read_at_start_up() {
        use telescope_otlp::{OtlpProtocol, OtlpTls};
        let config = OtlpExportConfig::new("https://c:4318/v1/traces", OtlpProtocol::HttpProtobuf)
            .tls(OtlpTls {
                ca_certificate: Some("/nonexistent/ca.pem".into()),
                ..OtlpTls::default()
            });
        let no_variables: &[(&str, &str)] = &[];
        let resolved = TelemetryBuilder::default()
            .otlp_export(config)
            .resolve(no_variables);
        assert!(
            matches!(resolved, Err(InitError::OtlpTls(_))),
            "{:?}",
            resolved.err()
        );
    }

    #[test]
    fn bad_traces_variables_are_named() {
        for (var, value) in [
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
            // With no endpoint set, for signals not exported: checked all the same.
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "0"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/xml"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
        ] {
            refused_naming(var, value);
        }
        match resolve(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ]) {
            Err(InitError::InvalidEnv { var, .. }) => assert_eq!(var, "OTEL_TRACES_SAMPLER_ARG"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_without_environment() {
        let resolved = resolve(&[]).expect("defaults");
        assert_eq!(resolved.filter, "info");
        assert_eq!(resolved.format, LogFormat::Json);
        assert_eq!(resolved.schema, Schema::Default);
        assert!(
            resolved.service_name.starts_with("unknown_service"),
            "{}",
            resolved.service_name
        );
        assert_eq!(resolved.service_version, None);
    }

    #[test]
    fn environment_fills_what_code_left_unset() {
        let env = [
            ("RUST_LOG", "warn,app=debug"),
            ("TELESCOPE_LOG_FORMAT", "PRETTY"),
            ("TELESCOPE_LOG_SCHEMA", "ecs"),
            ("OTEL_SERVICE_NAME", "checkout"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=ignored,service.version=2.0,deployment.environment=staging",
            ),
        ];
        let resolved = resolve(&env).expect("valid");
        assert_eq!(resolved.filter, "warn,app=debug");
        assert_eq!(
            resolved.span_filter, "info",
            "RUST_LOG leaves the spans alone"
        );
        assert_eq!(resolved.format, LogFormat::Pretty);
        assert_eq!(resolved.schema, Schema::Ecs);
        assert_eq!(
            resolved.service_name, "checkout",
            "OTEL_SERVICE_NAME wins over the attribute"
        );
        assert_eq!(resolved.service_version.as_deref(), Some("2.0"));
        assert_eq!(resolved.environment.as_deref(), Some("staging"));

        let from_attribute =
            resolve(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=billing")]).expect("valid");
        assert_eq!(from_attribute.service_name, "billing");
    }

    #[test]
    fn code_wins_over_environment() {
        let mut builder = TelemetryBuilder::default()
            .service_name("from-code")
            .log_format(LogFormat::Json)
            .log_filter("debug")
            .expect("valid")
            .span_filter("warn")
            .expect("valid");
        let resolved = builder
            .resolve(
                &[
                    ("OTEL_SERVICE_NAME", "from-env"),
                    ("TELESCOPE_LOG_FORMAT", "xml"),
                    ("RUST_LOG", "=bad="),
                    ("TELESCOPE_SPAN_FILTER", "=bad="),
                ][..],
            )
            .expect("the bad variables are not read, since code set those knobs");
        assert_eq!(resolved.service_name, "from-code");
        assert_eq!(resolved.filter, "debug");
        assert_eq!(resolved.span_filter, "warn");
        let from_env = resolve(&[("TELESCOPE_SPAN_FILTER", "debug,hyper=off")]).expect("valid");
        assert_eq!(from_env.span_filter, "debug,hyper=off");
    }

    #[test]
    fn each_bad_variable_is_named_in_the_error() {
        let cases = [
            ("RUST_LOG", "info,[unclosed"),
            ("TELESCOPE_SPAN_FILTER", "info,[unclosed"),
            ("TELESCOPE_LOG_FORMAT", "xml"),
            ("TELESCOPE_LOG_SCHEMA", "splunk"),
            ("OTEL_RESOURCE_ATTRIBUTES", "no-equals-sign"),
        ];
        for (var, value) in cases {
            match resolve(&[(var, value)]) {
                Err(InitError::InvalidEnv {
                    var: named,
                    value: seen,
                    ..
                }) => {
                    assert_eq!((named, seen.as_str()), (var, value));
                }
                other => panic!("{var}={value}: expected InvalidEnv, got {other:?}"),
            }
            let message = resolve(&[(var, value)]).expect_err("invalid").to_string();
            assert!(message.contains(var), "{message}");
        }
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let resolved = resolve(&[("RUST_LOG", ""), ("TELESCOPE_LOG_FORMAT", "  ")]).expect("unset");
        assert_eq!(resolved.filter, "info");
        assert_eq!(resolved.format, LogFormat::Json);
    }

    #[test]
    fn admin_and_audit_settings_from_the_environment() {
        let quiet = resolve(&[]).expect("defaults");
        assert_eq!(
            quiet.admin, None,
            "the default address, not fatal when busy"
        );
        assert_eq!(quiet.audit, None);
        let off = resolve(&[("TELESCOPE_ADMIN_ADDR", "off")]).expect("valid");
        assert_eq!(off.admin, Some(AdminSetting::Off));
        let set = resolve(&[
            ("TELESCOPE_ADMIN_ADDR", "0.0.0.0:9000"),
            ("TELESCOPE_ADMIN_TOKEN", "t0ken"),
            ("TELESCOPE_AUDIT_FILE", "/var/log/app/audit.jsonl"),
            ("TELESCOPE_AUDIT_KEY_FILE", "/run/secrets/audit-key"),
        ])
        .expect("valid");
        assert_eq!(set.admin, Some(AdminSetting::At("0.0.0.0:9000".to_owned())));
        assert_eq!(set.admin_token.as_deref(), Some("t0ken"));
        let audit = set.audit.expect("an audit file");
        assert_eq!(audit.path, PathBuf::from("/var/log/app/audit.jsonl"));
        assert_eq!(
            audit.key_file,
            Some(PathBuf::from("/run/secrets/audit-key"))
        );
        assert_eq!(audit.signing_key_file, None);
        match resolve(&[("TELESCOPE_ADMIN_ADDR", "9464")]) {
            Err(InitError::InvalidEnv { var, .. }) => assert_eq!(var, "TELESCOPE_ADMIN_ADDR"),
            other => panic!("{other:?}"),
        }
        let debug = format!(
            "{:?}",
            TelemetryBuilder::default().admin_token("do-not-print")
        );
        assert!(!debug.contains("do-not-print"), "{debug}");
    }

    #[test]
    fn the_remaining_knobs_from_the_environment() {
        let defaults = resolve(&[]).expect("defaults");
        assert!(defaults.lossy_logs);
        assert_eq!(defaults.log_queue_lines, telescope_log::DEFAULT_QUEUE_LINES);
        assert_eq!(defaults.log_queue_bytes, telescope_log::DEFAULT_QUEUE_BYTES);
        assert_eq!(defaults.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
        assert_eq!(defaults.exemplar_interval, Some(DEFAULT_EXEMPLAR_INTERVAL));
        assert_eq!(defaults.cardinality_limit, None);
        assert!(!defaults.redaction.matches("iban"));
        assert!(defaults.log_records);
        let without = resolve(&[("TELESCOPE_LOG_RECORDS", "false")]).expect("valid");
        assert!(!without.log_records);

        let set = resolve(&[
            ("TELESCOPE_LOG_LOSSY", "false"),
            ("TELESCOPE_LOG_QUEUE_LINES", "4096"),
            ("TELESCOPE_LOG_QUEUE_BYTES", "1048576"),
            ("TELESCOPE_SHUTDOWN_TIMEOUT", "1500"),
            ("TELESCOPE_EXEMPLAR_INTERVAL", "off"),
            ("TELESCOPE_METRICS_CARDINALITY_LIMIT", "500"),
            ("TELESCOPE_METRICS_SERIES_LIMIT", "20000"),
            ("TELESCOPE_REDACT", "pin, iban"),
        ])
        .expect("valid");
        assert!(!set.lossy_logs);
        assert_eq!(set.log_queue_lines, 4096);
        assert_eq!(set.log_queue_bytes, 1 << 20);
        assert_eq!(set.shutdown_timeout, Duration::from_millis(1500));
        assert_eq!(set.exemplar_interval, None);
        assert_eq!(set.cardinality_limit, Some(500));
        assert_eq!(set.series_limit, Some(20_000));
        assert!(set.redaction.matches("pin") && set.redaction.matches("iban"));
        assert!(set.redaction.matches("password"), "added to the defaults");
        let every_250ms = resolve(&[("TELESCOPE_EXEMPLAR_INTERVAL", "250")]).expect("valid");
        assert_eq!(
            every_250ms.exemplar_interval,
            Some(Duration::from_millis(250))
        );

        for (var, value) in [
            ("TELESCOPE_LOG_LOSSY", "maybe"),
            ("TELESCOPE_LOG_QUEUE_LINES", "0"),
            ("TELESCOPE_LOG_QUEUE_BYTES", "64MiB"),
            ("TELESCOPE_SHUTDOWN_TIMEOUT", "5s"),
            ("TELESCOPE_EXEMPLAR_INTERVAL", "-1"),
            ("TELESCOPE_METRICS_CARDINALITY_LIMIT", "lots"),
            ("TELESCOPE_METRICS_SERIES_LIMIT", "0"),
            ("TELESCOPE_REDACT", " , "),
            ("TELESCOPE_BAGGAGE_FIELDS", ","),
        ] {
            refused_naming(var, value);
        }

        let in_code = TelemetryBuilder::default()
            .lossy_logs(true)
            .exemplar_interval(Some(Duration::from_secs(2)))
            .metrics(telescope_metrics::TelescopeRecorder::builder())
            .resolve(
                &[
                    ("TELESCOPE_LOG_LOSSY", "false"),
                    ("TELESCOPE_EXEMPLAR_INTERVAL", "off"),
                    ("TELESCOPE_METRICS_CARDINALITY_LIMIT", "5"),
                ][..],
            )
            .expect("code wins");
        assert!(in_code.lossy_logs);
        assert_eq!(in_code.exemplar_interval, Some(Duration::from_secs(2)));
        assert_eq!(in_code.cardinality_limit, None);
    }

    #[test]
    fn otel_propagators_chooses_the_formats_and_unknown_names_are_ignored() {
        use telescope_otlp::propagation::{Format, Propagators};
        let defaults = resolve(&[]).expect("valid");
        assert_eq!(defaults.propagators, Propagators::default());
        let chosen = resolve(&[("OTEL_PROPAGATORS", "b3multi, xray ,jaeger")]).expect("valid");
        assert_eq!(
            chosen.propagators.formats(),
            [Format::B3Multi, Format::Jaeger]
        );
        let none = resolve(&[("OTEL_PROPAGATORS", "none")]).expect("valid");
        assert!(none.propagators.formats().is_empty());
        let in_code = TelemetryBuilder::default()
            .propagators(Propagators::new([Format::B3]))
            .resolve(&[("OTEL_PROPAGATORS", "jaeger")][..])
            .expect("valid");
        assert_eq!(in_code.propagators.formats(), [Format::B3]);
    }

    #[test]
    fn a_bad_filter_in_code_is_refused_where_it_is_given() {
        let error = TelemetryBuilder::default()
            .log_filter("info,[unclosed")
            .expect_err("invalid");
        assert!(
            matches!(error, InitError::InvalidFilter { .. }),
            "{error:?}"
        );
        let error = TelemetryBuilder::default()
            .span_filter("info,[unclosed")
            .expect_err("invalid");
        assert!(
            matches!(&error, InitError::InvalidFilter { directives, .. } if directives == "info,[unclosed"),
            "{error:?}"
        );
    }
}
