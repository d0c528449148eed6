//! The path of a finished span off the application thread: a bounded lock-free queue, then a
//! worker thread that keeps the ring and hands batches to the exporters. Spans are freed there
//! too, never on the thread that ended them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use opentelemetry_sdk::trace::SpanData;
use telescope_core::metric_names::SPANS_DROPPED_TOTAL;

use crate::sink::{SpanRing, SpanSink};

/// Defaults from the OpenTelemetry batch span processor (`OTEL_BSP_*`).
pub const DEFAULT_MAX_QUEUE_SIZE: usize = 2048;
/// See [`DEFAULT_MAX_QUEUE_SIZE`].
pub const DEFAULT_MAX_EXPORT_BATCH_SIZE: usize = 512;
/// See [`DEFAULT_MAX_QUEUE_SIZE`].
pub const DEFAULT_SCHEDULE_DELAY: Duration = Duration::from_millis(5000);

/// What the pipeline has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PipelineStats {
    /// Spans taken off the queue by the worker.
    pub processed: u64,
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Spans dropped because the pipeline was shut down.
    pub dropped_after_shutdown: u64,
}

enum Control {
    Flush(SyncSender<()>),
}

struct Shared {
    queue: ArrayQueue<Arc<SpanData>>,
    /// Spans the worker is done with, freed by application threads as they end spans: memory
    /// freed on the thread whose allocator arena it came from avoids contending for that
    /// arena's lock (with glibc, a cross-thread free per allocation takes it).
    graveyard: ArrayQueue<Arc<SpanData>>,
    batch_size: usize,
    worker: OnceLock<Thread>,
    /// Set while a wake-up for a full batch is pending, so that only one is sent.
    wake_pending: AtomicBool,
    closed: AtomicBool,
    processed: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_after_shutdown: AtomicU64,
    warned: AtomicBool,
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

impl SpanSink for PipelineSink {
    fn on_end(&self, span: Arc<SpanData>) {
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
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_queue_size: DEFAULT_MAX_QUEUE_SIZE,
            max_export_batch_size: DEFAULT_MAX_EXPORT_BATCH_SIZE,
            schedule_delay: DEFAULT_SCHEDULE_DELAY,
        }
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
    /// Starts the worker thread; spans go to `ring` and to every sink in `exporters`.
    pub(crate) fn start(
        config: PipelineConfig,
        ring: SpanRing,
        exporters: Vec<Arc<dyn SpanSink>>,
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
            warned: AtomicBool::new(false),
        });
        let (control, requests) = mpsc::sync_channel(16);
        let worker = Worker {
            shared: shared.clone(),
            ring: ring.clone(),
            exporters,
            requests,
            delay: config.schedule_delay,
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
            }
        }
        flushed
    }
}

struct Worker {
    shared: Arc<Shared>,
    ring: SpanRing,
    exporters: Vec<Arc<dyn SpanSink>>,
    requests: Receiver<Control>,
    delay: Duration,
}

impl Worker {
    fn run(self) {
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

    fn drain(&self) {
        while let Some(span) = self.shared.queue.pop() {
            for exporter in &self.exporters {
                exporter.on_end(span.clone());
            }
            if let Some(evicted) = self.ring.keep(span) {
                // Hand it back for freeing; free it here only when the graveyard is full.
                let _ = self.shared.graveyard.push(evicted);
            }
            self.shared.processed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
