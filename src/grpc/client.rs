//! [`GrpcClientLayer`]: a client span and duration for every call a gRPC client makes, and the
//! trace context in its metadata.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;

use super::body::{GrpcBody, GrpcFuture};
use super::call::{GrpcCall, Side, UNAVAILABLE};

/// Adds client telemetry to a gRPC channel (`tower::ServiceBuilder::new().layer(…)
/// .service(channel)`, then the generated client over it); see the [module
/// documentation](super).
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct GrpcClientLayer {
    _private: (),
}

impl GrpcClientLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for GrpcClientLayer {
    type Service = GrpcClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcClientService { inner }
    }
}

/// The service [`GrpcClientLayer`] wraps around a channel.
#[derive(Debug, Clone)]
pub struct GrpcClientService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcClientService<S>
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

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let server_address = request.uri().host().map(str::to_owned);
        let call = GrpcCall::start(
            Side::Client,
            request.uri().path(),
            |name, service, method| {
                tracing::info_span!(
                    "gRPC client request",
                    otel.name = name,
                    otel.kind = "client",
                    otel.status_code = Empty,
                    rpc.system = "grpc",
                    rpc.service = service,
                    rpc.method = method,
                    server.address = server_address.as_deref(),
                    rpc.grpc.status_code = Empty,
                    error.type = Empty,
                )
            },
        );
        let inner = call.span.in_scope(|| {
            telescope_otlp::propagation::inject_current(request.headers_mut());
            self.inner.call(request)
        });
        GrpcFuture::new(inner, call, UNAVAILABLE)
    }
}
