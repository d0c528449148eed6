//! Client telemetry over real sockets on 127.0.0.1: a job calls a service through hyper-util's
//! client wrapped in `ClientLayer`; the service, behind `TelemetryLayer`, calls itself again
//! with reqwest through `ClientCall`. One trace, five spans, each the parent of the next, with
//! the HTTP client conventions and the client metric.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, Empty};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use std::future::IntoFuture;
use telescope::http::client::{ClientCall, ClientLayer};

use tower::{Layer, ServiceExt};
use tracing::Instrument;

#[path = "../support/traced.rs"]
mod traced;

use traced::Traced;

/// `/a` calls `/missing` on the same server with reqwest and answers with that status.
fn app(address: SocketAddr) -> Router {
    Router::new()
        .route(
            "/a",
            get(move || async move {
                let client = reqwest::Client::new();
                let mut request = client
                    .get(format!("http://{address}/missing?token=t0k3n"))
                    .build()
                    .expect("a request");
                let uri: http::Uri = request.url().as_str().parse().expect("a uri");
                let call = ClientCall::start(request.method(), &uri);
                assert!(call.inject(request.headers_mut()));
                let response = client
                    .execute(request)
                    .instrument(call.span().clone())
                    .await;
                let status = response.as_ref().ok().map(reqwest::Response::status);
                call.finish(status);
                format!("{status:?}")
            }),
        )
        .layer(telescope::http::TelemetryLayer::new())
}

fn attribute<'s>(span: &'s SpanData, key: &str) -> Option<&'s Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[test]
fn one_trace_across_client_server_client_server() {
    let traced = Traced::new();
    let telemetry = &traced.telemetry;
    let (answer, address) = traced.run(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(axum::serve(listener, app(address)).into_future());
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Empty<bytes::Bytes>>();
        let traced = ClientLayer::new().layer(client);
        let request = http::Request::get(format!("http://{address}/a?page=1"))
            .body(Empty::new())
            .expect("request");
        let job = tracing::info_span!("nightly job");
        let response = traced
            .oneshot(request)
            .instrument(job)
            .await
            .expect("an answer");
        let body = response.into_body().collect().await.expect("body");
        server.abort();
        let answer = String::from_utf8(body.to_bytes().to_vec()).expect("utf8");
        (answer, address)
    });
    assert_eq!(answer, "Some(404)");
    assert!(telemetry.flush(Duration::from_secs(5)));
    let spans = telemetry.traces().ring().spans();
    let named = |name: &str| -> Vec<&SpanData> {
        spans
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| s.name == name)
            .collect()
    };
    let job = named("nightly job")[0];
    let of_kind = |kind: SpanKind| -> Vec<&SpanData> {
        spans
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| s.span_kind == kind)
            .collect()
    };
    let (clients, servers) = (of_kind(SpanKind::Client), of_kind(SpanKind::Server));
    assert!(
        clients.iter().all(|s| s.name == "GET"),
        "client spans are named by method"
    );
    assert_eq!((clients.len(), servers.len()), (2, 2), "{spans:#?}");
    let hyper_call = clients
        .iter()
        .find(|s| s.parent_span_id == job.span_context.span_id())
        .expect("the hyper call is the job's child");
    let server_a = servers
        .iter()
        .find(|s| s.name == "GET /a")
        .expect("the /a server span");
    let reqwest_call = clients
        .iter()
        .find(|s| s.parent_span_id == server_a.span_context.span_id())
        .expect("the reqwest call is a child of /a");
    let server_missing = servers
        .iter()
        .find(|s| s.name != "GET /a")
        .expect("the second server span");

    let trace = job.span_context.trace_id();
    for span in [hyper_call, server_a, reqwest_call, server_missing] {
        assert_eq!(span.span_context.trace_id(), trace, "{}", span.name);
    }
    assert_eq!(server_a.parent_span_id, hyper_call.span_context.span_id());
    assert!(server_a.parent_span_is_remote);
    assert_eq!(
        server_missing.parent_span_id,
        reqwest_call.span_context.span_id()
    );

    assert_eq!(hyper_call.span_kind, SpanKind::Client);
    assert_eq!(
        attribute(hyper_call, "url.full"),
        Some(&Value::from(format!("http://{address}/a?page=1")))
    );
    assert_eq!(
        attribute(hyper_call, "server.port"),
        Some(&Value::I64(i64::from(address.port())))
    );
    assert_eq!(
        attribute(hyper_call, "http.request.method"),
        Some(&Value::from("GET"))
    );
    assert_eq!(
        attribute(hyper_call, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(hyper_call.status, Status::Unset);
    assert_eq!(
        attribute(reqwest_call, "http.response.status_code"),
        Some(&Value::I64(404))
    );
    assert!(
        matches!(reqwest_call.status, Status::Error { .. }),
        "a 404 fails a client span"
    );
    assert_eq!(
        server_missing.status,
        Status::Unset,
        "but not a server span"
    );
    let url = attribute(reqwest_call, "url.full")
        .map(|value| value.as_str().into_owned())
        .unwrap_or_default();
    assert!(url.ends_with("/missing?token=REDACTED"), "{url}");

    let metrics = telemetry
        .metrics()
        .render(telescope::recorder::Format::Prometheus);
    for status in ["200", "404"] {
        let series = format!(
            "http_client_request_duration_seconds_count{{method=\"GET\",server_address=\"127.0.0.1\",status=\"{status}\"}} 1"
        );
        assert!(metrics.contains(&series), "{series}\n{metrics}");
    }
}
