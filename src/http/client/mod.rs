//! HTTP client telemetry: a client span per outgoing call with the OpenTelemetry HTTP client
//! conventions, the trace context and baggage injected in every configured format, and
//! `http_client_request_duration_seconds{method, server_address, status}` recorded inside the
//! span (so its exemplar points at the call's trace).
//!
//! [`ClientLayer`] does it for any tower HTTP client (hyper-util's `Client`, a `tower::Service`
//! stack); [`ClientCall`] is the same, step by step, for clients that are not tower services,
//! such as reqwest:
//!
//! ```no_run
//! # async fn call(client: reqwest::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use telescope::http::client::ClientCall;
//! use tracing::Instrument;
//!
//! let mut request = client.get("http://inventory.internal/items/7").build()?;
//! let uri: http::Uri = request.url().as_str().parse()?;
//! let call = ClientCall::start(request.method(), &uri);
//! call.inject(request.headers_mut());
//! let response = client.execute(request).instrument(call.span().clone()).await;
//! call.finish(response.as_ref().ok().map(|response| response.status()));
//! # Ok(()) }
//! ```
//!
//! A client span is named after the method (`GET`), and fails on a 4xx, a 5xx or a transport
//! error, as the HTTP client conventions say; the metric's `status` is the status code, or
//! `error` when no response came.

mod call;
mod layer;

pub use call::{ClientCall, CLIENT_REQUEST_DURATION};
pub use layer::{ClientFuture, ClientLayer, ClientService};
