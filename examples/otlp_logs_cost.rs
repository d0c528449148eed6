//! One log event exported over OTLP, a fixed number of times, for counting instructions with
//! callgrind (repeatable where timings on a shared machine are not): telescope's
//! `OtlpLogLayer` or the peer, `opentelemetry-appender-tracing` with the SDK's batch log
//! processor, both exporting to an exporter that discards the batch. Every thread counts:
//! the logging thread's encoding and queueing, the background threads' batching.
//!
//! ```text
//! cargo build --release --example otlp_logs_cost
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/otlp_logs_cost telescope $n 2>&1 | grep Collected
//! done   # (second - first) / 100000 = instructions per event
//! ```

use std::hint::black_box;
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLoggerProvider};
use telescope::otlp::{Accepted, EncodedLog, ExportError, LogExport, OtlpLayer, OtlpLogLayer};
use tracing_subscriber::layer::SubscriberExt;

struct Discard;

impl LogExport for Discard {
    fn export(&self, batch: &[EncodedLog]) -> Result<Accepted, ExportError> {
        black_box(batch.len());
        Ok(Accepted::all())
    }
}

#[derive(Debug)]
struct PeerDiscard;

impl LogExporter for PeerDiscard {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        black_box(batch.iter().count());
        Ok(())
    }
}

fn events(times: u64) {
    for index in 0..times {
        tracing::info!(
            order_id = index,
            customer = "ada",
            total = 99.5_f64,
            express = true,
            "order placed"
        );
        // Not faster than a batch processor can keep up with: what is measured is the cost
        // of a record, not of the drops of a full queue.
        if index % 256 == 255 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn main() {
    let case = std::env::args().nth(1).unwrap_or_default();
    let times: u64 = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    match case.as_str() {
        "telescope" => {
            let layer = OtlpLogLayer::builder().exporter(Discard).build();
            let pipeline = layer.pipeline();
            let subscriber = tracing_subscriber::registry()
                .with(OtlpLayer::builder().build())
                .with(layer);
            tracing::subscriber::with_default(subscriber, || events(times));
            pipeline.shutdown(Duration::from_secs(30));
            let stats = pipeline.stats();
            eprintln!(
                "exported {} dropped {}",
                stats.exported, stats.dropped_queue_full
            );
        }
        "peer" => {
            let provider = SdkLoggerProvider::builder()
                .with_batch_exporter(PeerDiscard)
                .build();
            let bridge =
                opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&provider);
            let subscriber = tracing_subscriber::registry()
                .with(OtlpLayer::builder().build())
                .with(bridge);
            tracing::subscriber::with_default(subscriber, || events(times));
            let _ = provider.shutdown();
        }
        other => eprintln!("unknown case {other:?}: telescope or peer"),
    }
}
