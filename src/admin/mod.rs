//! [`AdminServer`]: one port for everything an operator looks at: `/metrics`, the health
//! probes, `/debug/traces` and `/debug/overview`, on a thread and runtime of its own so that it
//! answers while the application is busy. The JSON of the two pages is documented in
//! `docs/debug-traces.md`.

mod overview;
mod overview_page;
mod overview_route;
mod query;
mod rate_window;
mod slo_page;
mod trace_filter;
mod trace_json;
mod traces;
mod traces_page;
mod traces_route;
mod waterfall;

use std::fmt;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use telescope_core::server::BackgroundServer;
pub use telescope_core::server::ServerError;
use telescope_health::Health;
use telescope_metrics::MetricsHandle;
use telescope_otlp::SpanRing;

use crate::slo::SloMonitor;

/// The paths served besides the health probes (each a label of its own in
/// `telescope_admin_errors_total`).
const PATHS: [&str; 7] = [
    "/",
    "/metrics",
    "/debug/traces",
    "/debug/traces/",
    "/debug/overview",
    "/slo",
    "/slo/rules.yml",
];

/// Where the admin server listens unless told otherwise (`TELESCOPE_ADMIN_ADDR`).
pub const DEFAULT_ADMIN_ADDRESS: &str = telescope_metrics::DEFAULT_ADDRESS;

/// Configures an [`AdminServer`]; each part it serves is optional.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct AdminServerBuilder {
    address: Option<String>,
    bearer_token: Option<String>,
    metrics: Option<MetricsHandle>,
    health: Option<Health>,
    traces: Option<SpanRing>,
    /// The SLO monitor and the rules text served at `/slo/rules.yml`.
    slo: Option<(Arc<SloMonitor>, Arc<str>)>,
    service_name: String,
}

