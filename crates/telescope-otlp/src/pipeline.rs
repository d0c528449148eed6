//! The path of a finished span off the application thread: a bounded lock-free queue, then a
//! worker thread that completes each span (its tracestate), keeps the ring and hands batches to
//! the exporters. Spans the worker is done with go back to application threads, which free
//! them: memory is freed by the thread that allocated it, so the two never contend for an
//! allocator arena's lock (with glibc, a free from another thread takes it; on a busy machine
//! the lock holder gets preempted and everyone waits).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use opentelemetry_sdk::trace::SpanData;
use telescope_core::metric_names::{
    EXPORT_ERRORS_TOTAL, SPANS_DROPPED_TOTAL, SPANS_EXPORTED_TOTAL,
};

use crate::export::SpanExport;
use crate::finished::{FinishedSpan, TraceStates};
use crate::sink::{SpanRing, SpanSink};

/// Defaults from the OpenTelemetry batch span processor (`OTEL_BSP_*`).
pub const DEFAULT_MAX_QUEUE_SIZE: usize = 2048;
/// See [`DEFAULT_MAX_QUEUE_SIZE`].
pub const DEFAULT_MAX_EXPORT_BATCH_SIZE: usize = 512;
/// See [`DEFAULT_MAX_QUEUE_SIZE`].
pub const DEFAULT_SCHEDULE_DELAY: Duration = Duration::from_millis(5000);
/// See [`DEFAULT_MAX_QUEUE_SIZE`].
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_millis(30_000);
/// The first pause before retrying a failed batch; it doubles up to [`MAX_RETRY_BACKOFF`].
const FIRST_RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between two tries of a batch.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// What the pipeline has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PipelineStats {
    /// Spans taken off the queue by the worker.
    pub processed: u64,
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Spans dropped because the pipeline was shut down.
    pub dropped_after_shutdown: u64,
    /// Spans an exporter accepted (summed over exporters).
    pub exported: u64,
    /// Failed export attempts, retried or not.
    pub export_errors: u64,
    /// Spans given up on after the retries ran out (summed over exporters).
    pub dropped_export_failed: u64,
    /// Spans still queued or being exported when [`Pipeline::shutdown`] stopped waiting.
    pub abandoned_at_shutdown: u64,
}

enum Control {
    Flush(SyncSender<()>),
}

struct Shared {
    queue: ArrayQueue<FinishedSpan>,
    /// Spans the worker is done with, for application threads to free as they end spans.
    graveyard: ArrayQueue<Arc<SpanData>>,
    batch_size: usize,
    worker: OnceLock<Thread>,
    /// Set while a wake-up for a full batch is pending, so that only one is sent.
    wake_pending: AtomicBool,
    closed: AtomicBool,
    processed: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_after_shutdown: AtomicU64,
    exported: AtomicU64,
    export_errors: AtomicU64,
    dropped_export_failed: AtomicU64,
    abandoned_at_shutdown: AtomicU64,
    /// Spans in the batch the worker is exporting now.
    in_batch: AtomicU64,
    /// Set when shutdown stopped waiting: the worker no longer counts what it finishes, since
    /// its spans were counted as abandoned.
    abandoned: AtomicBool,
    has_exporters: bool,
    warned: AtomicBool,
    export_warned: AtomicBool,
}

impl Shared {
    fn wake(&self) {
        if let Some(worker) = self.worker.get() {
            worker.unpark();
        }
    }
}

/// The queue side, held by the layer.
#[derive(Clone)]
pub(crate) struct PipelineSink {
    shared: Arc<Shared>,
}

impl PipelineSink {
    /// Queues a finished span for the worker; never blocks.
    pub(crate) fn submit(&self, span: FinishedSpan) {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::Relaxed) {
            shared
                .dropped_after_shutdown
                .fetch_add(1, Ordering::Relaxed);
            metrics::counter!(SPANS_DROPPED_TOTAL, "reason" => "shutdown").increment(1);
            return;
        }
        // Free two spans the worker is done with, here where they were most likely allocated.
        for _ in 0..2 {
            match shared.graveyard.pop() {
                Some(dead) => drop(dead),
                None => break,
            }
        }
        if shared.queue.push(span).is_err() {
            shared.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(SPANS_DROPPED_TOTAL, "reason" => "queue_full").increment(1);
            if !shared.warned.swap(true, Ordering::Relaxed) {
                eprintln!("telescope: the span queue is full, dropping spans; the count is in {SPANS_DROPPED_TOTAL}");
            }
            return;
        }
        if shared.queue.len() >= shared.batch_size
            && !shared.wake_pending.swap(true, Ordering::AcqRel)
        {
            shared.wake();
        }
    }
}

