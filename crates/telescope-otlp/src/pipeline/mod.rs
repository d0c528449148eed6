//! The path of a finished span off the application thread.
//!
//! ```text
//! app threads --(lock-free queue)--> collector --(backlog of batches)--> exporter threads
//!                                      |-> ring (/debug/traces, exemplar lookups), sinks
//! ```
//!
//! The collector takes spans off the queue as they come (within [`RING_LATENCY`] while spans
//! keep coming, at once after a pause), so the ring is current whatever the exporters do; it
//! hands each batch on as soon as it is full. Exporter threads run user code (HTTP clients
//! that park, runtimes): nothing the pipeline relies on is signalled through their threads'
//! park tokens. Spans the collector is done with go back to application threads, which free
//! them: memory is freed by the thread that allocated it, so the two never contend for an
//! allocator arena's lock (with glibc, a free from another thread takes it; on a busy machine
//! the lock holder gets preempted and everyone waits).

mod backlog;
mod collector;
mod counts;
mod doorbell;
mod exporting;
pub(crate) mod signal;
mod spans;

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use crate::export::SpanExport;
use crate::finished::TraceStates;
use crate::sink::{SpanRing, SpanSink};
use crate::sync::{AtomicBool, AtomicUsize, Ordering};
use backlog::Backlog;
use collector::Collector;
pub use collector::RING_LATENCY;
use counts::{Counts, Drop};
use doorbell::Doorbell;
use exporting::ExporterThread;
use signal::Signal;
use spans::{SpanIntake, Spans};

/// Defaults from the OpenTelemetry batch span processor (`OTEL_BSP_*`).
pub const DEFAULT_MAX_QUEUE_SIZE: usize = 2048;
/// See [`DEFAULT_MAX_QUEUE_SIZE`].
pub const DEFAULT_MAX_EXPORT_BATCH_SIZE: usize = 512;
/// See [`DEFAULT_MAX_QUEUE_SIZE`].
pub const DEFAULT_SCHEDULE_DELAY: Duration = Duration::from_millis(5000);
/// See [`DEFAULT_MAX_QUEUE_SIZE`].
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_millis(30_000);
/// See [`DEFAULT_MAX_QUEUE_SIZE`].
pub const DEFAULT_MAX_CONCURRENT_EXPORTS: usize = 1;
/// The longest a log record waits in the queue by default (`OTEL_BLRP_SCHEDULE_DELAY`).
pub const DEFAULT_LOG_SCHEDULE_DELAY: Duration = Duration::from_millis(1000);
/// The most exporter threads a pipeline starts, whatever it is asked for.
const MAX_CONCURRENT_EXPORTS: usize = 64;

/// What the pipeline has done so far. With one exporter, every span that reached the queue
/// ends in exactly one of `exported`, the `dropped_*` counts and `abandoned_at_shutdown`, or is
/// still `pending`; a span refused at the door is in `dropped_queue_full` or
/// `dropped_after_shutdown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PipelineStats {
    /// Spans taken off the queue by the collector.
    pub processed: u64,
    /// Spans dropped because the queue, or the backlog of batches for the exporters, was full.
    pub dropped_queue_full: u64,
    /// Spans dropped because they ended after shutdown began.
    pub dropped_after_shutdown: u64,
    /// Spans an exporter's receiver accepted (summed over exporters).
    pub exported: u64,
    /// Failed export attempts, retried or not.
    pub export_errors: u64,
    /// Spans the receiver refused for good: a permanent error, or rejected in an OTLP partial
    /// success.
    pub dropped_rejected: u64,
    /// Spans given up on after retryable failures outlasted the export timeout.
    pub dropped_export_failed: u64,
    /// Spans an exporter panicked on (a bug in a `SpanExport`; the exporter thread goes on).
    pub dropped_worker_failed: u64,
    /// Spans still waiting to be sent when [`Pipeline::shutdown`] stopped waiting.
    pub abandoned_at_shutdown: u64,
    /// Spans in the queue or the backlog, or being exported, right now.
    pub pending: u64,
}

