//! The service under test for the W3C Trace Context conformance suite: `POST /test` takes a
//! JSON array of `{"url": …, "arguments": …}` and, for each item, POSTs `arguments` to `url`
//! from a client span, with the trace context of the incoming request propagated by
//! [`telescope::http::TelemetryLayer`] and [`telescope::http::inject_context`] and nothing else.
//!
//! ```text
//! cargo run --release --example w3c_service -- 127.0.0.1:7800 &
//! SPEC_LEVEL=2 STRICT_LEVEL=2 venv/bin/python tests/w3c-trace-context/test/test.py http://127.0.0.1:7800/test
//! ```
//! (`.ci/run` does this, with aiohttp in a virtual environment.)

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tracing::Instrument;

/// POSTs `body` to `url` (`http://host:port/path`), with the current trace context.
async fn call(url: &str, body: String) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let authority = uri
        .authority()
        .ok_or(format!("{url}: no host"))?
        .to_string();
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    let (mut sender, connection) = http1::handshake::<_, Body>(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method("POST")
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header("host", &authority)
        .header("content-type", "application/json");
    if let Some(headers) = request.headers_mut() {
        telescope::http::inject_context(headers);
    }
    let request = request.body(Body::from(body)).map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    drop(response);
    Ok(())
}

async fn test(body: Bytes) -> StatusCode {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    for item in items {
        let Some(url) = item["url"].as_str() else {
            return StatusCode::BAD_REQUEST;
        };
        let arguments = item["arguments"].to_string();
        let span = tracing::info_span!("call", otel.kind = "client", url = url);
        if let Err(error) = call(url, arguments).instrument(span).await {
            tracing::warn!(%error, "the call failed");
        }
    }
    StatusCode::OK
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let address: SocketAddr = match std::env::args().nth(1).unwrap_or_default().parse() {
        Ok(address) => address,
        Err(_) => {
            eprintln!("usage: w3c_service 127.0.0.1:PORT");
            return std::process::ExitCode::from(2);
        }
    };
    let _telemetry = match telescope::builder().service_name("w3c").try_init() {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("w3c_service: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let app = Router::new()
        .route("/test", post(test))
        .layer(telescope::http::TelemetryLayer::new());
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("w3c_service: {address}: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    eprintln!("w3c_service: listening on http://{address}/test");
    match axum::serve(listener, app).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("w3c_service: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
