//! gRPC telemetry with a real tonic server and client on 127.0.0.1 (tonic-health's service):
//! client and server spans of one trace with the RPC conventions, the status mapped to each
//! side's rules, and the duration metrics.

use std::time::Duration;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use telescope::grpc::{GrpcClientLayer, GrpcServerLayer};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::ServingStatus;
use tower::Layer;
use tracing::Instrument;

#[path = "../support/traced.rs"]
mod traced;

use traced::Traced;

fn attribute<'s>(span: &'s SpanData, key: &str) -> Option<&'s Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// tonic-health's service behind `GrpcServerLayer` on 127.0.0.1, with `shop` serving.
async fn health_server() -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("shop", ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(GrpcServerLayer::new())
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (address, server)
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

#[test]
fn client_and_server_spans_of_one_trace_with_statuses_and_metrics() {
    let traced = Traced::new();
    let telemetry = &traced.telemetry;
    let answers = traced.run(async {
        let (address, server) = health_server().await;
        let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
            .expect("uri")
            .connect_lazy();
        let mut client = HealthClient::new(GrpcClientLayer::new().layer(channel));
        // Nothing listens on port 9 of 127.0.0.1: the transport fails.
        let dead = tonic::transport::Channel::from_static("http://127.0.0.1:9").connect_lazy();
        let mut unreachable = HealthClient::new(GrpcClientLayer::new().layer(dead));

        let job = tracing::info_span!("nightly job");
        let answers = async {
            let serving = client
                .check(check("shop"))
                .await
                .map(|r| r.into_inner().status);
            let missing = client
                .check(check("nope"))
                .await
                .map(|r| r.into_inner().status);
            let down = unreachable
                .check(check("shop"))
                .await
                .map(|r| r.into_inner().status);
            (
                serving,
                missing.map_err(|s| s.code()),
                down.map_err(|s| s.code()),
            )
        }
        .instrument(job)
        .await;
        server.abort();
        answers
    });
    assert_eq!(answers.0.ok(), Some(ServingStatus::Serving as i32));
    assert_eq!(answers.1.err(), Some(tonic::Code::NotFound));
    assert_eq!(answers.2.err(), Some(tonic::Code::Unavailable));

    assert!(telemetry.flush(Duration::from_secs(5)));
    let spans = telemetry.traces().ring().spans();
    let of_kind = |kind: SpanKind| -> Vec<&SpanData> {
        spans
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| s.span_kind == kind)
            .collect()
    };
    let (clients, servers) = (of_kind(SpanKind::Client), of_kind(SpanKind::Server));
    assert_eq!((clients.len(), servers.len()), (3, 2), "{spans:#?}");
    let job = spans
        .iter()
        .find(|s| s.name == "nightly job")
        .expect("the job span");
    for span in clients.iter().chain(&servers) {
        assert_eq!(span.name, "grpc.health.v1.Health/Check");
        assert_eq!(
            span.span_context.trace_id(),
            job.span_context.trace_id(),
            "one trace"
        );
        assert_eq!(attribute(span, "rpc.system"), Some(&Value::from("grpc")));
        assert_eq!(
            attribute(span, "rpc.service"),
            Some(&Value::from("grpc.health.v1.Health"))
        );
        assert_eq!(attribute(span, "rpc.method"), Some(&Value::from("Check")));
    }
    for client in &clients {
        assert_eq!(client.parent_span_id, job.span_context.span_id());
    }
    for (index, server) in servers.iter().enumerate() {
        let client = clients
            .iter()
            .find(|c| c.span_context.span_id() == server.parent_span_id)
            .unwrap_or_else(|| panic!("server span {index} has its client span as parent"));
        assert!(server.parent_span_is_remote);
        assert_eq!(
            attribute(server, "rpc.grpc.status_code"),
            attribute(client, "rpc.grpc.status_code"),
            "both ends saw the same status"
        );
    }
    let code = |span: &SpanData| match attribute(span, "rpc.grpc.status_code") {
        Some(Value::I64(code)) => *code,
        other => panic!("no status code: {other:?}"),
    };
    let mut client_codes: Vec<(i64, bool)> = clients
        .iter()
        .map(|s| (code(s), matches!(s.status, Status::Error { .. })))
        .collect();
    client_codes.sort();
    assert_eq!(
        client_codes,
        [(0, false), (5, true), (14, true)],
        "a client span fails on anything but OK"
    );
    let mut server_codes: Vec<(i64, bool)> = servers
        .iter()
        .map(|s| (code(s), matches!(s.status, Status::Error { .. })))
        .collect();
    server_codes.sort();
    assert_eq!(
        server_codes,
        [(0, false), (5, false)],
        "NOT_FOUND is the caller's problem, not a server failure"
    );

    let metrics = telemetry
        .metrics()
        .render(telescope::recorder::Format::Prometheus);
    for series in [
        r#"rpc_server_duration_seconds_count{rpc_service="grpc.health.v1.Health",rpc_method="Check",rpc_grpc_status_code="0"} 1"#,
        r#"rpc_server_duration_seconds_count{rpc_service="grpc.health.v1.Health",rpc_method="Check",rpc_grpc_status_code="5"} 1"#,
        r#"rpc_client_duration_seconds_count{rpc_service="grpc.health.v1.Health",rpc_method="Check",rpc_grpc_status_code="0"} 1"#,
        r#"rpc_client_duration_seconds_count{rpc_service="grpc.health.v1.Health",rpc_method="Check",rpc_grpc_status_code="5"} 1"#,
        r#"rpc_client_duration_seconds_count{rpc_service="grpc.health.v1.Health",rpc_method="Check",rpc_grpc_status_code="14"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series}\n{metrics}");
    }
}

