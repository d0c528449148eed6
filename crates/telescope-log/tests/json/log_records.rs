//! Records from the `log` crate (bridged by `tracing-log`) are written with their own level,
//! target, file and line, without the bridge's `log.*` fields.

use serde_json::json;
use telescope_log::JsonLayer;

use crate::support::capture;

fn bridge(level: log::Level, target: &str, args: std::fmt::Arguments<'_>) {
    let record = log::Record::builder()
        .args(args)
        .level(level)
        .target(target)
        .module_path(Some("my_lib::db"))
        .file(Some("src/db.rs"))
        .line(Some(42))
        .build();
    tracing_log::format_trace(&record).expect("dispatched");
}

#[test]
fn a_log_record_reads_like_a_tracing_event() {
    let out = capture(JsonLayer::builder().file_and_line(true), || {
        bridge(
            log::Level::Warn,
            "my_lib::db",
            format_args!("pool exhausted after {} tries", 3),
        );
        bridge(log::Level::Debug, "other", format_args!("second"));
    });
    let lines = out.objects();
    assert_eq!(lines.len(), 2, "{}", out.text());
    let first = &lines[0];
    first.assert_unique_keys();
    assert_eq!(first.get("level"), Some(&json!("WARN")));
    assert_eq!(first.get("target"), Some(&json!("my_lib::db")));
    assert_eq!(
        first.get("message"),
        Some(&json!("pool exhausted after 3 tries"))
    );
    assert_eq!(first.get("file"), Some(&json!("src/db.rs")));
    assert_eq!(first.get("line"), Some(&json!(42)));
    for bridged in ["log.target", "log.module_path", "log.file", "log.line"] {
        assert!(first.get(bridged).is_none(), "{bridged} in {}", out.text());
    }
    assert_eq!(lines[1].get("level"), Some(&json!("DEBUG")));
    assert_eq!(lines[1].get("target"), Some(&json!("other")));
}

#[test]
fn an_ordinary_event_with_log_like_field_names_keeps_them() {
    let out = capture(JsonLayer::builder(), || {
        tracing::info!(log.target = "kept", "not from the log crate");
    });
    assert_eq!(out.objects()[0].get("log.target"), Some(&json!("kept")));
}
