//! [`Telemetry`]: the guard `init()` returns, which flushes everything when dropped.

use std::time::Duration;

use telescope_log::{FlushGuard, NonBlockingStats};

/// Keeps telemetry running; flushes queued log lines when dropped (within the builder's
/// shutdown timeout). Bind it to a named variable in `main`: `let _telemetry = …;`, not `_`.
#[derive(Debug)]
#[must_use = "dropping the guard flushes and stops telemetry; keep it alive until the end of main"]
pub struct Telemetry {
    logs: Option<FlushGuard>,
    /// The log writer's counts when it was shut down.
    final_log_stats: NonBlockingStats,
}

impl Telemetry {
    pub(crate) fn new(logs: FlushGuard) -> Self {
        Self {
            logs: Some(logs),
            final_log_stats: NonBlockingStats::default(),
        }
    }

    /// Waits until everything recorded so far is written, or `timeout` passes. Returns
    /// whether everything was written in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.logs.as_ref().is_none_or(|logs| logs.flush(timeout))
    }

    /// Flushes and stops, as dropping does, but at a point of your choosing. Calling it
    /// again (or dropping afterwards) does nothing.
    pub fn shutdown(&mut self) {
        if let Some(logs) = self.logs.take() {
            self.final_log_stats = logs.shutdown();
        }
    }

    /// What the log writer has written, dropped and failed so far (after
    /// [`shutdown`](Self::shutdown), the final counts).
    pub fn log_stats(&self) -> NonBlockingStats {
        self.logs
            .as_ref()
            .map_or(self.final_log_stats, FlushGuard::stats)
    }
}
