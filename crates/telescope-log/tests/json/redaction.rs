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
        JsonLayer::builder().redaction(Redaction::none().with_name("SSN")),
        || tracing::info!(ssn = "078-05-1120", password = "visible-now", "custom list"),
    );
    let line = &out.objects()[0];
    assert_eq!(line.get("ssn"), Some(&json!("[REDACTED]")));
    assert_eq!(line.get("password"), Some(&json!("visible-now")));
}

/// Formatted text is escaped into the line first and read back only when it could hold a
/// secret: secrets next to characters that need escaping are still found, only the secret
/// part goes, and text without one is written as it was.
#[test]
fn secrets_in_formatted_text_that_needs_escaping_are_found() {
    #[derive(Debug)]
    #[allow(dead_code)] // Read through Debug only.
    struct Login<'a> {
        user: &'a str,
        password: &'a str,
    }
    let out = capture(JsonLayer::builder(), || {
        let password = "s3cr\\et-1";
        tracing::info!("line one\n\"password\": \"{password}\"\tend \u{1b}[0m");
        tracing::info!(
            login = ?Login { user: "ada\n", password: "tab\tsecret-2" },
            "login"
        );
        tracing::info!(plain = ?"quote \" and 42: no secret", "plain");
    });
    let text = out.text();
    for secret in ["s3cr", "secret-2"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let lines = out.objects();
    assert_eq!(
        lines[0].get("message"),
        Some(&json!(
            "line one\n\"password\": \"[REDACTED]\"\tend \u{1b}[0m"
        ))
    );
    assert_eq!(
        lines[1].get("login"),
        Some(&json!(
            "Login { user: \"ada\\n\", password: \"[REDACTED]\" }"
        ))
    );
    assert_eq!(
        lines[2].get("plain"),
        Some(&json!("\"quote \\\" and 42: no secret\""))
    );
}

/// With the value scan off, formatted text is written as it is.
#[test]
fn without_the_value_scan_formatted_text_is_kept() {
    let out = capture(
        JsonLayer::builder().redaction(Redaction::default().without_value_scan()),
        || tracing::info!("retry with password=kept-1"),
    );
    assert_eq!(
        out.objects()[0].get("message"),
        Some(&json!("retry with password=kept-1"))
    );
}
