//! Every propagation format through `try_init` and `telescope::http`: a request continued
//! from B3 (both forms) or Jaeger headers, its baggage readable in the handler, written on its
//! log lines and spans for the keys chosen, and carried to the next call in every format.
//! One test: `try_init` sets the process-wide propagators once.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use opentelemetry::Value;
use telescope::otlp::propagation::Propagators;
use tower::ServiceExt;

#[path = "../support/capture.rs"]
mod capture;

use capture::Capture;

/// Answers with the tenant the handler sees in its baggage, then the headers it would send on.
fn router() -> Router {
    Router::new()
        .route(
            "/call",
            get(|| async {
                let tenant = telescope::context::Baggage::current()
                    .get("tenant")
                    .unwrap_or("-")
                    .to_owned();
                tracing::info!("calling the next service");
                let mut outgoing = http::HeaderMap::new();
                telescope::http::inject_context(&mut outgoing);
                let mut lines = vec![format!("tenant: {tenant}")];
                for (name, value) in &outgoing {
                    lines.push(format!("{name}: {}", value.to_str().unwrap_or("?")));
                }
                lines.join("\n")
            }),
        )
        .layer(telescope::http::TelemetryLayer::new())
}

fn request(headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().uri("/call");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).expect("request")
}

/// The answer's `name: value` lines.
fn header_of<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

const B3_TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const JAEGER_TRACE: &str = "463ac35c9f6413ad48485a3953bb6124";

#[test]
fn every_format_is_read_continued_and_written_on() {
    let logs = Capture::default();
    let (propagators, _) = Propagators::parse("b3multi,b3,jaeger,tracecontext,baggage");
    let telemetry = telescope::builder()
        .without_admin_server()
        .log_writer(logs.clone())
        .propagators(propagators)
        .baggage_fields(["tenant", "api_key"])
        .try_init()
        .expect("installs");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let requests = vec![
        request(&[
            ("x-b3-traceid", B3_TRACE),
            ("x-b3-spanid", "e457b5a2e4d86bd1"),
            ("x-b3-sampled", "1"),
            ("baggage", "tenant=acme,api_key=s3cr3t-k3y"),
        ]),
        request(&[(
            "uber-trace-id",
            "463ac35c9f6413ad48485a3953bb6124:a2fb4a1d1a96d312:0:1",
        )]),
        request(&[("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")]),
        request(&[("b3", "not-a-b3-header"), ("baggage", "tenant=globex")]),
    ];
    let answers: Vec<String> = runtime.block_on(async {
        let mut answers = Vec::new();
        for request in requests {
            let response = router().oneshot(request).await.expect("infallible");
            let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                .await
                .expect("body");
            answers.push(String::from_utf8(body.to_vec()).expect("utf8"));
        }
        answers
    });
    assert!(telemetry.flush(Duration::from_secs(5)));
    let spans = telemetry.traces().ring().spans();
    assert_eq!(spans.len(), 4, "{spans:?}");

    // B3 multi in: the trace continues, baggage is there, every format goes out.
    let b3_multi = &answers[0];
    assert_eq!(header_of(b3_multi, "tenant"), Some("acme"), "{b3_multi}");
    let server = &spans[0];
    assert_eq!(server.span_context.trace_id().to_string(), B3_TRACE);
    assert_eq!(server.parent_span_id.to_string(), "e457b5a2e4d86bd1");
    let span_id = server.span_context.span_id().to_string();
    assert_eq!(
        header_of(b3_multi, "traceparent"),
        Some(format!("00-{B3_TRACE}-{span_id}-01").as_str())
    );
    assert_eq!(
        header_of(b3_multi, "b3"),
        Some(format!("{B3_TRACE}-{span_id}-1").as_str())
    );
    assert_eq!(header_of(b3_multi, "x-b3-traceid"), Some(B3_TRACE));
    assert_eq!(header_of(b3_multi, "x-b3-spanid"), Some(span_id.as_str()));
    assert_eq!(header_of(b3_multi, "x-b3-sampled"), Some("1"));
    assert_eq!(
        header_of(b3_multi, "uber-trace-id"),
        Some(format!("{B3_TRACE}:{span_id}:0:1").as_str())
    );
    assert_eq!(
        header_of(b3_multi, "baggage"),
        Some("tenant=acme,api_key=s3cr3t-k3y"),
        "baggage travels on as it came: it is the caller's to carry"
    );
    let attribute = |key: &str| {
        server
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    };
    assert_eq!(attribute("tenant"), Some(Value::from("acme")));
    assert_eq!(attribute("api_key"), Some(Value::from("[REDACTED]")));

    // Jaeger in, B3 single in.
    assert_eq!(spans[1].span_context.trace_id().to_string(), JAEGER_TRACE);
    assert_eq!(spans[1].parent_span_id.to_string(), "a2fb4a1d1a96d312");
    assert_eq!(header_of(&answers[1], "tenant"), Some("-"));
    assert_eq!(header_of(&answers[1], "baggage"), None);
    assert_eq!(spans[2].span_context.trace_id().to_string(), B3_TRACE);

    // A bad B3 header: a new trace, counted; the baggage beside it still arrives.
    assert_ne!(spans[3].span_context.trace_id().to_string(), B3_TRACE);
    assert_eq!(header_of(&answers[3], "tenant"), Some("globex"));
    let metrics = telemetry
        .metrics()
        .render(telescope::recorder::Format::Prometheus);
    assert!(
        metrics.contains(r#"telescope_propagation_invalid_total{header="b3"} 1"#),
        "{metrics}"
    );

    // Log lines of the request carry the chosen keys, the secret one redacted.
    let lines = logs.json_lines();
    let calling: Vec<_> = lines
        .iter()
        .filter(|line| line["message"] == "calling the next service")
        .collect();
    assert_eq!(calling.len(), 4, "{lines:?}");
    assert_eq!(calling[0]["tenant"], "acme");
    assert_eq!(calling[0]["api_key"], "[REDACTED]");
    assert_eq!(calling[0]["trace_id"], B3_TRACE);
    assert!(calling[1].get("tenant").is_none(), "{}", calling[1]);
    assert!(
        !logs.text().contains("s3cr3t-k3y"),
        "the secret is in no log line"
    );
}
