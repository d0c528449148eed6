//! The built-in load generator: a few workers sending a mix of requests to the API over real
//! HTTP, each inside a client span whose context travels in `traceparent`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tracing::Instrument;

/// One request of the mix: method, route template (for the client span's name, as the
/// OpenTelemetry conventions ask: never the raw path), path, JSON body.
fn pick() -> (&'static str, &'static str, String, Option<String>) {
    match fastrand::u8(..100) {
        0..=29 => ("GET", "/products", "/products".to_owned(), None),
        30..=54 => (
            "GET",
            "/products/{id}",
            format!("/products/{}", fastrand::u64(..6)),
            None,
        ),
        55..=89 => (
            "POST",
            "/orders",
            "/orders".to_owned(),
            Some(format!(
                r#"{{"product_id":{},"quantity":{},"card_token":"tok_visa_4242"}}"#,
                fastrand::u64(..5),
                fastrand::u64(1..4)
            )),
        ),
        _ => {
            let password = if fastrand::bool() {
                "correct horse"
            } else {
                "hunter2"
            };
            (
                "POST",
                "/login",
                "/login".to_owned(),
                Some(format!(
                    r#"{{"user":"user{}","password":"{password}"}}"#,
                    fastrand::u8(..20)
                )),
            )
        }
    }
}

/// Runs `workers` workers against `addr`, each sending about `per_second` requests a second,
/// until the task is dropped.
pub(crate) async fn run(addr: SocketAddr, workers: usize, per_second: u64) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(worker(addr, per_second));
    }
    while tasks.join_next().await.is_some() {}
}

async fn worker(addr: SocketAddr, per_second: u64) {
    let pause = Duration::from_millis(1000 / per_second.max(1));
    loop {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let Ok((mut sender, connection)) = http1::handshake::<_, Body>(TokioIo::new(stream)).await
        else {
            continue;
        };
        tokio::spawn(connection);
        loop {
            if sender.ready().await.is_err() {
                break; // the connection closed: open another
            }
            let (method, route, path, body) = pick();
            let span = tracing::info_span!("load request", otel.kind = "client", otel.name = %format!("{method} {route}"));
            let sent = async {
                let mut request = http::Request::builder()
                    .method(method)
                    .uri(&path)
                    .header("host", addr.to_string());
                if let Some(headers) = request.headers_mut() {
                    telescope::http::inject_context(headers);
                }
                if body.is_some() {
                    request = request.header("content-type", "application/json");
                }
                let Ok(request) = request.body(Body::from(body.unwrap_or_default())) else {
                    return false;
                };
                match sender.send_request(request).await {
                    Ok(response) => response.into_body().collect().await.is_ok(),
                    Err(_) => false,
                }
            }
            .instrument(span)
            .await;
            if !sent {
                break;
            }
            tokio::time::sleep(pause).await;
        }
    }
}
