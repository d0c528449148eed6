//! HTTP server telemetry as a tower middleware: [`TelemetryLayer`] for axum, hyper and any
//! tower stack, and [`inject_context`] for outgoing requests.
//!
//! Each request gets a server span named `{method} {route}` (the route template, never the raw
//! path) that continues the caller's trace from `traceparent`, carries the OpenTelemetry HTTP
//! attributes and the request id, and is marked as an error on a 5xx. Every request, sampled
//! or not, is measured in `http_server_request_duration_seconds{method, route, status}` and
//! counted in `http_server_active_requests{method}` while in flight. The request id (from
//! `x-request-id`, or made up) is echoed in the response.
//!
//! ```
//! use axum::{routing::get, Router};
//!
//! let app: Router = Router::new()
//!     .route("/orders/{id}", get(|| async { "an order" }))
//!     .layer(telescope::http::TelemetryLayer::new());
//! # drop(app);
//! ```

pub mod client;
mod future;
mod metrics;
mod query;
mod request_id;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::metrics::SharedString;
use http::{HeaderMap, HeaderName, Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;

pub use self::future::ResponseFuture;
pub use self::metrics::{ACTIVE_REQUESTS, REQUEST_DURATION};

/// The header the request id is read from and echoed in, unless configured otherwise.
pub const DEFAULT_REQUEST_ID_HEADER: &str = "x-request-id";

/// Finds the route template of a request (such as `/orders/{id}`) from its method and URI.
type RouteFn = dyn Fn(&http::Method, &http::Uri) -> Option<String> + Send + Sync;

/// Adds server telemetry to a service; see the [module documentation](self).
#[derive(Clone)]
#[must_use]
pub struct TelemetryLayer {
    request_id_header: Option<HeaderName>,
    route: Option<Arc<RouteFn>>,
}

impl fmt::Debug for TelemetryLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryLayer")
            .field("request_id_header", &self.request_id_header)
            .field("custom_route", &self.route.is_some())
            .finish()
    }
}

impl Default for TelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl TelemetryLayer {
    /// Reads and echoes `x-request-id`; routes from axum's `MatchedPath` (with the `axum`
    /// feature, on by default).
    pub fn new() -> Self {
        Self {
            request_id_header: Some(HeaderName::from_static(DEFAULT_REQUEST_ID_HEADER)),
            route: None,
        }
    }

    /// Reads and echoes the request id in `header` instead (such as `x-correlation-id`).
    pub fn request_id_header(mut self, header: HeaderName) -> Self {
        self.request_id_header = Some(header);
        self
    }

    /// Neither reads nor echoes a request id.
    pub fn without_request_id(mut self) -> Self {
        self.request_id_header = None;
        self
    }

    /// How to find a request's route template when axum's `MatchedPath` is not there (plain
    /// hyper, another router). Return a template (`/orders/{id}`), never the raw path: it
    /// becomes a metric label. Requests it returns `None` for get no `http.route`, and the
    /// label `route=""`.
    ///
    /// ```
    /// let layer = telescope::http::TelemetryLayer::new().route_with(|_method, uri| {
    ///     uri.path().starts_with("/orders/").then(|| "/orders/{id}".to_owned())
    /// });
    /// # drop(layer);
    /// ```
    pub fn route_with(
        mut self,
        route: impl Fn(&http::Method, &http::Uri) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.route = Some(Arc::new(route));
        self
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`TelemetryLayer`] wraps around yours.
#[derive(Clone, Debug)]
pub struct TelemetryService<S> {
    inner: S,
    layer: TelemetryLayer,
}

impl TelemetryLayer {
    /// The route template, shared so that the span and the metric labels copy no text.
    fn route_of<B>(&self, request: &Request<B>) -> Option<Arc<str>> {
        #[cfg(feature = "axum")]
        if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
            return Some(Arc::from(matched.as_str()));
        }
        let route = self.route.as_ref()?;
        route(request.method(), request.uri()).map(Arc::from)
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The host the client addressed, from the URI or the `Host` header, without the port.
fn server_address<'r>(uri: &'r http::Uri, headers: &'r HeaderMap) -> Option<&'r str> {
    let host = uri.host().or_else(|| header_str(headers, "host"))?;
    // `[::1]:8080` keeps its brackets; `example.com:8080` loses its port.
    Some(match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => &host[..colon],
        _ => host,
    })
}

fn protocol_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TelemetryService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = metrics::method_label(request.method());
        let route = self.layer.route_of(&request);
        let request_id = self.layer.request_id_header.as_ref().map(|name| {
            let id = request_id::request_id(request.headers().get(name));
            (name.clone(), id)
        });
        let span_name = match &route {
            Some(route) => format!("{method} {route}"),
            None => method.to_owned(),
        };
        let headers = request.headers();
        let query = request
            .uri()
            .query()
            .map(|query| query::redacted_query(query, telescope_core::redact::global()));
        let span = {
            let has_parent = telescope_otlp::propagation::global().carries_context(headers);
            // Continues the caller's trace (in any configured format) and takes its baggage;
            // an invalid header starts a new trace (counted).
            let _remote = has_parent.then(|| telescope_otlp::propagation::remote_parent(headers));
            macro_rules! server_span {
                ($($parent:tt)*) => {
                    tracing::info_span!(
                        $($parent)*
                        "HTTP request",
                        otel.name = %span_name,
                        otel.kind = "server",
                        otel.status_code = Empty,
                        http.request.method = method,
                        http.route = route.as_deref(),
                        url.path = request.uri().path(),
                        url.query = query.as_deref(),
                        url.scheme = request.uri().scheme_str().unwrap_or("http"),
                        server.address = server_address(request.uri(), headers),
                        network.protocol.version = protocol_version(request.version()),
                        user_agent.original = header_str(headers, "user-agent"),
                        http.response.status_code = Empty,
                        error.type = Empty,
                        request_id = request_id.as_ref().and_then(|(_, id)| id.to_str().ok()),
                    )
                };
            }
            if has_parent {
                server_span!(parent: None,)
            } else {
                server_span!()
            }
        };
        let route_label = route.map_or(SharedString::const_str(""), SharedString::from);
        let metrics = metrics::RequestMetrics::start(method, route_label);
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ResponseFuture {
            inner,
            span,
            request_id,
            metrics,
        }
    }
}

/// Writes the current span's trace context (`traceparent`, `tracestate`) into the headers of
/// an outgoing request, so the next service continues the trace. Returns whether there was a
/// context to write.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// let injected = telescope::http::inject_context(&mut headers);
/// assert!(!injected, "no span is current here");
/// ```
pub fn inject_context(headers: &mut HeaderMap) -> bool {
    telescope_otlp::propagation::inject_current(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_address_drops_the_port_but_not_ipv6_brackets() {
        let origin_form: http::Uri = "/orders".parse().expect("uri");
        let with_host = |host: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("host", http::HeaderValue::from_static(host));
            headers
        };
        for (host, expected) in [
            ("shop.example:8080", "shop.example"),
            ("shop.example", "shop.example"),
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
        ] {
            let headers = with_host(host);
            assert_eq!(
                server_address(&origin_form, &headers),
                Some(expected),
                "{host}"
            );
        }
        assert_eq!(server_address(&origin_form, &HeaderMap::new()), None);
        let absolute: http::Uri = "http://api.example:9000/orders".parse().expect("uri");
        assert_eq!(
            server_address(&absolute, &HeaderMap::new()),
            Some("api.example")
        );
    }
}
