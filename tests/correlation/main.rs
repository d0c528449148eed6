//! Logs and traces line up: the JSON layer writes the ids the OTLP layer gives each span.

use telescope::logs::JsonLayer;
use telescope::otlp::sampler::{AlwaysOff, ParentBased};
use telescope::otlp::OtlpLayer;
use tracing_subscriber::layer::SubscriberExt;

#[path = "../support/capture.rs"]
mod capture;

use capture::Capture;

fn lines(capture: &Capture) -> Vec<serde_json::Value> {
    capture.json_lines()
}

#[test]
fn every_log_line_in_a_span_carries_the_ids_of_the_exported_span() {
    let logs = Capture::default();
    let writer = logs.clone();
    let otlp = OtlpLayer::builder().build();
    let pipeline = otlp.pipeline();
    let subscriber = tracing_subscriber::registry()
        .with(otlp)
        .with(JsonLayer::builder().writer(move || writer.clone()).build());
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request");
        let _request = request.enter();
        tracing::info!("in the request");
        tracing::info_span!("db").in_scope(|| tracing::info!("in the query"));
    });
    assert!(pipeline.force_flush(std::time::Duration::from_secs(10)));
    let spans = pipeline.ring().spans();
    let lines = lines(&logs);
    let request = spans
        .iter()
        .find(|s| s.name == "request")
        .expect("exported");
    let db = spans.iter().find(|s| s.name == "db").expect("exported");
    assert_eq!(
        lines[0]["trace_id"],
        request.span_context.trace_id().to_string()
    );
    assert_eq!(
        lines[0]["span_id"],
        request.span_context.span_id().to_string()
    );
    assert_eq!(lines[1]["trace_id"], db.span_context.trace_id().to_string());
    assert_eq!(lines[1]["span_id"], db.span_context.span_id().to_string());
}

#[test]
fn unsampled_traces_still_correlate_logs() {
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::registry()
        .with(
            OtlpLayer::builder()
                .sampler(ParentBased::new(AlwaysOff))
                .build(),
        )
        .with(JsonLayer::builder().writer(move || writer.clone()).build());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("unsampled").in_scope(|| {
            tracing::info!("one");
            tracing::info!("two");
        });
    });
    let lines = lines(&logs);
    let trace = lines[0]["trace_id"]
        .as_str()
        .expect("a trace id even when not sampled");
    assert_eq!(trace.len(), 32);
    assert_eq!(lines[1]["trace_id"], trace);
}
