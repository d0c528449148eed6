//! The whole stack's cost per request: an axum handler (one `#[instrument]`ed call, one log
//! event, one counter) called through `tower::ServiceExt::oneshot` with a sampled incoming
//! `traceparent`, under
//! - `bare`: no subscriber, no recorder, no middleware (the floor subtracted from both);
//! - `telescope`: `telescope::builder()` (JSON logs through the non-blocking writer, the OTLP
//!   layer sampling everything, span metrics, the recorder with exemplars) and
//!   `telescope::http::TelemetryLayer`;
//! - `peer_stack`: what users assemble today: tracing-subscriber's JSON formatter through
//!   tracing-appender, tracing-opentelemetry with opentelemetry_sdk's batch processor and a
//!   no-op exporter (always on), metrics-exporter-prometheus (fixed buckets), and a
//!   hand-written middleware doing the same work as ours (traceparent, server span with the
//!   HTTP attributes, request id, duration histogram, in-flight gauge).
//!
//! ```text
//! cargo bench --bench stack
//! ```

use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Path, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use http::HeaderValue;
use metrics::Recorder;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use tower::ServiceExt;
use tracing::field::Empty;
use tracing::{Dispatch, Instrument};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Accepts every batch and does nothing: the same no-op exporter for the peer's batch
/// processor as in `benches/traces.rs`.
#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

#[tracing::instrument(skip_all, fields(order_id = id))]
async fn get_order(Path(id): Path<u64>) -> String {
    tracing::info!(order_id = id, "order fetched");
    metrics::counter!("orders_fetched_total").increment(1);
    format!("order {id}")
}

fn handler_routes() -> Router {
    Router::new().route("/orders/{id}", get(get_order))
}

/// `HeaderMap` as an OpenTelemetry extractor, as users write it for the peer stack.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The peer stack's middleware: the same work as `telescope::http::TelemetryLayer`.
async fn hand_written_middleware(request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let request_id = request
        .headers()
        .get("x-request-id")
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&format!("{:032x}", fastrand::u128(..)))
                .unwrap_or(HeaderValue::from_static("unknown"))
        });
    let parent = TraceContextPropagator::new().extract(&Headers(request.headers()));
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = request.uri().path(),
        http.response.status_code = Empty,
        request_id = request_id.to_str().unwrap_or(""),
    );
    let _ = span.set_parent(parent);
    metrics::gauge!("http_server_active_requests", "method" => method.clone()).increment(1.0);
    let start = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    metrics::histogram!("http_server_request_duration_seconds", "method" => method.clone(),
        "route" => route, "status" => status.as_str().to_owned())
    .record(start.elapsed().as_secs_f64());
    metrics::gauge!("http_server_active_requests", "method" => method).decrement(1.0);
    response.headers_mut().insert("x-request-id", request_id);
    response
}

/// One stack: the router, the subscriber, the recorder, and what must outlive them.
struct Stack {
    router: Router,
    dispatch: Dispatch,
    recorder: Option<Box<dyn Recorder + Send + Sync>>,
    _keep: Box<dyn std::any::Any>,
}

fn stack(name: &str) -> Stack {
    match name {
        "telescope" => {
            let (dispatch, telemetry) = telescope::builder()
                .without_admin_server()
                .log_writer(io::sink())
                .build()
                .expect("builds");
            Stack {
                router: handler_routes().layer(telescope::http::TelemetryLayer::new()),
                dispatch,
                recorder: Some(Box::new(telemetry.metrics_recorder())),
                _keep: Box::new(telemetry),
            }
        }
        "peer_stack" => {
            let provider = SdkTracerProvider::builder()
                .with_span_processor(BatchSpanProcessor::builder(NoopExporter).build())
                .build();
            let (writer, guard) = tracing_appender::non_blocking(io::sink());
            let subscriber = tracing_subscriber::registry()
                .with(tracing_subscriber::EnvFilter::new("info"))
                .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
                .with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_current_span(true)
                        .with_span_list(true)
                        .with_writer(writer),
                );
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&telescope::recorder::DEFAULT_BUCKETS)
                .expect("buckets")
                .build_recorder();
            Stack {
                router: handler_routes().layer(axum::middleware::from_fn(hand_written_middleware)),
                dispatch: Dispatch::new(subscriber),
                recorder: Some(Box::new(recorder)),
                _keep: Box::new((guard, provider)),
            }
        }
        _ => Stack {
            router: handler_routes(),
            dispatch: Dispatch::none(),
            recorder: None,
            _keep: Box::new(()),
        },
    }
}

fn request() -> http::Request<Body> {
    http::Request::get("/orders/42")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .expect("request")
}

fn requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("stack_per_request");
    group.measurement_time(Duration::from_secs(5));
    for name in ["bare", "telescope", "peer_stack"] {
        let stack = stack(name);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let run = |c: &mut criterion::BenchmarkGroup<'_, _>| {
            tracing::dispatcher::with_default(&stack.dispatch, || {
                c.bench_function(name, |b| {
                    b.iter_custom(|iters| {
                        runtime.block_on(async {
                            let start = Instant::now();
                            for _ in 0..iters {
                                let response = stack
                                    .router
                                    .clone()
                                    .oneshot(request())
                                    .await
                                    .expect("infallible");
                                black_box(response);
                            }
                            start.elapsed()
                        })
                    })
                });
            });
        };
        match &stack.recorder {
            Some(recorder) => metrics::with_local_recorder(recorder.as_ref(), || run(&mut group)),
            None => run(&mut group),
        }
    }
    group.finish();
}

criterion_group!(benches, requests);
criterion_main!(benches);
