//! `telescope::http::TelemetryLayer` around an axum router, called through
//! `tower::ServiceExt::oneshot`: spans, trace propagation, request ids and request metrics.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use serde_json::Value;
use tower::ServiceExt;

#[path = "../support/capture.rs"]
mod capture;

use capture::Capture;

fn router() -> Router {
    Router::new()
        .route(
            "/orders/{id}",
            get(|| async {
                tracing::info!("looking up the order");
                "an order"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tracing::info!("looking for the slow part");
                tracing::warn!(elapsed_ms = 1500, "slow dependency");
                "slow"
            }),
        )
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/outgoing",
            get(|| async {
                let mut headers = http::HeaderMap::new();
                assert!(telescope::http::inject_context(&mut headers));
                headers["traceparent"].to_str().expect("ascii").to_owned()
            }),
        )
        .layer(telescope::http::TelemetryLayer::new())
}

/// What one test run saw.
struct Seen {
    responses: Vec<http::Response<Body>>,
    spans: Vec<Arc<SpanData>>,
    logs: Vec<Value>,
    metrics: String,
    open_metrics: String,
}

/// Sends `requests` through the router with telemetry built (not installed) for this test.
fn run(requests: Vec<Request<Body>>) -> Seen {
    run_with(telescope::builder(), requests)
}

/// [`run`] with telemetry configured by `builder` as well.
fn run_with(builder: telescope::TelemetryBuilder, requests: Vec<Request<Body>>) -> Seen {
    let logs = Capture::default();
    let (dispatch, telemetry) = builder
        .without_admin_server()
        .log_writer(logs.clone())
        .build()
        .expect("builds");
    let recorder = telemetry.metrics_recorder();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let responses = metrics::with_local_recorder(&recorder, || {
        tracing::dispatcher::with_default(&dispatch, || {
            runtime.block_on(async {
                let mut responses = Vec::new();
                for request in requests {
                    responses.push(router().oneshot(request).await.expect("infallible"));
                }
                responses
            })
        })
    });
    assert!(telemetry.flush(Duration::from_secs(5)));
    Seen {
        responses,
        spans: telemetry.traces().ring().spans(),
        logs: logs.json_lines(),
        metrics: telemetry
            .metrics()
            .render(telescope::recorder::Format::Prometheus),
        open_metrics: telemetry
            .metrics()
            .render(telescope::recorder::Format::OpenMetrics),
    }
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).expect("request")
}

fn attribute<'s>(span: &'s SpanData, key: &str) -> Option<&'s opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn the_server_span_continues_the_callers_trace_with_http_attributes() {
    let seen = run(vec![request(
        "GET",
        "/orders/42?expand=items",
        &[
            ("traceparent", TRACEPARENT),
            ("user-agent", "curl/8"),
            ("host", "shop.example:8080"),
        ],
    )]);
    assert_eq!(seen.responses[0].status(), 200);
    let span = seen.spans.last().expect("a span");
    assert_eq!(span.name, "GET /orders/{id}");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert!(span.parent_span_is_remote);
    let text = |key| attribute(span, key).map(ToString::to_string);
    assert_eq!(text("http.request.method").as_deref(), Some("GET"));
    assert_eq!(text("http.route").as_deref(), Some("/orders/{id}"));
    assert_eq!(text("url.path").as_deref(), Some("/orders/42"));
    assert_eq!(text("url.query").as_deref(), Some("expand=items"));
    assert_eq!(text("http.response.status_code").as_deref(), Some("200"));
    assert_eq!(text("user_agent.original").as_deref(), Some("curl/8"));
    assert_eq!(text("url.scheme").as_deref(), Some("http"));
    assert_eq!(text("server.address").as_deref(), Some("shop.example"));
    assert_eq!(span.status, Status::Unset);
}

#[test]
fn request_ids_are_echoed_and_on_every_log_line_of_the_request() {
    let seen = run(vec![
        request("GET", "/orders/1", &[("x-request-id", "req-abc")]),
        request("GET", "/orders/2", &[]),
    ]);
    assert_eq!(seen.responses[0].headers()["x-request-id"], "req-abc");
    let made_up = seen.responses[1].headers()["x-request-id"]
        .to_str()
        .expect("ascii");
    assert_eq!(made_up.len(), 32, "{made_up}");
    let lines: Vec<&Value> = seen
        .logs
        .iter()
        .filter(|line| line["message"] == "looking up the order")
        .collect();
    assert_eq!(lines.len(), 2, "{:?}", seen.logs);
    assert_eq!(lines[0]["span"]["request_id"], "req-abc");
    assert_eq!(lines[1]["span"]["request_id"], made_up);
    let trace_id = seen.spans[0].span_context.trace_id().to_string();
    assert_eq!(lines[0]["trace_id"], trace_id.as_str());
}

