//! The names of the metrics telescope reports about itself, shared by every crate so that
//! an operator sees one vocabulary. All are under `telescope_`.

/// Counter: log lines dropped because a non-blocking writer's queue was full.
pub const LOG_DROPPED_TOTAL: &str = "telescope_log_dropped_total";
/// Counter: log lines (or batches) that a writer failed to write.
pub const LOG_WRITE_ERRORS_TOTAL: &str = "telescope_log_write_errors_total";
