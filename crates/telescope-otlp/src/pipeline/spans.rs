//! The span signal: finished sampled spans, completed on the collector thread (their
//! tracestate converted), kept in the ring, given to the sinks, and batched for the exporters.

use std::sync::Arc;

use opentelemetry_sdk::trace::SpanData;
use telescope_core::metric_names::{
    EXPORT_ERRORS_TOTAL, SPANS_DROPPED_TOTAL, SPANS_EXPORTED_TOTAL,
};

use super::signal::{Intake, Names, Signal, Taken};
use crate::export::{Accepted, ExportError, SpanExport};
use crate::finished::{FinishedSpan, TraceStates};
use crate::sink::{SpanRing, SpanSink};

/// Spans, as [`Signal`].
pub(crate) struct Spans;

static SPAN_NAMES: Names = Names {
    exported: SPANS_EXPORTED_TOTAL,
    dropped: SPANS_DROPPED_TOTAL,
    export_errors: EXPORT_ERRORS_TOTAL,
    items: "spans",
    thread: "telescope-spans",
};

impl Signal for Spans {
    type Queued = FinishedSpan;
    type Item = Arc<SpanData>;
    type Exporter = dyn SpanExport;
    type Intake = SpanIntake;
    const NAMES: &'static Names = &SPAN_NAMES;
    const FREE_ON_SUBMIT: bool = true;

    fn export(exporter: &dyn SpanExport, batch: &[Arc<SpanData>]) -> Result<Accepted, ExportError> {
        exporter.export(batch)
    }
}

/// The collector's work on each finished span.
pub(crate) struct SpanIntake {
    pub(crate) ring: SpanRing,
    pub(crate) sinks: Vec<Arc<dyn SpanSink>>,
    pub(crate) trace_states: TraceStates,
    /// Whether a sink's panic has been said on stderr.
    pub(crate) sink_failed_said: bool,
}

impl Intake<Spans> for SpanIntake {
    fn take(&mut self, finished: FinishedSpan, batching: bool) -> Taken<Arc<SpanData>> {
        let span = self.trace_states.complete(finished);
        for sink in &self.sinks {
            // A panicking sink (a bug in a `SpanSink`) must not stop the collector.
            let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sink.on_end(span.clone());
            }));
            if delivered.is_err() && !self.sink_failed_said {
                self.sink_failed_said = true;
                eprintln!("telescope: a span sink panicked; the span pipeline goes on without it for that span");
            }
        }
        let batch = batching.then(|| span.clone());
        // What this thread allocated is freed here; the rest goes back to be freed by an
        // application thread.
        let done = self.ring.keep(span).map(|mut evicted| {
            self.trace_states.release(&mut evicted);
            evicted
        });
        Taken { batch, done }
    }
}
