//! Counting what was lost, through the `metrics` facade, with one warning to stderr.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use telescope_core::metric_names::{LOG_DROPPED_TOTAL, LOG_WRITE_ERRORS_TOTAL};

/// Counts losses of one writer or layer and warns on stderr the first time.
#[derive(Debug, Default)]
pub(crate) struct LossReport {
    warned_drop: AtomicBool,
    warned_error: AtomicBool,
}

impl LossReport {
    /// `lines` log lines were dropped because a queue was full.
    pub(crate) fn dropped(&self, lines: u64) {
        metrics::counter!(LOG_DROPPED_TOTAL).increment(lines);
        if !self.warned_drop.swap(true, Ordering::Relaxed) {
            eprintln!(
                "telescope: the log queue is full, dropping log lines; \
                 the count is in {LOG_DROPPED_TOTAL} (this warning is printed once)"
            );
        }
    }

    /// A write failed with `error`.
    pub(crate) fn write_error(&self, error: &io::Error) {
        metrics::counter!(LOG_WRITE_ERRORS_TOTAL).increment(1);
        if !self.warned_error.swap(true, Ordering::Relaxed) {
            eprintln!(
                "telescope: writing a log line failed: {error}; \
                 further failures are counted in {LOG_WRITE_ERRORS_TOTAL} (this warning is printed once)"
            );
        }
    }
}
