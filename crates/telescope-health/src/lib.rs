//! Kubernetes-grade health probes for Rust services.
//!
//! Register checks once; they run in the background, each on its interval with a timeout
//! and consecutive-result thresholds, and a probe answers from their latest results without
//! running anything. The endpoints follow Kubernetes' conventions: `/livez`, `/readyz`,
//! `/startupz`, `/healthz`, `/readyz/<check>`, `?verbose`, `?exclude=`, 200 or 503, and
//! `application/health+json` when asked for.
//!
//! ```no_run
//! use std::time::Duration;
//! use telescope_health::{checks::TcpCheck, check_fn, CheckConfig, CheckResult, Health, HealthServer};
//!
//! let health = Health::new();
//! health.register(TcpCheck::new("postgres", "127.0.0.1:5432"), CheckConfig::readiness())?;
//! health.register(
//!     check_fn("cache", || async { CheckResult::warn("cache is cold") }),
//!     CheckConfig::readiness().critical(false).interval(Duration::from_secs(30)),
//! )?;
//! let server = HealthServer::start("127.0.0.1:9464", health.clone())?;
//! // ... on SIGTERM: stop taking traffic, wait for the load balancer, then stop.
//! health.set_accepting_traffic(false);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Aggregation: a probe fails (503) if any critical check in it fails; it warns (200) if any
//! check warns or a non-critical one fails; otherwise it passes. Liveness should hold no
//! dependency checks: a database outage must not restart every pod (the advice of Kubernetes
//! and Spring Boot). Before its first result a check counts as failing for readiness and
//! startup and as passing for liveness; a result older than about two intervals counts as a
//! failure, so a stuck check cannot report a stale pass. Startup stays passed once it passed,
//! and readiness fails until it has. Every change of a check's status is logged as a
//! `tracing` event (warn on failure, info on recovery), and `telescope_health_status{check,
//! probe}` and `telescope_health_check_duration_seconds{check}` are recorded through the
//! `metrics` facade.
//!
//! Supported Rust version: 1.88 or newer.

mod check;
pub mod checks;
mod config;
mod http;
mod registry;
mod report;
mod runtime;
mod signals;
mod state;
mod status;

pub use check::{check_fn, CheckFuture, FnCheck, HealthCheck};
pub use config::{CheckConfig, Probe};
pub use http::{is_endpoint, respond, serve, HealthServer, HealthService};
pub use registry::{Health, RegisterError};
pub use report::{CheckReport, Condition, ProbeReport, Target};
pub use status::{CheckResult, Observation, Status};
/// Why the health server could not start (shared with the metrics and admin servers).
pub use telescope_core::server::ServerError;

/// The media type of the IETF health check response format.
pub const HEALTH_JSON: &str = "application/health+json";
