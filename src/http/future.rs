//! The response future of [`TelemetryService`](super::TelemetryService): runs the inner
//! future inside the request's span and finishes the request's telemetry when it completes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Response};
use pin_project_lite::pin_project;

use super::metrics::RequestMetrics;

pin_project! {
    /// Completes the inner service's response with the request id header, the span's status
    /// and the request's metrics.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        pub(super) inner: F,
        pub(super) span: tracing::Span,
        pub(super) request_id: Option<(HeaderName, HeaderValue)>,
        pub(super) metrics: RequestMetrics,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = std::task::ready!(this.inner.poll(cx));
        let status = match &result {
            Ok(response) => Some(response.status()),
            Err(_) => None,
        };
        match status {
            Some(status) => {
                this.span
                    .record("http.response.status_code", status.as_u16());
                if status.is_server_error() {
                    this.span.record("otel.status_code", "ERROR");
                    this.span.record("error.type", status.as_str());
                }
            }
            None => {
                this.span.record("otel.status_code", "ERROR");
                this.span.record("error.type", "_OTHER");
            }
        }
        // Inside the span, so that the observation can carry its trace as an exemplar.
        this.metrics.finish(status);
        Poll::Ready(result.map(|mut response| {
            if let Some((name, value)) = this.request_id.take() {
                response.headers_mut().insert(name, value);
            }
            response
        }))
    }
}