/// The pipeline's settings: queue, batches, delays, concurrent exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Spans the queue holds (`OTEL_BSP_MAX_QUEUE_SIZE`, default 2048).
    pub max_queue_size: usize,
    /// Spans per batch (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, default 512).
    pub max_export_batch_size: usize,
    /// The longest a span waits in the queue (`OTEL_BSP_SCHEDULE_DELAY`, default 5 s).
    pub schedule_delay: Duration,
    /// How long one batch is retried after its first retryable failure
    /// (`OTEL_BSP_EXPORT_TIMEOUT`, default 30 s), pausing as the receiver asks
    /// (`Retry-After`, gRPC `RetryInfo`) or with exponential backoff and jitter from 100 ms to
    /// 5 s. Permanent failures are not retried. The queue keeps filling meanwhile; what
    /// overflows is dropped and counted.
    pub export_timeout: Duration,
    /// Batches sent at the same time, each by its own exporter thread
    /// (`OTEL_BSP_MAX_CONCURRENT_EXPORTS`, default 1, at most 64).
    pub max_concurrent_exports: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_queue_size: DEFAULT_MAX_QUEUE_SIZE,
            max_export_batch_size: DEFAULT_MAX_EXPORT_BATCH_SIZE,
            schedule_delay: DEFAULT_SCHEDULE_DELAY,
            export_timeout: DEFAULT_EXPORT_TIMEOUT,
            max_concurrent_exports: DEFAULT_MAX_CONCURRENT_EXPORTS,
        }
    }
}

impl PipelineConfig {
    /// The log pipeline's defaults (`OTEL_BLRP_*`): as the spans', but a record waits at most
    /// 1 s in the queue.
    pub fn logs_default() -> Self {
        Self {
            schedule_delay: DEFAULT_LOG_SCHEDULE_DELAY,
            ..Self::default()
        }
    }

    /// The defaults, overridden by `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
    /// `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_EXPORT_TIMEOUT` (milliseconds) and
    /// `OTEL_BSP_MAX_CONCURRENT_EXPORTS` read through `get`.
    ///
    /// # Errors
    /// [`OtlpConfigError`](crate::OtlpConfigError) naming a variable that is not a positive
    /// integer.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, crate::OtlpConfigError> {
        Self::read(
            Self::default(),
            [
                "OTEL_BSP_MAX_QUEUE_SIZE",
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                "OTEL_BSP_SCHEDULE_DELAY",
                "OTEL_BSP_EXPORT_TIMEOUT",
                "OTEL_BSP_MAX_CONCURRENT_EXPORTS",
            ],
            get,
        )
    }

    /// The log pipeline's settings: [`logs_default`](Self::logs_default), overridden by
    /// `OTEL_BLRP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`,
    /// `OTEL_BLRP_SCHEDULE_DELAY`, `OTEL_BLRP_EXPORT_TIMEOUT` and (telescope's own)
    /// `OTEL_BLRP_MAX_CONCURRENT_EXPORTS`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn logs_from_env(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::OtlpConfigError> {
        Self::read(
            Self::logs_default(),
            [
                "OTEL_BLRP_MAX_QUEUE_SIZE",
                "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
                "OTEL_BLRP_SCHEDULE_DELAY",
                "OTEL_BLRP_EXPORT_TIMEOUT",
                "OTEL_BLRP_MAX_CONCURRENT_EXPORTS",
            ],
            get,
        )
    }

    /// `defaults` overridden by the five `vars` (queue, batch, delay, timeout, exports).
    fn read(
        defaults: Self,
        [queue, batch, delay, timeout, exports]: [&'static str; 5],
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::OtlpConfigError> {
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
                        reason: "expected a positive integer".to_owned(),
                    }),
                },
            }
        };
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(Self {
            max_queue_size: number(queue)?.map_or(defaults.max_queue_size, size),
            max_export_batch_size: number(batch)?.map_or(defaults.max_export_batch_size, size),
            schedule_delay: number(delay)?.map_or(defaults.schedule_delay, Duration::from_millis),
            export_timeout: number(timeout)?.map_or(defaults.export_timeout, Duration::from_millis),
            max_concurrent_exports: number(exports)?.map_or(defaults.max_concurrent_exports, size),
        })
    }
}

/// What the application threads, the collector and the exporter threads share.
struct Shared<S: Signal> {
    queue: ArrayQueue<S::Queued>,
    /// Items the collector is done with, for application threads to free as they queue more.
    graveyard: ArrayQueue<S::Item>,
    backlog: Backlog<S::Item>,
    batch_size: usize,
    /// Wakes the collector.
    doorbell: Doorbell,
    /// Set while the collector sleeps with nothing to do: the next span rings it.
    collector_idle: AtomicBool,
    closed: AtomicBool,
    /// Flushes waiting: the collector hands on partial batches at once meanwhile.
    flushing: AtomicUsize,
    has_exporters: bool,
    counts: Counts,
}

/// The queue side, held by the layer.
pub(crate) struct PipelineSink<S: Signal = Spans> {
    shared: Arc<Shared<S>>,
}

impl<S: Signal> Clone for PipelineSink<S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<S: Signal> PipelineSink<S> {
    /// An item the pipeline is done with, to reuse (its buffer) for the next one.
    pub(crate) fn reusable(&self) -> Option<S::Item> {
        self.shared.graveyard.pop()
    }

