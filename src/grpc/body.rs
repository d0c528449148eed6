//! [`GrpcBody`]: a response body that ends its call when it ends, with the status its
//! trailers carry.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::call::{status_in, status_of_http, GrpcCall, UNKNOWN};

pin_project! {
    /// A gRPC response body that finishes the call's telemetry when its trailers arrive, when
    /// it ends, or (as `CANCELLED`) when it is dropped before that.
    #[derive(Debug)]
    pub struct GrpcBody<B> {
        #[pin]
        inner: B,
        call: Option<GrpcCall>,
    }
}

impl<B: Body> GrpcBody<B> {
    /// `response` with its body wrapped: the call ends now if the headers say how (a
    /// trailers-only answer, or an HTTP error without a gRPC status), else when the body does.
    pub(super) fn wrap(response: Response<B>, mut call: Option<GrpcCall>) -> Response<Self> {
        let code = status_in(response.headers()).or_else(|| {
            (!response.status().is_success()).then(|| status_of_http(response.status()))
        });
        if let Some(code) = code {
            if let Some(mut ended) = call.take() {
                ended.finish(code);
            }
        }
        // A body that is already over will not be polled for trailers it does not have.
        if response.body().is_end_stream() {
            if let Some(mut ended) = call.take() {
                ended.finish(UNKNOWN);
            }
        }
        response.map(|inner| Self { inner, call })
    }
}

impl<B: Body> Body for GrpcBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = {
            let _entered = this.call.as_ref().map(|call| call.span.enter());
            std::task::ready!(this.inner.poll_frame(cx))
        };
        let finished = match &frame {
            Some(Ok(frame)) => frame
                .trailers_ref()
                .map(|trailers| status_in(trailers).unwrap_or(UNKNOWN)),
            // A stream that fails, or ends without trailers, carries no status.
            Some(Err(_)) | None => Some(UNKNOWN),
        };
        if let Some(code) = finished {
            if let Some(mut call) = this.call.take() {
                call.finish(code);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// Runs a gRPC service's (or channel's) future inside the call's span; the call then lives
    /// on in the response body, or ends with `failed` when no response came.
    #[derive(Debug)]
    pub struct GrpcFuture<F> {
        #[pin]
        inner: F,
        call: Option<GrpcCall>,
        failed: u16,
    }
}

impl<F> GrpcFuture<F> {
    pub(super) fn new(inner: F, call: GrpcCall, failed: u16) -> Self {
        Self {
            inner,
            call: Some(call),
            failed,
        }
    }
}

impl<F, B, E> Future for GrpcFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<GrpcBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.call.as_ref().map(|call| call.span.enter());
            std::task::ready!(this.inner.poll(cx))
        };
        Poll::Ready(match result {
            Ok(response) => Ok(GrpcBody::wrap(response, this.call.take())),
            Err(error) => {
                if let Some(mut call) = this.call.take() {
                    call.finish(*this.failed);
                }
                Err(error)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};

    use super::super::call::Side;
    use super::*;

    /// The codes the calls ended with, from `rpc_client_duration_seconds`.
    fn codes(handle: &telescope_metrics::MetricsHandle) -> Vec<String> {
        let mut codes = Vec::new();
        handle.for_each_series(super::super::CLIENT_DURATION, |labels, _| {
            for (name, value) in labels {
                if *name == "rpc_grpc_status_code" {
                    codes.push((*value).to_owned());
                }
            }
        });
        codes.sort();
        codes
    }

    fn call() -> GrpcCall {
        GrpcCall::start(Side::Client, "/pkg.Svc/Do", |_, _, _| tracing::Span::none())
    }

    #[test]
    fn every_way_a_response_ends_gives_its_code() {
        let (recorder, handle) = telescope_metrics::TelescopeRecorder::builder().build();
        metrics::with_local_recorder(&recorder, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            // Trailers-only: the status is in the headers.
            let trailers_only = Response::builder()
                .header("grpc-status", "5")
                .body(Empty::<Bytes>::new())
                .expect("response");
            drop(GrpcBody::wrap(trailers_only, Some(call())));
            // Over before it began, with no status: unknown.
            let empty = Response::new(Empty::<Bytes>::new());
            drop(GrpcBody::wrap(empty, Some(call())));
            // Trailers at the end of the body.
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let body = frames(vec![
                Frame::data(Bytes::from_static(b"x")),
                Frame::trailers(trailers),
            ]);
            let streamed = GrpcBody::wrap(Response::new(body), Some(call()));
            runtime.block_on(async {
                let _ = streamed.into_body().collect().await;
            });
            // Dropped half-read: cancelled.
            let body = frames(vec![Frame::data(Bytes::from_static(b"x"))]);
            drop(GrpcBody::wrap(Response::new(body), Some(call())));
        });
        assert_eq!(codes(&handle), ["0", "1", "2", "5"]);
    }

    /// A body that gives these frames, then ends.
    struct Frames(std::collections::VecDeque<Frame<Bytes>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    fn frames(frames: Vec<Frame<Bytes>>) -> Frames {
        Frames(frames.into())
    }
}