impl AdminServerBuilder {
    /// Listen on `address` (default [`DEFAULT_ADMIN_ADDRESS`]; port 0 picks a free port).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Require `Authorization: Bearer <token>` on `/metrics`, `/debug/traces` and `/`. The
    /// health probes stay open: kubelets and load balancers send no token.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// Serve this recorder's metrics on `/metrics`, and the overview of its request and span
    /// durations on `/debug/overview` (`?sort=`, `?order=asc|desc`, `?name=`, `?format=json`).
    pub fn metrics(mut self, handle: MetricsHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// Serve these probes on `/livez`, `/readyz`, `/startupz` and `/healthz`.
    pub fn health(mut self, health: Health) -> Self {
        self.health = Some(health);
        self
    }

    /// Serve this ring's traces (recent and kept) on `/debug/traces`: failed first, then the slowest;
    /// `?limit=N`, `?trace_id=<32 hex>`, `?name=<text a span name contains>`,
    /// `?status=error|ok`, `?min_ms=N`, `?format=json`.
    pub fn traces(mut self, ring: SpanRing) -> Self {
        self.traces = Some(ring);
        self
    }

    /// Serve these SLOs' status on `/slo` and `rules` (their Prometheus rules) on
    /// `/slo/rules.yml`.
    pub fn slo(mut self, monitor: Arc<SloMonitor>, rules: String) -> Self {
        self.slo = Some((monitor, Arc::from(rules)));
        self
    }

    /// The service name shown in page titles.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Binds now (a busy port is an error here, not a surprise later) and serves on a new
    /// thread.
    ///
    /// # Errors
    /// [`ServerError::Bind`] if the address does not resolve or cannot be bound,
    /// [`ServerError::Start`] if the thread cannot start.
    pub fn start(self) -> Result<AdminServer, ServerError> {
        let address = self
            .address
            .clone()
            .unwrap_or_else(|| DEFAULT_ADMIN_ADDRESS.to_owned());
        let routes = Routes {
            rate_window: std::sync::Mutex::new(rate_window::RateWindow::new(
                std::time::Instant::now(),
            )),
            token: self.bearer_token,
            metrics: self.metrics,
            health: self.health,
            traces: self.traces,
            slo: self.slo,
            service_name: self.service_name,
        };
        let server = telescope_core::server::start_server(
            "admin server",
            address.as_str(),
            "telescope-admin",
            move |request| routes.respond(request),
        )?;
        Ok(AdminServer { server })
    }
}

/// The running admin server; stops on [`shutdown`](Self::shutdown) or drop.
///
/// ```
/// use telescope::admin::AdminServer;
/// let (_recorder, metrics) = telescope::recorder::TelescopeRecorder::builder().build();
/// let server = AdminServer::builder()
///     .address("127.0.0.1:0")
///     .metrics(metrics)
///     .health(telescope::health::Health::new())
///     .traces(telescope::otlp::SpanRing::new(1000))
///     .start()?;
/// println!("open http://{}/debug/traces", server.local_addr());
/// # Ok::<(), telescope::admin::ServerError>(())
/// ```
pub struct AdminServer {
    server: BackgroundServer,
}

impl fmt::Debug for AdminServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminServer")
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl AdminServer {
    /// A builder serving nothing yet, on [`DEFAULT_ADMIN_ADDRESS`].
    pub fn builder() -> AdminServerBuilder {
        AdminServerBuilder::default()
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops and waits for the server thread (dropping does the same).
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}

/// What the server answers with.
struct Routes {
    /// The bearer token, when one is required.
    token: Option<String>,
    metrics: Option<MetricsHandle>,
    health: Option<Health>,
    traces: Option<SpanRing>,
    slo: Option<(Arc<SloMonitor>, Arc<str>)>,
    service_name: String,
    /// Samples of the span duration counts, for the overview's rates.
    rate_window: std::sync::Mutex<rate_window::RateWindow>,
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn not_found() -> Response<Full<Bytes>> {
    text(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        "not found; see / for what is served here\n",
    )
}

/// Runs `handler`; if it panics, answers 500 with a short message instead of dropping the
/// connection, counts it in `telescope_admin_errors_total{path}` and says so once on stderr.
fn guarded(path: &str, handler: impl FnOnce() -> Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    static ANNOUNCED: AtomicBool = AtomicBool::new(false);
    let panic = match std::panic::catch_unwind(AssertUnwindSafe(handler)) {
        Ok(response) => return response,
        Err(panic) => panic,
    };
    let message: String = telescope_core::panic_message(&*panic)
        .chars()
        .take(200)
        .collect();
    // Known paths only: a label per requested path would be unbounded.
    let label = match path {
        _ if PATHS.contains(&path) || telescope_health::is_endpoint(path) => path,
        _ => "other",
    };
    metrics::counter!(telescope_core::metric_names::ADMIN_ERRORS_TOTAL, "path" => label.to_owned())
        .increment(1);
    if !ANNOUNCED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "telescope: the admin server's handler for {label} failed ({message}); it answered 500. \
             Further failures are counted in {}",
            telescope_core::metric_names::ADMIN_ERRORS_TOTAL
        );
    }
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/plain; charset=utf-8",
        format!("internal error: {message}\n"),
    )
}

impl Routes {
    fn respond(&self, request: &Parts) -> Response<Full<Bytes>> {
        guarded(request.uri.path(), || self.route(request))
    }

