//! Span fields, `Span::record`, the span list, and trace correlation.

use serde_json::json;
use telescope_log::JsonLayer;

use crate::support::{capture, TRACE_ID};

#[test]
fn fields_recorded_later_appear_once_with_their_latest_value() {
    let out = capture(JsonLayer::builder(), || {
        let span = tracing::info_span!(
            "request",
            user = tracing::field::Empty,
            attempt = 1,
            status = tracing::field::Empty
        );
        let _entered = span.enter();
        tracing::info!("before");
        span.record("user", "bob");
        span.record("attempt", 2);
        span.record("status", "a much longer value than before");
        span.record("attempt", 10_000);
        tracing::info!("after");
    });
    let lines = out.objects();
    assert_eq!(
        lines[0].get("span"),
        Some(&json!({"name": "request", "attempt": 1}))
    );
    assert_eq!(
        lines[1].get("span"),
        Some(
            &json!({"name": "request", "attempt": 10_000, "user": "bob", "status": "a much longer value than before"})
        )
    );
}

#[test]
fn trace_ids_come_from_the_nearest_ancestor_with_a_context() {
    let out = capture(JsonLayer::builder(), || {
        tracing::info!("no trace yet");
        let root = tracing::info_span!("traced");
        let _root = root.enter();
        let child = tracing::info_span!("child");
        let _child = child.enter();
        tracing::info!("in child");
        tracing::info!(parent: &child, "explicit parent");
        tracing::info!(parent: None, "explicit root");
    });
    let lines = out.objects();
    assert_eq!(lines[0].get("trace_id"), None);
    let expected_trace = format!("{TRACE_ID:032x}");
    for line in &lines[1..3] {
        assert_eq!(line.get("trace_id"), Some(&json!(expected_trace)));
        let span_id = line
            .get("span_id")
            .and_then(|v| v.as_str())
            .expect("span_id");
        assert_eq!(span_id.len(), 16);
        assert!(span_id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
    assert_eq!(
        lines[3].get("trace_id"),
        None,
        "an explicit root event has no trace"
    );
    assert_eq!(lines[3].get("span"), None);
}

#[test]
fn the_span_list_runs_from_the_root_to_the_current_span() {
    let out = capture(JsonLayer::builder(), || {
        let a = tracing::info_span!("a", depth = 1);
        let _a = a.enter();
        let b = tracing::info_span!("b", depth = 2);
        let _b = b.enter();
        let c = tracing::info_span!("c", depth = 3);
        let _c = c.enter();
        tracing::info!("deep");
    });
    let line = &out.objects()[0];
    let names: Vec<_> = line
        .get("spans")
        .and_then(|v| v.as_array())
        .expect("spans")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(line.get("span"), Some(&json!({"name": "c", "depth": 3})));
}

#[test]
fn spans_filtered_out_for_the_layer_are_left_out_of_its_lines() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;
    // A per-layer filter that lets only events through: the layer sees no span.
    let out = crate::support::Capture::default();
    let layer = JsonLayer::builder()
        .writer(out.clone())
        .build()
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_event()
        }));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!("unseen", x = 1);
        let _entered = span.enter();
        tracing::info!("event");
    });
    let objects = out.objects();
    assert_eq!(objects[0].get("message"), Some(&json!("event")));
    assert_eq!(objects[0].get("span"), None);
    assert_eq!(objects[0].get("spans"), None);
}

#[test]
fn trace_ids_are_found_in_ancestors_with_or_without_the_span_list() {
    let expected_trace = format!("{TRACE_ID:032x}");
    for (current, list) in [(true, true), (true, false), (false, true), (false, false)] {
        let out = capture(
            JsonLayer::builder().current_span(current).span_list(list),
            || {
                let root = tracing::info_span!("traced");
                let _root = root.enter();
                let middle = tracing::info_span!("middle");
                let _middle = middle.enter();
                let leaf = tracing::info_span!("leaf");
                let _leaf = leaf.enter();
                tracing::info!("deep");
            },
        );
        let line = &out.objects()[0];
        assert_eq!(
            line.get("trace_id"),
            Some(&json!(expected_trace)),
            "current={current} list={list}"
        );
        assert_eq!(line.get("span").is_some(), current);
        assert_eq!(
            line.get("spans").and_then(|s| s.as_array()).map(Vec::len),
            list.then_some(3)
        );
    }
}

#[test]
fn very_deep_span_trees_are_written_whole_and_in_order() {
    const DEPTH: usize = 45; // deeper than the layer's recursion limit
    let out = capture(JsonLayer::builder(), || {
        let root = tracing::info_span!("traced", level_no = 0usize);
        let mut guards = vec![root.entered()];
        for depth in 1..DEPTH {
            guards.push(tracing::info_span!("nested", level_no = depth).entered());
        }
        tracing::info!("at the bottom");
    });
    let line = &out.objects()[0];
    let spans = line.get("spans").and_then(|v| v.as_array()).expect("spans");
    let depths: Vec<u64> = spans
        .iter()
        .map(|s| s["level_no"].as_u64().expect("level_no"))
        .collect();
    assert_eq!(depths, (0..DEPTH as u64).collect::<Vec<_>>());
    assert_eq!(
        line.get("trace_id"),
        Some(&json!(format!("{TRACE_ID:032x}")))
    );
}
