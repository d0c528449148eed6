//! Log events as OTLP log records: [`OtlpLogLayer`] turns every event that reaches it into an
//! OTLP `LogRecord` (timestamp and observed time, severity number and text, the message as
//! body, the other fields as attributes through the same redaction as JSON lines, the trace
//! and span ids and flags of the span it happened in), encoded on the logging thread, and
//! sends them in batches through a pipeline like the spans' one: bounded queue, collector,
//! exporter threads with retries, every record counted once (`telescope_logs_exported_total`,
//! `telescope_logs_export_dropped_total{reason}`).
//!
//! ```
//! use telescope_otlp::{OtlpLogLayer, PipelineConfig};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let layer = OtlpLogLayer::builder().pipeline(PipelineConfig::logs_default()).build();
//! let logs = layer.pipeline();
//! tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
//!     tracing::info!(order = 42, "order placed");
//! });
//! assert!(logs.force_flush(std::time::Duration::from_secs(5)));
//! assert_eq!(logs.stats().processed, 1);
//! ```

mod layer;
pub(crate) mod record;

use std::borrow::Cow;

use telescope_core::metric_names::{
    LOGS_EXPORTED_TOTAL, LOGS_EXPORT_DROPPED_TOTAL, LOGS_EXPORT_ERRORS_TOTAL,
};

use crate::export::{Accepted, ExportError};
use crate::pipeline::signal::{Intake, Names, Signal, Taken};

pub use layer::{LogPipeline, OtlpLogLayer, OtlpLogLayerBuilder};
pub use record::EncodedLog;

/// Sends batches of log records. Called on the log pipeline's exporter threads, one request
/// per call; like [`SpanExport`](crate::SpanExport), it may block within its own timeout and
/// must not retry by itself.
pub trait LogExport: Send + Sync + 'static {
    /// Sends `batch` once.
    ///
    /// # Errors
    /// [`ExportError::Retryable`] to have the pipeline try again with backoff;
    /// [`ExportError::Permanent`] to drop the batch at once, counted with
    /// `reason="rejected"`.
    fn export(&self, batch: &[EncodedLog]) -> Result<Accepted, ExportError>;
}

/// Log records, as [`Signal`].
pub(crate) struct Logs;

static LOG_NAMES: Names = Names {
    exported: LOGS_EXPORTED_TOTAL,
    dropped: LOGS_EXPORT_DROPPED_TOTAL,
    export_errors: LOGS_EXPORT_ERRORS_TOTAL,
    items: "log records",
    thread: "telescope-logs",
};

impl Signal for Logs {
    type Queued = EncodedLog;
    type Item = EncodedLog;
    type Exporter = dyn LogExport;
    type Intake = LogIntake;
    const NAMES: &'static Names = &LOG_NAMES;
    const FREE_ON_SUBMIT: bool = false;

    fn export(exporter: &dyn LogExport, batch: &[EncodedLog]) -> Result<Accepted, ExportError> {
        exporter.export(batch)
    }

    /// Sent records go back to the logging threads, whose next records are written into
    /// their buffers: no allocation per record once the pool is warm, and no buffer freed on
    /// a thread other than the one that allocated it.
    fn recycle(batch: Vec<EncodedLog>, graveyard: &crossbeam_queue::ArrayQueue<EncodedLog>) {
        for log in batch {
            if graveyard.push(log).is_err() {
                break;
            }
        }
    }
}

/// Records need nothing done on the collector thread: they are batched as they come (with
/// no exporter, handed back for their buffers).
pub(crate) struct LogIntake;

impl Intake<Logs> for LogIntake {
    fn take(&mut self, log: EncodedLog, batching: bool) -> Taken<EncodedLog> {
        if batching {
            Taken {
                batch: Some(log),
                done: None,
            }
        } else {
            Taken {
                batch: None,
                done: Some(log),
            }
        }
    }
}

/// Groups `batch` by scope, in order of first appearance.
pub(crate) fn by_scope(batch: &[EncodedLog]) -> Vec<(&str, Vec<&EncodedLog>)> {
    let mut scopes: Vec<(&str, Vec<&EncodedLog>)> = Vec::new();
    for log in batch {
        match scopes.iter_mut().find(|(scope, _)| *scope == log.scope()) {
            Some((_, logs)) => logs.push(log),
            None => scopes.push((log.scope(), vec![log])),
        }
    }
    scopes
}

/// A scope name owned or static, as the event's target is.
pub(crate) type ScopeName = Cow<'static, str>;
