//! The traces the span ring holds (recent spans and the reservoirs' kept traces), grouped and
//! ordered for reading (failed first, then the slowest): what `/debug/traces` lists.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use rustc_hash::{FxHashMap, FxHashSet};
use telescope_otlp::{RetainReasons, RingContents};

use super::trace_filter::TraceFilter;

/// One trace: its spans (in start order) and what the listing sorts by.
#[derive(Debug)]
pub(crate) struct TraceView {
    pub(crate) trace_id: TraceId,
    /// The spans in start order (equal starts in the order they finished).
    pub(crate) spans: Vec<Arc<SpanData>>,
    pub(crate) start: SystemTime,
    pub(crate) duration: Duration,
    pub(crate) failed: bool,
    /// Why the reservoirs keep it, if they do.
    pub(crate) retained: Option<RetainReasons>,
    /// Spans the reservoirs left out of it (the trace reached its byte limit).
    pub(crate) dropped_spans: usize,
}

impl TraceView {
    /// The trace of `spans` (each span once).
    pub(crate) fn new(
        trace_id: TraceId,
        mut spans: Vec<Arc<SpanData>>,
        retained: Option<RetainReasons>,
        dropped_spans: usize,
    ) -> Self {
        spans.sort_by_key(|span| span.start_time);
        let start = spans
            .iter()
            .map(|s| s.start_time)
            .min()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let end = spans.iter().map(|s| s.end_time).max().unwrap_or(start);
        Self {
            trace_id,
            failed: spans.iter().any(|span| failed(span)),
            duration: end.duration_since(start).unwrap_or_default(),
            start,
            spans,
            retained,
            dropped_spans,
        }
    }

    /// The root's name: the first span whose parent is not in the trace.
    pub(crate) fn root_name(&self) -> &str {
        let ids: FxHashSet<SpanId> = self
            .spans
            .iter()
            .map(|span| span.span_context.span_id())
            .collect();
        self.spans
            .iter()
            .find(|span| {
                span.parent_span_id == SpanId::INVALID || !ids.contains(&span.parent_span_id)
            })
            .map_or("?", |span| span.name.as_ref())
    }

    /// How many of its spans failed.
    pub(crate) fn error_count(&self) -> usize {
        self.spans.iter().filter(|span| failed(span)).count()
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

/// Groups the ring's recent spans and kept traces into traces (a kept trace with spans still
/// in the ring is one trace), keeps those `filter` lets through, failed first, then the
/// slowest, at most `limit`.
pub(crate) fn traces(contents: RingContents, filter: &TraceFilter, limit: usize) -> Vec<TraceView> {
    let mut by_trace: FxHashMap<TraceId, Vec<Arc<SpanData>>> = FxHashMap::default();
    for span in contents.recent {
        by_trace
            .entry(span.span_context.trace_id())
            .or_default()
            .push(span);
    }
    let mut kept: FxHashMap<TraceId, (RetainReasons, usize)> = FxHashMap::default();
    for trace in contents.retained {
        let spans = by_trace.entry(trace.trace_id).or_default();
        let held: FxHashSet<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
        spans.extend(
            trace
                .spans
                .into_iter()
                .filter(|span| !held.contains(&span.span_context.span_id())),
        );
        kept.insert(trace.trace_id, (trace.reasons, trace.dropped_spans));
    }
    let mut traces: Vec<TraceView> = by_trace
        .into_iter()
        .map(|(trace_id, spans)| {
            let (retained, dropped) = match kept.get(&trace_id) {
                Some((reasons, dropped)) => (Some(*reasons), *dropped),
                None => (None, 0),
            };
            TraceView::new(trace_id, spans, retained, dropped)
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

/// Why a trace is kept, as words (`error`, `slow`, `exemplar`), or `recent` when only the
/// ring holds it.
pub(crate) fn retained_words(retained: Option<RetainReasons>) -> Vec<&'static str> {
    let Some(reasons) = retained else {
        return vec!["recent"];
    };
    let mut words = Vec::with_capacity(3);
    if reasons.error {
        words.push("error");
    }
    if reasons.slow {
        words.push("slow");
    }
    if reasons.exemplar {
        words.push("exemplar");
    }
    words
}

/// Formats `value` for reading: strings bare, others as their JSON.
pub(crate) fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.as_str().to_owned(),
        other => other.to_string(),
    }
}

/// One log line of a trace: a span event.
#[derive(Debug)]
pub(crate) struct LogLine<'a> {
    pub(crate) span: &'a SpanData,
    pub(crate) event: &'a opentelemetry::trace::Event,
    /// Its level (the `level` attribute the OTLP layer writes), if it has one.
    pub(crate) level: Option<String>,
}

/// Every event of the trace's spans, in time order (equal times in span order).
pub(crate) fn log_lines(trace: &TraceView) -> Vec<LogLine<'_>> {
    let mut lines: Vec<LogLine<'_>> = trace
        .spans
        .iter()
        .flat_map(|span| {
            span.events.iter().map(move |event| LogLine {
                span,
                event,
                level: event
                    .attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == "level")
                    .map(|kv| display_value(&kv.value)),
            })
        })
        .collect();
    lines.sort_by_key(|line| line.event.timestamp);
    lines
}

/// Whether an event attribute is shown as a field of its log line (`level` and `target` have
/// columns of their own).
pub(crate) fn is_field(key: &str) -> bool {
    key != "level" && key != "target"
}