/// The worker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Spans the queue holds (`OTEL_BSP_MAX_QUEUE_SIZE`, default 2048).
    pub max_queue_size: usize,
    /// Spans per batch (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, default 512).
    pub max_export_batch_size: usize,
    /// The longest a span waits in the queue (`OTEL_BSP_SCHEDULE_DELAY`, default 5 s).
    pub schedule_delay: Duration,
    /// How long one batch is retried after its first failure (`OTEL_BSP_EXPORT_TIMEOUT`,
    /// default 30 s), with exponential backoff and jitter from 100 ms to 5 s between tries.
    /// The queue keeps filling meanwhile; what overflows is dropped and counted.
    pub export_timeout: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_queue_size: DEFAULT_MAX_QUEUE_SIZE,
            max_export_batch_size: DEFAULT_MAX_EXPORT_BATCH_SIZE,
            schedule_delay: DEFAULT_SCHEDULE_DELAY,
            export_timeout: DEFAULT_EXPORT_TIMEOUT,
        }
    }
}

impl PipelineConfig {
    /// The defaults, overridden by `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
    /// `OTEL_BSP_SCHEDULE_DELAY` and `OTEL_BSP_EXPORT_TIMEOUT` (milliseconds) read through `get`.
    ///
    /// # Errors
    /// [`OtlpConfigError`](crate::OtlpConfigError) naming a variable that is not a positive
    /// integer.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, crate::OtlpConfigError> {
        let number = |var: &'static str| -> Result<Option<u64>, crate::OtlpConfigError> {
            match get(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
            {
                None => Ok(None),
                Some(text) => match text.parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(crate::OtlpConfigError {
                        var,
                        value: text,
                        reason: "expected a positive integer",
                    }),
                },
            }
        };
        let defaults = Self::default();
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(Self {
            max_queue_size: number("OTEL_BSP_MAX_QUEUE_SIZE")?
                .map_or(defaults.max_queue_size, size),
            max_export_batch_size: number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")?
                .map_or(defaults.max_export_batch_size, size),
            schedule_delay: number("OTEL_BSP_SCHEDULE_DELAY")?
                .map_or(defaults.schedule_delay, Duration::from_millis),
            export_timeout: number("OTEL_BSP_EXPORT_TIMEOUT")?
                .map_or(defaults.export_timeout, Duration::from_millis),
        })
    }
}

