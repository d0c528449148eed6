//! OTLP trace receivers on 127.0.0.1, over HTTP/protobuf and gRPC, that decode requests with
//! the official protobuf definitions (`opentelemetry-proto`) and answer as scripted. Each one
//! owns its runtime: dropping it stops the server.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Decode and keep it.
    Accept,
    /// Refuse with this HTTP status (gRPC: `UNAVAILABLE`), keeping nothing.
    Refuse(u16),
    /// Wait this long before accepting, to make the client time out.
    Stall(Duration),
    /// Refuse with 503 and `Retry-After: <seconds>` (gRPC: `UNAVAILABLE`).
    Throttle(u64),
}

/// A request the receiver decoded.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// The request path (HTTP) or gRPC method path.
    pub(crate) path: String,
    /// The `api-key` header or metadata, if sent.
    pub(crate) api_key: Option<String>,
    /// How the body came compressed (HTTP `Content-Encoding`, gRPC `grpc-encoding`), if it did.
    pub(crate) encoding: Option<String>,
    /// The decoded request.
    pub(crate) request: ExportTraceServiceRequest,
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    arrivals: Mutex<Vec<Instant>>,
}

impl State {
    fn next_reply(&self) -> Reply {
        self.arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Instant::now());
        self.script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or(Reply::Accept)
    }

    fn keep(&self, received: Received) {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(received);
    }
}

/// A running receiver.
pub(crate) struct Receiver {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    state: Arc<State>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    /// An OTLP/HTTP receiver on `port` (0: any), answering the first requests per `script`.
    pub(crate) fn http(port: u16, script: &[Reply]) -> Receiver {
        let (runtime, state, listener) = start(port, script);
        let addr = listener.local_addr().expect("local address");
        let serving = state.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle_http(request, state.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            state,
            _runtime: runtime,
        }
    }

    /// An OTLP/gRPC receiver on `port` (0: any), answering the first requests per `script`.
    pub(crate) fn grpc(port: u16, script: &[Reply]) -> Receiver {
        let (runtime, state, listener) = start(port, script);
        let addr = listener.local_addr().expect("local address");
        let service = TraceServiceServer::new(GrpcService(state.clone()))
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
        runtime.spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let _ = tonic::transport::Server::builder()
                .serve_with_incoming(service, incoming)
                .await;
        });
        Receiver {
            addr,
            state,
            _runtime: runtime,
        }
    }

    /// Everything decoded so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests arrived, accepted or not.
    pub(crate) fn requests(&self) -> usize {
        self.arrivals().len()
    }

    /// When each request arrived.
    pub(crate) fn arrivals(&self) -> Vec<Instant> {
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The names of every span decoded so far, in arrival order.
    pub(crate) fn span_names(&self) -> Vec<String> {
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
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn start(
    port: u16,
    script: &[Reply],
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
    let content_type_ok = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/x-protobuf");
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
    };
    match state.next_reply() {
        Reply::Refuse(code) => {
            return Ok(status(
                StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            ))
        }
        Reply::Throttle(seconds) => {
            let mut response = status(StatusCode::SERVICE_UNAVAILABLE);
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
            return Ok(response);
        }
        Reply::Stall(pause) => tokio::time::sleep(pause).await,
        Reply::Accept => {}
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
    let Ok(decoded) = ExportTraceServiceRequest::decode(body) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    state.keep(Received {
        path,
        api_key,
        encoding,
        request: decoded,
    });
    let mut response = Response::new(Full::new(Bytes::from(
        ExportTraceServiceResponse::default().encode_to_vec(),
    )));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(response)
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
        match self.0.next_reply() {
            Reply::Refuse(_) | Reply::Throttle(_) => {
                return Err(tonic::Status::unavailable("scripted refusal"))
            }
            Reply::Stall(pause) => tokio::time::sleep(pause).await,
            Reply::Accept => {}
        }
        self.0.keep(Received {
            path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export".to_owned(),
            api_key,
            encoding,
            request: request.into_inner(),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}
