//! The traces in the in-process ring, grouped, ordered for reading (failed first, then the
//! slowest), and as JSON: what `/debug/traces` shows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use serde_json::{json, Map, Value as Json};

use super::trace_filter::TraceFilter;

/// One trace: its spans (in start order) and what the listing sorts by.
#[derive(Debug)]
pub(crate) struct TraceView {
    pub(crate) trace_id: TraceId,
    /// The spans in start order; a span's parent, when kept, comes before it.
    pub(crate) spans: Vec<Arc<SpanData>>,
    pub(crate) start: SystemTime,
    pub(crate) duration: Duration,
    pub(crate) failed: bool,
}

impl TraceView {
    /// The root's name: the first span whose parent is not in the trace.
    pub(crate) fn root_name(&self) -> &str {
        self.roots().next().map_or("?", |span| span.name.as_ref())
    }

    /// Spans whose parent is not among the kept spans (the root, or orphans whose parent was
    /// evicted from the ring or is in another process).
    pub(crate) fn roots(&self) -> impl Iterator<Item = &Arc<SpanData>> {
        self.spans
            .iter()
            .filter(|span| !self.contains(span.parent_span_id))
    }

    /// The kept children of `parent`, in start order.
    pub(crate) fn children(&self, parent: SpanId) -> impl Iterator<Item = &Arc<SpanData>> {
        self.spans
            .iter()
            .filter(move |span| span.parent_span_id == parent)
    }

    fn contains(&self, id: SpanId) -> bool {
        id != SpanId::INVALID
            && self
                .spans
                .iter()
                .any(|span| span.span_context.span_id() == id)
    }
}

/// Whether the span ended in error.
pub(crate) fn failed(span: &SpanData) -> bool {
    matches!(span.status, Status::Error { .. })
}

/// How long the span took (zero if its clock went backwards).
pub(crate) fn duration(span: &SpanData) -> Duration {
    span.end_time
        .duration_since(span.start_time)
        .unwrap_or_default()
}

/// Groups `spans` into traces, keeps those `filter` lets through, failed first, then the
/// slowest, at most `limit`.
pub(crate) fn traces(
    spans: Vec<Arc<SpanData>>,
    filter: &TraceFilter,
    limit: usize,
) -> Vec<TraceView> {
    let mut by_trace: HashMap<TraceId, Vec<Arc<SpanData>>> = HashMap::new();
    for span in spans {
        by_trace
            .entry(span.span_context.trace_id())
            .or_default()
            .push(span);
    }
    let mut traces: Vec<TraceView> = by_trace
        .into_iter()
        .map(|(trace_id, mut spans)| {
            spans.sort_by_key(|span| span.start_time);
            let start = spans
                .iter()
                .map(|s| s.start_time)
                .min()
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let end = spans.iter().map(|s| s.end_time).max().unwrap_or(start);
            TraceView {
                trace_id,
                failed: spans.iter().any(|span| failed(span)),
                duration: end.duration_since(start).unwrap_or_default(),
                start,
                spans,
            }
        })
        .filter(|trace| filter.matches(trace))
        .collect();
    traces.sort_by(|a, b| {
        b.failed
            .cmp(&a.failed)
            .then(b.duration.cmp(&a.duration))
            .then(b.start.cmp(&a.start))
    });
    traces.truncate(limit);
    traces
}

pub(crate) fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

/// An attribute value as JSON, keeping its type.
fn value_json(value: &Value) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I64(i) => json!(i),
        Value::F64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.as_str().to_owned()),
        other => Json::String(other.to_string()),
    }
}

fn attributes_json(attributes: &[opentelemetry::KeyValue]) -> Json {
    let mut map = Map::new();
    for kv in attributes {
        map.insert(kv.key.as_str().to_owned(), value_json(&kv.value));
    }
    Json::Object(map)
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn span_json(span: &SpanData) -> Json {
    let parent = (span.parent_span_id != SpanId::INVALID).then(|| span.parent_span_id.to_string());
    let (status, message) = match &span.status {
        Status::Unset => ("unset", None),
        Status::Ok => ("ok", None),
        Status::Error { description } => ("error", Some(description.to_string())),
    };
    let events: Vec<Json> = span
        .events
        .iter()
        .map(|event| {
            json!({
                "name": event.name.as_ref(),
                "time": telescope_core::time::rfc3339(event.timestamp),
                "attributes": attributes_json(&event.attributes),
            })
        })
        .collect();
    json!({
        "span_id": span.span_context.span_id().to_string(),
        "parent_span_id": parent,
        "name": span.name.as_ref(),
        "kind": kind_name(&span.span_kind),
        "start": telescope_core::time::rfc3339(span.start_time),
        "duration_ms": millis(duration(span)),
        "status": status,
        "status_message": message,
        "scope": span.instrumentation_scope.name(),
        "attributes": attributes_json(&span.attributes),
        "dropped_attributes": span.dropped_attributes_count,
        "events": events,
        "dropped_events": span.events.dropped_count,
        "links": span.links.iter().map(|link| json!({
            "trace_id": link.span_context.trace_id().to_string(),
            "span_id": link.span_context.span_id().to_string(),
        })).collect::<Vec<_>>(),
    })
}

/// The listing as JSON: `{"ring_capacity", "span_count", "traces": [...]}`.
pub(crate) fn to_json(traces: &[TraceView], span_count: usize, ring_capacity: usize) -> Json {
    let traces: Vec<Json> = traces
        .iter()
        .map(|trace| {
            json!({
                "trace_id": trace.trace_id.to_string(),
                "root": trace.root_name(),
                "start": telescope_core::time::rfc3339(trace.start),
                "duration_ms": millis(trace.duration),
                "failed": trace.failed,
                "span_count": trace.spans.len(),
                "spans": trace.spans.iter().map(|span| span_json(span)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "ring_capacity": ring_capacity,
        "span_count": span_count,
        "traces": traces,
    })
}

/// Formats `value` for reading: strings bare, others as their JSON.
pub(crate) fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.as_str().to_owned(),
        other => other.to_string(),
    }
}
