//! [`GrpcServerLayer`]: a server span and duration for every call a gRPC server answers.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;

use super::body::{GrpcBody, GrpcFuture};
use super::call::{GrpcCall, Side, UNKNOWN};

/// Adds server telemetry to a gRPC service (`tonic::transport::Server::builder().layer(…)`);
/// see the [module documentation](super).
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct GrpcServerLayer {
    _private: (),
}

impl GrpcServerLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for GrpcServerLayer {
    type Service = GrpcServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcServerService { inner }
    }
}

/// The service [`GrpcServerLayer`] wraps around a gRPC server's.
#[derive(Debug, Clone)]
pub struct GrpcServerService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcServerService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<GrpcBody<ResBody>>;
    type Error = S::Error;
    type Future = GrpcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let headers = request.headers();
        let carried = telescope_otlp::propagation::global().carries_context(headers);
        // Continues the caller's trace (and takes its baggage) from the call's metadata.
        let _remote = carried.then(|| telescope_otlp::propagation::remote_parent(headers));
        let call = GrpcCall::start(
            Side::Server,
            request.uri().path(),
            |name, service, method| {
                macro_rules! server_span {
                ($($parent:tt)*) => {
                    tracing::info_span!(
                        $($parent)*
                        "gRPC request",
                        otel.name = name,
                        otel.kind = "server",
                        otel.status_code = Empty,
                        rpc.system = "grpc",
                        rpc.service = service,
                        rpc.method = method,
                        rpc.grpc.status_code = Empty,
                        error.type = Empty,
                    )
                };
            }
                if carried {
                    server_span!(parent: None,)
                } else {
                    server_span!()
                }
            },
        );
        let inner = call.span.in_scope(|| self.inner.call(request));
        GrpcFuture::new(inner, call, UNKNOWN)
    }
}
