//! What the layer records: ids for every span, full data for sampled ones.

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use telescope_otlp::sampler::{AlwaysOff, ConsistentProbability, ParentBased};
use telescope_otlp::{OtlpLayer, SpanLimits};
use tracing_subscriber::layer::SubscriberExt;

fn run(layer: OtlpLayer, body: impl FnOnce()) -> Vec<std::sync::Arc<SpanData>> {
    let pipeline = layer.pipeline();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), body);
    assert!(pipeline.force_flush(std::time::Duration::from_secs(10)));
    pipeline.ring().spans()
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[test]
fn sampled_spans_carry_parentage_typed_attributes_events_status_and_kind() {
    let spans = run(OtlpLayer::builder().build(), || {
        let root = tracing::info_span!(
            "GET /orders",
            otel.kind = "server",
            user_id = 42u64,
            big = u64::MAX,
            ratio = 0.5,
            cached = false,
            route = "/orders"
        );
        let _root = root.enter();
        let child = tracing::info_span!(
            "db.query",
            otel.kind = "client",
            otel.name = tracing::field::Empty
        );
        child.record("otel.name", "SELECT orders");
        {
            let _child = child.enter();
            tracing::info!(rows = 3, "query done");
            tracing::error!(error = "connection reset", "query failed");
        }
        drop(child);
        tracing::warn!("slow");
    });
    assert_eq!(spans.len(), 2);
    let (child, root) = (&spans[0], &spans[1]);
    assert_eq!(
        child.name, "SELECT orders",
        "otel.name recorded after creation renames"
    );
    assert_eq!(child.span_kind, SpanKind::Client);
    assert_eq!(root.span_kind, SpanKind::Server);
    assert_eq!(child.span_context.trace_id(), root.span_context.trace_id());
    assert_eq!(child.parent_span_id, root.span_context.span_id());
    assert_eq!(root.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert!(root.span_context.is_sampled());
    assert_eq!(attribute(root, "user_id"), Some(&Value::I64(42)));
    assert_eq!(
        attribute(root, "big"),
        Some(&Value::from(u64::MAX.to_string())),
        "u64 beyond i64 is kept exactly"
    );
    assert_eq!(attribute(root, "ratio"), Some(&Value::F64(0.5)));
    assert_eq!(attribute(root, "cached"), Some(&Value::Bool(false)));
    assert_eq!(attribute(root, "route"), Some(&Value::from("/orders")));
    assert_eq!(child.events.len(), 2);
    assert_eq!(child.events[0].name, "query done");
    assert!(child.events[0]
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "rows" && kv.value == Value::I64(3)));
    assert!(child.events[0]
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "level" && kv.value == Value::from("INFO")));
    assert_eq!(child.status, Status::error("connection reset"));
    assert_eq!(
        root.status,
        Status::Unset,
        "a warning does not fail the span"
    );
    assert_eq!(root.events[0].name, "slow");
    assert!(root
        .span_context
        .trace_state()
        .get("ot")
        .is_some_and(|ot| ot.contains("th:0")));
    assert_eq!(root.instrumentation_scope.name(), "telescope");
    assert!(root.end_time >= root.start_time);
}

#[test]
fn status_fields_and_error_level_events_set_the_status() {
    let spans = run(OtlpLayer::builder().build(), || {
        tracing::info_span!("ok", otel.status_code = "ok").in_scope(|| {});
        tracing::info_span!(
            "described",
            otel.status_code = "error",
            otel.status_description = "quota exceeded"
        )
        .in_scope(|| {});
        tracing::info_span!("error-event").in_scope(|| tracing::error!("boom"));
    });
    let status = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.status.clone())
    };
    assert_eq!(status("ok"), Some(Status::Ok));
    assert_eq!(status("described"), Some(Status::error("quota exceeded")));
    assert_eq!(status("error-event"), Some(Status::error("boom")));
}

#[test]
fn follows_from_becomes_a_link_and_limits_count_what_they_drop() {
    let limits = SpanLimits {
        max_attributes: 2,
        max_events: 1,
        max_links: 1,
        max_event_attributes: 3,
    };
    let spans = run(OtlpLayer::builder().limits(limits).build(), || {
        let cause = tracing::info_span!("cause");
        let other = tracing::info_span!("other");
        let effect = tracing::info_span!("effect", a = 1, b = 2, c = 3, d = 4);
        effect.follows_from(&cause);
        effect.follows_from(&other);
        effect.in_scope(|| {
            tracing::info!(x = 1, y = 2, z = 3, "first");
            tracing::info!("second");
            tracing::info!("third");
        });
        drop((cause, other));
    });
    let effect = spans.iter().find(|s| s.name == "effect").expect("effect");
    let cause = spans.iter().find(|s| s.name == "cause").expect("cause");
    assert_eq!(effect.links.len(), 1);
    assert_eq!(effect.links.dropped_count, 1);
    assert_eq!(
        effect.links[0].span_context.span_id(),
        cause.span_context.span_id()
    );
    assert_eq!(effect.attributes.len(), 2);
    assert_eq!(effect.dropped_attributes_count, 2);
    assert_eq!(effect.events.len(), 1);
    assert_eq!(effect.events.dropped_count, 2);
    assert_eq!(effect.events[0].attributes.len(), 3, "level, target, x");
    assert_eq!(effect.events[0].dropped_attributes_count, 2);
}

