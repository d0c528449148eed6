//! [`TelemetryBuilder`]: every knob of `init()`, set in code or read from the environment.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use telescope_health::Health;
use telescope_log::audit::{AuditLayer, AuditLog};
use telescope_log::{JsonLayer, NonBlockingBuilder, Redaction, Schema};
use telescope_metrics::{TelescopeRecorder, TelescopeRecorderBuilder};
use telescope_otlp::sampler::{sampler_from_env, Sampler};
use telescope_otlp::{OtlpExport, OtlpExportConfig, OtlpLayer, PipelineConfig};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::EnvFilter;

use crate::admin::{AdminServer, DEFAULT_ADMIN_ADDRESS};
use crate::env::{self, Env, ProcessEnv};
use crate::resource;
use crate::telemetry::Parts;
use crate::{InitError, SpanMetricsLayer, Telemetry};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// One JSON object per line ([`JsonLayer`]); the default.
    #[default]
    Json,
    /// `tracing-subscriber`'s human-readable format, coloured on a terminal.
    Pretty,
}

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

/// `tracing-subscriber`'s default field format (`message` bare, others `name=value`), with
/// redacted fields written as `name=[REDACTED]`, so the pretty format leaks no more than JSON.
fn redacting_fields(
    redaction: Redaction,
) -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(move |writer, field, value| {
        if redaction.matches(field.name()) {
            write!(writer, "{field}=[REDACTED]")
        } else if field.name() == "message" {
            write!(writer, "{value:?}")
        } else {
            write!(writer, "{field}={value:?}")
        }
    })
    .delimited(" ")
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

/// Milliseconds, or `off` (also `0`) for none.
fn parse_interval(text: &str) -> Result<Option<Duration>, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    parse_millis(text).map(|interval| (!interval.is_zero()).then_some(interval))
}

/// Field names to redact on top of the default list, comma-separated.
fn parse_redact(text: &str) -> Result<Redaction, String> {
    let names: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err("expected field names separated by commas".to_owned());
    }
    Ok(names
        .into_iter()
        .fold(Redaction::default(), |redaction, name| {
            redaction.with_name(name)
        }))
}

/// How often a histogram bucket may take a new exemplar unless told otherwise.
const DEFAULT_EXEMPLAR_INTERVAL: Duration = Duration::from_secs(1);

/// The default log filter when neither the builder nor `RUST_LOG` sets one.
const DEFAULT_FILTER: &str = "info";

fn parse_filter(directives: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder()
        .parse(directives)
        .map_err(|error| error.to_string())
}

