//! [`Telemetry`]: the guard `init()` returns, which flushes everything when dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use telescope_health::Health;
use telescope_log::audit::AuditLog;
use telescope_log::{FlushGuard, NonBlockingStats, Redaction};
use telescope_metrics::{MetricsHandle, TelescopeRecorder};
use telescope_otlp::propagation::Propagators;
use telescope_otlp::{LogPipeline, Pipeline};

use crate::admin::AdminServer;
use crate::metrics_push::MetricsPush;
use crate::slo::sampler::SloSampler;
use crate::slo::SloMonitor;

/// What the builder made, handed to [`Telemetry`].
pub(crate) struct Parts {
    pub(crate) logs: FlushGuard,
    pub(crate) traces: Pipeline,
    pub(crate) log_export: Option<LogPipeline>,
    pub(crate) metrics_push: Vec<MetricsPush>,
    pub(crate) recorder: TelescopeRecorder,
    pub(crate) metrics: MetricsHandle,
    pub(crate) health: Health,
    pub(crate) admin: Option<AdminServer>,
    pub(crate) audit: Option<AuditLog>,
    pub(crate) shutdown_timeout: Duration,
    /// Up to which level `try_init` should capture records of the `log` crate, if at all.
    pub(crate) log_records: Option<tracing::level_filters::LevelFilter>,
    pub(crate) redaction: Redaction,
    pub(crate) propagators: Propagators,
    pub(crate) slo: Option<(Arc<SloMonitor>, SloSampler)>,
}

/// Keeps telemetry running; when dropped, exports finished spans (for up to half the builder's
/// shutdown timeout), seals the audit log (up to half of what is left), pushes the metrics a
/// last time and exports queued OTLP log records (half of what is left, each), writes queued
/// log lines (the rest), then stops the admin server: within the shutdown timeout in total. Bind it to a named variable in
/// `main`: `let _telemetry = …;`, not `_`.
#[derive(Debug)]
#[must_use = "dropping the guard flushes and stops telemetry; keep it alive until the end of main"]
pub struct Telemetry {
    logs: Option<FlushGuard>,
    /// The log writer's counts when it was shut down.
    final_log_stats: NonBlockingStats,
    traces: Pipeline,
    log_export: Option<LogPipeline>,
    metrics_push: Vec<MetricsPush>,
    recorder: TelescopeRecorder,
    metrics: MetricsHandle,
    health: Health,
    admin: Option<AdminServer>,
    audit: Option<AuditLog>,
    shutdown_timeout: Duration,
    log_records: Option<tracing::level_filters::LevelFilter>,
    redaction: Redaction,
    propagators: Propagators,
    slo: Option<(Arc<SloMonitor>, SloSampler)>,
}

impl Telemetry {
    pub(crate) fn new(parts: Parts) -> Self {
        Self {
            logs: Some(parts.logs),
            final_log_stats: NonBlockingStats::default(),
            traces: parts.traces,
            log_export: parts.log_export,
            metrics_push: parts.metrics_push,
            recorder: parts.recorder,
            metrics: parts.metrics,
            health: parts.health,
            admin: parts.admin,
            audit: parts.audit,
            shutdown_timeout: parts.shutdown_timeout,
            redaction: parts.redaction,
            log_records: parts.log_records,
            propagators: parts.propagators,
            slo: parts.slo,
        }
    }