/// Records which spans had a trace context and whether their events were formatted.
struct Probe(std::sync::Arc<std::sync::Mutex<Vec<(String, bool)>>>);

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>>
    tracing_subscriber::Layer<S> for Probe
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.event_span(event) {
            let sampled = span
                .extensions()
                .get::<telescope_core::SpanContext>()
                .map(|c| c.is_sampled());
            self.0
                .lock()
                .expect("probe")
                .push((span.name().to_owned(), sampled.unwrap_or(true)));
        }
    }
}

#[test]
fn unsampled_spans_get_a_context_and_record_nothing() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let layer = OtlpLayer::builder()
        .sampler(ParentBased::new(AlwaysOff))
        .build();
    let pipeline = layer.pipeline();
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(Probe(seen.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let root = tracing::info_span!("unsampled-root", field = "never visited");
        let _root = root.enter();
        tracing::info_span!("unsampled-child").in_scope(|| tracing::info!("inside"));
    });
    assert!(pipeline.force_flush(std::time::Duration::from_secs(10)));
    assert!(pipeline.ring().spans().is_empty(), "nothing exported");
    assert_eq!(pipeline.stats().processed, 0);
    assert_eq!(
        *seen.lock().expect("probe"),
        [("unsampled-child".to_owned(), false)],
        "ids present, not sampled"
    );
}

#[test]
fn children_inherit_the_roots_decision() {
    // 50%: whatever the root got, its children get the same.
    let spans = run(
        OtlpLayer::builder()
            .sampler(ParentBased::new(ConsistentProbability::new(0.5)))
            .build(),
        || {
            for _ in 0..200 {
                let root = tracing::info_span!("root");
                let _root = root.enter();
                tracing::info_span!("child").in_scope(|| {});
            }
        },
    );
    let roots: std::collections::HashSet<_> = spans
        .iter()
        .filter(|s| s.name == "root")
        .map(|s| s.span_context.trace_id())
        .collect();
    let children: std::collections::HashSet<_> = spans
        .iter()
        .filter(|s| s.name == "child")
        .map(|s| s.span_context.trace_id())
        .collect();
    assert_eq!(roots, children);
    assert!(
        roots.len() > 50 && roots.len() < 150,
        "about half of 200: {}",
        roots.len()
    );
    for span in &spans {
        assert_eq!(span.span_context.trace_state().get("ot"), Some("th:8"));
    }
}

#[test]
fn a_log_crate_record_in_a_sampled_span_is_an_event_with_its_own_level_and_target() {
    let spans = run(OtlpLayer::builder().build(), || {
        tracing::info_span!("import").in_scope(|| {
            tracing_log::format_trace(
                &log::Record::builder()
                    .args(format_args!("retrying {}", "upload"))
                    .level(log::Level::Error)
                    .target("my_lib::client")
                    .module_path(Some("my_lib::client"))
                    .file(Some("src/client.rs"))
                    .line(Some(7))
                    .build(),
            )
            .expect("dispatched");
        });
    });
    let event = &spans[0].events.events[0];
    assert_eq!(event.name, "retrying upload");
    let value = |key: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(value("level").as_deref(), Some("ERROR"));
    assert_eq!(value("target").as_deref(), Some("my_lib::client"));
    assert!(
        event
            .attributes
            .iter()
            .all(|kv| !kv.key.as_str().starts_with("log.")),
        "{:?}",
        event.attributes
    );
    assert!(
        matches!(spans[0].status, Status::Error { .. }),
        "an ERROR record fails the span like an ERROR event"
    );
}

#[test]
fn two_subscribers_on_one_thread_keep_their_spans_apart() {
    // Both registries hand out the same first span id: what one layer remembers about its span
    // must not decide what the other does with its own.
    let sampled = OtlpLayer::builder().build();
    let pipeline = sampled.pipeline();
    let unsampled = OtlpLayer::builder()
        .sampler(ParentBased::new(AlwaysOff))
        .build();
    let inner = tracing_subscriber::registry().with(unsampled);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(sampled), || {
        let kept = tracing::info_span!("kept");
        let other = tracing::subscriber::with_default(inner, || tracing::info_span!("other"));
        assert_eq!(kept.id(), other.id(), "the collision this test is about");
        kept.in_scope(|| tracing::info!("in kept"));
        // Entered inside the other subscriber's span: the event still finds its own span.
        other.in_scope(|| kept.in_scope(|| tracing::info!("in kept, nested")));
        drop(other);
    });
    assert!(pipeline.force_flush(std::time::Duration::from_secs(10)));
    let spans = pipeline.ring().spans();
    assert_eq!(spans.len(), 1);
    let names: Vec<_> = spans[0].events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(names, ["in kept", "in kept, nested"]);
}