    /// Queues an item for the collector; never blocks.
    pub(crate) fn submit(&self, item: S::Queued) {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::Relaxed) {
            shared
                .counts
                .dropped(Drop::AfterShutdown, 1, &"the pipeline is shut down");
            return;
        }
        // Free two items the collector is done with, here where they were most likely
        // allocated (unless they are taken back for reuse: see `reusable`).
        if S::FREE_ON_SUBMIT {
            for _ in 0..2 {
                match shared.graveyard.pop() {
                    Some(dead) => drop(dead),
                    None => break,
                }
            }
        }
        if shared.queue.push(item).is_err() {
            shared
                .counts
                .dropped(Drop::QueueFull, 1, &"the queue is full");
            return;
        }
        shared.counts.accepted();
        // The push is a sequentially consistent compare-and-swap, and so are the collector's
        // announcement that it is idle and its last look at the queue: either it sees this
        // item, or this load sees it idle. Whether a batch is full is looked at on every
        // eighth item of a thread only: the queue's length reads a cache line the collector
        // keeps writing, and a batch rung a few items late is still one batch.
        if shared.collector_idle.load(Ordering::SeqCst)
            || (every_eighth_submit() && shared.queue.len() >= shared.batch_size)
        {
            shared.doorbell.ring();
        }
    }
}

/// A running pipeline of any signal: its threads, flush and shutdown. [`Pipeline`] is the
/// spans' one, with the ring.
pub(crate) struct Core<S: Signal> {
    shared: Arc<Shared<S>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Set by the first shutdown, with its result: later calls return it.
    shut_down: Arc<Mutex<Option<bool>>>,
}

impl<S: Signal> Clone for Core<S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            threads: self.threads.clone(),
            shut_down: self.shut_down.clone(),
        }
    }
}

/// Controls the span pipeline: flush, shut down, read counts, reach the ring. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    core: Core<Spans>,
    ring: SpanRing,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Starts the collector and the exporter threads; spans go to `ring`, to every sink in
    /// `sinks`, and in batches to every exporter in `exporters`.
    pub(crate) fn start(
        config: PipelineConfig,
        ring: SpanRing,
        sinks: Vec<Arc<dyn SpanSink>>,
        exporters: Vec<Box<dyn SpanExport>>,
    ) -> (Pipeline, PipelineSink) {
        let intake = SpanIntake {
            ring: ring.clone(),
            sinks,
            trace_states: TraceStates::default(),
            sink_failed_said: false,
        };
        let (core, sink) = Core::start(config, intake, exporters);
        (Pipeline { core, ring }, sink)
    }

    /// The ring of recent finished spans.
    pub fn ring(&self) -> SpanRing {
        self.ring.clone()
    }

    /// What the pipeline has done so far.
    pub fn stats(&self) -> PipelineStats {
        self.core.stats()
    }

    /// Waits until every span that reached the queue before this call has been exported or
    /// dropped (with no exporter: kept in the ring), or `timeout` passes; returns whether it
    /// finished in time. Partial batches are sent at once meanwhile. Safe to call from any
    /// thread, inside or outside a tokio runtime: it only sleeps, with a deadline.
    pub fn force_flush(&self, timeout: Duration) -> bool {
        self.core.force_flush(timeout)
    }

    /// Flushes (within `timeout`), then stops the threads; spans that end later are dropped
    /// and counted. Returns whether everything was exported or dropped in time. What is still
    /// waiting at the deadline is dropped and counted (`abandoned_at_shutdown`); a batch being
    /// sent at that moment is counted by its outcome when the receiver answers. Calling it
    /// again returns the first call's result.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.core.shutdown(timeout)
    }
}