#[test]
fn server_errors_mark_the_span_and_every_request_is_measured_by_route_template() {
    let seen = run(vec![
        request("GET", "/fail", &[]),
        request("GET", "/orders/1", &[]),
        request("GET", "/orders/2", &[]),
        request("BREW", "/orders/3", &[]),
    ]);
    let failed = seen
        .spans
        .iter()
        .find(|span| span.name == "GET /fail")
        .expect("the failed request's span");
    assert!(
        matches!(failed.status, Status::Error { .. }),
        "{:?}",
        failed.status
    );
    assert_eq!(
        attribute(failed, "error.type")
            .map(ToString::to_string)
            .as_deref(),
        Some("500")
    );
    let metrics = &seen.metrics;
    for series in [
        r#"http_server_request_duration_seconds_count{method="GET",route="/fail",status="500"} 1"#,
        r#"http_server_request_duration_seconds_count{method="GET",route="/orders/{id}",status="200"} 2"#,
        r#"http_server_request_duration_seconds_count{method="_OTHER",route="/orders/{id}",status="405"} 1"#,
        r#"http_server_active_requests{method="GET"} 0"#,
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }
    assert!(
        !metrics.contains("/orders/1"),
        "raw paths never become labels"
    );
}

#[test]
fn an_invalid_traceparent_starts_a_new_trace_and_is_counted() {
    let seen = run(vec![request(
        "GET",
        "/orders/7",
        &[(
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        )],
    )]);
    assert_eq!(seen.responses[0].status(), 200);
    let span = seen.spans.last().expect("a span");
    assert_ne!(
        span.span_context.trace_id(),
        opentelemetry::trace::TraceId::INVALID
    );
    assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert!(
        seen.metrics
            .contains(r#"telescope_propagation_invalid_total{header="traceparent"} 1"#),
        "{}",
        seen.metrics
    );
}

#[test]
fn outgoing_requests_carry_the_server_spans_context() {
    let mut seen = run(vec![request(
        "GET",
        "/outgoing",
        &[("traceparent", TRACEPARENT)],
    )]);
    let response = seen.responses.remove(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let body = runtime
        .block_on(axum::body::to_bytes(response.into_body(), 1024))
        .expect("body");
    let sent = String::from_utf8(body.to_vec()).expect("utf8");
    let server = seen.spans.last().expect("a span");
    assert_eq!(
        sent,
        format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
            server.span_context.span_id()
        )
    );
}

#[test]
fn at_log_level_warn_traces_propagation_and_span_metrics_stay_whole() {
    let builder = telescope::builder().log_filter("warn").expect("valid");
    let mut seen = run_with(
        builder,
        vec![
            request("GET", "/outgoing", &[("traceparent", TRACEPARENT)]),
            request("GET", "/slow", &[("traceparent", TRACEPARENT)]),
        ],
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let body = runtime
        .block_on(axum::body::to_bytes(
            seen.responses.remove(0).into_body(),
            1024,
        ))
        .expect("body");
    let sent = String::from_utf8(body.to_vec()).expect("utf8");
    assert_eq!(
        seen.spans.len(),
        2,
        "both server spans exist: {:?}",
        seen.spans
    );
    let outgoing = &seen.spans[0];
    assert_eq!(
        sent,
        format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
            outgoing.span_context.span_id()
        ),
        "the outgoing call continues the caller's trace"
    );
    assert_eq!(
        seen.logs.len(),
        1,
        "only the WARN event is a log line: {:?}",
        seen.logs
    );
    let line = &seen.logs[0];
    assert_eq!(line["message"], "slow dependency");
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(
        line["span_id"],
        seen.spans[1].span_context.span_id().to_string()
    );
    assert!(
        seen.metrics
            .contains("telescope_span_duration_seconds_count{"),
        "span metrics are recorded: {}",
        seen.metrics
    );
    assert!(
        seen.metrics
            .contains("http_server_request_duration_seconds_count{"),
        "{}",
        seen.metrics
    );
    // Every metric telescope records has a description of its own.
    let undescribed: Vec<&str> = seen
        .metrics
        .lines()
        .filter(|line| line.starts_with("# HELP") && line.ends_with("(no description registered)"))
        .collect();
    assert!(undescribed.is_empty(), "{undescribed:?}");
    assert!(seen
        .metrics
        .contains("# HELP http_server_request_duration_seconds Duration of HTTP requests served"));
}

#[test]
fn a_cancelled_request_leaves_nothing_in_flight() {
    let (dispatch, telemetry) = telescope::builder()
        .without_admin_server()
        .log_writer(io::sink())
        .build()
        .expect("builds");
    let recorder = telemetry.metrics_recorder();
    let app = Router::new()
        .route("/slow", get(std::future::pending::<&'static str>))
        .layer(telescope::http::TelemetryLayer::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    metrics::with_local_recorder(&recorder, || {
        tracing::dispatcher::with_default(&dispatch, || {
            runtime.block_on(async {
                let call = app.oneshot(request("GET", "/slow", &[]));
                let timed_out = tokio::time::timeout(Duration::from_millis(20), call).await;
                assert!(timed_out.is_err(), "the handler never answers");
            });
        });
    });
    let metrics = telemetry
        .metrics()
        .render(telescope::recorder::Format::Prometheus);
    assert!(
        metrics.contains(r#"http_server_active_requests{method="GET"} 0"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains("http_server_request_duration_seconds_count"),
        "a cancelled request has no status to record: {metrics}"
    );
}

#[test]
fn request_durations_carry_the_sampled_trace_as_an_exemplar() {
    let seen = run(vec![request(
        "GET",
        "/orders/9",
        &[("traceparent", TRACEPARENT)],
    )]);
    let exemplar = seen
        .open_metrics
        .lines()
        .filter(|line| line.starts_with("http_server_request_duration_seconds_bucket"))
        .find_map(|line| line.split_once(" # ").map(|(_, exemplar)| exemplar))
        .unwrap_or_else(|| panic!("no exemplar in:\n{}", seen.open_metrics));
    let server = seen.spans.last().expect("a span");
    assert!(
        exemplar.starts_with(&format!(
            "{{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"{}\"}}",
            server.span_context.span_id()
        )),
        "{exemplar}"
    );
}

#[test]
fn health_endpoints_mount_in_an_axum_router() {
    use telescope::health::{check_fn, CheckConfig, CheckResult, Health, HealthService};
    let health = Health::new();
    health
        .register(
            check_fn("database", || async {
                CheckResult::fail("connection refused")
            }),
            CheckConfig::readiness(),
        )
        .expect("registers");
    let service = HealthService::new(health);
    let app = Router::new()
        .route_service("/livez", service.clone())
        .route_service("/readyz", service);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let live = app
            .clone()
            .oneshot(request("GET", "/livez", &[]))
            .await
            .expect("infallible");
        assert_eq!(live.status(), 200);
        // The check runs in the background; readiness fails once its first result is in.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let ready = app
                .clone()
                .oneshot(request("GET", "/readyz?verbose", &[]))
                .await
                .expect("infallible");
            if ready.status() == 503 {
                let body = axum::body::to_bytes(ready.into_body(), 4096)
                    .await
                    .expect("body");
                assert!(String::from_utf8_lossy(&body).contains("database"));
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "readiness never failed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

#[test]
fn without_axum_routing_the_resolver_names_the_route() {
    let (dispatch, telemetry) = telescope::builder()
        .without_admin_server()
        .log_writer(io::sink())
        .build()
        .expect("builds");
    let layer = telescope::http::TelemetryLayer::new().route_with(|method, uri| {
        (method == http::Method::GET && uri.path().starts_with("/items/"))
            .then(|| "/items/{id}".to_owned())
    });
    let service = tower::ServiceBuilder::new()
        .layer(layer)
        .service(tower::service_fn(|_: http::Request<Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
        }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    metrics::with_local_recorder(&telemetry.metrics_recorder(), || {
        tracing::dispatcher::with_default(&dispatch, || {
            runtime.block_on(async {
                for path in ["/items/1", "/items/2", "/elsewhere"] {
                    service
                        .clone()
                        .oneshot(request("GET", path, &[]))
                        .await
                        .expect("infallible");
                }
            });
        });
    });
    let metrics = telemetry
        .metrics()
        .render(telescope::recorder::Format::Prometheus);
    assert!(
        metrics.contains(r#"http_server_request_duration_seconds_count{method="GET",route="/items/{id}",status="200"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"http_server_request_duration_seconds_count{method="GET",route="",status="200"} 1"#
        ),
        "an unresolved route gets an empty label, never the raw path: {metrics}"
    );
    assert!(!metrics.contains("/items/1"));
}

#[test]
fn secret_query_parameters_are_redacted_in_the_span_and_every_log_line() {
    let seen = run(vec![request(
        "GET",
        "/orders/42?page=2&password=hunter2&access_token=tok_visa_4242&api_key=sk_live_51H&Signature=sig123",
        &[],
    )]);
    assert_eq!(seen.responses[0].status(), 200);
    let span = seen.spans.last().expect("a span");
    assert_eq!(
        attribute(span, "url.query")
            .map(ToString::to_string)
            .as_deref(),
        Some("page=2&password=REDACTED&access_token=REDACTED&api_key=REDACTED&Signature=REDACTED")
    );
    let everything = format!("{:?} {:?} {}", seen.spans, seen.logs, seen.metrics);
    for secret in ["hunter2", "tok_visa_4242", "sk_live_51H", "sig123"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
    assert!(
        seen.logs
            .iter()
            .any(|line| line.to_string().contains("page=2&password=REDACTED")),
        "the log lines of the request carry the redacted query: {:?}",
        seen.logs
    );
}
