//! The thin contract shared by telescope's layers: trace and span ids, a fast id generator,
//! the W3C Trace Context codec (`traceparent` and `tracestate`), the [`SpanContext`] that
//! layers keep in span extensions, the names of telescope's self-telemetry metrics, and the one
//! redaction policy every signal applies ([`Redaction`], [`Secret`]).
//!
//! It depends only on `tracing-core` and `tracing-subscriber`'s registry, so that every
//! component crate can share one notion of "the current trace" without depending on another.
//! The optional `server` feature adds `server::BackgroundServer` (tokio and hyper): the
//! small HTTP server on its own thread that the `/metrics`, health and admin servers share.
//!
//! ```
//! use telescope_core::{IdGenerator, SpanContext, TraceFlags, TraceParent, TraceState};
//!
//! // Continue a trace that arrived over HTTP, or start a new one if the header is bad.
//! let ids = IdGenerator::default();
//! let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//! let context = match parent {
//!     Ok(parent) => SpanContext::new(parent.trace_id, ids.span_id(), parent.flags, TraceState::EMPTY),
//!     Err(_) => SpanContext::new(ids.trace_id(), ids.span_id(), TraceFlags::SAMPLED, TraceState::EMPTY),
//! };
//! assert_eq!(context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! ```
//!
//! Supported Rust version: 1.88 or newer.

pub mod baggage;
mod context;
mod flags;
mod generator;
pub mod hex;
mod id;
pub mod key_values;
pub mod metric_names;
pub mod outcome;
mod panic_message;
pub mod redact;
mod secret;
#[cfg(feature = "server")]
pub mod server;
pub mod time;
mod traceparent;
mod tracestate;

pub use baggage::{
    Baggage, BaggageError, ParsedBaggage, MAX_BYTES as MAX_BAGGAGE_BYTES,
    MAX_MEMBERS as MAX_BAGGAGE_MEMBERS,
};
pub use context::{
    current_context, current_ids, current_sampled_ids, find_ids, with_exemplar_ids, SpanContext,
};
pub use flags::TraceFlags;
pub use generator::IdGenerator;
pub use id::{IdParseError, SpanId, TraceId};
pub use panic_message::panic_message;
pub use redact::{Redaction, DEFAULT_REDACTED, REDACTED};
pub use secret::Secret;
pub use traceparent::{TraceParent, TraceParentError, TRACEPARENT_LEN};
pub use tracestate::{TraceState, TraceStateError, MAX_HEADER_LEN, MAX_MEMBERS};
