//! Spans of traces whose local root has not ended yet: held so that, when the root ends, the
//! whole trace can be kept, even if its first spans have left the recent-span ring by then.

use std::collections::VecDeque;
use std::sync::Arc;

use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::SpanData;
use rustc_hash::FxHashMap;

/// The spans of one unfinished trace.
#[derive(Debug, Default)]
pub(crate) struct PendingTrace {
    pub(crate) spans: Vec<Arc<SpanData>>,
    pub(crate) bytes: usize,
    /// Spans left out because the trace reached its byte limit.
    pub(crate) dropped_spans: usize,
    /// When it was first seen, in arrival order: oldest traces are let go first.
    seq: u64,
}

/// Unfinished traces, bounded in bytes.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    traces: FxHashMap<TraceId, PendingTrace>,
    /// Traces in arrival order; an entry whose trace has finished (or came back with a newer
    /// seq) is skipped when met.
    order: VecDeque<(TraceId, u64)>,
    bytes: usize,
    seq: u64,
}

impl Pending {
    /// Holds `span` (of `bytes`) with the rest of its trace, unless that would take the trace
    /// past `trace_limit` bytes: then it is only counted.
    pub(crate) fn add(&mut self, span: Arc<SpanData>, bytes: usize, trace_limit: usize) {
        let trace_id = span.span_context.trace_id();
        let trace = self.traces.entry(trace_id).or_insert_with(|| {
            self.seq += 1;
            self.order.push_back((trace_id, self.seq));
            PendingTrace {
                seq: self.seq,
                ..PendingTrace::default()
            }
        });
        if trace.bytes + bytes > trace_limit {
            trace.dropped_spans += 1;
            return;
        }
        trace.bytes += bytes;
        trace.spans.push(span);
        self.bytes += bytes;
    }

    /// Takes the spans held for `trace_id`.
    pub(crate) fn take(&mut self, trace_id: TraceId) -> Option<PendingTrace> {
        let trace = self.traces.remove(&trace_id)?;
        self.bytes -= trace.bytes;
        // Finished traces leave stale entries behind; drop them before they outnumber the rest.
        if self.order.len() > 2 * self.traces.len() + 1024 {
            let traces = &self.traces;
            self.order
                .retain(|(id, seq)| traces.get(id).is_some_and(|t| t.seq == *seq));
        }
        Some(trace)
    }

    /// Lets go of the oldest unfinished traces until at most `budget` bytes are held; their
    /// spans go to `freed`. Returns how many traces it let go.
    pub(crate) fn shrink_to(&mut self, budget: usize, freed: &mut Vec<Arc<SpanData>>) -> usize {
        let mut let_go = 0;
        while self.bytes > budget {
            let Some((trace_id, seq)) = self.order.pop_front() else {
                break;
            };
            if self.traces.get(&trace_id).is_some_and(|t| t.seq == seq) {
                if let Some(trace) = self.take(trace_id) {
                    freed.extend(trace.spans);
                    let_go += 1;
                }
            }
        }
        let_go
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Traces held.
    pub(crate) fn len(&self) -> usize {
        self.traces.len()
    }

    /// The spans held for `trace_id`.
    pub(crate) fn spans_of(&self, trace_id: TraceId) -> &[Arc<SpanData>] {
        self.traces
            .get(&trace_id)
            .map_or(&[], |trace| trace.spans.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::tests::span;

    #[test]
    fn the_oldest_traces_go_first_and_bytes_add_up() {
        let mut pending = Pending::default();
        for trace in 0..4u8 {
            pending.add(Arc::new(span(trace, 1, Some(0), 0, 1)), 100, 1000);
            pending.add(Arc::new(span(trace, 2, Some(0), 0, 1)), 100, 1000);
        }
        assert_eq!((pending.len(), pending.bytes()), (4, 800));
        let mut freed = Vec::new();
        assert_eq!(pending.shrink_to(500, &mut freed), 2);
        assert_eq!(freed.len(), 4);
        assert!(freed.iter().all(|s| s.span_context.trace_id()
            == span(0, 0, None, 0, 0).span_context.trace_id()
            || s.span_context.trace_id() == span(1, 0, None, 0, 0).span_context.trace_id()));
        assert_eq!((pending.len(), pending.bytes()), (2, 400));
        let taken = pending
            .take(span(3, 0, None, 0, 0).span_context.trace_id())
            .expect("held");
        assert_eq!(taken.spans.len(), 2);
        assert_eq!(pending.bytes(), 200);
    }

    #[test]
    fn a_trace_stops_growing_at_its_limit() {
        let mut pending = Pending::default();
        for id in 0..5 {
            pending.add(Arc::new(span(1, id, Some(0), 0, 1)), 300, 1000);
        }
        let trace = pending
            .take(span(1, 0, None, 0, 0).span_context.trace_id())
            .expect("held");
        assert_eq!(
            (trace.spans.len(), trace.dropped_spans, trace.bytes),
            (3, 2, 900)
        );
    }

    #[test]
    fn stale_order_entries_do_not_pile_up() {
        let mut pending = Pending::default();
        for n in 0..10_000u32 {
            let mut data = span(0, 1, Some(0), 0, 1);
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&n.to_be_bytes());
            data.span_context = opentelemetry::trace::SpanContext::new(
                TraceId::from_bytes(bytes),
                data.span_context.span_id(),
                data.span_context.trace_flags(),
                false,
                opentelemetry::trace::TraceState::NONE,
            );
            pending.add(Arc::new(data), 10, 1000);
            pending.take(TraceId::from_bytes(bytes));
        }
        assert!(pending.order.len() <= 1025, "{}", pending.order.len());
        assert_eq!(pending.bytes(), 0);
    }
}
