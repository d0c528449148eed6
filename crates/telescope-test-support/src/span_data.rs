//! Finished spans made by hand, for tests of what consumes them (the span ring, its
//! reservoirs, the trace view): times in milliseconds from a fixed moment.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

/// `ms` milliseconds after the fixed moment the spans here are timed from.
pub fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000) + Duration::from_millis(ms)
}

/// A sampled, internal, unset-status span of trace `trace_id`, with id `span_id`, under
/// `parent` (none: a root), from `start_ms` to `end_ms` (an end before the start is a skewed
/// clock). Change its fields for the rest.
///
/// ```
/// use telescope_test_support::span_data::finished_span;
///
/// let span = finished_span([1; 16], [2; 8], None, "GET /orders", 0, 10);
/// assert_eq!(span.end_time.duration_since(span.start_time).unwrap().as_millis(), 10);
/// ```
pub fn finished_span(
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: impl Into<Cow<'static, str>>,
    start_ms: u64,
    end_ms: u64,
) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(trace_id),
            SpanId::from_bytes(span_id),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: parent.map_or(SpanId::INVALID, SpanId::from_bytes),
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: name.into(),
        start_time: at(start_ms),
        end_time: at(end_ms),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: opentelemetry::InstrumentationScope::builder("test").build(),
    }
}
