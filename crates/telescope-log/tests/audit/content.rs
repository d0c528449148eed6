//! What records contain: AU-3 content, incomplete marking, sensitive values, trace ids, and
//! the tracing path.

use serde_json::Value;
use telescope_log::audit::{AuditLayer, AuditLog, AuditRecord, Outcome};
use tracing_subscriber::layer::SubscriberExt;

fn records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .filter(|l| l.starts_with("{\"seq\""))
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect()
}

#[test]
fn typed_records_carry_au3_content_and_incomplete_ones_are_marked_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::builder(&path)
        .key(b"k".to_vec())
        .service("accounts")
        .host("web-1")
        .open()
        .expect("open");
    log.record(
        AuditRecord::new("authentication", "login", Outcome::Failure)
            .actor("alice")
            .resource("session")
            .source("203.0.113.9")
            .field("reason", "bad password")
            .number("attempt", 3)
            .sensitive("password", "hunter2"),
    )
    .expect("record");
    log.record(AuditRecord::new("data_access", "export", Outcome::Success))
        .expect("incomplete still written");
    let candidate = log.hash_value("hunter2");
    log.shutdown();
    let written = records(&path);
    let first = &written[0];
    for (key, value) in [
        ("type", "authentication"),
        ("action", "login"),
        ("outcome", "failure"),
        ("actor", "alice"),
        ("resource", "session"),
        ("source", "203.0.113.9"),
        ("service", "accounts"),
        ("host", "web-1"),
    ] {
        assert_eq!(first[key], value, "{key}");
    }
    let time = first["time"].as_str().expect("time");
    assert!(
        time.ends_with('Z') && time.len() == 30,
        "UTC, RFC 3339: {time}"
    );
    assert_eq!(first["fields"]["attempt"], 3);
    assert_eq!(first["fields"]["password"], candidate.as_str(), "matchable");
    assert!(
        !std::fs::read_to_string(&path)
            .expect("read")
            .contains("hunter2"),
        "never readable"
    );
    assert_eq!(
        written[1]["incomplete"],
        serde_json::json!(["actor", "resource"])
    );
}

#[test]
fn audit_events_become_records_with_the_trace_of_their_span() {
    struct Traced;
    impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>>
        tracing_subscriber::Layer<S> for Traced
    {
        fn on_new_span(
            &self,
            _: &tracing::span::Attributes<'_>,
            id: &tracing::span::Id,
            ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if let Some(span) = ctx.span(id) {
                span.extensions_mut()
                    .insert(telescope_core::SpanContext::new(
                        telescope_core::TraceId::from_u128(0xabc),
                        telescope_core::SpanId::from_u64(0xdef),
                        telescope_core::TraceFlags::SAMPLED,
                        telescope_core::TraceState::EMPTY,
                    ));
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::builder(&path).open().expect("open");
    let subscriber = tracing_subscriber::registry()
        .with(Traced)
        .with(AuditLayer::new(log.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        tracing::warn!(target: "audit", r#type = "authorization", action = "delete", outcome = "failure",
                       actor = "bob", resource = "/invoices/7", token = "t0p", "not allowed");
        tracing::info!(target: "app", "an ordinary event is not audited");
        // The typed API picks up the current span's trace too.
        log.record(
            AuditRecord::new("authorization", "read", Outcome::Success)
                .actor("bob")
                .resource("/invoices/8"),
        )
        .expect("record");
    });
    log.shutdown();
    let written = records(&path);
    assert_eq!(written.len(), 2);
    assert_eq!(written[0]["action"], "delete");
    assert_eq!(written[0]["fields"]["message"], "not allowed");
    assert!(
        written[0]["fields"]["token"]
            .as_str()
            .expect("token")
            .starts_with("sha256:"),
        "sensitive by name"
    );
    for record in &written {
        assert_eq!(record["trace_id"], format!("{:032x}", 0xabc));
        assert_eq!(record["span_id"], format!("{:016x}", 0xdef));
    }
}

/// Through the layer, secrets inside free-form text are replaced like everywhere else, card
/// numbers given as integers become keyed hashes, and the rest of the record is as written.
#[test]
fn the_layer_scans_free_form_text_for_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::builder(&path).open().expect("open");
    let subscriber = tracing_subscriber::registry().with(AuditLayer::new(log.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "audit", r#type = "authentication", action = "reset",
                       outcome = "success", actor = "bob", resource = "/reset?token=rst-secret-1",
                       card = 4_111_111_111_111_111_u64, order = 42_u64,
                       note = "header was Bearer abcdefgh-secret-2",
                       "reset with password=msg-secret-3 done");
    });
    log.shutdown();
    let text = std::fs::read_to_string(&path).expect("read");
    for secret in [
        "rst-secret-1",
        "4111111111111111",
        "secret-2",
        "msg-secret-3",
    ] {
        assert!(!text.contains(secret), "{secret} in the trail: {text}");
    }
    let written = records(&path);
    assert_eq!(written[0]["actor"], "bob");
    assert_eq!(written[0]["resource"], "/reset?token=[REDACTED]");
    assert_eq!(
        written[0]["fields"]["message"],
        "reset with password=[REDACTED] done"
    );
    assert_eq!(written[0]["fields"]["note"], "header was Bearer [REDACTED]");
    assert_eq!(written[0]["fields"]["order"], 42);
    assert!(
        written[0]["fields"]["card"]
            .as_str()
            .expect("card")
            .starts_with("sha256:"),
        "{}",
        written[0]
    );
}
