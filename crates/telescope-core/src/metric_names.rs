//! The names of the metrics telescope reports about itself, shared by every crate so that
//! an operator sees one vocabulary. All are under `telescope_`.

/// Counter: log lines dropped because a non-blocking writer's queue was full.
pub const LOG_DROPPED_TOTAL: &str = "telescope_log_dropped_total";
/// Counter: log lines (or batches) that a writer failed to write.
pub const LOG_WRITE_ERRORS_TOTAL: &str = "telescope_log_write_errors_total";
/// Gauge, labels `check` and `probe`: 1 pass, 0.5 warn, 0 fail.
pub const HEALTH_STATUS: &str = "telescope_health_status";
/// Histogram, label `check`: how long each run of a health check took, in seconds.
pub const HEALTH_CHECK_DURATION_SECONDS: &str = "telescope_health_check_duration_seconds";
/// Counter: audit records written (acknowledged as the durability policy says).
pub const AUDIT_RECORDS_TOTAL: &str = "telescope_audit_records_total";
/// Counter: failed attempts to write audit records (each failed batch write or sync).
pub const AUDIT_WRITE_FAILURES_TOTAL: &str = "telescope_audit_write_failures_total";
/// Counter: audit records written without a required field (marked `incomplete`).
pub const AUDIT_INCOMPLETE_TOTAL: &str = "telescope_audit_incomplete_total";
/// Counter: torn last lines set aside on recovery after a crash.
pub const AUDIT_TORN_LINES_TOTAL: &str = "telescope_audit_torn_lines_total";
/// Counter, label `reason`: finished sampled spans that were not exported: `queue_full` (the
/// queue or the exporters' backlog was full), `shutdown` (ended after shutdown began, or still
/// waiting when it stopped waiting), `rejected` (the receiver refused them for good: a
/// permanent error or an OTLP partial success), `export_failed` (retryable failures outlasted
/// the export timeout). With one exporter, every sampled span ends in exactly one of this and
/// [`SPANS_EXPORTED_TOTAL`].
pub const SPANS_DROPPED_TOTAL: &str = "telescope_spans_dropped_total";
/// Counter: spans the receiver accepted.
pub const SPANS_EXPORTED_TOTAL: &str = "telescope_spans_exported_total";
/// Counter: failed export attempts (each try of a batch that failed, retried or not).
pub const EXPORT_ERRORS_TOTAL: &str = "telescope_export_errors_total";
/// Counter: log records the OTLP receiver accepted.
pub const LOGS_EXPORTED_TOTAL: &str = "telescope_logs_exported_total";
/// Counter, label `reason` (as [`SPANS_DROPPED_TOTAL`]): log records queued for OTLP export
/// and not exported. Not the log lines of stdout or a file: those are
/// [`LOG_DROPPED_TOTAL`].
pub const LOGS_EXPORT_DROPPED_TOTAL: &str = "telescope_logs_export_dropped_total";
/// Counter: failed log export attempts, retried or not.
pub const LOGS_EXPORT_ERRORS_TOTAL: &str = "telescope_logs_export_errors_total";
/// Counter, label `exporter` (`otlp`, `statsd`): metric data points pushed and accepted.
pub const METRIC_POINTS_EXPORTED_TOTAL: &str = "telescope_metric_points_exported_total";
/// Counter, label `exporter`: failed metric push attempts, retried or not.
pub const METRIC_EXPORT_ERRORS_TOTAL: &str = "telescope_metric_export_errors_total";
/// Counter, label `reason` (`send_error`, `too_large`): StatsD datagrams not sent.
pub const STATSD_PACKETS_DROPPED_TOTAL: &str = "telescope_statsd_packets_dropped_total";
/// Histogram, labels `span_name` and `status` (`ok`, `error`): every span's duration, sampled
/// or not, in seconds.
pub const SPAN_DURATION_SECONDS: &str = "telescope_span_duration_seconds";

/// Counter: admin server requests whose handler failed (panicked) and answered 500, by `path`.
pub const ADMIN_ERRORS_TOTAL: &str = "telescope_admin_errors_total";

