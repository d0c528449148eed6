//! The span pipeline: bounded, counted, and flushed or shut down in time whatever the runtime.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_sdk::trace::SpanData;
use telescope_otlp::{
    Accepted, ExportError, OtlpLayer, Pipeline, PipelineConfig, SpanExport, SpanSink,
};
use tracing_subscriber::layer::SubscriberExt;

/// Waits (without asserting on time) until `condition` holds or a generous deadline passes;
/// the deadlines in these tests are far below the schedule delays they set, so a pipeline
/// that waits for its delay fails them.
fn wait_until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A layer exporting to `exporter`, as a dispatch to emit spans into, and its pipeline.
fn dispatch_with(
    exporter: impl SpanExport,
    config: PipelineConfig,
) -> (tracing::Dispatch, Pipeline) {
    let layer = OtlpLayer::builder()
        .exporter(exporter)
        .pipeline(config)
        .build();
    let pipeline = layer.pipeline();
    (
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        pipeline,
    )
}

fn emit(dispatch: &tracing::Dispatch, count: usize) {
    tracing::dispatcher::with_default(dispatch, || {
        for _ in 0..count {
            tracing::info_span!("work").in_scope(|| {});
        }
    });
}

/// The schedule delay of these tests: far longer than any of them waits.
const NEVER: Duration = Duration::from_secs(60);

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

/// An exporter stuck in its calls until released, like a collector that never answers
/// behind a client without a timeout.
#[derive(Clone)]
struct Hung {
    gate: Arc<Mutex<()>>,
    calls: Arc<AtomicU64>,
}

impl SpanExport for Hung {
    fn export(&self, _: &[Arc<SpanData>]) -> Result<Accepted, ExportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        drop(self.gate.lock().expect("hung"));
        Ok(Accepted::all())
    }
}

#[test]
fn a_shutdown_that_gives_up_counts_what_waits_and_the_batch_in_flight_by_its_outcome() {
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().expect("gate");
    let hung = Hung {
        gate: gate.clone(),
        calls: Arc::default(),
    };
    let (dispatch, pipeline) = dispatch_with(
        hung.clone(),
        PipelineConfig {
            max_queue_size: 64,
            max_export_batch_size: 4,
            schedule_delay: Duration::from_millis(1),
            ..PipelineConfig::default()
        },
    );
    emit(&dispatch, 20);
    wait_until(|| hung.calls.load(Ordering::SeqCst) == 1);
    assert!(
        !pipeline.shutdown(Duration::from_millis(100)),
        "the export never returns"
    );
    let stats = pipeline.stats();
    assert_eq!(stats.exported, 0);
    // The batch in flight: full (4), or less when the 1 ms schedule delay sent what had come
    // while the spans were still being emitted.
    let in_flight = stats.pending;
    assert!(
        (1..=4).contains(&in_flight),
        "the batch in flight: {stats:?}"
    );
    assert_eq!(
        stats.abandoned_at_shutdown + stats.dropped_queue_full,
        20 - in_flight,
        "everything else is accounted for: {stats:?}"
    );
    drop(held);
    // The receiver took the batch in flight after all: it is exported, not lost.
    wait_until(|| pipeline.stats().pending == 0);
    let stats = pipeline.stats();
    assert_eq!(stats.exported, in_flight, "{stats:?}");
    assert_eq!(
        stats.exported + stats.abandoned_at_shutdown + stats.dropped_queue_full,
        20,
        "{stats:?}"
    );
    assert_eq!(
        hung.calls.load(Ordering::SeqCst),
        1,
        "nothing sent after giving up"
    );
    assert!(
        !pipeline.shutdown(Duration::from_secs(1)),
        "a second call repeats the first"
    );
}

#[test]
fn a_span_is_in_the_ring_while_the_exporter_is_stuck() {
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().expect("gate");
    let hung = Hung {
        gate: gate.clone(),
        calls: Arc::default(),
    };
    let (dispatch, pipeline) = dispatch_with(
        hung.clone(),
        PipelineConfig {
            max_export_batch_size: 1,
            schedule_delay: NEVER,
            ..PipelineConfig::default()
        },
    );
    emit(&dispatch, 1);
    wait_until(|| hung.calls.load(Ordering::SeqCst) == 1);
    // The exporter is stuck in its first batch; spans that end now still reach the ring,
    // where /debug/traces and exemplar links look them up.
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("while stuck").in_scope(|| {});
    });
    let ring = pipeline.ring();
    wait_until(|| ring.spans().iter().any(|span| span.name == "while stuck"));
    assert!(
        ring.spans().iter().any(|span| span.name == "while stuck"),
        "{:?}",
        pipeline.stats()
    );
    drop(held);
}

