//! JSON logs for `tracing`, correlated with traces: [`JsonLayer`], plus the writers it needs
//! in production, [`NonBlocking`] and [`RollingFileWriter`].
//!
//! ```
//! use telescope_log::{JsonLayer, NonBlocking, Redaction, Schema};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let (writer, _flush_on_drop) = NonBlocking::new(std::io::stdout());
//! let layer = JsonLayer::builder()
//!     .schema(Schema::Ecs)
//!     .static_field("service.name", "checkout")
//!     .redaction(Redaction::default().with_name("ssn"))
//!     .writer(writer)
//!     .build();
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!(order_id = 7, ssn = "078-05-1120", "order placed");
//! });
//! ```
//!
//! What every line holds, and the guarantees (valid JSON for any input, unique keys,
//! redaction), are described on [`JsonLayer`]. `trace_id` and `span_id` come from the
//! [`telescope_core::SpanContext`] that the OTLP layer (or any layer) keeps in span extensions.
//!
//! Losses are counted through the `metrics` facade: `telescope_log_dropped_total{reason}` for
//! every line not written (`queue_full`, `write_error`, `worker_failed`, `shutdown`) and
//! `telescope_log_write_errors_total` for failed writes, with a single warning on stderr for
//! each.
//!
//! Cargo features: `audit` (on by default) is the tamper-evident audit trail (module `audit`) and
//! the `telescope-audit` command; `default-features = false` builds the JSON layer and the
//! writers without its hashing, MAC and signature crates. `fault-injection` is for tests.
//!
//! Supported Rust version: 1.88 or newer.

#[cfg(feature = "audit")]
pub mod audit;
mod escape;
mod layer;
mod plan;
mod redact;
mod report;
mod schema;
mod span_fields;
mod timestamp;
mod visit;
mod writer;

pub use layer::{JsonConfigError, JsonLayer, JsonLayerBuilder};
pub use redact::{Redaction, DEFAULT_REDACTED};
pub use schema::{Key, LevelStyle, Schema, ECS_VERSION};
pub use timestamp::TimestampFormat;
pub use writer::{
    FlushGuard, NonBlocking, NonBlockingBuilder, NonBlockingStats, RollingConfigError,
    RollingFileBuilder, RollingFileWriter, RotationPeriod, DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_LINES,
};
