//! [`MetricsServer`]: `GET /metrics` on a thread and runtime of its own, so it works in
//! applications without tokio and cannot be starved by the application's runtime.

use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE,
    RETRY_AFTER, VARY, WWW_AUTHENTICATE,
};
use http::request::Parts;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::Full;
use telescope_core::server::{BackgroundServer, ServerError};

use crate::{Format, MetricsHandle};

/// Where the server listens unless told otherwise (the port OpenTelemetry's Prometheus
/// exporter uses).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9464";

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
    /// [`ServerError::Bind`] if the address does not resolve or cannot be bound,
    /// [`ServerError::Start`] if the thread cannot start.
    pub fn start(self, handle: MetricsHandle) -> Result<MetricsServer, ServerError> {
        let token = self.bearer_token;
        let server = telescope_core::server::start_server(
            "metrics server",
            self.address.as_str(),
            "telescope-metrics-http",
            move |request| respond(&handle, token.as_deref(), request),
        )?;
        Ok(MetricsServer { server })
    }
}

/// A running `/metrics` server; stops on [`shutdown`](Self::shutdown) or drop.
///
/// ```
/// use telescope_metrics::{MetricsServer, TelescopeRecorder};
/// let (_recorder, handle) = TelescopeRecorder::builder().build();
/// let server = MetricsServer::builder().address("127.0.0.1:0").start(handle)?;
/// println!("scrape http://{}/metrics", server.local_addr());
/// # Ok::<(), telescope_metrics::ServerError>(())
/// ```
pub struct MetricsServer {
    server: BackgroundServer,
}

impl fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServer")
            .field("local_addr", &self.local_addr())
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
        self.server.local_addr()
    }

    /// Stops and waits for the thread to end (dropping does the same).
    pub fn shutdown(self) {
        self.server.shutdown();
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

/// Whether `Accept-Encoding` allows gzip: `gzip` or `*` with a non-zero quality, and
/// `gzip` not refused with `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    for value in headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for (coding, quality) in crate::negotiate::weighted(value) {
            if coding.eq_ignore_ascii_case("gzip") {
                gzip = Some(gzip.map_or(quality, |q: f32| q.max(quality)));
            } else if coding == "*" {
                any = Some(quality);
            }
        }
    }
    gzip.or(any).is_some_and(|quality| quality > 0.0)
}

pub(crate) fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

/// Whether `headers` carry `Authorization: Bearer <token>`.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    telescope_core::server::bearer_token_matches(
        headers.get(AUTHORIZATION).map(HeaderValue::as_bytes),
        token,
    )
}

fn respond(handle: &MetricsHandle, token: Option<&str>, request: &Parts) -> Response<Full<Bytes>> {
    if request.uri.path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found; metrics are at /metrics\n",
        );
    }
    if let Some(expected) = token {
        if !authorized(&request.headers, expected) {
            let mut refused = plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
            refused
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return refused;
        }
    }
    scrape_response(handle, &request.method, &request.headers)
}

/// The answer to a scrape of `handle`, whatever path it came on: the exposition in the format
/// `Accept` asks for (Prometheus text or OpenMetrics), gzipped when `Accept-Encoding` allows,
/// an empty body for `HEAD`, 405 for other methods. For serving metrics from your own
/// server or router (authorization, if any, is yours to check first).
///
/// ```
/// let (_recorder, handle) = telescope_metrics::TelescopeRecorder::builder().build();
/// let response = telescope_metrics::scrape_response(&handle, &http::Method::GET, &http::HeaderMap::new());
/// assert_eq!(response.status(), 200);
/// ```
pub fn scrape_response(
    handle: &MetricsHandle,
    method: &Method,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut refused = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        refused
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return refused;
    }
    let format = Format::from_accept(headers.get(ACCEPT).and_then(|v| v.to_str().ok()));
    let busy = || {
        let mut refused = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many scrapes in progress whose answers are not yet read; try again\n",
        );
        refused
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        refused
    };
    let gzipped_body = if accepts_gzip(headers) {
        match handle.scrape_body(format, true) {
            Ok(body) => body,
            Err(_) => return busy(),
        }
    } else {
        None
    };
    let gzipped = gzipped_body.is_some();
    let body = match gzipped_body {
        Some(body) => body,
        None => match handle.scrape_body(format, false) {
            Ok(body) => body.unwrap_or_default(),
            Err(_) => return busy(),
        },
    };
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    let mut response = Response::new(Full::new(body));
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
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("*"));
        assert!(accepts_gzip(&headers), "any coding");
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("*;q=1, gzip;q=0"));
        assert!(!accepts_gzip(&headers), "gzip refused by name wins over *");
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("GZIP;Q=0.001"));
        assert!(accepts_gzip(&headers));
    }

    #[test]
    fn format_negotiation_follows_qualities() {
        use crate::Format;
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        for (accept, expected) in [
            (None, Format::Prometheus),
            (Some(prometheus), Format::OpenMetrics),
            (Some("application/openmetrics-text;q=0"), Format::Prometheus),
            (
                Some("application/openmetrics-text;q=0.4,text/plain;q=0.5"),
                Format::Prometheus,
            ),
            (
                Some("text/plain;q=0.5,application/openmetrics-text"),
                Format::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text;q=oops"),
                Format::Prometheus,
            ),
            (Some("application/json"), Format::Prometheus),
        ] {
            assert_eq!(Format::from_accept(accept), expected, "{accept:?}");
        }
    }
}
