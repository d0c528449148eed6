//! The request metrics: `http_server_request_duration_seconds{method, route, status}` and
//! `http_server_active_requests{method}`.

use std::time::Instant;

use http::{Method, StatusCode};
use metrics::SharedString;

/// The request duration histogram's name.
pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// The in-flight requests gauge's name.
pub const ACTIVE_REQUESTS: &str = "http_server_active_requests";

/// The method as a bounded label: the standard ones, `_OTHER` for anything else (as the
/// OpenTelemetry HTTP conventions say), so a client cannot mint series.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// One request's metrics: in flight from creation until [`finish`](Self::finish) (or drop,
/// when the request is cancelled).
#[derive(Debug)]
pub(crate) struct RequestMetrics {
    method: &'static str,
    /// The in-flight gauge, looked up once for both its increment and its decrement.
    active: metrics::Gauge,
    route: SharedString,
    start: Instant,
    finished: bool,
}

impl RequestMetrics {
    pub(crate) fn start(method: &'static str, route: SharedString) -> Self {
        let active = metrics::gauge!(ACTIVE_REQUESTS, "method" => method);
        active.increment(1.0);
        Self {
            method,
            active,
            route,
            start: Instant::now(),
            finished: false,
        }
    }

    /// Records the duration with the response's status (`None`: the service failed).
    pub(crate) fn finish(&mut self, status: Option<StatusCode>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let status: SharedString = match status {
            Some(status) => status_label(status),
            None => "error".into(),
        };
        metrics::histogram!(REQUEST_DURATION, "method" => self.method, "route" => self.route.clone(), "status" => status)
            .record(self.start.elapsed().as_secs_f64());
        self.active.decrement(1.0);
    }
}

impl Drop for RequestMetrics {
    fn drop(&mut self) {
        if !self.finished {
            // Cancelled (the client went away): out of flight, and not a response.
            self.finished = true;
            self.active.decrement(1.0);
        }
    }
}

/// Status codes as static strings, so the common ones do not allocate.
pub(crate) fn status_label(status: StatusCode) -> SharedString {
    match status.as_u16() {
        200 => "200".into(),
        201 => "201".into(),
        202 => "202".into(),
        204 => "204".into(),
        301 => "301".into(),
        302 => "302".into(),
        304 => "304".into(),
        400 => "400".into(),
        401 => "401".into(),
        403 => "403".into(),
        404 => "404".into(),
        409 => "409".into(),
        422 => "422".into(),
        429 => "429".into(),
        500 => "500".into(),
        502 => "502".into(),
        503 => "503".into(),
        504 => "504".into(),
        _ => status.as_str().to_owned().into(),
    }
}