/// Configures telemetry. Settings made here win; anything left unset is read from the
/// environment when the builder finishes (table below), and otherwise defaults.
///
/// | setting | method | variable | default |
/// |---|---|---|---|
/// | log filter | [`log_filter`](Self::log_filter) | `RUST_LOG` | `info` |
/// | log format | [`log_format`](Self::log_format) | `TELESCOPE_LOG_FORMAT` (`json`, `pretty`) | `json` |
/// | JSON schema | [`log_schema`](Self::log_schema) | `TELESCOPE_LOG_SCHEMA` (`default`, `ecs`, `gcp`) | `default` |
/// | service name | [`service_name`](Self::service_name) | `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES` | `unknown_service:<executable>` |
/// | service version | [`service_version`](Self::service_version) | `service.version` in `OTEL_RESOURCE_ATTRIBUTES` | none |
/// | environment | [`deployment_environment`](Self::deployment_environment) | `deployment.environment.name` (or `deployment.environment`) in `OTEL_RESOURCE_ATTRIBUTES` | none |
/// | span sampler | [`sampler`](Self::sampler) | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` (also `adaptive`, its argument the traces per second) | parent-based, always on |
/// | OTLP export | [`otlp_export`](Self::otlp_export) | `OTEL_EXPORTER_OTLP_{TRACES_,}ENDPOINT`, `…PROTOCOL` (`http/protobuf`, `grpc`), `…HEADERS`, `…TIMEOUT` | none: spans stay in the in-process ring |
/// | span queue and batches | — | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_EXPORT_TIMEOUT` | 2048, 512, 5 s, 30 s |
/// | extra redacted field names | [`redaction`](Self::redaction) | `TELESCOPE_REDACT` (`ssn,iban`: added to the default list) | the default list |
/// | lossy log queue | [`lossy_logs`](Self::lossy_logs) | `TELESCOPE_LOG_LOSSY` (`true`, `false`) | `true` |
/// | log queue size | [`log_queue_lines`](Self::log_queue_lines) | `TELESCOPE_LOG_QUEUE_LINES` | 128,000 lines |
/// | shutdown budget | [`shutdown_timeout`](Self::shutdown_timeout) | `TELESCOPE_SHUTDOWN_TIMEOUT` (ms) | 5 s |
/// | admin server (`/metrics`, probes, `/debug/traces`) | [`admin_address`](Self::admin_address), [`without_admin_server`](Self::without_admin_server) | `TELESCOPE_ADMIN_ADDR` (`off` to disable) | `127.0.0.1:9464` |
/// | admin bearer token | [`admin_token`](Self::admin_token) | `TELESCOPE_ADMIN_TOKEN` | none |
/// | metrics recorder | [`metrics`](Self::metrics) | `TELESCOPE_METRICS_CARDINALITY_LIMIT` (when no recorder is set in code) | cardinality limit 2000 per metric |
/// | exemplars | [`exemplar_interval`](Self::exemplar_interval) | `TELESCOPE_EXEMPLAR_INTERVAL` (ms, `off`) | one per histogram bucket per second |
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
    log_format: Option<LogFormat>,
    log_schema: Option<Schema>,
    redaction: Option<Redaction>,
    lossy_logs: Option<bool>,
    log_queue_lines: Option<usize>,
    shutdown_timeout: Option<Duration>,
    log_writer: Option<Box<dyn Write + Send>>,
    sampler: Option<Box<dyn Sampler>>,
    otlp_export: Option<OtlpExportConfig>,
    admin: Option<AdminSetting>,
    admin_token: Option<String>,
    metrics: Option<TelescopeRecorderBuilder>,
    health: Option<Health>,
    audit_log: Option<AuditLog>,
    audit_file: Option<PathBuf>,
    /// `Some(None)`: no exemplars; `None`: not set in code.
    exemplar_interval: Option<Option<Duration>>,
}

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

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("service_name", &self.service_name)
            .field("service_version", &self.service_version)
            .field("environment", &self.environment)
            .field("log_filter", &self.log_filter)
            .field("log_format", &self.log_format)
            .field("log_schema", &self.log_schema)
            .field("lossy_logs", &self.lossy_logs)
            .field("sampler", &self.sampler)
            .field("otlp_export", &self.otlp_export)
            .field("admin", &self.admin)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<hidden>"),
            )
            .field("audit_file", &self.audit_file)
            .finish_non_exhaustive()
    }
}

