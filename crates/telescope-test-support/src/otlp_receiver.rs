//! OTLP trace receivers on 127.0.0.1, over HTTP/protobuf and gRPC, that decode requests with
//! the official protobuf definitions (`opentelemetry-proto`) and answer as scripted. Each one
//! owns its runtime: dropping it stops the server.
//!
//! A receiver can also count instead of keeping ([`Receiver::counting_http`]), for throughput
//! runs where keeping millions of decoded spans would measure the allocator.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Decode and keep it.
    Accept,
    /// Refuse with this HTTP status, keeping nothing. Over gRPC the status maps to the code a
    /// gateway would use: 400 `INVALID_ARGUMENT`, 401 `UNAUTHENTICATED`, 403
    /// `PERMISSION_DENIED`, 404 `UNIMPLEMENTED`, 429 `RESOURCE_EXHAUSTED`, anything else
    /// `UNAVAILABLE`.
    Refuse(u16),
    /// Wait this long before accepting, to make the client time out.
    Stall(Duration),
    /// Refuse with this status and `Retry-After: <seconds>` (gRPC: `RESOURCE_EXHAUSTED` for
    /// 429, else `UNAVAILABLE`, with `RetryInfo` carrying the delay).
    Throttle(u16, u64),
    /// Decode and keep it, answering with an OTLP partial success rejecting this many spans.
    Partial(i64),
}

/// A request the receiver decoded.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path (HTTP) or gRPC method path.
    pub path: String,
    /// The `api-key` header or metadata, if sent.
    pub api_key: Option<String>,
    /// How the body came compressed (HTTP `Content-Encoding`, gRPC `grpc-encoding`), if it did.
    pub encoding: Option<String>,
    /// The decoded request.
    pub request: ExportTraceServiceRequest,
}

#[derive(Debug, Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    /// The reply once the script is used up.
    fallback: Mutex<Option<Reply>>,
    /// Count spans instead of keeping requests.
    counting: bool,
    spans: AtomicU64,
    received: Mutex<Vec<Received>>,
    /// Log export requests decoded (`/v1/logs`, the gRPC logs service).
    logs: Mutex<Vec<ExportLogsServiceRequest>>,
    /// Zipkin v2 spans posted to `/api/v2/spans`, as JSON.
    zipkin: Mutex<Vec<serde_json::Value>>,
    /// Metric export requests decoded (`/v1/metrics`, the gRPC metrics service).
    metrics: Mutex<Vec<ExportMetricsServiceRequest>>,
    arrivals: Mutex<Vec<Instant>>,
    /// TLS handshakes that failed (a client that does not trust us, or sent no certificate
    /// when one was required).
    handshakes_failed: AtomicU64,
}

impl State {
    fn next_reply(&self) -> Reply {
        if !self.counting {
            self.arrivals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Instant::now());
        }
        self.script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .or(*self.fallback.lock().unwrap_or_else(PoisonError::into_inner))
            .unwrap_or(Reply::Accept)
    }

    fn keep_logs(&self, request: ExportLogsServiceRequest) {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }

    fn keep(&self, received: Received) {
        let spans: usize = received
            .request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        if !self.counting {
            self.received
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(received);
        }
    }
}

