//! `try_init()` captures records of the `log` crate: written like `tracing` events, filtered
//! by the same `RUST_LOG` directives, and correlated with the current span. A secret in a
//! record's message is redacted in the log line, in `/debug/traces` and in the OTLP export.

#[path = "../support/capture.rs"]
mod capture;
use telescope_test_support::http_client;

use capture::Capture;
use std::time::Duration;
use telescope::otlp::{OtlpExportConfig, OtlpProtocol};
use telescope_test_support::otlp_receiver::Receiver;

#[test]
fn log_crate_records_become_json_lines_with_their_own_target() {
    let out = Capture::default();
    let collector = Receiver::http(0, &[]);
    let telemetry = telescope::builder()
        .admin_address("127.0.0.1:0")
        .otlp_export(OtlpExportConfig::new(
            format!("http://{}/v1/traces", collector.addr),
            OtlpProtocol::HttpProtobuf,
        ))
        .log_writer(out.clone())
        .log_filter("info,noisy_lib=warn")
        .and_then(telescope::TelemetryBuilder::try_init)
        .expect("the only init in this process");
    log::info!(target: "my_lib::db", "pool has {} connections", 8);
    log::info!(target: "noisy_lib", "filtered out by the directive");
    log::warn!(target: "noisy_lib", "kept");
    log::debug!(target: "my_lib::db", "below the filter");
    tracing::info_span!("request").in_scope(|| {
        log::error!(target: "my_lib::db", "in a span");
        log::warn!(target: "my_lib::db", "retry with token=log-span-tok for ada");
    });
    log::error!(target: "my_lib::db", "connect failed: password=log-crate-pw user=ada");
    assert!(telemetry.flush(Duration::from_secs(5)));
    assert!(
        !out.text().contains("log-crate-pw") && !out.text().contains("log-span-tok"),
        "a secret in a log record's message is redacted: {}",
        out.text()
    );
    // The record in the span is one of its events, redacted there too.
    let admin = telemetry.admin_addr().expect("admin server");
    let traces = http_client::request(admin, "GET", "/debug/traces?format=json", &[], "");
    assert_eq!(traces.status, 200, "{}", traces.body);
    let traces = traces.body;
    let exported = format!("{:?}", collector.received());
    for (sink, text) in [("/debug/traces", &traces), ("the OTLP export", &exported)] {
        assert!(
            text.contains("retry with token=[REDACTED] for ada"),
            "{sink}: {text}"
        );
        assert!(!text.contains("log-span-tok"), "{sink}: {text}");
    }
    assert!(
        out.text().contains("password=[REDACTED] user=ada"),
        "{}",
        out.text()
    );

    let lines = out.json_lines();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    assert_eq!(
        messages,
        [
            "pool has 8 connections",
            "kept",
            "in a span",
            "retry with token=[REDACTED] for ada",
            "connect failed: password=[REDACTED] user=ada"
        ],
        "{}",
        out.text()
    );
    assert_eq!(lines[0]["target"], "my_lib::db");
    assert_eq!(lines[0]["level"], "INFO");
    assert!(lines[0].get("log.target").is_none(), "{}", out.text());
    assert_eq!(lines[1]["level"], "WARN");
    assert!(
        lines[2]["trace_id"].is_string(),
        "a record inside a span carries its trace: {}",
        out.text()
    );
    assert!(log::log_enabled!(target: "my_lib::db", log::Level::Info));
    assert!(
        !log::log_enabled!(log::Level::Trace),
        "the log crate's max level follows the filter, so disabled calls stay cheap"
    );
}
