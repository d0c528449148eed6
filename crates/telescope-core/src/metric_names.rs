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
/// Histogram, labels `span_name` and `status` (`ok`, `error`): every span's duration, sampled
/// or not, in seconds.
pub const SPAN_DURATION_SECONDS: &str = "telescope_span_duration_seconds";

/// Counter: admin server requests whose handler failed (panicked) and answered 500, by `path`.
pub const ADMIN_ERRORS_TOTAL: &str = "telescope_admin_errors_total";
