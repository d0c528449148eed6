//! Production observability for Rust services in one line of `main`.
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! use telescope::metrics::counter;
//! use telescope::tracing::info;
//!
//! fn main() -> ExitCode {
//!     // Keep the guard: it flushes spans, audit records and logs when dropped.
//!     let _telemetry = match telescope::try_init() {
//!         Ok(telemetry) => telemetry,
//!         Err(error) => {
//!             // Display says what is wrong and where: "environment variable
//!             // OTEL_BSP_MAX_QUEUE_SIZE="lots" is invalid: expected a whole number".
//!             eprintln!("telemetry: {error}");
//!             return ExitCode::FAILURE;
//!         }
//!     };
//!     info!(port = 8080, "listening");
//!     counter!("starts_total").increment(1);
//!     ExitCode::SUCCESS
//! }
//! ```
//!
//! Built for Unix (the rolling file writer and the disk-space check use Unix APIs). Cargo
//! features: `axum` (on by default) reads route templates from axum's `MatchedPath` in
//! [`http::TelemetryLayer`]; `interop` only turns on the interoperability tests.
//!
//! The [`tracing`](https://docs.rs/tracing/0.1) and [`metrics`](https://docs.rs/metrics/0.24) facades are re-exported, so a service needs only
//! `telescope` in its `Cargo.toml` for events, spans and metrics (`#[instrument]` still needs
//! `tracing` as a dependency of its own: the attribute expands to paths of the `tracing` crate).
//!
//! `init()` installs a `tracing` subscriber (events filtered by `RUST_LOG`, spans by
//! `TELESCOPE_SPAN_FILTER`, both `info` by default, so a quiet log level keeps traces whole;
//! the OTLP span layer; [`SpanMetricsLayer`]; the audit layer when an audit file is
//! configured; telescope's JSON log layer writing to stdout through a non-blocking queue),
//! installs the `metrics` recorder (with exemplars from sampled spans), and starts the
//! [`admin`] server on `127.0.0.1:9464` serving `/metrics`, the health probes,
//! `/debug/traces` and `/debug/overview`. [`http::TelemetryLayer`] adds server spans, request metrics and request
//! ids to an axum or tower service. Configure everything with [`builder()`]; see
//! [`TelemetryBuilder`] for every setting and its environment variable.
//!
//! The component crates can be composed by hand instead; they are re-exported here as
//! [`context`] (trace context, ids, baggage, redaction: `telescope-core`), [`logs`] (JSON
//! layer, writers, audit trail: `telescope-log`), [`otlp`] (span layer, samplers,
//! propagation), [`recorder`] (the `metrics` recorder and `/metrics` server:
//! `telescope-metrics`) and [`health`] (health probes):
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//! let (writer, _guard) = telescope::logs::NonBlocking::new(std::io::stdout());
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_subscriber::EnvFilter::new("info"))
//!     .with(telescope::logs::JsonLayer::builder().writer(writer).build());
//! tracing::subscriber::with_default(subscriber, || tracing::info!("composed by hand"));
//! ```
//!
//! Supported Rust version: 1.88 or newer.

pub mod admin;
mod builder;
mod env;
pub mod grpc;
pub mod http;
mod metrics_push;
mod resource;
mod signal_filter;
pub mod slo;
mod span_metrics;
pub mod statsd;
mod telemetry;

/// The `metrics` facade: `telescope::metrics::counter!` and the rest.
pub use ::metrics;
/// The `tracing` facade: `telescope::tracing::info!`, spans, `Instrument`.
pub use ::tracing;
pub use builder::{LogFormat, TelemetryBuilder};
pub use span_metrics::SpanMetricsLayer;
pub use telemetry::Telemetry;
pub use telescope_core as context;
pub use telescope_core::{Redaction, Secret};
pub use telescope_health as health;
pub use telescope_log as logs;
pub use telescope_metrics as recorder;
pub use telescope_otlp as otlp;

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// An environment variable is set to a value that cannot be used.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    InvalidEnv {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Log filter directives given in code do not parse.
    #[error("log filter {directives:?} is invalid: {reason}")]
    InvalidFilter {
        /// The directives.
        directives: String,
        /// What is wrong with them.
        reason: String,
    },
    /// A global `tracing` subscriber is already installed (by an earlier `init()` or
    /// another library).
    #[error("a global tracing subscriber is already installed; init() may be called only once")]
    AlreadyInitialized,
    /// Another global `metrics` recorder is already installed.
    #[error("a global metrics recorder is already installed; telescope installs its own (compose by hand to keep yours)")]
    MetricsAlreadyInstalled,
    /// The admin server could not start on the address it was given.
    #[error(transparent)]
    Admin(#[from] admin::ServerError),
    /// The audit log could not be opened (or its keys read).
    #[error("audit log: {0}")]
    Audit(#[from] telescope_log::audit::AuditError),
    /// The TLS files of an OTLP exporter configured in code cannot be used (those from the
    /// environment are reported as [`InitError::InvalidEnv`], naming the variable).
    #[error("OTLP export TLS: {0}")]
    OtlpTls(#[from] telescope_otlp::TlsError),
    /// The StatsD address cannot be used (it does not resolve, or no socket can be made).
    #[error("StatsD at {address}: {source}")]
    Statsd {
        /// The address given.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// An SLO cannot be monitored (a latency threshold that is no bucket bound).
    #[error("SLO: {0}")]
    Slo(#[from] slo::SloError),
    /// A thread telemetry needs could not start.
    #[error("could not start the {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// A builder with nothing set: every setting comes from the environment or its default
/// until you set it.
pub fn builder() -> TelemetryBuilder {
    TelemetryBuilder::default()
}

/// Sets up telemetry from the environment and installs it globally.
///
/// # Errors
/// As [`TelemetryBuilder::try_init`]: [`InitError::InvalidEnv`] naming a bad variable,
/// [`InitError::InvalidFilter`] for filter directives that cannot be used,
/// [`InitError::AlreadyInitialized`] if a global subscriber is already set,
/// [`InitError::MetricsAlreadyInstalled`] if another global `metrics` recorder is,
/// [`InitError::Admin`] if `TELESCOPE_ADMIN_ADDR` cannot be bound (the default address
/// being busy is not an error: telescope starts without the admin server and says so),
/// [`InitError::Audit`] if the audit file or its keys cannot be opened, [`InitError::OtlpTls`],
/// [`InitError::Statsd`], [`InitError::Slo`] and [`InitError::Thread`] as the builder says.
/// Nothing is installed when it fails.
pub fn try_init() -> Result<Telemetry, InitError> {
    builder().try_init()
}

/// Like [`try_init`], but panics with the reason.
///
/// # Panics
/// When [`try_init`] fails.
pub fn init() -> Telemetry {
    builder().init()
}