/// HTTP client -> HTTP server -> gRPC client -> gRPC server: one trace across protocols.
#[test]
fn one_trace_from_an_http_call_through_a_grpc_call() {
    use std::future::IntoFuture;

    use axum::routing::get;
    use http_body_util::{BodyExt, Empty};
    use telescope::http::client::ClientLayer;
    use tower::ServiceExt;

    let traced = Traced::new();
    let telemetry = &traced.telemetry;
    let answer = traced.run(async {
        let (grpc_address, grpc_server) = health_server().await;
        let channel = tonic::transport::Channel::from_shared(format!("http://{grpc_address}"))
            .expect("uri")
            .connect_lazy();
        let app = axum::Router::new()
            .route(
                "/stock",
                get(move || {
                    let mut health =
                        HealthClient::new(GrpcClientLayer::new().layer(channel.clone()));
                    async move {
                        match health.check(check("shop")).await {
                            Ok(reply) => format!("{}", reply.into_inner().status),
                            Err(status) => format!("{:?}", status.code()),
                        }
                    }
                }),
            )
            .layer(telescope::http::TelemetryLayer::new());
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let http_address = http_listener.local_addr().expect("address");
        let http_server = tokio::spawn(axum::serve(http_listener, app).into_future());
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Empty<bytes::Bytes>>();
        let request = http::Request::get(format!("http://{http_address}/stock"))
            .body(Empty::new())
            .expect("request");
        let response = ClientLayer::new()
            .layer(client)
            .oneshot(request)
            .instrument(tracing::info_span!("storefront"))
            .await
            .expect("an answer");
        let body = response.into_body().collect().await.expect("body");
        http_server.abort();
        grpc_server.abort();
        String::from_utf8(body.to_bytes().to_vec()).expect("utf8")
    });
    assert_eq!(answer, (ServingStatus::Serving as i32).to_string());
    assert!(telemetry.flush(Duration::from_secs(5)));
    let spans = telemetry.traces().ring().spans();
    let find = |kind: SpanKind, name: &str| -> &SpanData {
        spans
            .iter()
            .map(AsRef::as_ref)
            .find(|s| s.span_kind == kind && s.name == name)
            .unwrap_or_else(|| panic!("no {kind:?} span {name}: {spans:#?}"))
    };
    let root = spans
        .iter()
        .find(|s| s.name == "storefront")
        .expect("the root");
    let chain = [
        find(SpanKind::Client, "GET"),
        find(SpanKind::Server, "GET /stock"),
        find(SpanKind::Client, "grpc.health.v1.Health/Check"),
        find(SpanKind::Server, "grpc.health.v1.Health/Check"),
    ];
    let mut parent = root.span_context.span_id();
    for span in chain {
        assert_eq!(
            span.span_context.trace_id(),
            root.span_context.trace_id(),
            "{}",
            span.name
        );
        assert_eq!(
            span.parent_span_id, parent,
            "{} is the child of the one before",
            span.name
        );
        assert_eq!(span.status, Status::Unset, "{}", span.name);
        parent = span.span_context.span_id();
    }
}
