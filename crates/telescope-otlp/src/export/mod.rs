//! Sending batches of spans to an OTLP receiver over gRPC or HTTP/protobuf, from the
//! pipeline's exporter threads only.
//!
//! The transports are our own (hyper for HTTP, tonic for gRPC, the messages of
//! `opentelemetry-proto`) rather than `opentelemetry-otlp`'s exporter, because the pipeline
//! must know what the receiver said: that exporter folds every failure into a string (the
//! status code, `Retry-After` and partial success are gone by the time it returns) and runs a
//! retry loop of its own inside the export timeout, so the pipeline's budget and its counts
//! could not be exact. Here each call is one request; the pipeline alone decides on retries.

mod config;
mod grpc;
mod http;
mod outcome;
mod pool;
pub(crate) mod proto;
mod tls;
mod zipkin;

use std::sync::Arc;

use opentelemetry_sdk::trace::SpanData;

pub use config::{OtlpCompression, OtlpConfigError, OtlpExportConfig, OtlpProtocol, OtlpSignal};
pub use outcome::{Accepted, ExportError};
use pool::Pool;
pub use tls::{OtlpTls, TlsError};
pub use zipkin::{ZipkinConfig, ZipkinExport, DEFAULT_ZIPKIN_ENDPOINT};

/// Sends batches of finished spans. Called on the pipeline's exporter threads
/// ([`PipelineConfig::max_concurrent_exports`](crate::PipelineConfig::max_concurrent_exports)
/// of them, so possibly concurrently), one request per call: an implementation may block
/// (within its own timeout), and must not retry by itself: the pipeline does, by the
/// [`ExportError`] it gets back.
pub trait SpanExport: Send + Sync + 'static {
    /// Sends `batch` once.
    ///
    /// # Errors
    /// [`ExportError::Retryable`] to have the pipeline try again with backoff (honouring the
    /// delay it carries) until the export timeout; [`ExportError::Permanent`] to drop the batch
    /// at once, counted with `reason="rejected"`.
    fn export(&self, batch: &[Arc<SpanData>]) -> Result<Accepted, ExportError>;
}

/// The small runtime a transport runs its client on: current-thread, driven only while an
/// exporter thread waits in `block_on`, never the application's.
fn transport_runtime() -> Result<tokio::runtime::Runtime, ExportError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ExportError::retryable(format!("cannot start the exporter's runtime: {e}")))
}

/// A failure to reach the receiver: refused for good when TLS failed (an untrusted or
/// mismatched certificate, a client certificate demanded: every try would fail the same way),
/// retryable otherwise (a refused connection, a reset).
fn transport_error(what: &str, error: &(dyn std::error::Error + 'static)) -> ExportError {
    match tls::tls_failure(error) {
        Some(tls) => ExportError::permanent(format!("{what}: TLS: {tls}")),
        None => ExportError::retryable(format!("{what}: {error}")),
    }
}

/// One way to reach the receiver.
enum Transport {
    Http(Box<http::HttpTransport>),
    Grpc(Box<grpc::GrpcTransport>),
}

/// Exports to an OTLP receiver. Each exporter thread gets a connection of its own (with its
/// own small runtime), made at its first batch, kept for the next ones. Nothing runs on the
/// application's runtime, so flushing and shutting down cannot deadlock it.
pub struct OtlpExport {
    config: OtlpExportConfig,
    /// Transports not in use right now.
    idle: Pool<Transport>,
}

impl std::fmt::Debug for OtlpExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExport")
            .field("endpoint", &self.config.endpoint)
            .field("protocol", &self.config.protocol)
            .finish()
    }
}

impl OtlpExport {
    /// An exporter for `config`; nothing is connected until the first batch.
    pub fn new(config: OtlpExportConfig) -> Self {
        Self {
            config,
            idle: Pool::default(),
        }
    }

    fn new_transport(&self) -> Result<Transport, ExportError> {
        Ok(match self.config.protocol {
            OtlpProtocol::HttpProtobuf => Transport::Http(Box::new(http::HttpTransport::new(
                &self.config,
                "application/x-protobuf",
            )?)),
            OtlpProtocol::Grpc => {
                Transport::Grpc(Box::new(grpc::GrpcTransport::new(&self.config)?))
            }
        })
    }

    /// Sends one encoded request of `signal` on a transport of this exporter's.
    fn send(&self, request: Vec<u8>, signal: OtlpSignal) -> Result<Accepted, ExportError> {
        self.idle.with(
            || self.new_transport(),
            |transport| match transport {
                Transport::Http(http) => http.send(request),
                Transport::Grpc(grpc) => grpc.send(request, signal),
            },
        )
    }
}

impl SpanExport for OtlpExport {
    fn export(&self, batch: &[Arc<SpanData>]) -> Result<Accepted, ExportError> {
        self.send(
            proto::request(batch, &self.config.resource),
            OtlpSignal::Traces,
        )
    }
}

impl OtlpExport {
    /// Sends `metrics` once, as one `ExportMetricsServiceRequest` (give it a configuration
    /// read for [`OtlpSignal::Metrics`]: its HTTP endpoint ends in `/v1/metrics`). The
    /// caller decides on retries, as the pipelines do for spans and logs.
    ///
    /// # Errors
    /// [`ExportError`]: retryable or not, as for spans.
    pub fn export_metrics(&self, metrics: &[crate::Metric]) -> Result<Accepted, ExportError> {
        self.send(
            proto::metrics_request(metrics, &self.config.resource),
            OtlpSignal::Metrics,
        )
    }
}

/// For log records: give it a configuration read for [`OtlpSignal::Logs`] (its HTTP endpoint
/// ends in `/v1/logs`); over gRPC the logs service is called.
impl crate::LogExport for OtlpExport {
    fn export(&self, batch: &[crate::EncodedLog]) -> Result<Accepted, ExportError> {
        self.send(
            proto::logs_request(batch, &self.config.resource),
            OtlpSignal::Logs,
        )
    }
}
