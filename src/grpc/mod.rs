//! gRPC telemetry as tower middleware, for tonic servers and clients (or any gRPC stack on
//! `http` types): a span per call with the OpenTelemetry RPC conventions (`rpc.system`,
//! `rpc.service`, `rpc.method`, `rpc.grpc.status_code`), the trace context and baggage read
//! from and written to the call's metadata in every configured format, and
//! `rpc_server_duration_seconds` / `rpc_client_duration_seconds` with the labels `rpc_service`,
//! `rpc_method` and `rpc_grpc_status_code`, recorded inside the span.
//!
//! A call lasts until its response body ends (streams included), and its status is the
//! `grpc-status` of the response's headers (a trailers-only answer) or trailers; a call whose
//! body is dropped unfinished is `CANCELLED`. A server span fails on the codes the conventions
//! name for servers (`UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`,
//! `UNAVAILABLE`, `DATA_LOSS`); a client span on any code but `OK`. Calls to methods the server
//! does not implement are measured under `rpc_service="_OTHER"`, so callers cannot mint series.
//!
//! ```
//! # #[cfg(any())] {
//! tonic::transport::Server::builder()
//!     .layer(telescope::grpc::GrpcServerLayer::new())
//!     .add_service(my_service)
//!     .serve(address);
//! let channel = tower::ServiceBuilder::new()
//!     .layer(telescope::grpc::GrpcClientLayer::new())
//!     .service(tonic::transport::Channel::from_static("http://[::1]:50051").connect_lazy());
//! let client = MyServiceClient::new(channel);
//! # }
//! ```

mod body;
mod call;
mod client;
mod server;

pub use body::{GrpcBody, GrpcFuture};
pub use call::{CLIENT_DURATION, SERVER_DURATION};
pub use client::{GrpcClientLayer, GrpcClientService};
pub use server::{GrpcServerLayer, GrpcServerService};