/// Everything the builder and the environment decided.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) filter: String,
    pub(crate) format: LogFormat,
    pub(crate) schema: Schema,
    pub(crate) service_name: String,
    pub(crate) service_version: Option<String>,
    pub(crate) environment: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES` with the three above filled in: what exported spans carry.
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) sampler: Option<Box<dyn Sampler>>,
    pub(crate) otlp_export: Option<OtlpExportConfig>,
    pub(crate) pipeline: PipelineConfig,
    /// `None`: the default address, where a busy port is not fatal.
    pub(crate) admin: Option<AdminSetting>,
    pub(crate) admin_token: Option<String>,
    pub(crate) audit: Option<AuditFiles>,
    pub(crate) redaction: Redaction,
    pub(crate) lossy_logs: bool,
    pub(crate) log_queue_lines: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) exemplar_interval: Option<Duration>,
    /// From `TELESCOPE_METRICS_CARDINALITY_LIMIT` when no recorder was configured in code.
    pub(crate) cardinality_limit: Option<usize>,
}

/// The audit trail's files, from code or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditFiles {
    pub(crate) path: PathBuf,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) signing_key_file: Option<PathBuf>,
}

/// Whether a global `tracing` subscriber is installed. `has_been_set` also counts scoped
/// defaults, so look from a fresh thread, where only the global one can be current.
fn global_subscriber_exists() -> bool {
    std::thread::spawn(|| {
        tracing::dispatcher::get_default(|current| {
            !current.is::<tracing::subscriber::NoSubscriber>()
        })
    })
    .join()
    .unwrap_or(false)
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

    /// Which events and spans are recorded, in `RUST_LOG` syntax (`info,my_crate=debug`).
    ///
    /// # Errors
    /// [`InitError::InvalidFilter`] if the directives do not parse.
    pub fn log_filter(mut self, directives: impl Into<String>) -> Result<Self, InitError> {
        let directives = directives.into();
        parse_filter(&directives).map_err(|reason| InitError::InvalidFilter {
            directives: directives.clone(),
            reason,
        })?;
        self.log_filter = Some(directives);
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

    /// Which field names are redacted in logs (default: [`Redaction::default`]).
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

    /// Exports spans to this OTLP endpoint (default: `OTEL_EXPORTER_OTLP_*`; with neither,
    /// spans stay in the in-process ring only). The resource is filled in from the service
    /// settings.
    pub fn otlp_export(mut self, config: OtlpExportConfig) -> Self {
        self.otlp_export = Some(config);
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

    /// Writes log lines to `writer` instead of stdout (through the same non-blocking queue).
    pub fn log_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.log_writer = Some(Box::new(writer));
        self
    }

    /// Fills what was not set from `env`.
    pub(crate) fn resolve(&mut self, env: &(impl Env + ?Sized)) -> Result<Resolved, InitError> {
        let filter = match &self.log_filter {
            Some(directives) => directives.clone(),
            None => env::parse(env, "RUST_LOG", |text| {
                parse_filter(text).map(|_| text.to_owned())
            })?
            .unwrap_or_else(|| DEFAULT_FILTER.to_owned()),
        };
        let format = match self.log_format {
            Some(format) => format,
            None => env::parse(env, "TELESCOPE_LOG_FORMAT", LogFormat::parse)?.unwrap_or_default(),
        };
        let schema = match self.log_schema {
            Some(schema) => schema,
            None => env::parse(env, "TELESCOPE_LOG_SCHEMA", parse_schema)?.unwrap_or_default(),
        };
        let attributes = env::parse(
            env,
            "OTEL_RESOURCE_ATTRIBUTES",
            telescope_core::key_values::parse_key_values,
        )?
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

        let get = |name: &str| env.get(name);
        let sampler = match self.sampler.take() {
            Some(sampler) => Some(sampler),
            None => match sampler_from_env(get) {
                Ok(sampler) => env.get("OTEL_TRACES_SAMPLER").map(|_| sampler),
                Err(error) => return Err(sampler_error(error)),
            },
        };
        let otlp_export = match self.otlp_export.take() {
            Some(config) => Some(config),
            None => OtlpExportConfig::from_env(get).map_err(otlp_error)?,
        };
        let pipeline = PipelineConfig::from_env(get).map_err(otlp_error)?;
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
        let redaction = match &self.redaction {
            Some(redaction) => redaction.clone(),
            None => env::parse(env, "TELESCOPE_REDACT", parse_redact)?.unwrap_or_default(),
        };
        let lossy_logs = match self.lossy_logs {
            Some(lossy) => lossy,
            None => env::parse(env, "TELESCOPE_LOG_LOSSY", parse_bool)?.unwrap_or(true),
        };
        let log_queue_lines = match self.log_queue_lines {
            Some(lines) => lines,
            None => env::parse(env, "TELESCOPE_LOG_QUEUE_LINES", parse_count)?
                .unwrap_or(telescope_log::DEFAULT_QUEUE_LINES),
        };
        let shutdown_timeout = match self.shutdown_timeout {
            Some(timeout) => timeout,
            None => env::parse(env, "TELESCOPE_SHUTDOWN_TIMEOUT", parse_millis)?
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT),
        };
        let exemplar_interval = match self.exemplar_interval {
            Some(interval) => interval,
            None => env::parse(env, "TELESCOPE_EXEMPLAR_INTERVAL", parse_interval)?
                .unwrap_or(Some(DEFAULT_EXEMPLAR_INTERVAL)),
        };
        let cardinality_limit = match &self.metrics {
            Some(_) => None,
            None => env::parse(env, "TELESCOPE_METRICS_CARDINALITY_LIMIT", parse_count)?,
        };
        Ok(Resolved {
            filter,
            format,
            schema,
            service_name,
            service_version,
            environment,
            resource,
            sampler,
            otlp_export,
            pipeline,
            admin,
            admin_token,
            audit,
            redaction,
            lossy_logs,
            log_queue_lines,
            shutdown_timeout,
            exemplar_interval,
            cardinality_limit,
        })
    }

    /// Builds the subscriber without installing it (and starts the admin server): for tests,
    /// or to install it yourself. The metrics recorder is not installed either; it is
    /// [`Telemetry::metrics_recorder`].
    ///
    /// # Errors
    /// [`InitError::InvalidEnv`] for a bad environment variable, [`InitError::Admin`] if a
    /// configured admin address cannot be bound, [`InitError::Audit`] if the audit log
    /// cannot be opened.
    pub fn build(mut self) -> Result<(Dispatch, Telemetry), InitError> {
        let resolved = self.resolve(&ProcessEnv)?;
        self.build_resolved(resolved)
    }

    fn open_audit(&mut self, resolved: &Resolved) -> Result<Option<AuditLog>, InitError> {
        if let Some(log) = self.audit_log.take() {
            return Ok(Some(log));
        }
        let Some(files) = &resolved.audit else {
            return Ok(None);
        };
        let mut builder = AuditLog::builder(&files.path).service(resolved.service_name.clone());
        if let Some(key_file) = &files.key_file {
            builder = builder.key_file(key_file)?;
        }
        if let Some(signing_key_file) = &files.signing_key_file {
            builder = builder.signing_key_file(signing_key_file)?;
        }
        Ok(Some(builder.open()?))
    }

    fn build_resolved(
        mut self,
        mut resolved: Resolved,
    ) -> Result<(Dispatch, Telemetry), InitError> {
        let audit = self.open_audit(&resolved)?;
        let to_terminal = self.log_writer.is_none() && io::stdout().is_terminal();
        let sink: Box<dyn Write + Send> = self
            .log_writer
            .take()
            .unwrap_or_else(|| Box::new(io::stdout()));
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(resolved.lossy_logs)
            .queue_lines(resolved.log_queue_lines)
            .shutdown_timeout(resolved.shutdown_timeout)
            .finish(sink);

        // The filter was validated when it was set or read. Audit events always pass.
        let directives = match audit {
            Some(_) => format!("{},audit=trace", resolved.filter),
            None => resolved.filter.clone(),
        };
        let filter = parse_filter(&directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
        let json = (resolved.format == LogFormat::Json).then(|| {
            let mut layer = JsonLayer::builder()
                .schema(resolved.schema)
                .with_redaction(resolved.redaction.clone())
                .with_static_field("service.name", resolved.service_name.clone());
            if let Some(version) = &resolved.service_version {
                layer = layer.with_static_field("service.version", version.clone());
            }
            if let Some(environment) = &resolved.environment {
                layer = layer.with_static_field("deployment.environment.name", environment.clone());
            }
            layer.with_writer(writer.clone()).build()
        });
        let pretty = (resolved.format == LogFormat::Pretty).then(|| {
            tracing_subscriber::fmt::layer()
                .with_ansi(to_terminal)
                .fmt_fields(redacting_fields(resolved.redaction.clone()))
                .with_writer(writer)
        });
        let mut traces = OtlpLayer::builder().pipeline(resolved.pipeline);
        if let Some(sampler) = resolved.sampler.take() {
            traces = traces.boxed_sampler(sampler);
        }
        if let Some(config) = resolved.otlp_export.take() {
            let config = config.with_resource(resolved.resource.clone());
            traces = traces.exporter(OtlpExport::new(config));
        }
        let traces = traces.build();
        let pipeline = traces.pipeline();
        let mut recorder = self
            .metrics
            .take()
            .unwrap_or_else(TelescopeRecorder::builder);
        if let Some(limit) = resolved.cardinality_limit {
            recorder = recorder.cardinality_limit(limit);
        }
        if let Some(interval) = resolved.exemplar_interval {
            recorder = recorder.exemplars(interval, telescope_core::current_sampled_ids);
        }
        let (recorder, metrics) = recorder.build();
        let health = self.health.take().unwrap_or_default();
        let admin = self.start_admin(&resolved, &metrics, &health, &pipeline)?;
        // The OTLP layer sits below the log layers so that a span's ids exist before they
        // are written.
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(traces)
            .with(SpanMetricsLayer::new())
            .with(
                audit
                    .clone()
                    .map(|log| AuditLayer::new(log).with_sensitive(resolved.redaction.clone())),
            )
            .with(json)
            .with(pretty);
        let telemetry = Telemetry::new(Parts {
            logs: guard,
            traces: pipeline,
            recorder,
            metrics,
            health,
            admin,
            audit,
            shutdown_timeout: resolved.shutdown_timeout,
        });
        Ok((Dispatch::new(subscriber), telemetry))
    }

    fn start_admin(
        &self,
        resolved: &Resolved,
        metrics: &telescope_metrics::MetricsHandle,
        health: &Health,
        pipeline: &telescope_otlp::Pipeline,
    ) -> Result<Option<AdminServer>, InitError> {
        let (address, explicit) = match &resolved.admin {
            Some(AdminSetting::Off) => return Ok(None),
            Some(AdminSetting::At(address)) => (address.clone(), true),
            None => (DEFAULT_ADMIN_ADDRESS.to_owned(), false),
        };
        let mut admin = AdminServer::builder()
            .address(address)
            .service_name(resolved.service_name.clone())
            .metrics(metrics.clone())
            .health(health.clone())
            .traces(pipeline.ring());
        if let Some(token) = &resolved.admin_token {
            admin = admin.bearer_token(token.clone());
        }
        match admin.start() {
            Ok(server) => Ok(Some(server)),
            Err(error) if explicit => Err(InitError::Admin(error)),
            Err(error) => {
                eprintln!(
                    "telescope: {error}; continuing without the admin server \
                     (set TELESCOPE_ADMIN_ADDR to another address, or to off)"
                );
                Ok(None)
            }
        }
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
        tracing::dispatcher::set_global_default(dispatch)
            .map_err(|_| InitError::AlreadyInitialized)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(env: &[(&str, &str)]) -> Result<Resolved, InitError> {
        TelemetryBuilder::default().resolve(env)
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
    fn bad_traces_variables_are_named() {
        for (var, value) in [
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ] {
            match resolve(&[(var, value)]) {
                Err(InitError::InvalidEnv { var: named, .. }) => assert_eq!(named, var),
                other => panic!("{var}: {other:?}"),
            }
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
            .expect("valid");
        let resolved = builder
            .resolve(
                &[
                    ("OTEL_SERVICE_NAME", "from-env"),
                    ("TELESCOPE_LOG_FORMAT", "xml"),
                    ("RUST_LOG", "=bad="),
                ][..],
            )
            .expect("the bad variables are not read, since code set those knobs");
        assert_eq!(resolved.service_name, "from-code");
        assert_eq!(resolved.filter, "debug");
    }

    #[test]
    fn each_bad_variable_is_named_in_the_error() {
        let cases = [
            ("RUST_LOG", "info,[unclosed"),
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
        assert_eq!(defaults.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
        assert_eq!(defaults.exemplar_interval, Some(DEFAULT_EXEMPLAR_INTERVAL));
        assert_eq!(defaults.cardinality_limit, None);
        assert!(!defaults.redaction.matches("ssn"));

        let set = resolve(&[
            ("TELESCOPE_LOG_LOSSY", "false"),
            ("TELESCOPE_LOG_QUEUE_LINES", "4096"),
            ("TELESCOPE_SHUTDOWN_TIMEOUT", "1500"),
            ("TELESCOPE_EXEMPLAR_INTERVAL", "off"),
            ("TELESCOPE_METRICS_CARDINALITY_LIMIT", "500"),
            ("TELESCOPE_REDACT", "ssn, iban"),
        ])
        .expect("valid");
        assert!(!set.lossy_logs);
        assert_eq!(set.log_queue_lines, 4096);
        assert_eq!(set.shutdown_timeout, Duration::from_millis(1500));
        assert_eq!(set.exemplar_interval, None);
        assert_eq!(set.cardinality_limit, Some(500));
        assert!(set.redaction.matches("ssn") && set.redaction.matches("iban"));
        assert!(set.redaction.matches("password"), "added to the defaults");
        let every_250ms = resolve(&[("TELESCOPE_EXEMPLAR_INTERVAL", "250")]).expect("valid");
        assert_eq!(
            every_250ms.exemplar_interval,
            Some(Duration::from_millis(250))
        );

        for (var, value) in [
            ("TELESCOPE_LOG_LOSSY", "maybe"),
            ("TELESCOPE_LOG_QUEUE_LINES", "0"),
            ("TELESCOPE_SHUTDOWN_TIMEOUT", "5s"),
            ("TELESCOPE_EXEMPLAR_INTERVAL", "-1"),
            ("TELESCOPE_METRICS_CARDINALITY_LIMIT", "lots"),
            ("TELESCOPE_REDACT", " , "),
        ] {
            match resolve(&[(var, value)]) {
                Err(InitError::InvalidEnv { var: named, .. }) => assert_eq!(named, var),
                other => panic!("{var}={value}: {other:?}"),
            }
        }

        let in_code = TelemetryBuilder::default()
            .lossy_logs(true)
            .exemplar_interval(Some(Duration::from_secs(2)))
            .metrics(TelescopeRecorder::builder())
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
    fn a_bad_filter_in_code_is_refused_where_it_is_given() {
        let error = TelemetryBuilder::default()
            .log_filter("info,[unclosed")
            .expect_err("invalid");
        assert!(
            matches!(error, InitError::InvalidFilter { .. }),
            "{error:?}"
        );
    }
}
