//! `tracing` spans to OpenTelemetry, with ids and the sampling decision made when a span
//! starts, so that unsampled spans cost close to nothing while still carrying a trace context
//! for logs and propagation.
//!
//! - [`OtlpLayer`]: every span gets a [`telescope_core::SpanContext`]; sampled spans become
//!   `opentelemetry_sdk::trace::SpanData`, kept in the in-process [`SpanRing`] and given to
//!   any [`SpanSink`], on the [`Pipeline`]'s collector thread.
//! - [`OtlpExport`]: batches sent as OTLP over gRPC or HTTP/protobuf
//!   ([`OtlpExportConfig::from_env`] reads the `OTEL_EXPORTER_OTLP_*` variables); failures
//!   classified as the OTLP specification says ([`ExportError`]): retryable ones retried with
//!   the receiver's delay or backoff and jitter, permanent ones dropped at once; every span is
//!   either exported or counted as dropped, by reason.
//! - [`sampler`]: always on/off, consistent probability (the OpenTelemetry threshold algorithm,
//!   writing `ot=th:…`), parent-based, and adaptive (a target of sampled traces per second per
//!   operation), selected from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`.
//! - [`propagation`]: W3C `traceparent`/`tracestate` over `http::HeaderMap`.
//!
//! ```
//! use telescope_otlp::{sampler::AdaptiveSampler, sampler::AdaptiveConfig, OtlpLayer};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let layer = OtlpLayer::builder().sampler(AdaptiveSampler::new(AdaptiveConfig::per_second(10.0))).build();
//! let subscriber = tracing_subscriber::registry().with(layer);
//! # drop(subscriber);
//! ```
//!
//! Supported Rust version: 1.88 or newer.

mod export;
mod finished;
mod layer;
mod logs;
mod metric_data;
mod pipeline;
pub mod propagation;
mod retention;
pub mod sampler;
mod sink;
mod sync;

pub use export::{
    Accepted, ExportError, OtlpCompression, OtlpConfigError, OtlpExport, OtlpExportConfig,
    OtlpProtocol, OtlpSignal, OtlpTls, SpanExport, TlsError, ZipkinConfig, ZipkinExport,
    DEFAULT_ZIPKIN_ENDPOINT,
};
pub use layer::{OtlpLayer, OtlpLayerBuilder, SpanLimits};
pub use logs::{EncodedLog, LogExport, LogPipeline, OtlpLogLayer, OtlpLogLayerBuilder};
pub use metric_data::{
    ExponentialPoint, HistogramPoint, Metric, MetricData, MetricExemplar, NumberPoint, NumberValue,
    Temporality,
};
pub use pipeline::{
    Pipeline, PipelineConfig, PipelineStats, DEFAULT_EXPORT_TIMEOUT, DEFAULT_LOG_SCHEDULE_DELAY,
    DEFAULT_MAX_CONCURRENT_EXPORTS, DEFAULT_MAX_EXPORT_BATCH_SIZE, DEFAULT_MAX_QUEUE_SIZE,
    DEFAULT_SCHEDULE_DELAY, RING_LATENCY,
};
pub use retention::{
    pin_exemplar, RetainReasons, RetainedTrace, RetentionStats, TraceRetention, OTHER_OPERATIONS,
};
pub use sink::{FoundTrace, RingContents, SpanRing, SpanSink};
