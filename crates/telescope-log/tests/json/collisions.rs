//! No line ever has the same key twice, whatever the fields are called.

use serde_json::json;
use telescope_log::JsonLayer;

use crate::support::capture;

#[test]
fn fields_named_like_the_layers_keys_are_moved_under_fields() {
    let out = capture(JsonLayer::builder(), || {
        let span = tracing::info_span!("traced");
        let _entered = span.enter();
        tracing::info!(
            timestamp = 1,
            level = "custom",
            target = "t",
            trace_id = "mine",
            span = "s",
            spans = 2,
            "collide"
        );
    });
    let line = &out.objects()[0];
    assert_eq!(line.get("level"), Some(&json!("INFO")));
    assert_eq!(line.get("fields.level"), Some(&json!("custom")));
    assert_eq!(line.get("fields.timestamp"), Some(&json!(1)));
    assert_eq!(line.get("fields.target"), Some(&json!("t")));
    assert_eq!(line.get("fields.trace_id"), Some(&json!("mine")));
    assert_eq!(line.get("fields.span"), Some(&json!("s")));
    assert_eq!(line.get("fields.spans"), Some(&json!(2)));
    assert_eq!(
        line.get("trace_id").and_then(|v| v.as_str()).map(str::len),
        Some(32)
    );
}

#[test]
fn repeated_event_fields_are_all_kept_under_distinct_keys() {
    // tracing's macros accept a field name twice (tokio-rs/tracing#3195).
    let out = capture(JsonLayer::builder(), || {
        tracing::info!(a = 1, a = 2, a = 3, message = "bb", "aa")
    });
    let line = &out.objects()[0];
    assert_eq!(line.get("a"), Some(&json!(1)));
    assert_eq!(line.get("fields.a"), Some(&json!(2)));
    assert_eq!(line.get("fields.a.2"), Some(&json!(3)));
    let messages: Vec<_> = ["message", "fields.message"]
        .iter()
        .filter_map(|k| line.get(k))
        .collect();
    assert_eq!(
        messages.len(),
        2,
        "both messages are kept: {:?}",
        line.keys()
    );
}

#[test]
fn a_span_field_called_name_does_not_hide_the_span_name() {
    let out = capture(JsonLayer::builder(), || {
        let span = tracing::info_span!("login", name = "alice");
        let _entered = span.enter();
        tracing::info!("in");
    });
    assert_eq!(
        out.objects()[0].get("span"),
        Some(&json!({"name": "login", "fields.name": "alice"}))
    );
}

#[test]
fn flattened_span_fields_prefer_the_event_then_the_innermost_span() {
    let out = capture(JsonLayer::builder().flatten_span_fields(true), || {
        let outer = tracing::info_span!("outer", shared = "outer", only_outer = 1, level = "x");
        let _outer = outer.enter();
        let inner = tracing::info_span!(
            "inner",
            shared = "inner",
            only_inner = 2,
            event_wins = "span"
        );
        let _inner = inner.enter();
        tracing::info!(event_wins = "event", "flat");
    });
    let line = &out.objects()[0];
    assert_eq!(line.get("shared"), Some(&json!("inner")));
    assert_eq!(line.get("event_wins"), Some(&json!("event")));
    assert_eq!(line.get("only_outer"), Some(&json!(1)));
    assert_eq!(line.get("only_inner"), Some(&json!(2)));
    assert_eq!(line.get("level"), Some(&json!("INFO")));
    assert_eq!(line.get("fields.level"), Some(&json!("x")));
    assert_eq!(line.get("span"), Some(&json!("inner")));
    assert_eq!(line.get("spans"), Some(&json!(["outer", "inner"])));
}
