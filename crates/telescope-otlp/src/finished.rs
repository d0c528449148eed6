//! A sampled span on its way to the pipeline: its `SpanData`, and its tracestate still in
//! telescope's form. OpenTelemetry's `TraceState` is a list of owned strings (half a dozen
//! allocations to build from a header), so it is built on the pipeline's collector thread, not on
//! the thread that ended the span.

use std::sync::Arc;

use opentelemetry_sdk::trace::SpanData;
use telescope_core::TraceState;

/// What the layer queues when a sampled span closes.
pub(crate) struct FinishedSpan {
    /// Everything but the tracestate, which is empty until [`TraceStates::complete`].
    pub(crate) data: Arc<SpanData>,
    pub(crate) trace_state: TraceState,
}

/// Converts tracestates to OpenTelemetry's type, remembering the last one: the spans of a
/// trace, and the roots of one sampler, share theirs.
#[derive(Default)]
pub(crate) struct TraceStates {
    last: Option<(TraceState, opentelemetry::trace::TraceState)>,
}

impl TraceStates {
    /// The span's `SpanData`, with its tracestate in place.
    pub(crate) fn complete(&mut self, span: FinishedSpan) -> Arc<SpanData> {
        let FinishedSpan {
            mut data,
            trace_state,
        } = span;
        if trace_state.is_empty() {
            return data;
        }
        let converted = self.convert(trace_state);
        // The layer gave up its only reference when it queued the span.
        if let Some(data) = Arc::get_mut(&mut data) {
            set_trace_state(data, converted);
        }
        data
    }

    /// Frees the tracestate [`complete`](Self::complete) gave `span`, on this thread, which
    /// allocated it (when no one else holds the span).
    pub(crate) fn release(&mut self, span: &mut Arc<SpanData>) {
        if let Some(data) = Arc::get_mut(span) {
            if *data.span_context.trace_state() != opentelemetry::trace::TraceState::NONE {
                set_trace_state(data, opentelemetry::trace::TraceState::NONE);
            }
        }
    }

    fn convert(&mut self, trace_state: TraceState) -> opentelemetry::trace::TraceState {
        if let Some((ours, theirs)) = &self.last {
            if *ours == trace_state {
                return theirs.clone();
            }
        }
        let theirs = to_otel_trace_state(&trace_state);
        self.last = Some((trace_state, theirs.clone()));
        theirs
    }
}

/// Replaces the tracestate of `data`'s context (the other fields of a `SpanContext` cannot be
/// set one by one).
fn set_trace_state(data: &mut SpanData, trace_state: opentelemetry::trace::TraceState) {
    let context = &data.span_context;
    data.span_context = opentelemetry::trace::SpanContext::new(
        context.trace_id(),
        context.span_id(),
        context.trace_flags(),
        context.is_remote(),
        trace_state,
    );
}

/// OpenTelemetry's form of a tracestate (ours is validated, so this cannot fail in practice;
/// if it did, the span would go out without one rather than not at all).
pub(crate) fn to_otel_trace_state(trace_state: &TraceState) -> opentelemetry::trace::TraceState {
    opentelemetry::trace::TraceState::from_key_value(trace_state.members()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span() -> Arc<SpanData> {
        Arc::new(SpanData {
            span_context: opentelemetry::trace::SpanContext::new(
                opentelemetry::trace::TraceId::from_bytes([1; 16]),
                opentelemetry::trace::SpanId::from_bytes([2; 8]),
                opentelemetry::trace::TraceFlags::SAMPLED,
                false,
                opentelemetry::trace::TraceState::NONE,
            ),
            parent_span_id: opentelemetry::trace::SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: opentelemetry::trace::SpanKind::Internal,
            name: "work".into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: opentelemetry_sdk::trace::SpanEvents::default(),
            links: opentelemetry_sdk::trace::SpanLinks::default(),
            status: opentelemetry::trace::Status::Unset,
            instrumentation_scope: opentelemetry::InstrumentationScope::builder("test").build(),
        })
    }

    #[test]
    fn the_worker_fills_in_the_tracestate_and_takes_it_back() {
        let mut states = TraceStates::default();
        let trace_state = TraceState::from_header("ot=th:8,rojo=1").expect("valid");
        let mut data = states.complete(FinishedSpan {
            data: span(),
            trace_state,
        });
        let context = &data.span_context;
        assert_eq!(context.trace_state().header(), "ot=th:8,rojo=1");
        assert_eq!(
            context.trace_id(),
            opentelemetry::trace::TraceId::from_bytes([1; 16])
        );
        assert!(context.is_sampled());
        states.release(&mut data);
        assert_eq!(
            *data.span_context.trace_state(),
            opentelemetry::trace::TraceState::NONE
        );
        assert_eq!(
            data.span_context.span_id(),
            opentelemetry::trace::SpanId::from_bytes([2; 8])
        );
        // A span someone else still holds (a reader of the ring) is left as it is.
        let mut shared = states.complete(FinishedSpan {
            data: span(),
            trace_state: TraceState::from_header("ot=th:0").expect("valid"),
        });
        let reader = shared.clone();
        states.release(&mut shared);
        assert_eq!(reader.span_context.trace_state().header(), "ot=th:0");
    }

    #[test]
    fn conversion_keeps_members_in_order() {
        let ours = TraceState::from_header("ot=th:8,rojo=00f067aa0ba902b7").expect("valid");
        let theirs = to_otel_trace_state(&ours);
        assert_eq!(theirs.header(), "ot=th:8,rojo=00f067aa0ba902b7");
        assert_eq!(
            to_otel_trace_state(&TraceState::EMPTY),
            opentelemetry::trace::TraceState::NONE
        );
    }

    #[test]
    fn a_repeated_tracestate_is_converted_once_and_a_new_one_replaces_it() {
        let mut states = TraceStates::default();
        let first = TraceState::from_header("ot=th:0").expect("valid");
        let second = TraceState::from_header("ot=th:c,congo=t61rcWkgMzE").expect("valid");
        assert_eq!(states.convert(first.clone()).header(), "ot=th:0");
        assert_eq!(states.convert(first).header(), "ot=th:0");
        assert_eq!(states.convert(second).header(), "ot=th:c,congo=t61rcWkgMzE");
    }
}