impl<S: Signal> Core<S> {
    /// Starts the collector (with `intake`) and, when there are exporters, the exporter
    /// threads.
    pub(crate) fn start(
        config: PipelineConfig,
        intake: S::Intake,
        exporters: Vec<Box<S::Exporter>>,
    ) -> (Core<S>, PipelineSink<S>) {
        let queue_size = config.max_queue_size.max(1);
        let batch_size = config.max_export_batch_size.clamp(1, queue_size);
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(queue_size),
            graveyard: ArrayQueue::new(queue_size),
            backlog: Backlog::new(queue_size),
            batch_size,
            doorbell: Doorbell::default(),
            collector_idle: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            flushing: AtomicUsize::new(0),
            has_exporters: !exporters.is_empty(),
            counts: Counts::new(S::NAMES),
        });
        let mut threads = Vec::new();
        let collector = Collector {
            shared: shared.clone(),
            intake,
            delay: config.schedule_delay,
            open: Vec::with_capacity(batch_size.min(4096)),
            open_since: Instant::now(),
        };
        let started = spawn(S::NAMES.thread.to_owned(), move || collector.run())
            .map(|thread| threads.push(thread));
        if !exporters.is_empty() {
            let exporters = Arc::new(exporters);
            let count = config
                .max_concurrent_exports
                .clamp(1, MAX_CONCURRENT_EXPORTS);
            for index in 0..count {
                let thread = ExporterThread {
                    shared: shared.clone(),
                    exporters: exporters.clone(),
                    export_timeout: config.export_timeout,
                };
                let name = format!("{}-export-{index}", S::NAMES.thread);
                if let Ok(handle) = spawn(name, move || thread.run()) {
                    threads.push(handle);
                }
            }
        }
        if started.is_err() || (shared.has_exporters && threads.len() < 2) {
            eprintln!(
                "telescope: could not start the {} pipeline's threads; {} will be dropped",
                S::NAMES.items,
                S::NAMES.items
            );
            shared.closed.store(true, Ordering::SeqCst);
        }
        let core = Core {
            shared: shared.clone(),
            threads: Arc::new(Mutex::new(threads)),
            shut_down: Arc::new(Mutex::new(None)),
        };
        (core, PipelineSink { shared })
    }

    /// What the pipeline has done so far.
    pub(crate) fn stats(&self) -> PipelineStats {
        self.shared.counts.stats()
    }

    /// See [`Pipeline::force_flush`].
    pub(crate) fn force_flush(&self, timeout: Duration) -> bool {
        let deadline = telescope_core::time::deadline_after(timeout);
        let shared = &*self.shared;
        let target = shared.counts.accepted_so_far();
        shared.flushing.fetch_add(1, Ordering::SeqCst);
        shared.doorbell.ring();
        let flushed = loop {
            if shared.counts.settled_so_far() >= target {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        shared.flushing.fetch_sub(1, Ordering::SeqCst);
        flushed
    }

    /// See [`Pipeline::shutdown`].
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        let mut shut_down = self
            .shut_down
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(result) = *shut_down {
            return result;
        }
        let deadline = telescope_core::time::deadline_after(timeout);
        let shared = &*self.shared;
        shared.backlog.set_deadline(deadline);
        shared.closed.store(true, Ordering::SeqCst);
        let flushed = self.force_flush(timeout);
        shared.doorbell.ring();
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        while threads.iter().any(|thread| !thread.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if threads.iter().any(|thread| !thread.is_finished()) {
            // A collector or exporter still busy (a receiver that does not answer, a sink that
            // blocks): what waits behind it will not be sent. Counted, not lost silently.
            shared.backlog.abandon(&shared.counts);
            collector::abandon_queued(shared);
        }
        for thread in threads {
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        // An item that passed the door just as it closed, after the collector left.
        collector::abandon_queued(shared);
        *shut_down = Some(flushed);
        flushed
    }
}

thread_local! {
    /// Items this thread queued, modulo 256.
    static SUBMITS: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
    /// Set on the pipelines' own threads.
    static PIPELINE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Counts this thread's submits; true on every eighth.
fn every_eighth_submit() -> bool {
    SUBMITS
        .try_with(|count| {
            let next = count.get().wrapping_add(1);
            count.set(next);
            next % 8 == 0
        })
        .unwrap_or(true)
}

/// Whether this is one of the pipelines' threads (a collector or an exporter). Events logged
/// there (by the HTTP and gRPC clients, by a user's exporter) are not exported as log records:
/// each export would log, and each log be exported, without end.
pub(crate) fn on_pipeline_thread() -> bool {
    PIPELINE_THREAD
        .try_with(std::cell::Cell::get)
        .unwrap_or(false)
}

/// Starts a pipeline thread named `name`, marked as one (see [`on_pipeline_thread`]).
fn spawn(name: String, work: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name).spawn(move || {
        PIPELINE_THREAD.with(|mark| mark.set(true));
        work();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_threads_are_marked_and_others_are_not() {
        assert!(!on_pipeline_thread());
        let marked = spawn("marked".to_owned(), || assert!(on_pipeline_thread()))
            .expect("a thread")
            .join();
        assert!(marked.is_ok(), "the assertion held on the pipeline thread");
    }

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
            ("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "4"),
        ]))
        .expect("valid");
        assert_eq!(
            config,
            PipelineConfig {
                max_queue_size: 4096,
                max_export_batch_size: 256,
                schedule_delay: Duration::from_secs(1),
                export_timeout: Duration::from_secs(5),
                max_concurrent_exports: 4,
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