    /// Waits until every span finished so far is exported, every OTLP log record exported,
    /// the metrics pushed (when they are), every audit record written and every log line
    /// written, or `timeout` passes (in total). Returns whether everything was
    /// done in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = telescope_core::time::deadline_after(timeout);
        // Spans first: exporting them may log.
        let spans = self.traces.force_flush(timeout);
        let records = self.log_export.as_ref().is_none_or(|export| {
            export.force_flush(deadline.saturating_duration_since(Instant::now()))
        });
        let pushed = self
            .metrics_push
            .iter()
            .all(|push| push.flush(deadline.saturating_duration_since(Instant::now())));
        let audit = self
            .audit
            .as_ref()
            .is_none_or(|audit| audit.flush().is_ok());
        let left = deadline.saturating_duration_since(Instant::now());
        let logs = self.logs.as_ref().is_none_or(|logs| logs.flush(left));
        spans && records && pushed && audit && logs
    }

    /// Flushes and stops, as dropping does, but at a point of your choosing, within the
    /// builder's shutdown timeout in total: spans get up to half of it, the audit log up to
    /// half of what is left, OTLP log records half of what is left then, the log lines the
    /// rest. Calling it again (or dropping afterwards) does nothing.
    pub fn shutdown(&mut self) {
        let Some(logs) = self.logs.take() else {
            return;
        };
        if let Some((_, sampler)) = &mut self.slo {
            sampler.stop();
        }
        let deadline = telescope_core::time::deadline_after(self.shutdown_timeout);
        let budget = self.shutdown_timeout / 2;
        if !self.traces.shutdown(budget) {
            let stats = self.traces.stats();
            eprintln!(
                "telescope: spans were still being exported after {budget:?}: {} spans dropped \
                 unsent, {} still in flight ({} exported, {} dropped when the export failed, {} \
                 rejected by the receiver)",
                stats.abandoned_at_shutdown,
                stats.pending,
                stats.exported,
                stats.dropped_export_failed,
                stats.dropped_rejected
            );
        }
        if let Some(audit) = &self.audit {
            let budget = deadline.saturating_duration_since(Instant::now()) / 2;
            if !seal_audit(audit, budget) {
                eprintln!(
                    "telescope: the audit log was still writing after {budget:?}; records \
                     submitted without waiting for their receipt may be lost"
                );
            }
        }
        for push in &self.metrics_push {
            let budget = deadline.saturating_duration_since(Instant::now()) / 2;
            if !push.shutdown(budget) {
                eprintln!("telescope: the last metrics push did not succeed within {budget:?}");
            }
        }
        if let Some(export) = &self.log_export {
            let budget = deadline.saturating_duration_since(Instant::now()) / 2;
            if !export.shutdown(budget) {
                let stats = export.stats();
                eprintln!(
                    "telescope: log records were still being exported after {budget:?}: {} \
                     dropped unsent, {} still in flight",
                    stats.abandoned_at_shutdown, stats.pending
                );
            }
        }
        self.final_log_stats =
            logs.shutdown_within(deadline.saturating_duration_since(Instant::now()));
        if let Some(admin) = self.admin.take() {
            admin.shutdown();
        }
    }

    /// Up to which level records of the `log` crate are to be captured, if the builder asked
    /// for them: the most verbose level the log filter lets through.
    pub(crate) fn log_records_up_to(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.log_records
    }

    /// The SLO monitor, when the builder was given SLOs: their status now.
    pub fn slo_monitor(&self) -> Option<&SloMonitor> {
        self.slo.as_ref().map(|(monitor, _)| &**monitor)
    }

    /// The trace-context and baggage formats the builder chose (installed process-wide by
    /// `try_init`, for the HTTP middleware and `inject_context`).
    pub fn propagators(&self) -> &Propagators {
        &self.propagators
    }

    /// The redaction policy every signal applies: log lines, span and event attributes (and so
    /// the ring, `/debug/traces` and the OTLP export), audit records, `url.query`.
    pub fn redaction(&self) -> &Redaction {
        &self.redaction
    }

    /// The OTLP log record pipeline, when log records are exported: its counts.
    pub fn log_export(&self) -> Option<&LogPipeline> {
        self.log_export.as_ref()
    }

    /// The span pipeline: its counts, and the ring of recent finished spans.
    pub fn traces(&self) -> &Pipeline {
        &self.traces
    }

    /// Renders the metrics recorded so far.
    pub fn metrics(&self) -> &MetricsHandle {
        &self.metrics
    }

    /// The metrics recorder (installed globally by `init()`; after
    /// [`build`](crate::TelemetryBuilder::build), yours to install or to use with
    /// `metrics::with_local_recorder`).
    pub fn metrics_recorder(&self) -> TelescopeRecorder {
        self.recorder.clone()
    }

    /// The health checks the admin server serves: register yours here.
    ///
    /// ```no_run
    /// use telescope::health::{check_fn, CheckConfig, CheckResult};
    /// let telemetry = telescope::init();
    /// let database = check_fn("database", || async { CheckResult::pass() });
    /// telemetry
    ///     .health()
    ///     .register(database, CheckConfig::readiness())
    ///     .expect("a unique check name");
    /// ```
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The audit log, when one is configured.
    pub fn audit(&self) -> Option<&AuditLog> {
        self.audit.as_ref()
    }

    /// Where the admin server listens (`None` when it is off, could not bind its default
    /// address, or was stopped by [`shutdown`](Self::shutdown)).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::local_addr)
    }

    /// What the log writer has written, dropped and failed so far (after
    /// [`shutdown`](Self::shutdown), the final counts).
    pub fn log_stats(&self) -> NonBlockingStats {
        self.logs
            .as_ref()
            .map_or(self.final_log_stats, FlushGuard::stats)
    }
}

/// Writes what the audit log has queued and seals it with a final checkpoint, waiting at most
/// `timeout` (a disk that hangs must not hang the exit). Returns whether it finished in time.
fn seal_audit(audit: &AuditLog, timeout: Duration) -> bool {
    let (done, finished) = std::sync::mpsc::sync_channel(1);
    let audit = audit.clone();
    let sealing = std::thread::Builder::new()
        .name("telescope-audit-seal".to_owned())
        .spawn(move || {
            audit.shutdown();
            let _ = done.send(());
        });
    match sealing {
        Ok(_) => finished.recv_timeout(timeout).is_ok(),
        Err(_) => false,
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}