    fn route(&self, request: &Parts) -> Response<Full<Bytes>> {
        let path = request.uri.path();
        if let Some(health) = &self.health {
            if telescope_health::is_endpoint(path) {
                return telescope_health::respond(
                    health,
                    &request.method,
                    &request.uri,
                    &request.headers,
                );
            }
        }
        if !PATHS.contains(&path) {
            return not_found();
        }
        if let Some(refused) = self.refusal(request) {
            return refused;
        }
        if path == "/metrics" {
            return match &self.metrics {
                Some(handle) => {
                    telescope_metrics::scrape_response(handle, &request.method, &request.headers)
                }
                None => not_found(),
            };
        }
        if request.method != Method::GET && request.method != Method::HEAD {
            let mut refused = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "method not allowed\n",
            );
            refused
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return refused;
        }
        let mut response = match (path, &self.slo) {
            ("/", _) => self.index(),
            ("/slo", Some((monitor, _))) => text(
                StatusCode::OK,
                "text/html; charset=utf-8",
                slo_page::render(&self.service_name, monitor),
            ),
            ("/slo/rules.yml", Some((_, rules))) => text(
                StatusCode::OK,
                "application/yaml",
                Bytes::from(rules.as_bytes().to_vec()),
            ),
            ("/slo" | "/slo/rules.yml", None) => not_found(),
            ("/debug/overview", _) => match &self.metrics {
                Some(metrics) => self.overview_page(metrics, request.uri.query()),
                None => not_found(),
            },
            _ => match &self.traces {
                Some(ring) => self.traces_page(ring, request.uri.query()),
                None => not_found(),
            },
        };
        if request.method == Method::HEAD {
            *response.body_mut() = Full::new(Bytes::new());
        }
        response
    }

    /// `401` when a bearer token is required and the request does not carry it.
    fn refusal(&self, request: &Parts) -> Option<Response<Full<Bytes>>> {
        let token = self.token.as_ref()?;
        let given = request
            .headers
            .get(AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if telescope_core::server::bearer_token_matches(given, token) {
            return None;
        }
        let mut refused = text(
            StatusCode::UNAUTHORIZED,
            "text/plain; charset=utf-8",
            "unauthorized\n",
        );
        refused
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Some(refused)
    }

    fn index(&self) -> Response<Full<Bytes>> {
        let mut links = String::new();
        if self.metrics.is_some() {
            links.push_str("<li><a href=\"/metrics\">/metrics</a>: Prometheus metrics (OpenMetrics with exemplars when asked by <code>Accept</code>)</li>");
        }
        if self.health.is_some() {
            links.push_str("<li><a href=\"/livez?verbose\">/livez</a>, <a href=\"/readyz?verbose\">/readyz</a>, <a href=\"/startupz?verbose\">/startupz</a>, <a href=\"/healthz?verbose\">/healthz</a>: health probes</li>");
        }
        if self.slo.is_some() {
            links.push_str("<li><a href=\"/slo\">/slo</a>: SLOs, error budgets and burn rates; <a href=\"/slo/rules.yml\">their Prometheus rules</a></li>");
        }
        if self.metrics.is_some() {
            links.push_str("<li><a href=\"/debug/overview\">/debug/overview</a>: every operation's rate, error rate, p50/p90/p99 and latency histogram, with exemplars that open their traces</li>");
        }
        if self.traces.is_some() {
            links.push_str("<li><a href=\"/debug/traces\">/debug/traces</a>: recent traces, failed and slowest first, filtered by span name, status or duration (<a href=\"/debug/traces?format=json\">JSON</a>); <a href=\"/debug/traces?status=error\">failed only</a></li>");
        }
        let service = traces_page::escape(&self.service_name);
        let body = format!(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>{service} · telescope</title></head>\
             <body style=\"font:14px system-ui,sans-serif;margin:1.5em\"><h1>{service}</h1><ul>{links}</ul></body></html>\n"
        );
        text(StatusCode::OK, "text/html; charset=utf-8", body)
    }

    fn overview_page(&self, metrics: &MetricsHandle, query: Option<&str>) -> Response<Full<Bytes>> {
        overview_route::respond(
            &overview_route::Sources {
                metrics,
                traces: self.traces.as_ref(),
                rate_window: &self.rate_window,
                service: &self.service_name,
            },
            query,
        )
    }

    fn traces_page(&self, ring: &SpanRing, query: Option<&str>) -> Response<Full<Bytes>> {
        traces_route::respond(ring, &self.service_name, query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_that_panics_answers_500_and_is_counted() {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let response = metrics::with_local_recorder(&recorder, || {
            guarded("/debug/traces", || panic!("the page math broke"))
        });
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body();
        let body = body_text(body);
        assert_eq!(body, "internal error: the page math broke\n");
        let counted: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == "telescope_admin_errors_total")
            .map(|(key, _, _, value)| {
                (
                    key.key()
                        .labels()
                        .map(|l| l.value().to_owned())
                        .collect::<Vec<_>>(),
                    value,
                )
            })
            .collect();
        assert_eq!(
            counted,
            [(
                vec!["/debug/traces".to_owned()],
                metrics_util::debugging::DebugValue::Counter(1)
            )]
        );
        // An unknown path is not a label of its own.
        let response = guarded("/random-1234", || panic!("x"));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    /// The bytes of a `Full` body.
    fn body_text(body: Full<Bytes>) -> String {
        use http_body_util::BodyExt as _;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let bytes = runtime
            .block_on(body.collect())
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            traces_page::escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
