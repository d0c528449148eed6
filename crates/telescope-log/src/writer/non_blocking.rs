//! A writer that hands lines to a background thread through a bounded queue.
//!
//! Lines travel in buffers that go back and forth between the logging threads and the worker
//! through two lock-free bounded queues (lines one way, empty buffers back), so that in the
//! steady state nothing is allocated per line and no lock is taken. The worker polls the
//! queue while lines keep coming, so a logging thread makes no system call to hand a line
//! over; when idle it parks and the next line wakes it.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_queue::ArrayQueue;
use tracing_subscriber::fmt::MakeWriter;

use super::wake::ParkFlag;
use crate::report::{DropReason, LossReport};
use crate::timestamp::{write_timestamp, TimestampFormat};

/// The default queue length, in lines (as `tracing-appender`'s).
pub const DEFAULT_QUEUE_LINES: usize = 128_000;

/// How many bytes of lines the queue holds by default (64 MiB): with a stuck sink and large
/// lines, memory stays bounded however few lines that is.
pub const DEFAULT_QUEUE_BYTES: usize = 64 << 20;
/// Lines are gathered into one write of up to this many bytes.
const BATCH_BYTES: usize = 64 * 1024;
/// How long the worker sleeps between polls of the queue while lines are coming.
const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// After this many empty polls in a row the worker parks until the next line.
const IDLE_POLLS: u32 = 50;
/// Empty buffers kept for reuse.
const POOL_BUFFERS: usize = 1024;
/// Buffers larger than this are freed rather than kept for reuse.
const POOL_BUFFER_MAX: usize = 4096;
/// How long a [`FlushGuard`] waits for the queue to drain when dropped, by default.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests from the guard to the worker.
enum Control {
    Flush(SyncSender<()>),
    Shutdown,
}

/// What the writer handles and the worker share.
struct Shared {
    lines: ArrayQueue<Vec<u8>>,
    /// Bytes of the lines in `lines`, and the most it may hold (a line always fits an empty
    /// queue, so one larger than the limit still goes).
    queued_bytes: AtomicUsize,
    max_queued_bytes: usize,
    spare_buffers: ArrayQueue<Vec<u8>>,
    /// Set by the worker just before it parks with nothing to do.
    worker_parked: ParkFlag,
    /// Set once the worker has stopped taking lines.
    closed: AtomicBool,
    /// Set when the worker thread died (a panic in the sink): lines are dropped from then on.
    failed: AtomicBool,
    worker: OnceLock<Thread>,
    dropped: AtomicU64,
    /// Drops not yet announced in the log itself.
    dropped_unannounced: AtomicU64,
    written: AtomicU64,
    write_errors: AtomicU64,
    /// Lines in the write the worker is making now: lost with it if it never returns.
    in_flight: AtomicU64,
    loss: LossReport,
}

impl Shared {
    fn new(queue_lines: usize, max_queued_bytes: usize) -> Self {
        Self {
            lines: ArrayQueue::new(queue_lines),
            queued_bytes: AtomicUsize::new(0),
            max_queued_bytes,
            spare_buffers: ArrayQueue::new(POOL_BUFFERS),
            worker_parked: ParkFlag::default(),
            closed: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            worker: OnceLock::new(),
            dropped: AtomicU64::new(0),
            dropped_unannounced: AtomicU64::new(0),
            written: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            loss: LossReport::default(),
        }
    }

    fn wake_worker(&self) {
        if let Some(worker) = self.worker.get() {
            worker.unpark();
        }
    }

    /// Reserves room for `bytes` more queued bytes; false when that would pass the limit
    /// (unless nothing is queued).
    fn reserve_bytes(&self, bytes: usize) -> bool {
        // One add, not a compare-and-swap loop: loggers on many threads do not retry here.
        let queued = self.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        if queued == 0 || queued.saturating_add(bytes) <= self.max_queued_bytes {
            return true;
        }
        self.release_bytes(bytes);
        false
    }

