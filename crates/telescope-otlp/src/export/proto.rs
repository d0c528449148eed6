//! A batch of spans as the bytes of an OTLP `ExportTraceServiceRequest`, written straight from
//! the spans: no intermediate message structs, no copy of any string, so that the exporter
//! thread spends its time sending, not allocating. The layout is the one of
//! `opentelemetry/proto/collector/trace/v1/trace_service.proto` (fields in tag order, proto3
//! defaults left out, as `prost` writes them); the tests check it byte for byte against the
//! official messages of `opentelemetry-proto`.

use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{SpanContext, SpanId, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::logs::EncodedLog;
use crate::metric_data::{
    ExponentialPoint, HistogramPoint, Metric, MetricData, MetricExemplar, NumberPoint, NumberValue,
    Temporality,
};

/// The request for `batch`, every span under one resource with `resource` attributes and
/// grouped by instrumentation scope in order of first appearance.
pub(crate) fn request(batch: &[Arc<SpanData>], resource: &[(String, String)]) -> Vec<u8> {
    let mut scopes: Vec<(&InstrumentationScope, Vec<&SpanData>)> = Vec::new();
    for data in batch {
        let scope = &data.instrumentation_scope;
        match scopes
            .iter_mut()
            .find(|(known, _)| std::ptr::eq(*known, scope) || *known == scope)
        {
            Some((_, spans)) => spans.push(data),
            None => scopes.push((scope, vec![data])),
        }
    }
    let mut out = Out(Vec::with_capacity(batch.len() * 256 + 256));
    let mut trace_states = TraceStateHeaders::default();
    // ExportTraceServiceRequest.resource_spans = 1
    out.message(1, |out| {
        // ResourceSpans.resource = 1
        out.message(1, |out| resource_attributes(out, resource));
        for (scope, spans) in &scopes {
            // ResourceSpans.scope_spans = 2
            out.message(2, |out| {
                // ScopeSpans.scope = 1
                out.message(1, |out| {
                    out.string(1, scope.name());
                    out.string(2, scope.version().unwrap_or_default());
                    for pair in scope.attributes() {
                        out.message(3, |out| key_value(out, pair));
                    }
                });
                for data in spans {
                    // ScopeSpans.spans = 2
                    out.message(2, |out| span(out, data, &mut trace_states));
                }
                out.string(3, scope.schema_url().unwrap_or_default());
            });
        }
    });
    out.0
}

/// An `ExportLogsServiceRequest` for `batch`: every record under one resource with
/// `resource` attributes, grouped by scope (the events' targets) in order of first appearance.
/// The records were encoded when they were logged; here they are only framed.
pub(crate) fn logs_request(batch: &[EncodedLog], resource: &[(String, String)]) -> Vec<u8> {
    let bytes: usize = batch.iter().map(|log| log.encoded().len() + 4).sum();
    let mut out = Out(Vec::with_capacity(bytes + 256));
    // ExportLogsServiceRequest.resource_logs = 1
    out.message(1, |out| {
        // ResourceLogs.resource = 1
        out.message(1, |out| resource_attributes(out, resource));
        for (scope, logs) in crate::logs::by_scope(batch) {
            // ResourceLogs.scope_logs = 2
            out.message(2, |out| {
                // ScopeLogs.scope = 1 (InstrumentationScope.name = 1)
                out.message(1, |out| out.string(1, scope));
                for log in logs {
                    // ScopeLogs.log_records = 2
                    out.string_always_bytes(2, log.encoded());
                }
            });
        }
    });
    out.0
}

/// An `ExportMetricsServiceRequest` for `metrics`: one resource with `resource` attributes,
/// one scope (`telescope`).
pub(crate) fn metrics_request(metrics: &[Metric], resource: &[(String, String)]) -> Vec<u8> {
    let mut out = Out(Vec::with_capacity(4096));
    // ExportMetricsServiceRequest.resource_metrics = 1
    out.message(1, |out| {
        // ResourceMetrics.resource = 1
        out.message(1, |out| resource_attributes(out, resource));
        // ResourceMetrics.scope_metrics = 2
        out.message(2, |out| {
            // ScopeMetrics.scope = 1: name = 1, version = 2
            out.message(1, |out| {
                out.string(1, "telescope");
                out.string(2, env!("CARGO_PKG_VERSION"));
            });
            for metric in metrics {
                // ScopeMetrics.metrics = 2
                out.message(2, |out| metric_message(out, metric));
            }
        });
    });
    out.0
}

fn metric_message(out: &mut Out, metric: &Metric) {
    out.string(1, &metric.name);
    out.string(2, &metric.description);
    out.string(3, &metric.unit);
    match &metric.data {
        // Metric.gauge = 5: data_points = 1
        MetricData::Gauge { points } => out.message(5, |out| {
            for point in points {
                out.message(1, |out| number_point(out, point, false));
            }
        }),
        // Metric.sum = 7: data_points = 1, aggregation_temporality = 2, is_monotonic = 3
        MetricData::Sum {
            monotonic,
            temporality,
            points,
        } => out.message(7, |out| {
            for point in points {
                out.message(1, |out| number_point(out, point, true));
            }
            out.uint(2, temporality_number(*temporality));
            out.uint(3, u64::from(*monotonic));
        }),
        // Metric.histogram = 9: data_points = 1, aggregation_temporality = 2
        MetricData::Histogram {
            temporality,
            points,
        } => out.message(9, |out| {
            for point in points {
                out.message(1, |out| histogram_point(out, point));
            }
            out.uint(2, temporality_number(*temporality));
        }),
        // Metric.exponential_histogram = 10: data_points = 1, aggregation_temporality = 2
        MetricData::ExponentialHistogram {
            temporality,
            points,
        } => out.message(10, |out| {
            for point in points {
                out.message(1, |out| exponential_point(out, point));
            }
            out.uint(2, temporality_number(*temporality));
        }),
    }
}

fn exponential_point(out: &mut Out, point: &ExponentialPoint) {
    for (key, value) in &point.attributes {
        out.string_key_value(1, key, value);
    }
    out.fixed64(2, nanos(point.start));
    out.fixed64(3, nanos(point.time));
    out.fixed64(4, point.count);
    if let Some(sum) = point.sum {
        out.double_always(5, sum);
    }
    // scale = 6, sint32 (zigzag)
    out.uint(6, zigzag(point.scale));
    out.fixed64(7, point.zero_count);
    for (tag, offset, counts) in [
        (8, point.positive_offset, &point.positive),
        (9, point.negative_offset, &point.negative),
    ] {
        if counts.is_empty() {
            continue;
        }
        // Buckets: offset = 1 (sint32), bucket_counts = 2 (packed uint64)
        out.message(tag, |out| {
            out.uint(1, zigzag(offset));
            out.message(2, |out| {
                for count in counts {
                    out.varint(*count);
                }
            });
        });
    }
    for exemplar in &point.exemplars {
        // ExponentialHistogramDataPoint.exemplars = 11
        out.message(11, |out| exemplar_message(out, exemplar));
    }
    if point.zero_threshold != 0.0 {
        // zero_threshold = 14, double
        out.double_always(14, point.zero_threshold);
    }
}

/// An `Exemplar`: time = 2, as_double = 3, span_id = 4, trace_id = 5.
fn exemplar_message(out: &mut Out, exemplar: &MetricExemplar) {
    out.fixed64(2, nanos(exemplar.time));
    out.double_always(3, exemplar.value);
    out.bytes(4, &exemplar.span_id);
    out.bytes(5, &exemplar.trace_id);
}

/// A `sint32` as protobuf writes it: zigzag, so that small negatives are short.
fn zigzag(value: i32) -> u64 {
    u64::from(((value << 1) ^ (value >> 31)) as u32)
}

/// `AggregationTemporality`: DELTA = 1, CUMULATIVE = 2.
fn temporality_number(temporality: Temporality) -> u64 {
    match temporality {
        Temporality::Delta => 1,
        Temporality::Cumulative => 2,
    }
}

fn number_point(out: &mut Out, point: &NumberPoint, with_start: bool) {
    if with_start {
        out.fixed64(2, nanos(point.start));
    }
    out.fixed64(3, nanos(point.time));
    match point.value {
        // as_double = 4 (a oneof member: written even when zero)
        NumberValue::Double(value) => out.double_always(4, value),
        // as_int = 6, sfixed64
        NumberValue::Int(value) => {
            out.key(6, FIXED64);
            out.0.extend_from_slice(&value.to_le_bytes());
        }
    }
    for (key, value) in &point.attributes {
        out.string_key_value(7, key, value);
    }
}

fn histogram_point(out: &mut Out, point: &HistogramPoint) {
    out.fixed64(2, nanos(point.start));
    out.fixed64(3, nanos(point.time));
    // count = 4, fixed64 (a plain field: left out when zero)
    out.fixed64(4, point.count);
    if let Some(sum) = point.sum {
        // sum = 5, optional: written when present, even zero
        out.double_always(5, sum);
    }
    // bucket_counts = 6, packed fixed64; explicit_bounds = 7, packed double
    if !point.counts.is_empty() {
        out.key(6, LENGTH_DELIMITED);
        out.varint((point.counts.len() * 8) as u64);
        for count in &point.counts {
            out.0.extend_from_slice(&count.to_le_bytes());
        }
    }
    if !point.bounds.is_empty() {
        out.key(7, LENGTH_DELIMITED);
        out.varint((point.bounds.len() * 8) as u64);
        for bound in &point.bounds {
            out.0.extend_from_slice(&bound.to_le_bytes());
        }
    }
    for exemplar in &point.exemplars {
        // HistogramDataPoint.exemplars = 8
        out.message(8, |out| exemplar_message(out, exemplar));
    }
    for (key, value) in &point.attributes {
        out.string_key_value(9, key, value);
    }
}

/// A `Resource`'s attributes, all strings.
fn resource_attributes(out: &mut Out, resource: &[(String, String)]) {
    for (key, value) in resource {
        // Resource.attributes = 1
        out.message(1, |out| {
            out.string(1, key);
            out.message(2, |out| out.string_always(1, value));
        });
    }
}

fn span(out: &mut Out, data: &SpanData, trace_states: &mut TraceStateHeaders) {
    let context = &data.span_context;
    out.bytes(1, &context.trace_id().to_bytes());
    out.bytes(2, &context.span_id().to_bytes());
    out.string(3, trace_states.header(context));
    if data.parent_span_id != SpanId::INVALID {
        out.bytes(4, &data.parent_span_id.to_bytes());
    }
    out.string(5, &data.name);
    out.uint(6, span_kind(&data.span_kind));
    out.fixed64(7, nanos(data.start_time));
    out.fixed64(8, nanos(data.end_time));
    for pair in &data.attributes {
        out.message(9, |out| key_value(out, pair));
    }
    out.uint(10, data.dropped_attributes_count.into());
    for event in data.events.iter() {
        out.message(11, |out| {
            out.fixed64(1, nanos(event.timestamp));
            out.string(2, &event.name);
            for pair in &event.attributes {
                out.message(3, |out| key_value(out, pair));
            }
            out.uint(4, event.dropped_attributes_count.into());
        });
    }
    out.uint(12, data.events.dropped_count.into());
    for link in data.links.iter() {
        out.message(13, |out| {
            let linked = &link.span_context;
            out.bytes(1, &linked.trace_id().to_bytes());
            out.bytes(2, &linked.span_id().to_bytes());
            out.string(3, &linked.trace_state().header());
            for pair in &link.attributes {
                out.message(4, |out| key_value(out, pair));
            }
            out.uint(5, link.dropped_attributes_count.into());
            out.fixed32(6, flags(linked.is_remote(), linked));
        });
    }
    out.uint(14, data.links.dropped_count.into());
    // Status = 15: always present, as the official conversion writes it.
    out.message(15, |out| match &data.status {
        Status::Unset => {}
        Status::Ok => out.uint(3, 1),
        Status::Error { description } => {
            out.string(2, description);
            out.uint(3, 2);
        }
    });
    out.fixed32(16, flags(data.parent_span_is_remote, context));
}

/// The span flags of OTLP: the W3C trace flags, and whether the parent is remote.
fn flags(remote: bool, context: &SpanContext) -> u32 {
    // SpanFlags: CONTEXT_HAS_IS_REMOTE = 0x100, CONTEXT_IS_REMOTE = 0x200.
    let mut flags = u32::from(context.trace_flags().to_u8()) | 0x100;
    if remote {
        flags |= 0x200;
    }
    flags
}

fn span_kind(kind: &opentelemetry::trace::SpanKind) -> u64 {
    use opentelemetry::trace::SpanKind;
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

pub(crate) fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

fn key_value(out: &mut Out, pair: &KeyValue) {
    out.string(1, pair.key.as_str());
    out.message(2, |out| any_value(out, &pair.value));
}

/// An `AnyValue`: its `oneof` member is written even when it holds a default value.
fn any_value(out: &mut Out, value: &Value) {
    match value {
        Value::String(text) => out.string_always(1, text.as_str()),
        Value::Bool(flag) => {
            out.key(2, VARINT);
            out.varint(u64::from(*flag));
        }
        Value::I64(number) => {
            out.key(3, VARINT);
            // int64 is written as the two's complement, as a 64-bit varint.
            out.varint(*number as u64);
        }
        Value::F64(number) => {
            out.key(4, FIXED64);
            out.0.extend_from_slice(&number.to_le_bytes());
        }
        Value::Array(array) => out.message(5, |out| {
            let mut item = |value: Value| out.message(1, |out| any_value(out, &value));
            match array {
                Array::Bool(items) => items.iter().for_each(|v| item(Value::Bool(*v))),
                Array::I64(items) => items.iter().for_each(|v| item(Value::I64(*v))),
                Array::F64(items) => items.iter().for_each(|v| item(Value::F64(*v))),
                Array::String(items) => items
                    .iter()
                    .for_each(|v| item(Value::String(StringValue::from(v.as_str().to_owned())))),
                // `Array` is non-exhaustive: a kind added later goes out as its text.
                other => item(Value::String(other.to_string().into())),
            }
        }),
        // `Value` is non-exhaustive too.
        other => out.string_always(1, &other.to_string()),
    }
}

/// The tracestate header of the last span, kept: the spans of a batch mostly share one.
#[derive(Default)]
struct TraceStateHeaders {
    last: Option<(opentelemetry::trace::TraceState, String)>,
}

impl TraceStateHeaders {
    fn header(&mut self, context: &SpanContext) -> &str {
        let state = context.trace_state();
        let stale = self.last.as_ref().is_none_or(|(known, _)| known != state);
        if stale {
            self.last = Some((state.clone(), state.header()));
        }
        self.last.as_ref().map_or("", |(_, header)| header.as_str())
    }
}

/// Protobuf wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LENGTH_DELIMITED: u32 = 2;
const FIXED32: u32 = 5;

/// `value` as a varint: its bytes, and how many of them are used.
#[inline]
fn varint_bytes(mut value: u64) -> ([u8; 10], usize) {
    let mut bytes = [0_u8; 10];
    let mut length = 0;
    while value >= 0x80 {
        bytes[length] = (value as u8) | 0x80;
        value >>= 7;
        length += 1;
    }
    bytes[length] = value as u8;
    (bytes, length + 1)
}

/// How many bytes `value` takes as a varint.
fn varint_len(value: u64) -> usize {
    // 1 byte per 7 bits, at least one.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Protobuf output: keys and varints written inline (most are one byte), the layout `prost`
/// writes.
pub(crate) struct Out(pub(crate) Vec<u8>);

impl Out {
    #[inline(always)]
    pub(crate) fn varint(&mut self, value: u64) {
        if value < 0x80 {
            self.0.push(value as u8);
        } else {
            let (bytes, length) = varint_bytes(value);
            self.0.extend_from_slice(&bytes[..length]);
        }
    }

    #[inline(always)]
    fn key(&mut self, tag: u32, wire_type: u32) {
        self.varint(u64::from(tag << 3 | wire_type));
    }

    /// A length-delimited field, left out when empty (a proto3 default).
    pub(crate) fn bytes(&mut self, tag: u32, value: &[u8]) {
        if !value.is_empty() {
            self.string_always_bytes(tag, value);
        }
    }

    pub(crate) fn string(&mut self, tag: u32, value: &str) {
        self.bytes(tag, value.as_bytes());
    }

    /// A string written even when empty (a `oneof` member).
    pub(crate) fn string_always(&mut self, tag: u32, value: &str) {
        self.string_always_bytes(tag, value.as_bytes());
    }

    pub(crate) fn string_always_bytes(&mut self, tag: u32, value: &[u8]) {
        self.key(tag, LENGTH_DELIMITED);
        self.varint(value.len() as u64);
        self.0.extend_from_slice(value);
    }

    /// A varint field (uint32, uint64, enum), left out when zero.
    pub(crate) fn uint(&mut self, tag: u32, value: u64) {
        if value != 0 {
            self.key(tag, VARINT);
            self.varint(value);
        }
    }

    pub(crate) fn fixed64(&mut self, tag: u32, value: u64) {
        if value != 0 {
            self.key(tag, FIXED64);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }

    pub(crate) fn fixed32(&mut self, tag: u32, value: u32) {
        if value != 0 {
            self.key(tag, FIXED32);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }

    /// A double field written even when zero (a `oneof` member, an `optional` one).
    pub(crate) fn double_always(&mut self, tag: u32, value: f64) {
        self.key(tag, FIXED64);
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// A `KeyValue` (as field `tag`) whose value is an `AnyValue` with `string_value` = 1,
    /// lengths worked out first: no placeholder to fix up.
    pub(crate) fn string_key_value(&mut self, tag: u32, key: &str, value: &str) {
        let any = 1 + varint_len(value.len() as u64) + value.len();
        self.key_value_head(tag, key, any);
        self.string_always(1, value);
    }

    /// An `AnyValue` (as field `tag`) holding `string_value` = 1.
    pub(crate) fn string_any_value(&mut self, tag: u32, value: &str) {
        self.key(tag, LENGTH_DELIMITED);
        self.varint((1 + varint_len(value.len() as u64) + value.len()) as u64);
        self.string_always(1, value);
    }

    /// A `KeyValue` whose `AnyValue` is `int_value` = 3.
    pub(crate) fn int_key_value(&mut self, tag: u32, key: &str, value: i64) {
        // int64 is written as the two's complement, as a 64-bit varint.
        let bits = value as u64;
        self.key_value_head(tag, key, 1 + varint_len(bits));
        self.key(3, VARINT);
        self.varint(bits);
    }

    /// A `KeyValue` whose `AnyValue` is `double_value` = 4.
    pub(crate) fn double_key_value(&mut self, tag: u32, key: &str, value: f64) {
        self.key_value_head(tag, key, 9);
        self.key(4, FIXED64);
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    /// A `KeyValue` whose `AnyValue` is `bool_value` = 2.
    pub(crate) fn bool_key_value(&mut self, tag: u32, key: &str, value: bool) {
        self.key_value_head(tag, key, 2);
        self.key(2, VARINT);
        self.0.push(u8::from(value));
    }

    /// A `KeyValue`'s key, length and `key` field, and the head of its `value` field holding
    /// `any` bytes (room for the whole is reserved first).
    fn key_value_head(&mut self, tag: u32, key: &str, any: usize) {
        let key_length = key.len() as u64;
        let length = 1 + varint_len(key_length) + key.len() + 1 + varint_len(any as u64) + any;
        if length < 0x80 && tag < 16 {
            // The common case, every varint one byte: three copies.
            let tag = (tag << 3 | LENGTH_DELIMITED) as u8;
            self.0
                .extend_from_slice(&[tag, length as u8, 1 << 3 | LENGTH_DELIMITED as u8]);
            self.0.push(key_length as u8);
            self.0.extend_from_slice(key.as_bytes());
            self.0
                .extend_from_slice(&[2 << 3 | LENGTH_DELIMITED as u8, any as u8]);
            return;
        }
        self.key(tag, LENGTH_DELIMITED);
        self.varint(length as u64);
        self.key(1, LENGTH_DELIMITED);
        self.varint(key_length);
        self.0.extend_from_slice(key.as_bytes());
        self.key(2, LENGTH_DELIMITED);
        self.varint(any as u64);
    }

    /// An embedded message, written by `content`. Its length comes first on the wire, so one
    /// byte is kept for it (enough below 128 bytes) and the content is moved along when the
    /// length needs more.
    pub(crate) fn message(&mut self, tag: u32, content: impl FnOnce(&mut Out)) {
        self.key(tag, LENGTH_DELIMITED);
        let at = self.0.len();
        self.0.push(0);
        content(self);
        let length = self.0.len() - at - 1;
        if length < 0x80 {
            self.0[at] = length as u8;
        } else {
            let (bytes, used) = varint_bytes(length as u64);
            self.0[at] = bytes[0];
            self.0
                .splice(at + 1..at + 1, bytes[1..used].iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanKind, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use prost::Message;

    fn sample() -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes([1; 16]),
                SpanId::from_bytes([2; 8]),
                TraceFlags::SAMPLED,
                false,
                TraceState::from_key_value([("ot", "th:8")]).expect("valid"),
            ),
            parent_span_id: SpanId::from_bytes([3; 8]),
            parent_span_is_remote: true,
            span_kind: SpanKind::Server,
            name: "GET /orders".into(),
            start_time: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10),
            end_time: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(11),
            attributes: vec![
                KeyValue::new("rows", 3_i64),
                KeyValue::new("cached", false),
                KeyValue::new("ratio", 0.5),
                KeyValue::new("route", "/orders"),
                KeyValue::new(
                    "tags",
                    Value::Array(Array::String(vec!["a".into(), "b".into()])),
                ),
            ],
            dropped_attributes_count: 1,
            events: opentelemetry_sdk::trace::SpanEvents::default(),
            links: opentelemetry_sdk::trace::SpanLinks::default(),
            status: Status::error("boom"),
            instrumentation_scope: opentelemetry::InstrumentationScope::builder("telescope")
                .with_version("1.2.3")
                .build(),
        }
    }

    /// The request `opentelemetry-proto`'s own conversion makes of the same spans.
    fn official(batch: &[SpanData], resource: &[(String, String)]) -> ExportTraceServiceRequest {
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_attributes(
                resource
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                batch.to_vec(),
                &ResourceAttributesWithSchema::from(&resource),
            ),
        }
    }

    fn ours(batch: &[SpanData], resource: &[(String, String)]) -> Vec<u8> {
        let shared: Vec<Arc<SpanData>> = batch.iter().cloned().map(Arc::new).collect();
        request(&shared, resource)
    }

    #[test]
    fn metrics_decode_as_the_official_messages() {
        use crate::metric_data::MetricExemplar;
        use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
        use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
        let at = |seconds| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
        let attributes = vec![("code".to_owned(), "200".to_owned())];
        let metrics = [
            Metric {
                name: "requests_total".into(),
                description: "Requests.".into(),
                unit: "1".into(),
                data: MetricData::Sum {
                    monotonic: true,
                    temporality: Temporality::Delta,
                    points: vec![NumberPoint {
                        attributes: attributes.clone(),
                        start: at(10),
                        time: at(20),
                        value: NumberValue::Int(0),
                    }],
                },
            },
            Metric {
                name: "depth".into(),
                description: String::new(),
                unit: String::new(),
                data: MetricData::Gauge {
                    points: vec![NumberPoint {
                        attributes: Vec::new(),
                        start: at(10),
                        time: at(20),
                        value: NumberValue::Double(-2.5),
                    }],
                },
            },
            Metric {
                name: "seconds".into(),
                description: String::new(),
                unit: "s".into(),
                data: MetricData::Histogram {
                    temporality: Temporality::Cumulative,
                    points: vec![HistogramPoint {
                        attributes,
                        start: at(10),
                        time: at(20),
                        count: 3,
                        sum: Some(0.0),
                        bounds: vec![0.1, 1.0],
                        counts: vec![1, 0, 2],
                        exemplars: vec![MetricExemplar {
                            value: 0.05,
                            time: at(15),
                            trace_id: [7; 16],
                            span_id: [8; 8],
                        }],
                    }],
                },
            },
        ];
        let resource = [("service.name".to_owned(), "checkout".to_owned())];
        let decoded =
            ExportMetricsServiceRequest::decode(metrics_request(&metrics, &resource).as_slice())
                .expect("decodes");
        let scope = &decoded.resource_metrics[0].scope_metrics[0];
        assert_eq!(
            scope.scope.as_ref().map(|s| s.name.as_str()),
            Some("telescope")
        );
        let Some(metric::Data::Sum(sum)) = &scope.metrics[0].data else {
            panic!("a sum")
        };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 1, "delta");
        let point = &sum.data_points[0];
        assert_eq!(
            point.value,
            Some(number_data_point::Value::AsInt(0)),
            "zero kept"
        );
        assert_eq!(
            (point.start_time_unix_nano, point.time_unix_nano),
            (10_000_000_000, 20_000_000_000)
        );
        assert_eq!(point.attributes[0].key, "code");
        let Some(metric::Data::Gauge(gauge)) = &scope.metrics[1].data else {
            panic!("a gauge")
        };
        assert_eq!(
            gauge.data_points[0].value,
            Some(number_data_point::Value::AsDouble(-2.5))
        );
        let Some(metric::Data::Histogram(histogram)) = &scope.metrics[2].data else {
            panic!("a histogram")
        };
        assert_eq!(histogram.aggregation_temporality, 2, "cumulative");
        let point = &histogram.data_points[0];
        assert_eq!(point.count, 3);
        assert_eq!(point.sum, Some(0.0), "a zero sum is present, not absent");
        assert_eq!(point.bucket_counts, [1, 0, 2]);
        assert_eq!(point.explicit_bounds, [0.1, 1.0]);
        assert_eq!(point.exemplars[0].trace_id, [7; 16]);
        assert_eq!(point.exemplars[0].span_id, [8; 8]);
        assert_eq!(scope.metrics[2].unit, "s");
    }

    #[test]
    fn varints_and_key_values_encode_as_prost_does() {
        use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as Kv};
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut ours = Out(Vec::new());
            ours.varint(value);
            let mut theirs = Vec::new();
            prost::encoding::encode_varint(value, &mut theirs);
            assert_eq!(ours.0, theirs, "{value}");
            assert_eq!(varint_len(value), theirs.len(), "{value}");
        }
        let long = "v".repeat(300);
        let long_key = "k".repeat(200);
        let kv = |key: &str, value: any_value::Value| Kv {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            ..Kv::default()
        };
        for (key, write, expected) in [
            (
                "s",
                0,
                kv("s", any_value::Value::StringValue("text".into())),
            ),
            (
                "long",
                1,
                kv("long", any_value::Value::StringValue(long.clone())),
            ),
            (
                long_key.as_str(),
                0,
                kv(&long_key, any_value::Value::StringValue("text".into())),
            ),
            ("i", 2, kv("i", any_value::Value::IntValue(-5))),
            ("d", 3, kv("d", any_value::Value::DoubleValue(0.25))),
            ("b", 4, kv("b", any_value::Value::BoolValue(true))),
        ] {
            let mut out = Out(Vec::new());
            match write {
                0 => out.string_key_value(6, key, "text"),
                1 => out.string_key_value(6, key, &long),
                2 => out.int_key_value(6, key, -5),
                3 => out.double_key_value(6, key, 0.25),
                _ => out.bool_key_value(6, key, true),
            }
            // As field 6 of a message, the way prost would write it there.
            let mut theirs = Vec::new();
            prost::encoding::message::encode(6, &expected, &mut theirs);
            assert_eq!(out.0, theirs, "{key}");
        }
    }

    #[test]
    fn encodes_byte_for_byte_like_the_official_messages() {
        let resource = [("service.name".to_owned(), "shop".to_owned())];
        let batch = [sample()];
        assert_eq!(
            ours(&batch, &resource),
            official(&batch, &resource).encode_to_vec()
        );
    }

    #[test]
    fn every_value_kind_status_event_and_link_encodes_like_the_official_messages() {
        let mut data = sample();
        data.attributes.extend([
            KeyValue::new("empty", ""),
            KeyValue::new("zero", 0_i64),
            KeyValue::new("negative", -7_i64),
            KeyValue::new("fzero", 0.0),
            KeyValue::new("nan", f64::NAN),
            KeyValue::new("yes", true),
            KeyValue::new("long", "x".repeat(300)),
            KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("ints", Value::Array(Array::I64(vec![0, -1, i64::MAX]))),
            KeyValue::new("floats", Value::Array(Array::F64(vec![0.5]))),
        ]);
        let mut events = opentelemetry_sdk::trace::SpanEvents::default();
        events.events.push(opentelemetry::trace::Event::new(
            "order loaded",
            SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(10_000_000_123),
            vec![KeyValue::new("items", 3_i64)],
            2,
        ));
        events.dropped_count = 4;
        data.events = events;
        let mut links = opentelemetry_sdk::trace::SpanLinks::default();
        links.links.push(opentelemetry::trace::Link::new(
            SpanContext::new(
                TraceId::from_bytes([9; 16]),
                SpanId::from_bytes([8; 8]),
                TraceFlags::default(),
                true,
                TraceState::NONE,
            ),
            vec![KeyValue::new("why", "retry")],
            1,
        ));
        data.links = links;
        for status in [Status::Unset, Status::Ok, Status::error("")] {
            let mut data = data.clone();
            data.status = status;
            let mut root = data.clone();
            root.parent_span_id = SpanId::INVALID;
            root.parent_span_is_remote = false;
            root.span_kind = SpanKind::Internal;
            let batch = [data, root];
            // Decoded messages first (a readable difference), then the bytes.
            let decoded =
                ExportTraceServiceRequest::decode(ours(&batch, &[]).as_slice()).expect("decodes");
            let expected = official(&batch, &[]);
            assert_eq!(format!("{decoded:?}"), format!("{expected:?}"));
            assert_eq!(ours(&batch, &[]), expected.encode_to_vec());
        }
    }

    #[test]
    fn spans_are_grouped_by_scope_in_order_of_first_appearance() {
        let mut other = sample();
        other.instrumentation_scope = opentelemetry::InstrumentationScope::builder("db").build();
        let batch = [sample(), other, sample()];
        let decoded =
            ExportTraceServiceRequest::decode(ours(&batch, &[]).as_slice()).expect("decodes");
        let names: Vec<(String, usize)> = decoded.resource_spans[0]
            .scope_spans
            .iter()
            .map(|s| (s.scope.clone().expect("scope").name, s.spans.len()))
            .collect();
        assert_eq!(names, [("telescope".to_owned(), 2), ("db".to_owned(), 1)]);
        assert_eq!(ours(&batch, &[]), official(&batch, &[]).encode_to_vec());
    }
}
