//! One gRPC call's span and duration, finished once with its status code.

use std::time::Instant;

use http::HeaderMap;
use metrics::SharedString;

/// The server call duration histogram's name.
pub const SERVER_DURATION: &str = "rpc_server_duration_seconds";
/// The client call duration histogram's name.
pub const CLIENT_DURATION: &str = "rpc_client_duration_seconds";

/// `OK`.
const OK: u16 = 0;
/// `CANCELLED`: the body was dropped before it ended.
pub(super) const CANCELLED: u16 = 1;
/// `UNKNOWN`: an answer without a status.
pub(super) const UNKNOWN: u16 = 2;
/// `UNIMPLEMENTED`.
const UNIMPLEMENTED: u16 = 12;
/// `UNAVAILABLE`: the transport failed.
pub(super) const UNAVAILABLE: u16 = 14;

/// Which end of the call this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Server,
    Client,
}

/// `/package.Service/Method` split into service and method (`None` for another shape).
pub(super) fn service_and_method(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// The `grpc-status` in `headers` (response headers of a trailers-only answer, or trailers).
pub(super) fn status_in(headers: &HeaderMap) -> Option<u16> {
    headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The gRPC code for an HTTP answer that carries none, as gRPC's HTTP mapping says.
pub(super) fn status_of_http(status: http::StatusCode) -> u16 {
    match status.as_u16() {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => UNIMPLEMENTED,
        429 | 502..=504 => UNAVAILABLE,
        _ => UNKNOWN,
    }
}

/// Whether `code` fails a span on `side`.
fn fails(side: Side, code: u16) -> bool {
    match side {
        Side::Client => code != OK,
        Side::Server => matches!(code, 2 | 4 | 12 | 13 | 14 | 15),
    }
}

/// A gRPC code as a static label (codes are 0 to 16).
fn code_label(code: u16) -> SharedString {
    const CODES: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    CODES.get(usize::from(code)).map_or_else(
        || SharedString::from(code.to_string()),
        |text| SharedString::const_str(text),
    )
}

/// One call: its span, its labels, when it started; finished at most once.
#[derive(Debug)]
pub(super) struct GrpcCall {
    pub(super) span: tracing::Span,
    side: Side,
    service: SharedString,
    method: SharedString,
    start: Instant,
    finished: bool,
}

impl GrpcCall {
    /// Opens the span for the call to `path`: a server span whose parent is given by the
    /// caller, or a client span under the current one.
    pub(super) fn start(
        side: Side,
        path: &str,
        span: impl FnOnce(&str, &str, &str) -> tracing::Span,
    ) -> Self {
        let (service, method) = service_and_method(path).unwrap_or(("_OTHER", "_OTHER"));
        let name = format!("{service}/{method}");
        Self {
            span: span(&name, service, method),
            side,
            service: service.to_owned().into(),
            method: method.to_owned().into(),
            start: Instant::now(),
            finished: false,
        }
    }

    /// Records `code` on the span (failing it by the side's rules) and the duration, once.
    pub(super) fn finish(&mut self, code: u16) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let _entered = self.span.enter();
        self.span.record("rpc.grpc.status_code", code);
        if fails(self.side, code) {
            self.span.record("otel.status_code", "ERROR");
            self.span.record("error.type", code);
        }
        let (name, service, method) = match (self.side, code) {
            // An unknown method: its name came from the caller.
            (Side::Server, UNIMPLEMENTED) => (
                SERVER_DURATION,
                SharedString::const_str("_OTHER"),
                SharedString::const_str("_OTHER"),
            ),
            (Side::Server, _) => (SERVER_DURATION, self.service.clone(), self.method.clone()),
            (Side::Client, _) => (CLIENT_DURATION, self.service.clone(), self.method.clone()),
        };
        metrics::histogram!(
            name,
            "rpc_service" => service,
            "rpc_method" => method,
            "rpc_grpc_status_code" => code_label(code)
        )
        .record(self.start.elapsed().as_secs_f64());
    }
}

impl Drop for GrpcCall {
    fn drop(&mut self) {
        // Dropped before its status was seen: the call was abandoned.
        self.finish(CANCELLED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_statuses_and_failure_rules() {
        assert_eq!(
            service_and_method("/grpc.health.v1.Health/Check"),
            Some(("grpc.health.v1.Health", "Check"))
        );
        for bad in ["", "/", "//", "/svc", "/svc/", "svc/m", "/svc/m/x"] {
            assert_eq!(service_and_method(bad), None, "{bad:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(status_in(&headers), Some(5));
        headers.insert("grpc-status", http::HeaderValue::from_static("x"));
        assert_eq!(status_in(&headers), None);
        assert_eq!(
            status_of_http(http::StatusCode::SERVICE_UNAVAILABLE),
            UNAVAILABLE
        );
        assert_eq!(status_of_http(http::StatusCode::NOT_FOUND), UNIMPLEMENTED);
        assert!(
            fails(Side::Client, 5) && !fails(Side::Server, 5),
            "NOT_FOUND"
        );
        assert!(fails(Side::Server, 13) && !fails(Side::Server, 0));
        assert_eq!(code_label(16).as_ref(), "16");
        assert_eq!(code_label(99).as_ref(), "99");
    }
}
