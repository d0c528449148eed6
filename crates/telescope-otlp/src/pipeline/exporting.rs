//! The exporter threads: each takes the next batch from the backlog and sends it to every
//! exporter, retrying what the receiver says may succeed later, dropping at once what it
//! refuses for good, and counting every span's end exactly once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backlog::Next;
use super::counts::Drop;
use super::signal::Signal;
use super::Shared;
use crate::export::{Accepted, ExportError};

/// The first pause before retrying a failed batch; it doubles up to [`MAX_RETRY_BACKOFF`].
const FIRST_RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between two tries of a batch (unless the receiver asks for longer).
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

pub(super) struct ExporterThread<S: Signal> {
    pub(super) shared: Arc<Shared<S>>,
    pub(super) exporters: Arc<Vec<Box<S::Exporter>>>,
    pub(super) export_timeout: Duration,
}

impl<S: Signal> ExporterThread<S> {
    pub(super) fn run(self) {
        while let Next::Export(batch) = self.shared.backlog.take() {
            self.export(&batch);
            S::recycle(batch, &self.shared.graveyard);
        }
    }

    fn export(&self, batch: &[S::Item]) {
        let counts = &self.shared.counts;
        let spans = batch.len() as u64;
        for exporter in self.exporters.iter() {
            match self.with_retries(exporter.as_ref(), batch) {
                Ok(accepted) => {
                    let rejected = accepted.rejected_spans.min(spans);
                    counts.exported(spans - rejected);
                    let why = format!(
                        "the receiver rejected part of a batch: {}",
                        accepted.message
                    );
                    counts.dropped(Drop::Rejected, rejected, &why);
                }
                Err((reason, error)) => counts.dropped(reason, spans, &error),
            }
        }
        counts.settled(spans);
    }

    /// Sends `batch` until it is accepted, refused for good, or the budget runs out: the
    /// export timeout from the first failure, cut short by a shutdown deadline. Pauses follow
    /// the receiver's delay when it gives one, else exponential backoff with jitter.
    fn with_retries(
        &self,
        exporter: &S::Exporter,
        batch: &[S::Item],
    ) -> Result<Accepted, (Drop, ExportError)> {
        let backlog = &self.shared.backlog;
        let mut backoff = FIRST_RETRY_BACKOFF;
        let mut first_failure: Option<Instant> = None;
        loop {
            if backlog.is_abandoned() {
                return Err((
                    Drop::Abandoned,
                    ExportError::permanent("shutdown stopped waiting"),
                ));
            }
            let exported = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                S::export(exporter, batch)
            }));
            let error = match exported {
                Ok(Ok(accepted)) => return Ok(accepted),
                Ok(Err(error)) => error,
                Err(panic) => {
                    // A bug in the exporter: the batch is lost, the thread lives on.
                    self.shared.counts.export_error();
                    return Err((
                        Drop::WorkerFailed,
                        ExportError::permanent(format!(
                            "the exporter panicked: {}",
                            telescope_core::panic_message(&*panic)
                        )),
                    ));
                }
            };
            self.shared.counts.export_error();
            let after = match &error {
                ExportError::Permanent { .. } => return Err((Drop::Rejected, error)),
                ExportError::Retryable { after, .. } => *after,
            };
            let failed_at = *first_failure.get_or_insert_with(Instant::now);
            let left = self.export_timeout.saturating_sub(failed_at.elapsed());
            let pause = after.unwrap_or_else(|| jittered(backoff));
            if pause >= left || !backlog.pause(pause) {
                return Err((Drop::ExportFailed, error));
            }
            backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
        }
    }
}

/// A pause drawn uniformly from the upper half of `backoff`, so that many processes
/// restarted together do not retry in step.
fn jittered(backoff: Duration) -> Duration {
    let half = backoff / 2;
    half + half.mul_f64(fastrand::f64())
}