    /// A line of `bytes` left the queue.
    fn release_bytes(&self, bytes: usize) {
        self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    fn recycle(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() <= POOL_BUFFER_MAX {
            buffer.clear();
            let _ = self.spare_buffers.push(buffer);
        }
    }

    fn count_dropped(&self, lines: u64, reason: DropReason) {
        self.dropped.fetch_add(lines, Ordering::Relaxed);
        // A full queue is announced in the log itself; the other losses are of the sink,
        // which could not carry the notice either.
        if reason == DropReason::QueueFull {
            self.dropped_unannounced.fetch_add(lines, Ordering::Relaxed);
        }
        self.loss.dropped(lines, reason);
    }

    /// Why a line that finds the writer closed is dropped.
    fn closed_reason(&self) -> DropReason {
        if self.failed.load(Ordering::Relaxed) {
            DropReason::WorkerFailed
        } else {
            DropReason::Shutdown
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("queued", &self.lines.len())
            .finish_non_exhaustive()
    }
}

/// What a non-blocking writer has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NonBlockingStats {
    /// Lines handed to the inner writer.
    pub written: u64,
    /// Lines dropped because the queue was full (lossy mode) or the worker had stopped.
    pub dropped: u64,
    /// Writes to the inner writer that failed.
    pub write_errors: u64,
}

/// Configures a [`NonBlocking`] writer.
///
/// ```
/// use telescope_log::NonBlockingBuilder;
/// let (writer, guard) = NonBlockingBuilder::default()
///     .queue_lines(1024)
///     .lossy(false)
///     .finish(std::io::sink());
/// # drop((writer, guard));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct NonBlockingBuilder {
    queue_lines: usize,
    queue_bytes: usize,
    lossy: bool,
    drop_notice: bool,
    thread_name: String,
    shutdown_timeout: Duration,
}

impl Default for NonBlockingBuilder {
    fn default() -> Self {
        Self {
            queue_lines: DEFAULT_QUEUE_LINES,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            lossy: true,
            drop_notice: true,
            thread_name: "telescope-log".to_owned(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

impl NonBlockingBuilder {
    /// How many lines the queue holds (default [`DEFAULT_QUEUE_LINES`]; 0 counts as 1).
    pub fn queue_lines(mut self, lines: usize) -> Self {
        self.queue_lines = lines.max(1);
        self
    }

    /// How many bytes of lines the queue holds (default [`DEFAULT_QUEUE_BYTES`]); whichever of
    /// this and [`queue_lines`](Self::queue_lines) is reached first makes the queue full. A
    /// single line larger than this still goes when the queue is empty. 0 counts as 1.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes.max(1);
        self
    }

    /// `true` (the default): a full queue drops the line and counts it in
    /// `telescope_log_dropped_total`. `false`: the logging thread waits for room, so nothing
    /// is lost and a slow sink slows the application.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// Whether the worker writes a JSON line saying how many lines were dropped, once it
    /// catches up (default on), so the loss shows in the log itself.
    pub fn drop_notice(mut self, on: bool) -> Self {
        self.drop_notice = on;
        self
    }

    /// The worker thread's name (default `telescope-log`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// How long dropping the [`FlushGuard`] waits for queued lines to be written
    /// (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Starts the worker thread writing to `inner`.
    ///
    /// If the thread cannot be spawned, a message goes to stderr and every line is counted
    /// as dropped; the guard reports the total.
    pub fn finish<W: Write + Send + 'static>(self, inner: W) -> (NonBlocking, FlushGuard) {
        let shared = Arc::new(Shared::new(self.queue_lines, self.queue_bytes));
        let (control_sender, control) = mpsc::sync_channel(4);
        let (done_sender, done_receiver) = mpsc::sync_channel(1);
        let worker = Worker {
            control,
            inner,
            shared: shared.clone(),
            drop_notice: self.drop_notice,
            batch: Vec::with_capacity(BATCH_BYTES),
            lines_in_batch: 0,
            broken_line: false,
        };
        let handle = std::thread::Builder::new()
            .name(self.thread_name)
            .spawn(move || {
                // If the sink panics, the guard closes the queue on the way out, so that
                // nobody waits for room that will never come.
                let _on_death = CloseOnPanic(worker.shared.clone());
                worker.run();
                let _ = done_sender.send(());
            });
        let handle = match handle {
            Ok(handle) => {
                let _ = shared.worker.set(handle.thread().clone());
                Some(handle)
            }
            Err(error) => {
                eprintln!("telescope: could not start the log writer thread: {error}");
                shared.closed.store(true, Ordering::SeqCst);
                None
            }
        };
        let writer = NonBlocking {
            shared: shared.clone(),
            lossy: self.lossy,
        };
        let guard = FlushGuard {
            control: control_sender,
            shared,
            done: done_receiver,
            handle,
            timeout: self.shutdown_timeout,
        };
        (writer, guard)
    }
}

/// A writer that queues each line for a background thread and returns at once.
///
/// Each `write` call is one line. Lines are written in order, gathered into large writes.
/// It is a `MakeWriter`, so it goes straight into
/// [`JsonLayerBuilder::writer`](crate::JsonLayerBuilder::writer) or
/// `tracing_subscriber::fmt().with_writer`. Keep the [`FlushGuard`] alive until the end of
/// `main`: dropping it writes what is queued.
///
/// ```
/// use telescope_log::{JsonLayer, NonBlocking};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let (writer, _guard) = NonBlocking::new(std::io::stdout());
/// let subscriber = tracing_subscriber::registry().with(JsonLayer::builder().writer(writer).build());
/// tracing::subscriber::with_default(subscriber, || tracing::info!("queued, then written"));
/// ```
#[derive(Clone)]
pub struct NonBlocking {
    shared: Arc<Shared>,
    lossy: bool,
}

impl fmt::Debug for NonBlocking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonBlocking")
            .field("lossy", &self.lossy)
            .field("stats", &self.stats())
            .finish()
    }
}

