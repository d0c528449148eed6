//! The probe endpoints over HTTP: one function from request to response, served by a
//! `tower::Service` (for axum and other tower stacks) and by a standalone hyper server.

mod respond;
mod server;
mod service;

pub use respond::{is_endpoint, respond};
pub use server::{serve, HealthServer};
pub use service::HealthService;
