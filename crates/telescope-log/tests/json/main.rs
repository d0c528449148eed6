//! The JSON layer's output, checked by parsing it: shape, options, schemas, key collisions,
//! span fields, trace correlation, redaction, and arbitrary input.

mod collisions;
mod log_records;
#[path = "../common/metrics.rs"]
mod metrics_support;
mod properties;
mod redaction;
mod shape;
mod spans;
mod support;