impl NonBlocking {
    /// A lossy writer with the default settings; see [`NonBlockingBuilder`].
    pub fn new<W: Write + Send + 'static>(inner: W) -> (NonBlocking, FlushGuard) {
        NonBlockingBuilder::default().finish(inner)
    }

    /// What was written, dropped and failed so far.
    pub fn stats(&self) -> NonBlockingStats {
        stats_of(&self.shared)
    }

    fn enqueue(&self, line: &[u8]) {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::Relaxed) {
            shared.count_dropped(1, shared.closed_reason());
            return;
        }
        let mut buffer = shared.spare_buffers.pop().unwrap_or_default();
        buffer.extend_from_slice(line);
        let mut backoff = 0u32;
        loop {
            // Room in bytes first, then a slot; a line that gets no slot gives its bytes back.
            let pushed = if shared.reserve_bytes(buffer.len()) {
                let len = buffer.len();
                shared
                    .lines
                    .push(buffer)
                    .inspect_err(|_| shared.release_bytes(len))
            } else {
                Err(buffer)
            };
            match pushed {
                Ok(()) => {
                    if shared.worker_parked.must_wake() {
                        shared.wake_worker();
                    }
                    return;
                }
                Err(rejected) => {
                    if self.lossy || shared.closed.load(Ordering::Relaxed) {
                        shared.recycle(rejected);
                        let reason = if shared.closed.load(Ordering::Relaxed) {
                            shared.closed_reason()
                        } else {
                            DropReason::QueueFull
                        };
                        shared.count_dropped(1, reason);
                        return;
                    }
                    // Blocking mode and the queue is full: nudge the worker and wait for room.
                    buffer = rejected;
                    shared.wake_worker();
                    backoff = wait_for_room(backoff);
                }
            }
        }
    }
}

/// One step of waiting for queue room: spin briefly, then yield, then sleep.
fn wait_for_room(step: u32) -> u32 {
    match step {
        0..=15 => std::hint::spin_loop(),
        16..=31 => std::thread::yield_now(),
        _ => std::thread::sleep(Duration::from_micros(100)),
    }
    step.saturating_add(1)
}

fn stats_of(shared: &Shared) -> NonBlockingStats {
    NonBlockingStats {
        written: shared.written.load(Ordering::Relaxed),
        dropped: shared.dropped.load(Ordering::Relaxed),
        write_errors: shared.write_errors.load(Ordering::Relaxed),
    }
}

