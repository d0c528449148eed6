//! What a line holds, and the options that change it.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use telescope_log::{JsonConfigError, JsonLayer, Key, LevelStyle, Schema, TimestampFormat};

use crate::support::{capture, parse_strict, Capture};

fn fixed_clock() -> impl Fn() -> std::time::SystemTime + Send + Sync + 'static {
    || UNIX_EPOCH + Duration::new(1_795_305_879, 123_456_789)
}

#[test]
fn default_line_has_every_documented_member_in_order() {
    let out = capture(JsonLayer::builder().clock(fixed_clock()), || {
        let outer = tracing::info_span!("request", user_id = 42);
        let _outer = outer.enter();
        let inner = tracing::info_span!("db", table = "orders");
        let _inner = inner.enter();
        tracing::info!(items = 3, ok = true, "order placed");
    });
    let line = &out.objects()[0];
    assert_eq!(
        line.keys(),
        [
            "timestamp",
            "level",
            "message",
            "items",
            "ok",
            "target",
            "span",
            "spans"
        ]
    );
    assert_eq!(
        line.get("timestamp"),
        Some(&json!("2026-11-22T00:04:39.123456789Z"))
    );
    assert_eq!(line.get("level"), Some(&json!("INFO")));
    assert_eq!(line.get("message"), Some(&json!("order placed")));
    assert_eq!(line.get("items"), Some(&json!(3)));
    assert_eq!(line.get("target"), Some(&json!(module_path!())));
    assert_eq!(
        line.get("span"),
        Some(&json!({"name": "db", "table": "orders"}))
    );
    assert_eq!(
        line.get("spans"),
        Some(&json!([{"name": "request", "user_id": 42}, {"name": "db", "table": "orders"}]))
    );
}

#[test]
fn outside_a_span_there_are_no_span_members() {
    let out = capture(JsonLayer::builder(), || tracing::warn!("alone"));
    let line = &out.objects()[0];
    assert_eq!(line.keys(), ["timestamp", "level", "message", "target"]);
    assert_eq!(line.get("level"), Some(&json!("WARN")));
}

#[test]
fn optional_members_can_be_switched_on_and_off() {
    let builder = JsonLayer::builder()
        .timestamp(Some(TimestampFormat::UnixMillis))
        .clock(fixed_clock())
        .file_and_line(true)
        .thread_names(true)
        .thread_ids(true)
        .target(false)
        .current_span(false)
        .span_list(false);
    let out = std::thread::Builder::new()
        .name("worker-7".into())
        .spawn(move || {
            capture(builder, || {
                let span = tracing::info_span!("ignored");
                let _entered = span.enter();
                tracing::error!("boom");
            })
        })
        .expect("spawn")
        .join()
        .expect("join");
    let line = &out.objects()[0];
    assert_eq!(
        line.keys(),
        [
            "timestamp",
            "level",
            "message",
            "file",
            "line",
            "thread_name",
            "thread_id"
        ]
    );
    assert_eq!(line.get("timestamp"), Some(&json!(1_795_305_879_123u64)));
    assert_eq!(line.get("file"), Some(&json!(file!())));
    assert!(line.get("line").and_then(|v| v.as_u64()).is_some());
    assert_eq!(line.get("thread_name"), Some(&json!("worker-7")));
    assert!(line.get("thread_id").and_then(|v| v.as_u64()).is_some());

    let bare = capture(
        JsonLayer::builder()
            .timestamp(None)
            .level(false)
            .target(false),
        || tracing::info!(k = 1),
    );
    assert_eq!(bare.lines(), [r#"{"k":1}"#]);
    let empty = capture(
        JsonLayer::builder()
            .timestamp(None)
            .level(false)
            .target(false),
        || crate::support::dynamic_event(&[], &[]),
    );
    assert_eq!(empty.lines(), ["{}"]);
}

#[test]
fn ecs_schema_uses_ecs_field_names() {
    let out = capture(
        JsonLayer::builder().schema(Schema::Ecs).file_and_line(true),
        || {
            let span = tracing::info_span!("traced");
            let _entered = span.enter();
            tracing::info!("hello");
        },
    );
    let line = &out.objects()[0];
    let keys = line.keys();
    assert_eq!(
        &keys[..3],
        ["@timestamp", "log.level", "message"],
        "ECS wants these first"
    );
    for key in [
        "log.logger",
        "ecs.version",
        "trace.id",
        "span.id",
        "log.origin.file.name",
        "log.origin.file.line",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert_eq!(
        line.get("ecs.version"),
        Some(&json!(telescope_log::ECS_VERSION))
    );
}

#[test]
fn gcp_schema_writes_severity_names_gcp_understands() {
    let out = capture(JsonLayer::builder().schema(Schema::Gcp), || {
        let span = tracing::info_span!("traced");
        let _entered = span.enter();
        tracing::warn!("careful");
        tracing::trace!("fine");
    });
    let lines = out.objects();
    assert_eq!(lines[0].get("severity"), Some(&json!("WARNING")));
    assert!(lines[0].get("logging.googleapis.com/trace").is_some());
    assert!(lines[0].get("logging.googleapis.com/spanId").is_some());
    // The default filter lets TRACE through in this subscriber; GCP has no TRACE severity.
    assert_eq!(lines[1].get("severity"), Some(&json!("DEBUG")));
}

#[test]
fn level_styles() {
    let styles = [
        (LevelStyle::Uppercase, json!("ERROR")),
        (LevelStyle::Lowercase, json!("error")),
        (LevelStyle::GcpSeverity, json!("ERROR")),
        (LevelStyle::OtelSeverityNumber, json!(17)),
    ];
    for (style, expected) in styles {
        let out = capture(JsonLayer::builder().level_style(style), || {
            tracing::error!("x")
        });
        assert_eq!(out.objects()[0].get("level"), Some(&expected), "{style:?}");
    }
}

#[test]
fn renamed_keys_are_used_and_clashing_renames_are_refused() {
    let builder = JsonLayer::builder()
        .key(Key::Level, "severity")
        .and_then(|b| b.key(Key::Message, "msg"))
        .expect("distinct names");
    let out = capture(builder, || tracing::info!("renamed"));
    let line = &out.objects()[0];
    assert_eq!(line.get("severity"), Some(&json!("INFO")));
    assert_eq!(line.get("msg"), Some(&json!("renamed")));

    let clash = JsonLayer::builder().key(Key::Level, "timestamp");
    assert_eq!(
        clash.err(),
        Some(JsonConfigError::KeyInUse {
            key: Key::Level,
            name: "timestamp".into(),
            holder: Key::Timestamp
        })
    );
}

#[test]
fn static_fields_are_on_every_line() {
    let out = capture(
        JsonLayer::builder()
            .static_field("service.name", "checkout")
            .static_field("level", "shadow"),
        || {
            tracing::info!("one");
            tracing::info!("two");
        },
    );
    for line in out.objects() {
        assert_eq!(line.get("service.name"), Some(&json!("checkout")));
        assert_eq!(line.get("level"), Some(&json!("INFO")));
        assert_eq!(line.get("fields.level"), Some(&json!("shadow")));
    }
}

#[derive(Debug)]
struct Outer(Inner);
#[derive(Debug)]
struct Inner;
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request failed")
    }
}
impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection \"reset\"")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
impl std::error::Error for Inner {}

