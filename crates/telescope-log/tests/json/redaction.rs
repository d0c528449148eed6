//! Secret fields are never written.

use serde_json::json;
use telescope_log::{JsonLayer, Redaction};

use crate::support::capture;

#[test]
fn default_names_are_redacted_in_events_and_spans() {
    let out = capture(JsonLayer::builder(), || {
        let span = tracing::info_span!(
            "login",
            api_key = "k-123",
            user = "alice",
            access_token = tracing::field::Empty
        );
        let _entered = span.enter();
        span.record("access_token", "t-456");
        tracing::info!(
            password = "hunter2",
            Authorization = "Bearer x",
            cookie = ?"session=1",
            db.password = "p",
            token_count = 3,
            "signing in"
        );
    });
    let text = out.text();
    for secret in [
        "hunter2",
        "k-123",
        "t-456",
        "Bearer x",
        "session=1",
        "\"p\"",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let line = &out.objects()[0];
    for key in ["password", "Authorization", "cookie", "db.password"] {
        assert_eq!(line.get(key), Some(&json!("[REDACTED]")), "{key}");
    }
    assert_eq!(line.get("token_count"), Some(&json!(3)));
    assert_eq!(
        line.get("span"),
        Some(
            &json!({"name": "login", "api_key": "[REDACTED]", "user": "alice", "access_token": "[REDACTED]"})
        )
    );
}

#[test]
fn the_list_is_configurable() {
    let out = capture(
        JsonLayer::builder().with_redaction(Redaction::none().with_name("SSN")),
        || tracing::info!(ssn = "078-05-1120", password = "visible-now", "custom list"),
    );
    let line = &out.objects()[0];
    assert_eq!(line.get("ssn"), Some(&json!("[REDACTED]")));
    assert_eq!(line.get("password"), Some(&json!("visible-now")));
}
