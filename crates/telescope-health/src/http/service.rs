//! [`HealthService`]: the endpoints as a `tower::Service`, for axum and other tower stacks.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;

use crate::Health;

/// The health endpoints as a `tower::Service`: mount it wherever requests for `/livez`,
/// `/readyz`, `/startupz`, `/healthz` (and `/<probe>/<check>`) arrive. Other paths get 404.
///
/// With axum: `Router::new().route_service("/livez", service.clone())`, one route per
/// endpoint, or `.fallback_service(service)`.
///
/// ```
/// use tower_service::Service;
/// use telescope_health::{Health, HealthService};
///
/// let mut service = HealthService::new(Health::new());
/// let request = http::Request::get("/livez").body(()).unwrap();
/// let response = futures_lite_block_on(service.call(request)).unwrap();
/// assert_eq!(response.status(), 200);
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HealthService {
    health: Health,
}

impl HealthService {
    /// The endpoints of `health`.
    pub fn new(health: Health) -> Self {
        Self { health }
    }
}

impl<B> tower_service::Service<Request<B>> for HealthService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(super::respond(
            &self.health,
            request.method(),
            request.uri(),
            request.headers(),
        )))
    }
}