/// Controls the pipeline: flush, shut down, read counts, reach the ring. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    shared: Arc<Shared>,
    ring: SpanRing,
    control: SyncSender<Control>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Starts the worker thread; spans go to `ring`, to every sink in `sinks`, and in batches
    /// to every exporter in `exporters`.
    pub(crate) fn start(
        config: PipelineConfig,
        ring: SpanRing,
        sinks: Vec<Arc<dyn SpanSink>>,
        exporters: Vec<Box<dyn SpanExport>>,
    ) -> (Pipeline, PipelineSink) {
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(config.max_queue_size.max(1)),
            graveyard: ArrayQueue::new(config.max_queue_size.max(1)),
            batch_size: config
                .max_export_batch_size
                .clamp(1, config.max_queue_size.max(1)),
            worker: OnceLock::new(),
            wake_pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            processed: AtomicU64::new(0),
            dropped_queue_full: AtomicU64::new(0),
            dropped_after_shutdown: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            export_errors: AtomicU64::new(0),
            dropped_export_failed: AtomicU64::new(0),
            abandoned_at_shutdown: AtomicU64::new(0),
            in_batch: AtomicU64::new(0),
            abandoned: AtomicBool::new(false),
            has_exporters: !exporters.is_empty(),
            warned: AtomicBool::new(false),
            export_warned: AtomicBool::new(false),
        });
        let (control, requests) = mpsc::sync_channel(16);
        let worker = Worker {
            shared: shared.clone(),
            ring: ring.clone(),
            sinks,
            exporters,
            batch: Vec::with_capacity(config.max_export_batch_size.clamp(1, 4096)),
            trace_states: TraceStates::default(),
            requests,
            delay: config.schedule_delay,
            export_timeout: config.export_timeout,
        };
        let thread = std::thread::Builder::new()
            .name("telescope-spans".to_owned())
            .spawn(move || worker.run());
        let thread = match thread {
            Ok(thread) => {
                let _ = shared.worker.set(thread.thread().clone());
                Some(thread)
            }
            Err(error) => {
                eprintln!("telescope: could not start the span worker thread: {error}; spans will be dropped");
                shared.closed.store(true, Ordering::SeqCst);
                None
            }
        };
        let pipeline = Pipeline {
            shared: shared.clone(),
            ring,
            control,
            thread: Arc::new(Mutex::new(thread)),
        };
        (pipeline, PipelineSink { shared })
    }

    /// The ring of recent finished spans.
    pub fn ring(&self) -> SpanRing {
        self.ring.clone()
    }

    /// What the pipeline has done so far.
    pub fn stats(&self) -> PipelineStats {
        PipelineStats {
            processed: self.shared.processed.load(Ordering::Relaxed),
            dropped_queue_full: self.shared.dropped_queue_full.load(Ordering::Relaxed),
            dropped_after_shutdown: self.shared.dropped_after_shutdown.load(Ordering::Relaxed),
            exported: self.shared.exported.load(Ordering::Relaxed),
            export_errors: self.shared.export_errors.load(Ordering::Relaxed),
            dropped_export_failed: self.shared.dropped_export_failed.load(Ordering::Relaxed),
            abandoned_at_shutdown: self.shared.abandoned_at_shutdown.load(Ordering::Relaxed),
        }
    }

    /// Waits until every span ended before this call has been processed, or `timeout` passes;
    /// returns whether it finished in time. Safe to call from any thread, inside or outside a
    /// tokio runtime: it only waits on a channel, with a deadline.
    pub fn force_flush(&self, timeout: Duration) -> bool {
        let (done, finished) = mpsc::sync_channel(1);
        if self.control.try_send(Control::Flush(done)).is_err() {
            return false;
        }
        self.shared.wake();
        finished.recv_timeout(timeout).is_ok()
    }

    /// Flushes (within `timeout`), then stops the worker; later spans are dropped and counted.
    /// Returns whether everything was processed in time. Calling it again does nothing.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let flushed = self.force_flush(timeout);
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.wake();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // The worker exits at its next wake-up; wait for it only within the deadline.
            while !thread.is_finished() && Instant::now() < deadline {
                self.shared.wake();
                std::thread::sleep(Duration::from_millis(1));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else if self.shared.has_exporters
                && !self.shared.abandoned.swap(true, Ordering::SeqCst)
            {
                // Still exporting (a collector that does not answer): what it holds and what
                // is queued will not be delivered. Count it rather than lose it silently.
                let lost =
                    self.shared.queue.len() as u64 + self.shared.in_batch.load(Ordering::SeqCst);
                self.shared
                    .abandoned_at_shutdown
                    .fetch_add(lost, Ordering::Relaxed);
                metrics::counter!(SPANS_DROPPED_TOTAL, "reason" => "shutdown").increment(lost);
            }
        }
        flushed
    }
}

struct Worker {
    shared: Arc<Shared>,
    ring: SpanRing,
    sinks: Vec<Arc<dyn SpanSink>>,
    exporters: Vec<Box<dyn SpanExport>>,
    batch: Vec<Arc<SpanData>>,
    trace_states: TraceStates,
    requests: Receiver<Control>,
    delay: Duration,
    export_timeout: Duration,
}

impl Worker {
    fn run(mut self) {
        loop {
            std::thread::park_timeout(self.delay);
            self.shared.wake_pending.store(false, Ordering::Release);
            self.drain();
            while let Ok(Control::Flush(done)) = self.requests.try_recv() {
                self.drain();
                let _ = done.send(());
            }
            if self.shared.closed.load(Ordering::SeqCst) {
                self.drain();
                return;
            }
        }
    }

