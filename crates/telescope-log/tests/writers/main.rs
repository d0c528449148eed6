//! The writers under stress and failure: rotation and retention, a deleted file, an unusable
//! directory, a slow or hung sink, a full queue.

#[path = "../common/metrics.rs"]
mod metrics_support;
mod non_blocking;
mod rolling;
#[path = "../common/tmpfs.rs"]
mod tmpfs;
