//! `/debug/traces?format=json`: everything the page shows, as documented in
//! `docs/debug-traces.md` (the schema; a test checks every field it names is here and no
//! other).

use opentelemetry::trace::{SpanId, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use serde_json::{json, Map, Value as Json};
use telescope_otlp::RetentionStats;

use super::traces::{display_value, is_field, kind_name, log_lines, retained_words, TraceView};
use super::waterfall::{rows, Row};

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

fn attributes_json<'a>(attributes: impl IntoIterator<Item = &'a opentelemetry::KeyValue>) -> Json {
    let mut map = Map::new();
    for kv in attributes {
        map.insert(kv.key.as_str().to_owned(), value_json(&kv.value));
    }
    Json::Object(map)
}

pub(crate) fn millis(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Rounded to a thousandth of a percent: enough for any screen, stable to compare.
fn percent(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn span_json(trace: &TraceView, row: &Row<'_>, service: &str) -> Json {
    let span: &SpanData = row.span;
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
                "offset_ms": millis(event.timestamp.duration_since(trace.start).unwrap_or_default()),
                "attributes": attributes_json(&event.attributes),
            })
        })
        .collect();
    json!({
        "span_id": span.span_context.span_id().to_string(),
        "parent_span_id": parent,
        "name": span.name.as_ref(),
        "kind": kind_name(&span.span_kind),
        "service": service,
        "start": telescope_core::time::rfc3339(span.start_time),
        "offset_ms": millis(row.offset),
        "duration_ms": millis(super::traces::duration(span)),
        "depth": row.depth,
        "left_pct": percent(row.left),
        "width_pct": percent(row.width),
        "error_path": row.error_path,
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
            "attributes": attributes_json(&link.attributes),
        })).collect::<Vec<_>>(),
    })
}

fn logs_json(trace: &TraceView) -> Vec<Json> {
    log_lines(trace)
        .into_iter()
        .map(|line| {
            let target = line
                .event
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == "target")
                .map(|kv| display_value(&kv.value));
            json!({
                "time": telescope_core::time::rfc3339(line.event.timestamp),
                "offset_ms": millis(line.event.timestamp.duration_since(trace.start).unwrap_or_default()),
                "level": line.level,
                "span_id": line.span.span_context.span_id().to_string(),
                "span_name": line.span.name.as_ref(),
                "message": line.event.name.as_ref(),
                "target": target,
                "fields": attributes_json(line.event.attributes.iter().filter(|kv| is_field(kv.key.as_str()))),
            })
        })
        .collect()
}

/// One trace as JSON: its summary, its spans in waterfall order, its log lines.
pub(crate) fn trace_json(trace: &TraceView, service: &str) -> Json {
    let rows = rows(trace);
    json!({
        "trace_id": trace.trace_id.to_string(),
        "root": trace.root_name(),
        "start": telescope_core::time::rfc3339(trace.start),
        "duration_ms": millis(trace.duration),
        "failed": trace.failed,
        "error_count": trace.error_count(),
        "span_count": trace.spans.len(),
        "retained": retained_words(trace.retained),
        "dropped_spans": trace.dropped_spans,
        "spans": rows.iter().map(|row| span_json(trace, row, service)).collect::<Vec<_>>(),
        "logs": logs_json(trace),
    })
}

/// The reservoirs' state as JSON.
pub(crate) fn retention_json(stats: &RetentionStats) -> Json {
    json!({
        "max_bytes": stats.max_bytes,
        "bytes": stats.bytes,
        "kept_traces": stats.kept_traces,
        "pending_traces": stats.pending_traces,
        "operations": stats.operations,
        "evicted_traces": stats.evicted_traces,
        "evicted_pending_traces": stats.evicted_pending_traces,
        "errors_per_operation": stats.errors_per_operation,
        "slowest_per_operation": stats.slowest_per_operation,
        "slow_window_s": stats.slow_window.as_secs_f64(),
    })
}

/// What the page says about where its traces come from.
pub(crate) struct Holdings<'a> {
    pub(crate) service: &'a str,
    pub(crate) span_count: usize,
    pub(crate) ring_capacity: usize,
    pub(crate) retention: RetentionStats,
}

/// The listing as JSON.
pub(crate) fn to_json(traces: &[TraceView], holdings: &Holdings<'_>) -> Json {
    json!({
        "service": holdings.service,
        "ring_capacity": holdings.ring_capacity,
        "span_count": holdings.span_count,
        "retention": retention_json(&holdings.retention),
        "traces": traces.iter().map(|trace| trace_json(trace, holdings.service)).collect::<Vec<_>>(),
    })
}
