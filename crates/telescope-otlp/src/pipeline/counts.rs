//! Where every item (span, log record) accepted by the pipeline ends, counted once: in
//! [`PipelineStats`] and in the signal's self-telemetry counters, so that an operator can
//! always see what was lost and why.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::signal::Names;
use super::PipelineStats;

/// Why items were dropped: the `reason` label of `telescope_spans_dropped_total` (and of the
/// other signals' dropped counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Drop {
    /// The queue, or the backlog of batches waiting for an exporter, was full.
    QueueFull,
    /// Ended after shutdown began.
    AfterShutdown,
    /// Still waiting when shutdown stopped waiting.
    Abandoned,
    /// The receiver refused them for good (a permanent error, or OTLP partial success).
    Rejected,
    /// Retryable failures until the export timeout (or the shutdown deadline) ran out.
    ExportFailed,
    /// The exporter panicked on them (a bug in a `SpanExport`); its thread goes on.
    WorkerFailed,
}

impl Drop {
    fn label(self) -> &'static str {
        match self {
            Drop::QueueFull => "queue_full",
            Drop::AfterShutdown | Drop::Abandoned => "shutdown",
            Drop::Rejected => "rejected",
            Drop::ExportFailed => "export_failed",
            Drop::WorkerFailed => "worker_failed",
        }
    }
}

/// A counter alone on its cache line (128 bytes: two lines, as adjacent-line prefetching
/// pairs them).
#[derive(Debug)]
#[repr(align(128))]
struct OwnLine(AtomicU64);

#[derive(Debug)]
pub(super) struct Counts {
    names: &'static Names,
    /// Items that got into the queue: written by every application thread on every item, so
    /// on a cache line of its own, apart from the counts the pipeline's threads write.
    accepted: OwnLine,
    /// Accepted spans whose end is known: exported, dropped, or (with no exporter) processed.
    settled: AtomicU64,
    processed: AtomicU64,
    exported: AtomicU64,
    export_errors: AtomicU64,
    queue_full: AtomicU64,
    after_shutdown: AtomicU64,
    abandoned: AtomicU64,
    rejected: AtomicU64,
    export_failed: AtomicU64,
    worker_failed: AtomicU64,
    warned_full: AtomicBool,
    warned_export: AtomicBool,
}

impl Counts {
    pub(super) fn new(names: &'static Names) -> Self {
        let zero = || AtomicU64::new(0);
        Self {
            names,
            accepted: OwnLine(zero()),
            settled: zero(),
            processed: zero(),
            exported: zero(),
            export_errors: zero(),
            queue_full: zero(),
            after_shutdown: zero(),
            abandoned: zero(),
            rejected: zero(),
            export_failed: zero(),
            worker_failed: zero(),
            warned_full: AtomicBool::new(false),
            warned_export: AtomicBool::new(false),
        }
    }

    pub(super) fn accepted(&self) {
        self.accepted.0.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn accepted_so_far(&self) -> u64 {
        self.accepted.0.load(Ordering::SeqCst)
    }

    pub(super) fn settled_so_far(&self) -> u64 {
        self.settled.load(Ordering::SeqCst)
    }

    /// The collector took `spans` off the queue.
    pub(super) fn processed(&self, spans: u64) {
        self.processed.fetch_add(spans, Ordering::Relaxed);
    }

    /// Accepted spans whose end is now known (each span once, however many exporters).
    pub(super) fn settled(&self, spans: u64) {
        self.settled.fetch_add(spans, Ordering::SeqCst);
    }

    /// Spans a receiver accepted (summed over exporters).
    pub(super) fn exported(&self, spans: u64) {
        if spans > 0 {
            self.exported.fetch_add(spans, Ordering::Relaxed);
            metrics::counter!(self.names.exported).increment(spans);
        }
    }

    pub(super) fn export_error(&self) {
        self.export_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(self.names.export_errors).increment(1);
    }

    /// `spans` dropped for `reason`; `why` is said on stderr the first time.
    pub(super) fn dropped(&self, reason: Drop, spans: u64, why: &dyn std::fmt::Display) {
        if spans == 0 {
            return;
        }
        let counter = match reason {
            Drop::QueueFull => &self.queue_full,
            Drop::AfterShutdown => &self.after_shutdown,
            Drop::Abandoned => &self.abandoned,
            Drop::Rejected => &self.rejected,
            Drop::ExportFailed => &self.export_failed,
            Drop::WorkerFailed => &self.worker_failed,
        };
        counter.fetch_add(spans, Ordering::Relaxed);
        metrics::counter!(self.names.dropped, "reason" => reason.label()).increment(spans);
        let warned = match reason {
            Drop::QueueFull => &self.warned_full,
            Drop::Rejected | Drop::ExportFailed | Drop::WorkerFailed => &self.warned_export,
            Drop::AfterShutdown | Drop::Abandoned => return,
        };
        if !warned.swap(true, Ordering::Relaxed) {
            eprintln!(
                "telescope: dropped {spans} {} ({why}); this and later losses are counted in \
                 {}{{reason=\"{}\"}}",
                self.names.items,
                self.names.dropped,
                reason.label()
            );
        }
    }

    pub(super) fn stats(&self) -> PipelineStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        // Settled is read first: pending can only come out too high, never negative.
        let settled = load(&self.settled);
        PipelineStats {
            processed: load(&self.processed),
            dropped_queue_full: load(&self.queue_full),
            dropped_after_shutdown: load(&self.after_shutdown),
            exported: load(&self.exported),
            export_errors: load(&self.export_errors),
            dropped_rejected: load(&self.rejected),
            dropped_export_failed: load(&self.export_failed),
            dropped_worker_failed: load(&self.worker_failed),
            abandoned_at_shutdown: load(&self.abandoned),
            pending: load(&self.accepted.0).saturating_sub(settled),
        }
    }
}
