//! [`ClientCall`]: one outgoing request's span, headers and duration.

use std::time::Instant;

use http::{HeaderMap, Method, StatusCode, Uri};
use metrics::SharedString;
use tracing::field::Empty;

use crate::http::metrics::{method_label, status_label};

/// The client request duration histogram's name.
pub const CLIENT_REQUEST_DURATION: &str = "http_client_request_duration_seconds";

/// One outgoing HTTP request: its client span (a child of the current span), the headers
/// that carry the trace on, and its duration. Start it before sending, [`inject`] into the
/// request's headers, send inside [`span`], then [`finish`] with the status.
///
/// [`inject`]: Self::inject
/// [`span`]: Self::span
/// [`finish`]: Self::finish
#[derive(Debug)]
#[must_use = "finish the call, or it is neither measured nor ended with a status"]
pub struct ClientCall {
    span: tracing::Span,
    method: &'static str,
    server_address: SharedString,
    start: Instant,
}

impl ClientCall {
    /// Opens the client span for `method` on `uri` (query values of secret names redacted in
    /// `url.full`).
    pub fn start(method: &Method, uri: &Uri) -> Self {
        let method = method_label(method);
        let server_address: SharedString = uri.host().map_or_else(
            || SharedString::const_str(""),
            |host| host.to_owned().into(),
        );
        let url = redacted_url(uri);
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let span = tracing::info_span!(
            "HTTP client request",
            otel.name = method,
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = method,
            url.full = %url,
            server.address = uri.host(),
            server.port = port,
            http.response.status_code = Empty,
            error.type = Empty,
        );
        Self {
            span,
            method,
            server_address,
            start: Instant::now(),
        }
    }

    /// The client span: send the request inside it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Writes the client span's context and the current baggage into `headers`, in every
    /// format of the process-wide propagators. Returns whether there was a context (there is
    /// none when spans are filtered out or no telescope subscriber is installed).
    pub fn inject(&self, headers: &mut HeaderMap) -> bool {
        self.span
            .in_scope(|| telescope_otlp::propagation::inject_current(headers))
    }

    /// Ends the call: the status (`None` when the request failed without a response) on the
    /// span, which fails on 4xx, 5xx and errors, and the duration in
    /// [`CLIENT_REQUEST_DURATION`].
    pub fn finish(self, status: Option<StatusCode>) {
        let _entered = self.span.enter();
        let status_text: SharedString = match status {
            Some(status) => {
                self.span
                    .record("http.response.status_code", status.as_u16());
                if status.is_client_error() || status.is_server_error() {
                    self.span.record("otel.status_code", "ERROR");
                    self.span.record("error.type", status.as_str());
                }
                status_label(status)
            }
            None => {
                self.span.record("otel.status_code", "ERROR");
                self.span.record("error.type", "_OTHER");
                SharedString::const_str("error")
            }
        };
        metrics::histogram!(
            CLIENT_REQUEST_DURATION,
            "method" => self.method,
            "server_address" => self.server_address.clone(),
            "status" => status_text
        )
        .record(self.start.elapsed().as_secs_f64());
    }
}

/// The URI without user info, query values of secret names replaced.
fn redacted_url(uri: &Uri) -> String {
    let mut url = String::new();
    if let Some(scheme) = uri.scheme_str() {
        url.push_str(scheme);
        url.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        // `user:password@` never goes into telemetry.
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, host)| host);
        url.push_str(host_port);
    }
    url.push_str(uri.path());
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(&crate::http::query::redacted_query(
            query,
            telescope_core::redact::global(),
        ));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_keeps_no_credentials_and_no_secret_values() {
        let uri: Uri = "https://alice:hunter2@api.example:8443/v1/items?page=2&api_key=k3y"
            .parse()
            .expect("uri");
        assert_eq!(
            redacted_url(&uri),
            "https://api.example:8443/v1/items?page=2&api_key=REDACTED"
        );
        let plain: Uri = "http://inventory/items".parse().expect("uri");
        assert_eq!(redacted_url(&plain), "http://inventory/items");
    }
}
