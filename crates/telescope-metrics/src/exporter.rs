//! [`MetricsServer`]: `GET /metrics` on a thread and runtime of its own, so it works in
//! applications without tokio and cannot be starved by the application's runtime.

use std::fmt;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, VARY,
    WWW_AUTHENTICATE,
};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::{Format, MetricsHandle};

/// Where the server listens unless told otherwise (the port OpenTelemetry's Prometheus
/// exporter uses).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9464";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The thread or its runtime could not start.
    #[error("cannot start the metrics server: {0}")]
    Start(#[source] std::io::Error),
}

/// Configures a [`MetricsServer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsServerBuilder {
    address: String,
    bearer_token: Option<String>,
}

impl MetricsServerBuilder {
    /// Listen on `address` (default [`DEFAULT_ADDRESS`]; port 0 picks a free port).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = address.into();
        self
    }

    /// Require `Authorization: Bearer <token>`; other requests get 401.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// Binds now (a busy port is an error here) and serves `handle` on a new thread.
    ///
    /// # Errors
    /// [`ExporterError`] if binding or starting fails.
    pub fn start(self, handle: MetricsHandle) -> Result<MetricsServer, ExporterError> {
        let bind_error = |source| ExporterError::Bind {
            address: self.address.clone(),
            source,
        };
        let addresses: Vec<SocketAddr> = self
            .address
            .to_socket_addrs()
            .map_err(bind_error)?
            .collect();
        let listener = StdListener::bind(addresses.as_slice()).map_err(bind_error)?;
        listener
            .set_nonblocking(true)
            .map_err(ExporterError::Start)?;
        let local_addr = listener.local_addr().map_err(ExporterError::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ExporterError::Start)?;
        let (stop, stopped) = oneshot::channel();
        let token = self.bearer_token.map(|t| format!("Bearer {t}"));
        let thread = std::thread::Builder::new()
            .name("telescope-metrics-http".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        () = serve(listener, handle, token) => {}
                        _ = stopped => {}
                    }
                });
            })
            .map_err(ExporterError::Start)?;
        Ok(MetricsServer {
            local_addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A running `/metrics` server; stops on [`shutdown`](Self::shutdown) or drop.
///
/// ```
/// use telescope_metrics::{MetricsServer, TelescopeRecorder};
/// let (_recorder, handle) = TelescopeRecorder::builder().build();
/// let server = MetricsServer::builder().address("127.0.0.1:0").start(handle)?;
/// println!("scrape http://{}/metrics", server.local_addr());
/// # Ok::<(), telescope_metrics::ExporterError>(())
/// ```
pub struct MetricsServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// A builder listening on [`DEFAULT_ADDRESS`] with no token.
    pub fn builder() -> MetricsServerBuilder {
        MetricsServerBuilder {
            address: DEFAULT_ADDRESS.to_owned(),
            bearer_token: None,
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops and waits for the thread to end.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

async fn serve(listener: TcpListener, handle: MetricsHandle, token: Option<String>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (handle, token) = (handle.clone(), token.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let response = respond(
                    &handle,
                    token.as_deref(),
                    request.method(),
                    request.uri().path(),
                    request.headers(),
                );
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), service);
            // A scraper that hangs up mid-response only ends its own connection.
            let _ = connection.await;
        });
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Whether `Accept-Encoding` allows gzip (with a non-zero quality).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|value| {
        value.split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim().strip_prefix("q="), Some(q) if q.trim().parse::<f32>() == Ok(0.0)));
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
    })
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

fn respond(
    handle: &MetricsHandle,
    token: Option<&str>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    if path != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found; metrics are at /metrics\n",
        );
    }
    if method != Method::GET && method != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if let Some(expected) = token {
        let given = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        if given != Some(expected) {
            let mut refused = plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
            refused
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return refused;
        }
    }
    let format = Format::from_accept(headers.get(ACCEPT).and_then(|v| v.to_str().ok()));
    let body = handle.render(format).into_bytes();
    let (body, gzipped) = match accepts_gzip(headers).then(|| gzip(&body)) {
        Some(Ok(compressed)) => (compressed, true),
        _ => (body, false),
    };
    let body = if method == Method::HEAD {
        Vec::new()
    } else {
        body
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let response_headers = response.headers_mut();
    response_headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response_headers.insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    if gzipped {
        response_headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;

    #[test]
    fn gzip_negotiation() {
        let mut headers = HeaderMap::new();
        assert!(!accepts_gzip(&headers));
        headers.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("deflate, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&headers));
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0"));
        assert!(!accepts_gzip(&headers));
    }
}
