//! A writer that hands lines to a background thread through a bounded queue.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use tracing_subscriber::fmt::MakeWriter;

use crate::report::LossReport;
use crate::timestamp::{write_timestamp, TimestampFormat};

/// The default queue length, in lines (as `tracing-appender`'s).
pub const DEFAULT_QUEUE_LINES: usize = 128_000;
/// Lines are gathered into one write of up to this many bytes.
const BATCH_BYTES: usize = 64 * 1024;
/// How long a [`FlushGuard`] waits for the queue to drain when dropped, by default.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

enum Message {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
    Shutdown,
}

/// Counters shared by the writer handles and the worker.
#[derive(Debug, Default)]
struct Shared {
    dropped: AtomicU64,
    /// Drops not yet announced in the log itself.
    dropped_unannounced: AtomicU64,
    written: AtomicU64,
    write_errors: AtomicU64,
    loss: LossReport,
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
    lossy: bool,
    drop_notice: bool,
    thread_name: String,
    shutdown_timeout: Duration,
}

impl Default for NonBlockingBuilder {
    fn default() -> Self {
        Self {
            queue_lines: DEFAULT_QUEUE_LINES,
            lossy: true,
            drop_notice: true,
            thread_name: "telescope-log".to_owned(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

impl NonBlockingBuilder {
    /// How many lines the queue holds (at least 1; default [`DEFAULT_QUEUE_LINES`]).
    pub fn queue_lines(mut self, lines: usize) -> Self {
        self.queue_lines = lines.max(1);
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
        let (sender, receiver) = mpsc::sync_channel(self.queue_lines);
        let shared = Arc::new(Shared::default());
        let (done_sender, done_receiver) = mpsc::sync_channel(1);
        let worker = Worker {
            receiver,
            inner,
            shared: shared.clone(),
            drop_notice: self.drop_notice,
            batch: Vec::with_capacity(BATCH_BYTES),
        };
        let handle = std::thread::Builder::new()
            .name(self.thread_name)
            .spawn(move || {
                worker.run();
                let _ = done_sender.send(());
            });
        let handle = match handle {
            Ok(handle) => Some(handle),
            Err(error) => {
                eprintln!("telescope: could not start the log writer thread: {error}");
                None
            }
        };
        let writer = NonBlocking {
            sender: sender.clone(),
            shared: shared.clone(),
            lossy: self.lossy,
        };
        let guard = FlushGuard {
            sender,
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
/// [`JsonLayerBuilder::with_writer`](crate::JsonLayerBuilder::with_writer) or
/// `tracing_subscriber::fmt().with_writer`. Keep the [`FlushGuard`] alive until the end of
/// `main`: dropping it writes what is queued.
///
/// ```
/// use telescope_log::{JsonLayer, NonBlocking};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let (writer, _guard) = NonBlocking::new(std::io::stdout());
/// let subscriber = tracing_subscriber::registry().with(JsonLayer::builder().with_writer(writer).build());
/// tracing::subscriber::with_default(subscriber, || tracing::info!("queued, then written"));
/// ```
#[derive(Clone)]
pub struct NonBlocking {
    sender: SyncSender<Message>,
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
        let message = Message::Line(line.to_vec());
        let sent = if self.lossy {
            match self.sender.try_send(message) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            }
        } else {
            self.sender.send(message).is_ok()
        };
        if !sent {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            self.shared
                .dropped_unannounced
                .fetch_add(1, Ordering::Relaxed);
            self.shared.loss.dropped(1);
        }
    }
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
    sender: SyncSender<Message>,
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
        let deadline = Instant::now() + timeout;
        let (ack_sender, ack) = mpsc::sync_channel(1);
        send_until(&self.sender, Message::Flush(ack_sender), deadline)
            && ack
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok()
    }

    /// What was written, dropped and failed so far.
    pub fn stats(&self) -> NonBlockingStats {
        stats_of(&self.shared)
    }
}

/// Sends `message`, retrying while the queue is full, until `deadline`.
fn send_until(sender: &SyncSender<Message>, mut message: Message, deadline: Instant) -> bool {
    loop {
        match sender.try_send(message) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if Instant::now() >= deadline {
                    return false;
                }
                message = back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let deadline = Instant::now() + self.timeout;
        let finished = self.handle.is_some()
            && send_until(&self.sender, Message::Shutdown, deadline)
            && match self
                .done
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
                Err(RecvTimeoutError::Timeout) => false,
            };
        if finished {
            if let Some(handle) = self.handle.take() {
                let _ = handle.join();
            }
        } else {
            eprintln!(
                "telescope: log writer did not finish within {:?}; lines still queued are lost",
                self.timeout
            );
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

/// The background side: takes lines off the queue and writes them in batches.
struct Worker<W> {
    receiver: Receiver<Message>,
    inner: W,
    shared: Arc<Shared>,
    drop_notice: bool,
    batch: Vec<u8>,
}

impl<W: Write> Worker<W> {
    fn run(mut self) {
        let mut lines_in_batch = 0u64;
        while let Ok(first) = self.receiver.recv() {
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Line(line) => {
                        self.batch.extend_from_slice(&line);
                        lines_in_batch += 1;
                        if self.batch.len() >= BATCH_BYTES {
                            self.write_batch(&mut lines_in_batch);
                        }
                    }
                    Message::Flush(ack) => {
                        self.write_batch(&mut lines_in_batch);
                        let _ = ack.send(());
                    }
                    Message::Shutdown => {
                        self.write_batch(&mut lines_in_batch);
                        return;
                    }
                }
                next = self.receiver.try_recv().ok();
            }
            self.write_batch(&mut lines_in_batch);
        }
        self.write_batch(&mut lines_in_batch);
    }

    /// Writes the gathered lines (and a notice of drops since the last one) in one call.
    fn write_batch(&mut self, lines: &mut u64) {
        let dropped = self.shared.dropped_unannounced.swap(0, Ordering::Relaxed);
        if self.drop_notice && dropped > 0 {
            write_drop_notice(&mut self.batch, dropped);
        }
        if self.batch.is_empty() {
            return;
        }
        let result = self
            .inner
            .write_all(&self.batch)
            .and_then(|()| self.inner.flush());
        match result {
            Ok(()) => {
                self.shared.written.fetch_add(*lines, Ordering::Relaxed);
            }
            Err(error) => {
                self.shared.write_errors.fetch_add(1, Ordering::Relaxed);
                self.shared.loss.write_error(&error);
            }
        }
        *lines = 0;
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
