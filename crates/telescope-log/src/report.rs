//! Counting what was lost, through the `metrics` facade, with one warning to stderr.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use telescope_core::metric_names::{LOG_DROPPED_TOTAL, LOG_WRITE_ERRORS_TOTAL};

/// Why log lines were lost: the `reason` label of `telescope_log_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// The queue was full (lossy mode).
    QueueFull,
    /// Writing them failed (a full disk, a closed pipe).
    WriteError,
    /// The writer thread died (a panic in the sink); nothing more is written.
    WorkerFailed,
    /// They came after the writer was shut down.
    Shutdown,
}

impl DropReason {
    fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::WriteError => "write_error",
            DropReason::WorkerFailed => "worker_failed",
            DropReason::Shutdown => "shutdown",
        }
    }

    fn warning(self) -> &'static str {
        match self {
            DropReason::QueueFull => "the log queue is full, dropping log lines",
            DropReason::WriteError => "log lines could not be written and are lost",
            DropReason::WorkerFailed => {
                "the log writer thread failed (a panic in the sink); further log lines are dropped"
            }
            DropReason::Shutdown => "log lines came after the log writer was shut down",
        }
    }
}

/// Counts losses of one writer or layer and warns on stderr the first time for each reason.
#[derive(Debug, Default)]
pub(crate) struct LossReport {
    warned_drop: [AtomicBool; 4],
    warned_error: AtomicBool,
}

impl LossReport {
    /// `lines` log lines were lost for `reason`.
    pub(crate) fn dropped(&self, lines: u64, reason: DropReason) {
        metrics::counter!(LOG_DROPPED_TOTAL, "reason" => reason.label()).increment(lines);
        if !self.warned_drop[reason as usize].swap(true, Ordering::Relaxed) {
            eprintln!(
                "telescope: {}; the count is in {LOG_DROPPED_TOTAL}{{reason=\"{}\"}} (this warning is printed once)",
                reason.warning(),
                reason.label()
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
