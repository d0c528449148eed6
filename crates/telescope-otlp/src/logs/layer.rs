//! [`OtlpLogLayer`], its builder, and the handle on its pipeline.

use std::time::{Duration, SystemTime};

use telescope_core::{Redaction, SpanContext};
use tracing_core::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::record::{self, EncodedLog, EventFacts, TraceIds};
use super::{LogExport, LogIntake, Logs, ScopeName};
use crate::pipeline::{Core, PipelineConfig, PipelineSink, PipelineStats};

/// Attributes a record keeps (OpenTelemetry's default limit); more are counted in its
/// `dropped_attributes_count`.
const DEFAULT_MAX_ATTRIBUTES: usize = 128;

/// Builds an [`OtlpLogLayer`].
pub struct OtlpLogLayerBuilder {
    exporters: Vec<Box<dyn LogExport>>,
    pipeline: PipelineConfig,
    redaction: Redaction,
    max_attributes: usize,
}

impl std::fmt::Debug for OtlpLogLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpLogLayerBuilder")
            .field("exporters", &self.exporters.len())
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl OtlpLogLayerBuilder {
    /// Sends the records to `exporter` in batches ([`OtlpExport`](crate::OtlpExport) with a
    /// logs configuration is the OTLP one).
    pub fn exporter(mut self, exporter: impl LogExport) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// The queue and batch settings (default [`PipelineConfig::logs_default`]).
    pub fn pipeline(mut self, config: PipelineConfig) -> Self {
        self.pipeline = config;
        self
    }

    /// The secret field names and the value scanner (default: [`Redaction::default`], as
    /// the JSON layer's).
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Attributes a record keeps (default 128); more are counted as dropped.
    pub fn max_attributes(mut self, max: usize) -> Self {
        self.max_attributes = max;
        self
    }

    /// The layer, with its pipeline's threads started.
    pub fn build(self) -> OtlpLogLayer {
        let (core, sink) = Core::start(self.pipeline, LogIntake, self.exporters);
        OtlpLogLayer {
            sink,
            pipeline: LogPipeline { core },
            redaction: self.redaction,
            max_attributes: self.max_attributes,
        }
    }
}

/// A `tracing_subscriber::Layer` that exports every event reaching it as an OTLP log record.
/// Filter it as the JSON layer is (the facade puts both behind the log filter). A full queue
/// drops the record and counts it (`telescope_logs_export_dropped_total{reason="queue_full"}`);
/// logging never blocks.
pub struct OtlpLogLayer {
    sink: PipelineSink<Logs>,
    pipeline: LogPipeline,
    redaction: Redaction,
    max_attributes: usize,
}

impl std::fmt::Debug for OtlpLogLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpLogLayer")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl OtlpLogLayer {
    /// A builder: no exporter, the `OTEL_BLRP_*` defaults, the default redaction.
    pub fn builder() -> OtlpLogLayerBuilder {
        OtlpLogLayerBuilder {
            exporters: Vec::new(),
            pipeline: PipelineConfig::logs_default(),
            redaction: Redaction::default(),
            max_attributes: DEFAULT_MAX_ATTRIBUTES,
        }
    }

    /// The handle on this layer's pipeline: counts, flush, shutdown.
    pub fn pipeline(&self) -> LogPipeline {
        self.pipeline.clone()
    }
}

impl<S> Layer<S> for OtlpLogLayer
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if crate::pipeline::on_pipeline_thread() {
            return;
        }
        let metadata = event.metadata();
        // A record of the `log` crate (bridged by tracing-log) has its real level and target
        // in the normalized metadata.
        let normalized = event.normalized_metadata();
        let (level, scope): (_, ScopeName) = match &normalized {
            Some(record) => (*record.level(), record.target().to_owned().into()),
            None => (*metadata.level(), metadata.target().into()),
        };
        let trace = ctx.event_span(event).and_then(|span| {
            span.scope().find_map(|ancestor| {
                let extensions = ancestor.extensions();
                let context = extensions.get::<SpanContext>()?;
                Some(TraceIds {
                    trace_id: context.trace_id().to_bytes(),
                    span_id: context.span_id().to_bytes(),
                    flags: context.flags().to_u8(),
                })
            })
        });
        let facts = EventFacts {
            metadata,
            time: SystemTime::now(),
            level,
            scope,
            trace,
            from_log: normalized.is_some(),
            redaction: &self.redaction,
            max_attributes: self.max_attributes,
        };
        let buffer = self
            .sink
            .reusable()
            .and_then(EncodedLog::into_buffer)
            .unwrap_or_default();
        self.sink.submit(record::encode(&facts, buffer, |visitor| {
            event.record(visitor);
        }));
    }
}

/// Controls the log pipeline: counts, flush, shutdown. Cheap to clone.
#[derive(Clone)]
pub struct LogPipeline {
    core: Core<Logs>,
}

impl std::fmt::Debug for LogPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogPipeline")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl LogPipeline {
    /// What the pipeline has done so far (the fields count log records).
    pub fn stats(&self) -> PipelineStats {
        self.core.stats()
    }

    /// Waits until every record queued before this call is exported or dropped, or `timeout`
    /// passes; returns whether it finished in time.
    pub fn force_flush(&self, timeout: Duration) -> bool {
        self.core.force_flush(timeout)
    }

    /// Flushes (within `timeout`), then stops the threads; records logged later are dropped
    /// and counted. Returns whether everything was exported or dropped in time; calling it
    /// again returns the first call's result.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.core.shutdown(timeout)
    }
}