#[test]
fn every_value_type_is_written_as_valid_json() {
    let out = capture(JsonLayer::builder(), || {
        let error = Outer(Inner);
        tracing::info!(
            big = u128::MAX,
            small = i128::MIN,
            neg = -5i64,
            yes = true,
            ratio = 0.25,
            nan = f64::NAN,
            inf = f64::NEG_INFINITY,
            debug = ?vec!["a\nb"],
            error = &error as &(dyn std::error::Error + 'static),
            "values"
        );
    });
    let text = out.text();
    assert!(text.contains(&format!("\"big\":{}", u128::MAX)), "{text}");
    assert!(text.contains(&format!("\"small\":{}", i128::MIN)), "{text}");
    let line = &out.objects()[0];
    assert_eq!(line.get("neg"), Some(&json!(-5)));
    assert_eq!(line.get("yes"), Some(&json!(true)));
    assert_eq!(line.get("ratio"), Some(&json!(0.25)));
    assert_eq!(line.get("nan"), Some(&json!("NaN")));
    assert_eq!(line.get("inf"), Some(&json!("-Infinity")));
    assert_eq!(line.get("debug"), Some(&json!("[\"a\\nb\"]")));
    assert_eq!(
        line.get("error"),
        Some(&json!("request failed: connection \"reset\""))
    );
}

/// A value whose Debug output logs: the nested event must not corrupt the outer line.
/// (tracing does not deliver events dispatched from inside a subscriber callback, so only
/// the outer line arrives; if it ever does, the layer formats it in a buffer of its own.)
struct LogsWhenFormatted;
impl std::fmt::Debug for LogsWhenFormatted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::info!("nested");
        f.write_str("outer value")
    }
}

#[test]
fn an_event_logged_while_formatting_another_leaves_the_line_whole() {
    let out = capture(
        JsonLayer::builder(),
        || tracing::info!(value = ?LogsWhenFormatted, "outer"),
    );
    let lines: Vec<_> = out.lines().iter().map(|l| parse_strict(l)).collect();
    let outer = lines.last().expect("the outer line");
    assert_eq!(outer.get("message"), Some(&json!("outer")));
    assert_eq!(outer.get("value"), Some(&json!("outer value")));
}

#[test]
fn two_json_layers_in_one_registry_keep_their_own_shapes() {
    use tracing_subscriber::layer::SubscriberExt;
    let (plain, ecs) = (Capture::default(), Capture::default());
    let subscriber = tracing_subscriber::registry()
        .with(JsonLayer::builder().writer(plain.clone()).build())
        .with(
            JsonLayer::builder()
                .schema(Schema::Ecs)
                .redaction(telescope_log::Redaction::none())
                .writer(ecs.clone())
                .build(),
        );
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("work", token = "abc");
        let _entered = span.enter();
        tracing::info!("inside");
    });
    assert_eq!(
        plain.objects()[0].get("span"),
        Some(&json!({"name": "work", "token": "[REDACTED]"}))
    );
    assert_eq!(
        ecs.objects()[0].get("span"),
        Some(&json!({"name": "work", "token": "abc"}))
    );
    assert!(ecs.objects()[0].get("@timestamp").is_some());
}

#[test]
fn write_errors_are_counted_not_fatal() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tracing_subscriber::layer::SubscriberExt;

    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "reader went away",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let layer = JsonLayer::builder().writer(|| Broken).build();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for _ in 0..3 {
                tracing::info!("lost");
            }
        });
    });
    let errors = crate::metrics_support::recorded(&snapshotter, "telescope_log_write_errors_total");
    assert_eq!(errors, [DebugValue::Counter(3)]);
}