#[test]
fn a_span_after_a_quiet_spell_reaches_the_ring_without_waiting_for_the_delay() {
    let layer = OtlpLayer::builder()
        .pipeline(PipelineConfig {
            schedule_delay: NEVER,
            ..PipelineConfig::default()
        })
        .build();
    let ring = layer.ring();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    for round in 0..5 {
        // Long enough for the collector to go idle.
        std::thread::sleep(Duration::from_millis(60));
        let name = format!("round {round}");
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info_span!("round", otel.name = name.as_str()).in_scope(|| {});
        });
        wait_until(|| ring.spans().iter().any(|span| span.name == name));
        assert!(ring.spans().iter().any(|span| span.name == name), "{name}");
    }
}

/// An exporter that parks its own thread while it works, as blocking HTTP clients do, and
/// is unparked by a helper at random moments.
#[derive(Clone)]
struct Parking {
    busy: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
    spans: Arc<AtomicU64>,
}

impl SpanExport for Parking {
    fn export(&self, batch: &[Arc<SpanData>]) -> Result<Accepted, ExportError> {
        self.busy.store(true, Ordering::SeqCst);
        let me = std::thread::current();
        let helper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_micros(fastrand_micros()));
            me.unpark();
        });
        while !self.release.load(Ordering::SeqCst) {
            std::thread::park_timeout(Duration::from_millis(1));
        }
        let _ = helper.join();
        self.spans.fetch_add(batch.len() as u64, Ordering::SeqCst);
        self.busy.store(false, Ordering::SeqCst);
        Ok(Accepted::all())
    }
}

fn fastrand_micros() -> u64 {
    u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            % 500,
    )
}

#[test]
fn a_full_batch_leaves_at_once_whatever_the_exporter_does_with_its_thread() {
    // Fails on the old pipeline: the wake-up for the third batch was sent while the worker
    // was inside `export`, whose own park consumed it; the worker then slept its schedule
    // delay (here a minute) with the batch waiting.
    let exporter = Parking {
        busy: Arc::default(),
        release: Arc::new(AtomicBool::new(false)),
        spans: Arc::default(),
    };
    let (dispatch, pipeline) = dispatch_with(
        exporter.clone(),
        PipelineConfig {
            max_queue_size: 64,
            max_export_batch_size: 8,
            schedule_delay: NEVER,
            ..PipelineConfig::default()
        },
    );
    emit(&dispatch, 8);
    wait_until(|| exporter.busy.load(Ordering::SeqCst));
    emit(&dispatch, 8);
    std::thread::sleep(Duration::from_millis(20));
    exporter.release.store(true, Ordering::SeqCst);
    wait_until(|| exporter.spans.load(Ordering::SeqCst) == 16);
    assert_eq!(
        exporter.spans.load(Ordering::SeqCst),
        16,
        "{:?}",
        pipeline.stats()
    );
    emit(&dispatch, 8);
    wait_until(|| exporter.spans.load(Ordering::SeqCst) == 24);
    assert_eq!(
        exporter.spans.load(Ordering::SeqCst),
        24,
        "{:?}",
        pipeline.stats()
    );
    assert_eq!(pipeline.stats().exported, 24);
}

#[test]
fn many_threads_and_a_parking_exporter_lose_no_batch() {
    const THREADS: usize = 6;
    const SPANS: usize = 3_000;
    const BATCH: usize = 16;
    let exporter = Parking {
        busy: Arc::default(),
        release: Arc::new(AtomicBool::new(true)),
        spans: Arc::default(),
    };
    for concurrent in [1, 3] {
        exporter.spans.store(0, Ordering::SeqCst);
        let (dispatch, pipeline) = dispatch_with(
            exporter.clone(),
            PipelineConfig {
                max_queue_size: THREADS * SPANS,
                max_export_batch_size: BATCH,
                schedule_delay: NEVER,
                max_concurrent_exports: concurrent,
                ..PipelineConfig::default()
            },
        );
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                let dispatch = dispatch.clone();
                scope.spawn(move || {
                    for chunk in 0..SPANS / 100 {
                        emit(&dispatch, 100);
                        if chunk % 7 == 0 {
                            std::thread::yield_now();
                        }
                    }
                });
            }
        });
        // Every span fills a batch (the total is a multiple of the batch size), so all of them
        // leave without a flush and long before the schedule delay.
        let total = (THREADS * SPANS) as u64;
        wait_until(|| exporter.spans.load(Ordering::SeqCst) == total);
        let stats = pipeline.stats();
        assert_eq!(
            (
                exporter.spans.load(Ordering::SeqCst),
                stats.exported,
                stats.dropped_queue_full,
                stats.pending
            ),
            (total, total, 0, 0),
            "{concurrent} exporter threads: {stats:?}"
        );
        assert!(pipeline.shutdown(Duration::from_secs(10)));
    }
}

