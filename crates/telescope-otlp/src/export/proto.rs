//! A batch of spans as an OTLP `ExportTraceServiceRequest`, built from the spans by reference:
//! the ring keeps sharing them, and no span is copied before it is encoded.

use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{SpanId, Status};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue as ProtoKeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, SpanFlags, Status as ProtoStatus,
};
use opentelemetry_sdk::trace::SpanData;

/// The request for `batch`, every span under one resource with `resource` attributes and
/// grouped by instrumentation scope in order of first appearance.
pub(crate) fn request(
    batch: &[Arc<SpanData>],
    resource: &[(String, String)],
) -> ExportTraceServiceRequest {
    let mut scopes: Vec<(&opentelemetry::InstrumentationScope, ScopeSpans)> = Vec::new();
    for data in batch {
        let scope = &data.instrumentation_scope;
        let index = match scopes.iter().position(|(known, _)| *known == scope) {
            Some(index) => index,
            None => {
                scopes.push((scope, scope_spans(scope)));
                scopes.len() - 1
            }
        };
        scopes[index].1.spans.push(span(data));
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource
                    .iter()
                    .map(|(key, value)| ProtoKeyValue {
                        key: key.clone(),
                        value: Some(string_value(value.clone())),
                        key_strindex: 0,
                    })
                    .collect(),
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_spans: scopes.into_iter().map(|(_, spans)| spans).collect(),
            schema_url: String::new(),
        }],
    }
}

fn scope_spans(scope: &opentelemetry::InstrumentationScope) -> ScopeSpans {
    ScopeSpans {
        scope: Some(InstrumentationScope {
            name: scope.name().to_owned(),
            version: scope.version().unwrap_or_default().to_owned(),
            attributes: attributes(scope.attributes()),
            dropped_attributes_count: 0,
        }),
        spans: Vec::new(),
        schema_url: scope.schema_url().unwrap_or_default().to_owned(),
    }
}

fn span(data: &SpanData) -> Span {
    let context = &data.span_context;
    Span {
        trace_id: context.trace_id().to_bytes().to_vec(),
        span_id: context.span_id().to_bytes().to_vec(),
        trace_state: context.trace_state().header(),
        parent_span_id: if data.parent_span_id == SpanId::INVALID {
            Vec::new()
        } else {
            data.parent_span_id.to_bytes().to_vec()
        },
        flags: flags(
            data.parent_span_is_remote,
            context.trace_flags().to_u8().into(),
        ),
        name: data.name.to_string(),
        kind: span::SpanKind::from(data.span_kind.clone()) as i32,
        start_time_unix_nano: nanos(data.start_time),
        end_time_unix_nano: nanos(data.end_time),
        attributes: attributes(data.attributes.iter()),
        dropped_attributes_count: data.dropped_attributes_count,
        events: data
            .events
            .iter()
            .map(|event| span::Event {
                time_unix_nano: nanos(event.timestamp),
                name: event.name.to_string(),
                attributes: attributes(event.attributes.iter()),
                dropped_attributes_count: event.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: data.events.dropped_count,
        links: data
            .links
            .iter()
            .map(|link| span::Link {
                trace_id: link.span_context.trace_id().to_bytes().to_vec(),
                span_id: link.span_context.span_id().to_bytes().to_vec(),
                trace_state: link.span_context.trace_state().header(),
                attributes: attributes(link.attributes.iter()),
                dropped_attributes_count: link.dropped_attributes_count,
                flags: flags(
                    link.span_context.is_remote(),
                    link.span_context.trace_flags().to_u8().into(),
                ),
            })
            .collect(),
        dropped_links_count: data.links.dropped_count,
        status: Some(match &data.status {
            Status::Unset => ProtoStatus {
                code: status::StatusCode::Unset as i32,
                message: String::new(),
            },
            Status::Ok => ProtoStatus {
                code: status::StatusCode::Ok as i32,
                message: String::new(),
            },
            Status::Error { description } => ProtoStatus {
                code: status::StatusCode::Error as i32,
                message: description.to_string(),
            },
        }),
    }
}

/// The span flags of OTLP: the W3C trace flags, and whether the parent is remote.
fn flags(remote: bool, trace_flags: u32) -> u32 {
    let mut flags = trace_flags | SpanFlags::ContextHasIsRemoteMask as u32;
    if remote {
        flags |= SpanFlags::ContextIsRemoteMask as u32;
    }
    flags
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

fn attributes<'a>(pairs: impl IntoIterator<Item = &'a KeyValue>) -> Vec<ProtoKeyValue> {
    pairs
        .into_iter()
        .map(|pair| ProtoKeyValue {
            key: pair.key.as_str().to_owned(),
            value: Some(any_value(&pair.value)),
            key_strindex: 0,
        })
        .collect()
}

fn string_value(text: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text)),
    }
}

fn any_value(value: &Value) -> AnyValue {
    let value = match value {
        Value::Bool(flag) => any_value::Value::BoolValue(*flag),
        Value::I64(number) => any_value::Value::IntValue(*number),
        Value::F64(number) => any_value::Value::DoubleValue(*number),
        Value::String(text) => any_value::Value::StringValue(text.as_str().to_owned()),
        Value::Array(array) => any_value::Value::ArrayValue(ArrayValue {
            values: match array {
                Array::Bool(items) => items.iter().map(|v| any_value(&Value::Bool(*v))).collect(),
                Array::I64(items) => items.iter().map(|v| any_value(&Value::I64(*v))).collect(),
                Array::F64(items) => items.iter().map(|v| any_value(&Value::F64(*v))).collect(),
                Array::String(items) => items
                    .iter()
                    .map(|v| string_value(v.as_str().to_owned()))
                    .collect(),
                // `Array` is non-exhaustive: a kind added later goes out as its text.
                other => vec![string_value(other.to_string())],
            },
        }),
        // `Value` is non-exhaustive too.
        other => any_value::Value::StringValue(other.to_string()),
    };
    AnyValue { value: Some(value) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanKind, TraceFlags, TraceId, TraceState};
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

    /// What `opentelemetry-proto`'s own conversion (which takes the span by value) makes of
    /// the same span: ours must encode to the same bytes.
    #[test]
    fn encodes_like_the_official_conversion() {
        let data = sample();
        let theirs: Span = data.clone().into();
        let batch = [Arc::new(data)];
        let ours = request(&batch, &[("service.name".to_owned(), "shop".to_owned())]);
        let resource_spans = &ours.resource_spans[0];
        assert_eq!(
            resource_spans.scope_spans[0].spans[0].encode_to_vec(),
            theirs.encode_to_vec()
        );
        let scope = resource_spans.scope_spans[0].scope.as_ref().expect("scope");
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("telescope", "1.2.3")
        );
        let resource = resource_spans.resource.as_ref().expect("resource");
        assert_eq!(resource.attributes[0].key, "service.name");
    }

    #[test]
    fn spans_are_grouped_by_scope_in_order_of_first_appearance() {
        let mut other = sample();
        other.instrumentation_scope = opentelemetry::InstrumentationScope::builder("db").build();
        let batch = [Arc::new(sample()), Arc::new(other), Arc::new(sample())];
        let ours = request(&batch, &[]);
        let names: Vec<(String, usize)> = ours.resource_spans[0]
            .scope_spans
            .iter()
            .map(|s| (s.scope.clone().expect("scope").name, s.spans.len()))
            .collect();
        assert_eq!(names, [("telescope".to_owned(), 2), ("db".to_owned(), 1)]);
    }
}
