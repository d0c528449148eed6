//! OTLP log export cost per event: telescope's `OtlpLogLayer` against
//! `opentelemetry-appender-tracing`'s bridge with the SDK's `BatchLogProcessor`, on the same
//! event, in one run. Both export to an exporter that discards the batch, so what is measured
//! is what the logging thread pays (and what the background thread takes from it on two
//! cores): telescope encodes the protobuf record on the logging thread, the peer only copies
//! the event into an `SdkLogRecord` (its exporter would encode later, elsewhere), so the
//! comparison leans towards the peer.
//!
//! Run: `cargo bench --bench otlp_logs`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLoggerProvider};
use telescope_otlp::{Accepted, EncodedLog, ExportError, LogExport, OtlpLayer, OtlpLogLayer};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// Discards every batch (telescope).
struct Discard;

impl LogExport for Discard {
    fn export(&self, batch: &[EncodedLog]) -> Result<Accepted, ExportError> {
        black_box(batch.len());
        Ok(Accepted::all())
    }
}

/// Discards every batch (the peer).
#[derive(Debug)]
struct PeerDiscard;

impl LogExporter for PeerDiscard {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        black_box(batch.iter().count());
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Setup {
    Telescope,
    /// Telescope with the value scanner off (secret names still redacted): the scanner's cost.
    TelescopeWithoutScan,
    Peer,
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Telescope => "telescope",
            Setup::TelescopeWithoutScan => "telescope_without_value_scan",
            Setup::Peer => "appender_tracing_batch",
        }
    }

    /// The dispatcher, and what must live as long as it.
    fn dispatch(self) -> (Dispatch, Box<dyn std::any::Any>) {
        match self {
            Setup::Telescope | Setup::TelescopeWithoutScan => {
                let mut redaction = telescope_core::Redaction::default();
                if matches!(self, Setup::TelescopeWithoutScan) {
                    redaction = redaction.without_value_scan();
                }
                let layer = OtlpLogLayer::builder()
                    .exporter(Discard)
                    .redaction(redaction)
                    .build();
                let pipeline = layer.pipeline();
                // The span layer gives spans their trace context, as in the facade.
                let subscriber = tracing_subscriber::registry()
                    .with(OtlpLayer::builder().build())
                    .with(layer);
                (Dispatch::new(subscriber), Box::new(pipeline))
            }
            Setup::Peer => {
                let provider = SdkLoggerProvider::builder()
                    .with_batch_exporter(PeerDiscard)
                    .build();
                let bridge = opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(
                    &provider,
                );
                let subscriber = tracing_subscriber::registry()
                    .with(OtlpLayer::builder().build())
                    .with(bridge);
                (Dispatch::new(subscriber), Box::new(provider))
            }
        }
    }
}

fn event() {
    tracing::info!(
        order_id = 42_u64,
        customer = "ada",
        total = 99.5_f64,
        express = true,
        "order placed"
    );
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("otlp_logs/event");
    for setup in [Setup::Telescope, Setup::TelescopeWithoutScan, Setup::Peer] {
        let (dispatch, keep) = setup.dispatch();
        tracing::dispatcher::with_default(&dispatch, || {
            group.bench_function(BenchmarkId::from_parameter(setup.name()), |b| b.iter(event));
        });
        if let Some(pipeline) = keep.downcast_ref::<telescope_otlp::LogPipeline>() {
            let stats = pipeline.stats();
            eprintln!(
                "{}: {} records exported, {} dropped (queue full)",
                setup.name(),
                stats.exported,
                stats.dropped_queue_full
            );
        }
        drop(keep);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