impl Write for &NonBlocking {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.enqueue(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for NonBlocking {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        (&*self).write(line)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = &'a NonBlocking;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Writes queued lines when dropped (within the shutdown timeout) and reports what was lost.
#[must_use = "dropping the guard at once stops the log writer; bind it to a named variable"]
pub struct FlushGuard {
    control: SyncSender<Control>,
    shared: Arc<Shared>,
    done: Receiver<()>,
    handle: Option<JoinHandle<()>>,
    timeout: Duration,
}

impl fmt::Debug for FlushGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushGuard")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl FlushGuard {
    /// Waits until every line queued before this call is written, or `timeout` passes.
    /// Returns whether everything was written in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = telescope_core::time::deadline_after(timeout);
        let (ack_sender, ack) = mpsc::sync_channel(1);
        self.handle.is_some()
            && self.send(Control::Flush(ack_sender), deadline)
            && ack
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok()
    }

    /// What was written, dropped and failed so far.
    pub fn stats(&self) -> NonBlockingStats {
        stats_of(&self.shared)
    }

    /// Sends a request to the worker and wakes it, retrying while the channel is full.
    fn send(&self, mut request: Control, deadline: Instant) -> bool {
        loop {
            match self.control.try_send(request) {
                Ok(()) => {
                    self.shared.wake_worker();
                    return true;
                }
                Err(mpsc::TrySendError::Disconnected(_)) => return false,
                Err(mpsc::TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    request = back;
                    self.shared.wake_worker();
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
}

impl FlushGuard {
    /// Writes what is queued (within the shutdown timeout), stops the worker, and returns
    /// the final counts. Dropping the guard does the same.
    pub fn shutdown(mut self) -> NonBlockingStats {
        self.finish(self.timeout);
        self.stats()
    }

    /// Like [`shutdown`](Self::shutdown), waiting at most `timeout` instead of the configured
    /// shutdown timeout: for a caller sharing one time budget among several things to stop.
    pub fn shutdown_within(mut self, timeout: Duration) -> NonBlockingStats {
        self.finish(timeout);
        self.stats()
    }

    /// Stops the worker once, waiting at most `timeout`; later calls do nothing.
    fn finish(&mut self, timeout: Duration) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        let deadline = telescope_core::time::deadline_after(timeout);
        let finished = self.send(Control::Shutdown, deadline)
            && match self
                .done
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
                Err(RecvTimeoutError::Timeout) => false,
            };
        if finished {
            let _ = handle.join();
            if self.shared.failed.load(Ordering::SeqCst) {
                // Lines queued in the moment the worker died.
                let mut stranded = 0;
                while let Some(line) = self.shared.lines.pop() {
                    self.shared.release_bytes(line.len());
                    self.shared.recycle(line);
                    stranded += 1;
                }
                self.shared
                    .count_dropped(stranded, DropReason::WorkerFailed);
            }
        } else {
            // Stop taking lines: later ones are counted as dropped instead of queued forever.
            self.shared.closed.store(true, Ordering::SeqCst);
            // Queued lines, and those in a write that never returned.
            let stranded =
                self.shared.lines.len() as u64 + self.shared.in_flight.load(Ordering::Relaxed);
            eprintln!(
                "telescope: log writer did not finish within {timeout:?}; {stranded} queued lines are lost"
            );
            self.shared.count_dropped(stranded, DropReason::Shutdown);
        }
        let stats = self.stats();
        if stats.dropped > 0 || stats.write_errors > 0 {
            eprintln!(
                "telescope: log writer totals: {} lines written, {} dropped, {} failed writes",
                stats.written, stats.dropped, stats.write_errors
            );
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.finish(self.timeout);
    }
}

/// The background side: takes lines off the queue and writes them in batches.
/// Marks the writer failed and closed when the worker thread unwinds, counting the lines
/// queued and in flight as dropped (`worker_failed`).
struct CloseOnPanic(Arc<Shared>);

impl Drop for CloseOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let shared = &*self.0;
        shared.failed.store(true, Ordering::SeqCst);
        shared.closed.store(true, Ordering::SeqCst);
        let mut lost = shared.in_flight.swap(0, Ordering::Relaxed);
        while let Some(line) = shared.lines.pop() {
            shared.release_bytes(line.len());
            shared.recycle(line);
            lost += 1;
        }
        shared.count_dropped(lost, DropReason::WorkerFailed);
    }
}

struct Worker<W> {
    control: Receiver<Control>,
    inner: W,
    shared: Arc<Shared>,
    drop_notice: bool,
    batch: Vec<u8>,
    lines_in_batch: u64,
    /// The sink's output ends inside a line (a write failed part-way).
    broken_line: bool,
}

/// Writes all of `bytes` like `write_all`, and says how many made it out before an error.
fn write_counting(out: &mut impl Write, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut written = 0;
    while written < bytes.len() {
        match out.write(&bytes[written..]) {
            Ok(0) => return (written, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return (written, Err(error)),
        }
    }
    (written, Ok(()))
}

impl<W: Write> Worker<W> {
    /// Takes lines off the queue until shut down or the guard is gone.
    ///
    /// While lines keep coming the worker polls: it drains the queue, writes the batch, and
    /// sleeps [`POLL_INTERVAL`]. After [`IDLE_POLLS`] empty polls in a row it parks until a
    /// line or a request wakes it.
    fn run(mut self) {
        let mut empty_polls = 0u32;
        loop {
            let received = self.drain();
            match self.control.try_recv() {
                Ok(Control::Flush(ack)) => {
                    self.drain();
                    let _ = ack.send(());
                }
                Ok(Control::Shutdown) | Err(TryRecvError::Disconnected) => {
                    self.shared.closed.store(true, Ordering::SeqCst);
                    self.drain();
                    return;
                }
                Err(TryRecvError::Empty) => {}
            }
            empty_polls = if received > 0 {
                0
            } else {
                empty_polls.saturating_add(1)
            };
            if empty_polls < IDLE_POLLS {
                std::thread::park_timeout(POLL_INTERVAL);
            } else {
                self.park_until_woken();
                empty_polls = 0;
            }
        }
    }

    /// Parks with nothing to do, without missing a line that arrives meanwhile.
    fn park_until_woken(&self) {
        let shared = &*self.shared;
        shared
            .worker_parked
            .park_if_empty(|| shared.lines.is_empty(), std::thread::park);
    }

    /// Writes every queued line; returns how many there were.
    fn drain(&mut self) -> u64 {
        let mut count = 0;
        while let Some(line) = self.shared.lines.pop() {
            self.shared.release_bytes(line.len());
            self.batch.extend_from_slice(&line);
            self.shared.recycle(line);
            self.lines_in_batch += 1;
            count += 1;
            if self.batch.len() >= BATCH_BYTES {
                self.write_batch();
            }
        }
        self.write_batch();
        count
    }

    /// Writes the gathered lines (and a notice of drops since the last one) in one call.
    fn write_batch(&mut self) {
        let dropped = self.shared.dropped_unannounced.swap(0, Ordering::Relaxed);
        if self.drop_notice && dropped > 0 {
            write_drop_notice(&mut self.batch, dropped);
        }
        if self.batch.is_empty() {
            return;
        }
        self.shared
            .in_flight
            .store(self.lines_in_batch, Ordering::Relaxed);
        if self.broken_line {
            // The last failed write stopped inside a line: end it, so that the next line
            // starts on a line of its own instead of being merged into half of another.
            self.batch.insert(0, b'\n');
        }
        let (written, result) = write_counting(&mut self.inner, &self.batch);
        let result = result.and_then(|()| self.inner.flush());
        self.shared.in_flight.store(0, Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.broken_line = false;
                self.shared
                    .written
                    .fetch_add(self.lines_in_batch, Ordering::Relaxed);
            }
            Err(error) => {
                self.shared.write_errors.fetch_add(1, Ordering::Relaxed);
                self.shared.loss.write_error(&error);
                // Whole lines that made it out count as written; the rest are lost.
                let out = &self.batch[..written];
                let complete = out.iter().filter(|byte| **byte == b'\n').count() as u64;
                let complete = complete.saturating_sub(u64::from(self.broken_line && written > 0));
                let complete = complete.min(self.lines_in_batch);
                self.shared.written.fetch_add(complete, Ordering::Relaxed);
                self.shared
                    .count_dropped(self.lines_in_batch - complete, DropReason::WriteError);
                if written > 0 {
                    self.broken_line = out.last() != Some(&b'\n');
                }
            }
        }
        self.lines_in_batch = 0;
        self.batch.clear();
        if self.batch.capacity() > 4 * BATCH_BYTES {
            self.batch.shrink_to(BATCH_BYTES);
        }
    }
}

/// A JSON line telling the reader that `dropped` lines were lost before this point.
fn write_drop_notice(out: &mut Vec<u8>, dropped: u64) {
    out.extend_from_slice(b"{\"timestamp\":");
    write_timestamp(out, SystemTime::now(), TimestampFormat::Rfc3339Nanos);
    out.extend_from_slice(
        b",\"level\":\"WARN\",\"message\":\"log lines dropped: the queue was full\",\"dropped\":",
    );
    out.extend_from_slice(itoa::Buffer::new().format(dropped).as_bytes());
    out.extend_from_slice(b",\"target\":\"telescope_log\"}\n");
}