    /// Takes everything queued, exporting a batch each time one fills and the rest at the end.
    fn drain(&mut self) {
        while let Some(finished) = self.shared.queue.pop() {
            let span = self.trace_states.complete(finished);
            for sink in &self.sinks {
                sink.on_end(span.clone());
            }
            if !self.exporters.is_empty() {
                self.batch.push(span.clone());
            }
            if let Some(mut evicted) = self.ring.keep(span) {
                // What the worker allocated is freed here; the rest goes back to be freed by
                // an application thread (here only when the graveyard is full).
                self.trace_states.release(&mut evicted);
                let _ = self.shared.graveyard.push(evicted);
            }
            self.shared.processed.fetch_add(1, Ordering::Relaxed);
            if self.batch.len() >= self.shared.batch_size {
                self.export_batch();
            }
        }
        if !self.batch.is_empty() {
            self.export_batch();
        }
    }

    fn export_batch(&mut self) {
        let spans = self.batch.len() as u64;
        self.shared.in_batch.store(spans, Ordering::SeqCst);
        for exporter in &mut self.exporters {
            let outcome = export_with_retries(
                exporter.as_mut(),
                &self.batch,
                self.export_timeout,
                &self.shared,
            );
            if self.shared.abandoned.load(Ordering::SeqCst) {
                // Shutdown gave up on this batch and counted it already.
                break;
            }
            match outcome {
                Ok(()) => {
                    self.shared.exported.fetch_add(spans, Ordering::Relaxed);
                    metrics::counter!(SPANS_EXPORTED_TOTAL).increment(spans);
                }
                Err(error) => {
                    self.shared
                        .dropped_export_failed
                        .fetch_add(spans, Ordering::Relaxed);
                    metrics::counter!(SPANS_DROPPED_TOTAL, "reason" => "export_failed")
                        .increment(spans);
                    if !self.shared.export_warned.swap(true, Ordering::Relaxed) {
                        eprintln!(
                            "telescope: dropped {spans} spans after the export kept failing: {error}; \
                             further losses are counted in {SPANS_DROPPED_TOTAL}{{reason=\"export_failed\"}}"
                        );
                    }
                }
            }
        }
        // The ring holds these spans too, so this rarely frees anything (only spans the ring
        // evicted during this drain, whose last reference is the batch's).
        self.batch.clear();
        self.shared.in_batch.store(0, Ordering::SeqCst);
    }
}

/// Tries `batch` until it is accepted, `budget` has passed since the first failure, or the
/// pipeline is shut down (then one try only), pausing with exponential backoff and jitter
/// (a pause drawn from the upper half of the current backoff) in between. Every failed try is counted.
fn export_with_retries(
    exporter: &mut dyn SpanExport,
    batch: &[Arc<SpanData>],
    budget: Duration,
    shared: &Shared,
) -> Result<(), String> {
    let started = Instant::now();
    let mut backoff = FIRST_RETRY_BACKOFF;
    loop {
        let error = match exporter.export(batch) {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        shared.export_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(EXPORT_ERRORS_TOTAL).increment(1);
        let elapsed = started.elapsed();
        if shared.closed.load(Ordering::SeqCst) || elapsed >= budget {
            return Err(error);
        }
        let pause = jittered(backoff).min(budget - elapsed);
        // Parked rather than slept, so that a shutdown cuts the pause short.
        let until = Instant::now() + pause;
        while Instant::now() < until && !shared.closed.load(Ordering::SeqCst) {
            std::thread::park_timeout(until.saturating_duration_since(Instant::now()));
        }
        backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
    }
}

/// A pause drawn uniformly from the upper half of `backoff`, so that many processes
/// restarted together do not retry in step.
fn jittered(backoff: Duration) -> Duration {
    let half = backoff / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_settings_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            PipelineConfig::from_env(env(&[])),
            Ok(PipelineConfig::default())
        );
        let config = PipelineConfig::from_env(env(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", " 256 "),
            ("OTEL_BSP_SCHEDULE_DELAY", "1000"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "5000"),
        ]))
        .expect("valid");
        assert_eq!(
            config,
            PipelineConfig {
                max_queue_size: 4096,
                max_export_batch_size: 256,
                schedule_delay: Duration::from_secs(1),
                export_timeout: Duration::from_secs(5),
            }
        );
        for bad in ["0", "-1", "lots"] {
            let error = PipelineConfig::from_env(move |name: &str| {
                (name == "OTEL_BSP_MAX_QUEUE_SIZE").then(|| bad.to_owned())
            })
            .expect_err("refused");
            assert_eq!(error.var, "OTEL_BSP_MAX_QUEUE_SIZE");
        }
    }
}