/// What a metric is, for its `# HELP` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A counter.
    Counter,
    /// A gauge.
    Gauge,
    /// A histogram.
    Histogram,
}

/// The help text of every metric telescope records itself (its own health, and the HTTP,
/// gRPC, span and SLO metrics it records for the service): what `init()` describes, so no
/// scrape says "(no description registered)" for them.
pub const DESCRIPTIONS: &[(&str, MetricKind, &str)] = &[
    (LOG_DROPPED_TOTAL, MetricKind::Counter, "Log lines not written, by reason (queue_full, write_error, worker_failed, shutdown)."),
    (LOG_WRITE_ERRORS_TOTAL, MetricKind::Counter, "Log lines or batches a writer failed to write."),
    (HEALTH_STATUS, MetricKind::Gauge, "Health check result by check and probe: 1 pass, 0.5 warn, 0 fail."),
    (HEALTH_CHECK_DURATION_SECONDS, MetricKind::Histogram, "Duration of each health check run, in seconds."),
    (AUDIT_RECORDS_TOTAL, MetricKind::Counter, "Audit records written and acknowledged under the durability policy."),
    (AUDIT_WRITE_FAILURES_TOTAL, MetricKind::Counter, "Failed audit batch writes or syncs."),
    (AUDIT_INCOMPLETE_TOTAL, MetricKind::Counter, "Audit records written without a required field (marked incomplete)."),
    (AUDIT_TORN_LINES_TOTAL, MetricKind::Counter, "Torn last audit lines set aside when reopening after a crash."),
    (SPANS_DROPPED_TOTAL, MetricKind::Counter, "Finished sampled spans not exported, by reason (queue_full, shutdown, rejected, export_failed, worker_failed)."),
    (SPANS_EXPORTED_TOTAL, MetricKind::Counter, "Spans the OTLP receiver accepted."),
    (EXPORT_ERRORS_TOTAL, MetricKind::Counter, "Failed span export attempts, retried or not."),
    (LOGS_EXPORTED_TOTAL, MetricKind::Counter, "Log records the OTLP receiver accepted."),
    (LOGS_EXPORT_DROPPED_TOTAL, MetricKind::Counter, "Log records queued for OTLP export and not exported, by reason (queue_full, shutdown, rejected, export_failed, worker_failed)."),
    (LOGS_EXPORT_ERRORS_TOTAL, MetricKind::Counter, "Failed log export attempts, retried or not."),
    (METRIC_POINTS_EXPORTED_TOTAL, MetricKind::Counter, "Metric data points pushed and accepted, by exporter (otlp, statsd)."),
    (METRIC_EXPORT_ERRORS_TOTAL, MetricKind::Counter, "Failed metric push attempts by exporter, retried or not; the next push sends the values again."),
    (STATSD_PACKETS_DROPPED_TOTAL, MetricKind::Counter, "StatsD datagrams not sent, by reason (send_error, too_large)."),
    (SPAN_DURATION_SECONDS, MetricKind::Histogram, "Duration of every span, sampled or not, by span name and status (ok, error), in seconds."),
    (ADMIN_ERRORS_TOTAL, MetricKind::Counter, "Admin server requests whose handler failed and answered 500, by path."),
    ("telescope_propagation_invalid_total", MetricKind::Counter, "Incoming propagation headers that did not parse, by header."),
    ("telescope_slo_burn_rate", MetricKind::Gauge, "Error budget burn rate of each SLO over each window, computed in the process (1 spends the budget exactly over the SLO's window)."),
    ("http_server_request_duration_seconds", MetricKind::Histogram, "Duration of HTTP requests served, by method, route template and status, in seconds."),
    ("http_server_active_requests", MetricKind::Gauge, "HTTP requests being served, by method."),
    ("http_client_request_duration_seconds", MetricKind::Histogram, "Duration of outgoing HTTP requests, by method, server address and status (error without a response), in seconds."),
    ("rpc_server_duration_seconds", MetricKind::Histogram, "Duration of gRPC calls served, by service, method and gRPC status code, in seconds."),
    ("rpc_client_duration_seconds", MetricKind::Histogram, "Duration of outgoing gRPC calls, by service, method and gRPC status code, in seconds."),
];
