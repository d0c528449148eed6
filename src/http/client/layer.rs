//! [`ClientLayer`]: [`ClientCall`] around every request of a tower HTTP client.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::ClientCall;

/// Adds client telemetry to a tower HTTP client; see the [module documentation](super).
///
/// ```
/// use tower_layer::Layer;
///
/// // Any `Service<http::Request<B>, Response = http::Response<R>>`, such as hyper-util's
/// // `Client`; here a stand-in that answers 204.
/// let client = tower::service_fn(|_request: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::builder().status(204).body(()).unwrap())
/// });
/// let traced = telescope::http::client::ClientLayer::new().layer(client);
/// # drop(traced);
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct ClientLayer {
    _private: (),
}

impl ClientLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService { inner }
    }
}

/// The service [`ClientLayer`] wraps around a client.
#[derive(Debug, Clone)]
pub struct ClientService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ClientService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let call = ClientCall::start(request.method(), request.uri());
        call.inject(request.headers_mut());
        let inner = call.span().in_scope(|| self.inner.call(request));
        ClientFuture {
            inner,
            call: Some(call),
        }
    }
}

pin_project! {
    /// Runs the client's future inside the call's span and finishes the call with the
    /// response's status (or as failed, on an error).
    #[derive(Debug)]
    pub struct ClientFuture<F> {
        #[pin]
        inner: F,
        call: Option<ClientCall>,
    }
}

impl<F, B, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.call.as_ref().map(|call| call.span().enter());
            std::task::ready!(this.inner.poll(cx))
        };
        if let Some(call) = this.call.take() {
            call.finish(result.as_ref().ok().map(Response::status));
        }
        Poll::Ready(result)
    }
}