/// An exporter whose receiver takes a while, counting the batches it is sending at once.
#[derive(Clone, Default)]
struct Slow {
    in_flight: Arc<AtomicU64>,
    most_in_flight: Arc<AtomicU64>,
}

impl SpanExport for Slow {
    fn export(&self, _: &[Arc<SpanData>]) -> Result<Accepted, ExportError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(Accepted::all())
    }
}

#[test]
fn concurrent_exports_are_bounded_by_the_setting() {
    for concurrent in [1_u64, 3] {
        let slow = Slow::default();
        let (dispatch, pipeline) = dispatch_with(
            slow.clone(),
            PipelineConfig {
                max_export_batch_size: 2,
                max_concurrent_exports: concurrent as usize,
                schedule_delay: NEVER,
                ..PipelineConfig::default()
            },
        );
        emit(&dispatch, 40);
        assert!(pipeline.force_flush(Duration::from_secs(20)));
        assert_eq!(pipeline.stats().exported, 40);
        assert_eq!(slow.most_in_flight.load(Ordering::SeqCst), concurrent);
    }
}

#[test]
fn flush_sends_a_partial_batch_at_once() {
    let slow = Slow::default();
    let (dispatch, pipeline) = dispatch_with(
        slow,
        PipelineConfig {
            schedule_delay: NEVER,
            ..PipelineConfig::default()
        },
    );
    emit(&dispatch, 3);
    assert!(pipeline.force_flush(Duration::from_secs(20)));
    assert_eq!(
        (pipeline.stats().exported, pipeline.stats().pending),
        (3, 0)
    );
}

#[test]
fn an_unrepresentable_timeout_is_no_panic() {
    let layer = OtlpLayer::builder().build();
    let pipeline = layer.pipeline();
    assert!(pipeline.force_flush(Duration::MAX));
    assert!(pipeline.shutdown(Duration::MAX));
}

/// An exporter with a bug: it panics on its first `panics` calls, then accepts.
struct PanicsFirst {
    panics: AtomicU64,
}

impl SpanExport for PanicsFirst {
    fn export(&self, _: &[Arc<SpanData>]) -> Result<Accepted, ExportError> {
        if self
            .panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
        {
            panic!("a bug in the exporter");
        }
        Ok(Accepted::all())
    }
}

/// A panicking exporter loses the batch it panicked on (counted, `worker_failed`), not its
/// thread: later batches are exported, and flush and shutdown finish.
#[test]
fn an_exporter_that_panics_loses_its_batch_not_the_pipeline() {
    let (dispatch, pipeline) = dispatch_with(
        PanicsFirst {
            panics: AtomicU64::new(1),
        },
        PipelineConfig {
            max_export_batch_size: 10,
            schedule_delay: NEVER,
            ..PipelineConfig::default()
        },
    );
    emit(&dispatch, 10);
    wait_until(|| pipeline.stats().dropped_worker_failed == 10);
    emit(&dispatch, 30);
    assert!(
        pipeline.force_flush(Duration::from_secs(30)),
        "flush finishes"
    );
    let stats = pipeline.stats();
    assert_eq!(stats.dropped_worker_failed, 10, "{stats:?}");
    assert_eq!(stats.exported, 30, "{stats:?}");
    assert!(pipeline.shutdown(Duration::from_secs(30)));
}

/// A sink that panics on every span.
struct PanickingSink;

impl SpanSink for PanickingSink {
    fn on_end(&self, _: Arc<SpanData>) {
        panic!("a bug in the sink");
    }
}

/// A panicking sink does not stop the collector: spans still reach the ring and the exporter.
#[test]
fn a_sink_that_panics_does_not_stop_the_collector() {
    let calls = Arc::new(AtomicU64::new(0));
    let layer = OtlpLayer::builder()
        .sink(PanickingSink)
        .exporter(Hung {
            gate: Arc::default(),
            calls: calls.clone(),
        })
        .pipeline(PipelineConfig {
            max_export_batch_size: 5,
            schedule_delay: NEVER,
            ..PipelineConfig::default()
        })
        .build();
    let pipeline = layer.pipeline();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    emit(&dispatch, 20);
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    assert_eq!(pipeline.ring().spans().len(), 20);
    assert_eq!(pipeline.stats().exported, 20);
    assert!(calls.load(Ordering::SeqCst) >= 4);
}