/// A running receiver.
#[derive(Debug)]
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    /// An OTLP/HTTP receiver on `port` (0: any), answering the first requests per `script`,
    /// then accepting.
    pub fn http(port: u16, script: &[Reply]) -> Receiver {
        Self::serve_http(port, script, None, false)
    }

    /// An OTLP/HTTP receiver answering the first requests per `script`, then every request
    /// with `fallback`.
    pub fn http_then(port: u16, script: &[Reply], fallback: Reply) -> Receiver {
        Self::serve_http(port, script, Some(fallback), false)
    }

    /// An OTLP/HTTP receiver that decodes every request and counts its spans
    /// ([`spans`](Self::spans)) without keeping them or their arrival times.
    pub fn counting_http(port: u16) -> Receiver {
        Self::serve_http(port, &[], None, true)
    }

    /// An OTLP/gRPC receiver that decodes every request and counts its spans.
    pub fn counting_grpc(port: u16) -> Receiver {
        Self::serve_grpc(port, &[], None, true)
    }

    /// An OTLP/HTTP receiver over TLS (`tls` from
    /// [`TestPki::server_config`](crate::tls::TestPki::server_config)), accepting.
    pub fn https(port: u16, tls: Arc<rustls::ServerConfig>) -> Receiver {
        Self::serve_http_maybe_tls(port, &[], None, false, Some(tls))
    }

    fn serve_http(
        port: u16,
        script: &[Reply],
        fallback: Option<Reply>,
        counting: bool,
    ) -> Receiver {
        Self::serve_http_maybe_tls(port, script, fallback, counting, None)
    }

    fn serve_http_maybe_tls(
        port: u16,
        script: &[Reply],
        fallback: Option<Reply>,
        counting: bool,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Receiver {
        let (runtime, state, listener) = start(port, script, fallback, counting);
        let addr = listener.local_addr().expect("local address");
        let serving = state.clone();
        runtime.spawn(accept_loop(listener, tls, state.clone(), move |io| {
            let state = serving.clone();
            async move {
                let service =
                    hyper::service::service_fn(move |request| handle_http(request, state.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            }
        }));
        Receiver {
            addr,
            state,
            _runtime: runtime,
        }
    }

    /// An OTLP/gRPC receiver on `port` (0: any), answering the first requests per `script`,
    /// then accepting.
    pub fn grpc(port: u16, script: &[Reply]) -> Receiver {
        Self::serve_grpc(port, script, None, false)
    }

    /// An OTLP/gRPC receiver answering the first requests per `script`, then every request
    /// with `fallback`.
    pub fn grpc_then(port: u16, script: &[Reply], fallback: Reply) -> Receiver {
        Self::serve_grpc(port, script, Some(fallback), false)
    }

    fn serve_grpc(
        port: u16,
        script: &[Reply],
        fallback: Option<Reply>,
        counting: bool,
    ) -> Receiver {
        let (runtime, state, listener) = start(port, script, fallback, counting);
        let addr = listener.local_addr().expect("local address");
        let service = services(&state);
        runtime.spawn(async move {
            // As a real collector does (Go sets TCP_NODELAY on every connection): without it, small
            // writes wait for delayed acknowledgements.
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            let _ = tonic::transport::Server::builder()
                .add_routes(service)
                .serve_with_incoming(incoming)
                .await;
        });
        Receiver {
            addr,
            state,
            _runtime: runtime,
        }
    }

    /// An OTLP/gRPC receiver over TLS (`tls` from
    /// [`TestPki::server_config`](crate::tls::TestPki::server_config) with ALPN `h2`),
    /// accepting. tonic's own TLS is not compiled in, so hyper serves the service over
    /// tokio-rustls.
    pub fn grpc_tls(port: u16, tls: Arc<rustls::ServerConfig>) -> Receiver {
        let (runtime, state, listener) = start(port, &[], None, false);
        let addr = listener.local_addr().expect("local address");
        let service = services(&state).prepare();
        runtime.spawn(accept_loop(listener, Some(tls), state.clone(), move |io| {
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            async move {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, service)
                    .await;
            }
        }));
        Receiver {
            addr,
            state,
            _runtime: runtime,
        }
    }

    /// The log export requests decoded so far.
    pub fn log_requests(&self) -> Vec<ExportLogsServiceRequest> {
        self.state
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The Zipkin spans posted so far, as JSON.
    pub fn zipkin_spans(&self) -> Vec<serde_json::Value> {
        self.state
            .zipkin
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The metric export requests decoded so far.
    pub fn metric_requests(&self) -> Vec<ExportMetricsServiceRequest> {
        self.state
            .metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every log record decoded so far, in arrival order.
    pub fn log_records(&self) -> Vec<LogRecord> {
        self.log_requests()
            .into_iter()
            .flat_map(|request| request.resource_logs)
            .flat_map(|resource| resource.scope_logs)
            .flat_map(|scope| scope.log_records)
            .collect()
    }

    /// TLS handshakes that failed so far.
    pub fn handshakes_failed(&self) -> u64 {
        self.state.handshakes_failed.load(Ordering::Relaxed)
    }

    /// From now on, answers the next requests per `script`, then every request with
    /// `fallback`.
    pub fn set_replies(&self, script: &[Reply], fallback: Reply) {
        *self
            .state
            .script
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = script.iter().copied().collect();
        *self
            .state
            .fallback
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(fallback);
    }

    /// Everything decoded so far.
    pub fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many spans were decoded and accepted so far (all of a request's, even when a
    /// partial success rejects some).
    pub fn spans(&self) -> u64 {
        self.state.spans.load(Ordering::Relaxed)
    }

    /// How many requests arrived, accepted or not.
    pub fn requests(&self) -> usize {
        self.arrivals().len()
    }

    /// When each request arrived.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The names of every span decoded so far, in arrival order.
    pub fn span_names(&self) -> Vec<String> {
        self.received()
            .iter()
            .flat_map(|r| &r.request.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect()
    }
}

/// A port nobody listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A connection, plaintext or TLS, as hyper reads it.
type Io = TokioIo<Box<dyn Stream>>;

/// A socket that may be wrapped in TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

/// Accepts connections (through a TLS handshake when `tls` is set, counting the failed ones)
/// and serves each on a task of its own, where the handshake runs too: a slow client does not
/// hold up the others.
async fn accept_loop<F, Fut>(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Arc<State>,
    serve: F,
) where
    F: Fn(Io) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let serve = Arc::new(serve);
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let (acceptor, state, serve) = (acceptor.clone(), state.clone(), serve.clone());
        tokio::spawn(async move {
            let io: Box<dyn Stream> = match acceptor {
                None => Box::new(stream),
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => Box::new(tls),
                    Err(_) => {
                        state.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                },
            };
            serve(TokioIo::new(io)).await;
        });
    }
}

fn start(
    port: u16,
    script: &[Reply],
    fallback: Option<Reply>,
    counting: bool,
) -> (tokio::runtime::Runtime, Arc<State>, tokio::net::TcpListener) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("receiver runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .expect("bind the receiver");
    let state = Arc::new(State {
        script: Mutex::new(script.iter().copied().collect()),
        fallback: Mutex::new(fallback),
        counting,
        ..State::default()
    });
    (runtime, state, listener)
}

async fn handle_http(
    request: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let api_key = request
        .headers()
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let encoding = header_text(request.headers(), http::header::CONTENT_ENCODING);
    let request_content_type = header_text(request.headers(), http::header::CONTENT_TYPE);
    let content_type_ok = request_content_type.as_deref() == Some("application/x-protobuf");
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
    };
    let mut rejected = 0;
    match state.next_reply() {
        Reply::Refuse(code) => {
            return Ok(status(
                StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            ))
        }
        Reply::Throttle(code, seconds) => {
            let mut response =
                status(StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE));
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
            return Ok(response);
        }
        Reply::Stall(pause) => tokio::time::sleep(pause).await,
        Reply::Partial(spans) => rejected = spans,
        Reply::Accept => {}
    }
    if path == "/api/v2/spans" {
        return Ok(zipkin(&state, request_content_type.as_deref(), &body));
    }
    if !content_type_ok {
        return Ok(status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    let body = match encoding.as_deref() {
        None => body,
        Some("gzip") => match gunzip(&body) {
            Some(body) => body,
            None => return Ok(status(StatusCode::BAD_REQUEST)),
        },
        Some(_) => return Ok(status(StatusCode::UNSUPPORTED_MEDIA_TYPE)),
    };
    if path.ends_with("/v1/metrics") || path.ends_with("/v1/logs") {
        return Ok(logs_or_metrics(&state, &path, body, rejected));
    }
    let Ok(decoded) = ExportTraceServiceRequest::decode(body) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    state.keep(Received {
        path,
        api_key,
        encoding,
        request: decoded,
    });
    Ok(protobuf(answer(rejected).encode_to_vec()))
}

/// A 200 answer with a protobuf body.
fn protobuf(body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    response
}

/// Zipkin v2: a JSON array of spans, answered 202 as Zipkin does.
fn zipkin(state: &State, content_type: Option<&str>, body: &[u8]) -> Response<Full<Bytes>> {
    let Ok(serde_json::Value::Array(spans)) = serde_json::from_slice(body) else {
        return status(StatusCode::BAD_REQUEST);
    };
    if content_type != Some("application/json") {
        return status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    state
        .zipkin
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(spans);
    status(StatusCode::ACCEPTED)
}

/// An OTLP/HTTP logs or metrics request, decoded and kept.
fn logs_or_metrics(state: &State, path: &str, body: Bytes, rejected: i64) -> Response<Full<Bytes>> {
    if path.ends_with("/v1/metrics") {
        let Ok(decoded) = ExportMetricsServiceRequest::decode(body) else {
            return status(StatusCode::BAD_REQUEST);
        };
        state
            .metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(decoded);
        return protobuf(
            ExportMetricsServiceResponse {
                partial_success: None,
            }
            .encode_to_vec(),
        );
    }
    let Ok(decoded) = ExportLogsServiceRequest::decode(body) else {
        return status(StatusCode::BAD_REQUEST);
    };
    state.keep_logs(decoded);
    protobuf(logs_answer(rejected).encode_to_vec())
}

fn header_text(headers: &http::HeaderMap, name: http::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn gunzip(body: &[u8]) -> Option<Bytes> {
    use std::io::Read;
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut plain)
        .ok()?;
    Some(Bytes::from(plain))
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

struct GrpcService(Arc<State>);

#[async_trait::async_trait]
impl TraceService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let metadata_text = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let api_key = metadata_text("api-key");
        let encoding = metadata_text("grpc-encoding");
        let mut rejected = 0;
        match self.0.next_reply() {
            Reply::Refuse(code) => {
                return Err(tonic::Status::new(grpc_code(code), "scripted refusal"))
            }
            Reply::Throttle(code, seconds) => {
                use tonic_types::StatusExt as _;
                let details =
                    tonic_types::ErrorDetails::with_retry_info(Some(Duration::from_secs(seconds)));
                return Err(tonic::Status::with_error_details(
                    grpc_code(code),
                    "scripted throttling",
                    details,
                ));
            }
            Reply::Stall(pause) => tokio::time::sleep(pause).await,
            Reply::Partial(spans) => rejected = spans,
            Reply::Accept => {}
        }
        self.0.keep(Received {
            path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export".to_owned(),
            api_key,
            encoding,
            request: request.into_inner(),
        });
        Ok(tonic::Response::new(answer(rejected)))
    }
}

impl GrpcService {
    /// The scripted answer for a logs or metrics request: refused (throttling reads as a
    /// refusal here), stalled, or taken with this many items rejected.
    async fn scripted(&self) -> Result<i64, tonic::Status> {
        match self.0.next_reply() {
            Reply::Refuse(code) | Reply::Throttle(code, _) => {
                Err(tonic::Status::new(grpc_code(code), "scripted refusal"))
            }
            Reply::Stall(pause) => {
                tokio::time::sleep(pause).await;
                Ok(0)
            }
            Reply::Partial(rejected) => Ok(rejected),
            Reply::Accept => Ok(0),
        }
    }
}

#[async_trait::async_trait]
impl LogsService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let rejected = self.scripted().await?;
        self.0.keep_logs(request.into_inner());
        Ok(tonic::Response::new(logs_answer(rejected)))
    }
}

#[async_trait::async_trait]
impl MetricsService for GrpcService {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.scripted().await?;
        self.0
            .metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

/// The trace, logs and metrics services, gzip accepted.
fn services(state: &Arc<State>) -> tonic::service::Routes {
    let gzip = tonic::codec::CompressionEncoding::Gzip;
    tonic::service::Routes::new(
        TraceServiceServer::new(GrpcService(state.clone())).accept_compressed(gzip),
    )
    .add_service(LogsServiceServer::new(GrpcService(state.clone())).accept_compressed(gzip))
    .add_service(MetricsServiceServer::new(GrpcService(state.clone())).accept_compressed(gzip))
}

/// The gRPC code a gateway would answer for an HTTP status.
fn grpc_code(http_status: u16) -> tonic::Code {
    match http_status {
        400 => tonic::Code::InvalidArgument,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::Unimplemented,
        429 => tonic::Code::ResourceExhausted,
        _ => tonic::Code::Unavailable,
    }
}

/// A logs success, rejecting `rejected` records when positive.
fn logs_answer(rejected: i64) -> ExportLogsServiceResponse {
    ExportLogsServiceResponse {
        partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: rejected,
            error_message: "scripted partial success".to_owned(),
        }),
    }
}

/// A success, rejecting `rejected` spans when positive.
fn answer(rejected: i64) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: "scripted partial success".to_owned(),
        }),
    }
}
