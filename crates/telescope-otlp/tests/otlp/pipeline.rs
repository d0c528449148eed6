//! The span pipeline: bounded, counted, and flushed or shut down in time whatever the runtime.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_sdk::trace::SpanData;
use telescope_otlp::{OtlpLayer, PipelineConfig, SpanSink};
use tracing_subscriber::layer::SubscriberExt;

/// A sink that blocks until released, to fill the queue behind it.
#[derive(Clone)]
struct Gate(Arc<Mutex<()>>);

impl SpanSink for Gate {
    fn on_end(&self, _: Arc<SpanData>) {
        drop(self.0.lock().expect("gate"));
    }
}

#[test]
fn a_full_queue_drops_and_counts() {
    let gate = Gate(Arc::new(Mutex::new(())));
    let held = gate.0.lock().expect("gate");
    let layer = OtlpLayer::builder()
        .sink(gate.clone())
        .pipeline(PipelineConfig {
            max_queue_size: 8,
            max_export_batch_size: 1,
            schedule_delay: Duration::from_millis(1),
            ..PipelineConfig::default()
        })
        .build();
    let pipeline = layer.pipeline();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..100 {
            tracing::info_span!("work").in_scope(|| {});
        }
    });
    let stats = pipeline.stats();
    assert!(stats.dropped_queue_full >= 100 - 8 - 1, "{stats:?}");
    drop(held);
    assert!(pipeline.force_flush(Duration::from_secs(10)));
    let stats = pipeline.stats();
    assert_eq!(stats.processed + stats.dropped_queue_full, 100, "{stats:?}");
}

fn flush_and_shut_down() -> (bool, bool, u64) {
    let layer = OtlpLayer::builder().build();
    let pipeline = layer.pipeline();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..50 {
            tracing::info_span!("work").in_scope(|| {});
        }
        let flushed = pipeline.force_flush(Duration::from_secs(10));
        let shut = pipeline.shutdown(Duration::from_secs(10));
        tracing::info_span!("after shutdown").in_scope(|| {});
        (flushed, shut, pipeline.stats().dropped_after_shutdown)
    })
}

#[test]
fn flush_and_shutdown_finish_without_a_runtime() {
    assert_eq!(flush_and_shut_down(), (true, true, 1));
}

#[test]
fn flush_and_shutdown_finish_inside_a_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    assert_eq!(
        runtime.block_on(async { flush_and_shut_down() }),
        (true, true, 1)
    );
}

#[test]
fn flush_and_shutdown_finish_inside_a_current_thread_runtime() {
    // Where the SDK's batch processor deadlocks (opentelemetry-rust #2583).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert_eq!(
        runtime.block_on(async { flush_and_shut_down() }),
        (true, true, 1)
    );
}

/// An exporter stuck in its first call until released, like a collector that never answers
/// behind a client without a timeout.
struct Hung(Arc<Mutex<()>>);

impl telescope_otlp::SpanExport for Hung {
    fn export(&mut self, _: &[Arc<SpanData>]) -> Result<(), String> {
        drop(self.0.lock().expect("hung"));
        Ok(())
    }
}

#[test]
fn spans_left_behind_by_a_shutdown_that_gives_up_are_counted() {
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().expect("gate");
    let layer = OtlpLayer::builder()
        .exporter(Hung(gate.clone()))
        .pipeline(PipelineConfig {
            max_queue_size: 64,
            max_export_batch_size: 4,
            schedule_delay: Duration::from_millis(1),
            ..PipelineConfig::default()
        })
        .build();
    let pipeline = layer.pipeline();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..20 {
            tracing::info_span!("work").in_scope(|| {});
        }
    });
    assert!(
        !pipeline.shutdown(Duration::from_millis(100)),
        "the export never returns"
    );
    let stats = pipeline.stats();
    assert_eq!(stats.exported, 0);
    assert_eq!(
        stats.abandoned_at_shutdown + stats.dropped_queue_full,
        20,
        "every span is accounted for: {stats:?}"
    );
    drop(held);
    // The worker finishes its batch later, but it was counted already: not counted twice.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(pipeline.stats().exported, 0, "{:?}", pipeline.stats());
}
