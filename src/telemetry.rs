//! [`Telemetry`]: the guard `init()` returns, which flushes everything when dropped.

use std::time::{Duration, Instant};

use telescope_log::{FlushGuard, NonBlockingStats};
use telescope_otlp::Pipeline;

/// Keeps telemetry running; when dropped, exports finished spans (for up to half the builder's
/// shutdown timeout), then writes queued log lines (for up to the whole of it). Bind it to a
/// named variable in `main`: `let _telemetry = …;`, not `_`.
#[derive(Debug)]
#[must_use = "dropping the guard flushes and stops telemetry; keep it alive until the end of main"]
pub struct Telemetry {
    logs: Option<FlushGuard>,
    /// The log writer's counts when it was shut down.
    final_log_stats: NonBlockingStats,
    traces: Pipeline,
    shutdown_timeout: Duration,
}

impl Telemetry {
    pub(crate) fn new(logs: FlushGuard, traces: Pipeline, shutdown_timeout: Duration) -> Self {
        Self {
            logs: Some(logs),
            final_log_stats: NonBlockingStats::default(),
            traces,
            shutdown_timeout,
        }
    }

    /// Waits until every span finished so far is exported and every log line written, or
    /// `timeout` passes (in total). Returns whether everything was done in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // Spans first: exporting them may log.
        let spans = self.traces.force_flush(timeout);
        let left = deadline.saturating_duration_since(Instant::now());
        let logs = self.logs.as_ref().is_none_or(|logs| logs.flush(left));
        spans && logs
    }

    /// Flushes and stops, as dropping does, but at a point of your choosing. Calling it
    /// again (or dropping afterwards) does nothing.
    pub fn shutdown(&mut self) {
        if let Some(logs) = self.logs.take() {
            // Spans get at most half the budget, so that the log lines always get the rest.
            let budget = self.shutdown_timeout / 2;
            if !self.traces.shutdown(budget) {
                let stats = self.traces.stats();
                eprintln!(
                    "telescope: spans were still being exported after {budget:?} and are lost \
                     ({} exported, {} dropped when the export failed so far)",
                    stats.exported, stats.dropped_export_failed
                );
            }
            self.final_log_stats = logs.shutdown();
        }
    }

    /// The span pipeline: its counts, and the ring of recent finished spans.
    pub fn traces(&self) -> &Pipeline {
        &self.traces
    }

    /// What the log writer has written, dropped and failed so far (after
    /// [`shutdown`](Self::shutdown), the final counts).
    pub fn log_stats(&self) -> NonBlockingStats {
        self.logs
            .as_ref()
            .map_or(self.final_log_stats, FlushGuard::stats)
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}
