//! What a kept span costs in memory, estimated from its parts: the budget of the retention
//! reservoirs is counted with it.

use std::mem::size_of;

use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

/// The bytes `span` holds: its struct, its name, and every attribute, event and link with
/// their text. An estimate (allocator overhead and capacity slack are not seen), the same for
/// the same span, so budgets are reproducible.
pub(crate) fn span_bytes(span: &SpanData) -> usize {
    let events: usize = span
        .events
        .iter()
        .map(|event| {
            size_of::<opentelemetry::trace::Event>()
                + event.name.len()
                + attributes_bytes(&event.attributes)
        })
        .sum();
    let links: usize = span
        .links
        .iter()
        .map(|link| size_of::<opentelemetry::trace::Link>() + attributes_bytes(&link.attributes))
        .sum();
    size_of::<SpanData>() + span.name.len() + attributes_bytes(&span.attributes) + events + links
}

fn attributes_bytes(attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| size_of::<KeyValue>() + kv.key.as_str().len() + value_bytes(&kv.value))
        .sum()
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::Bool(_) | Value::I64(_) | Value::F64(_) => 0,
        Value::String(text) => text.as_str().len(),
        Value::Array(Array::Bool(items)) => items.len(),
        Value::Array(Array::I64(items)) => items.len() * 8,
        Value::Array(Array::F64(items)) => items.len() * 8,
        Value::Array(Array::String(items)) => items
            .iter()
            .map(|text| size_of::<opentelemetry::StringValue>() + text.as_str().len())
            .sum(),
        // A variant added later: counted by its text.
        other => other.to_string().len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_counted() {
        let mut span = crate::retention::tests::span(1, 1, None, 0, 10);
        let bare = span_bytes(&span);
        span.attributes.push(KeyValue::new("k", "x".repeat(1000)));
        let with_attribute = span_bytes(&span);
        assert_eq!(with_attribute - bare, size_of::<KeyValue>() + 1 + 1000);
        span.attributes.push(KeyValue::new(
            "list",
            Value::Array(
                vec!["ab", "c"]
                    .into_iter()
                    .map(Into::into)
                    .collect::<Vec<opentelemetry::StringValue>>()
                    .into(),
            ),
        ));
        assert_eq!(
            span_bytes(&span) - with_attribute,
            size_of::<KeyValue>() + 4 + 2 * size_of::<opentelemetry::StringValue>() + 3
        );
    }
}
