//! What a pipeline carries: spans, or log records. The queue, the collector's batching, the
//! backlog, the exporter threads with their retries and the counting are the same for both;
//! a [`Signal`] says what is queued, what is batched, how a batch is sent, and what the
//! collector does with each item on the way.

use crate::export::{Accepted, ExportError};

/// One kind of telemetry going through a pipeline.
pub(crate) trait Signal: Send + Sync + 'static {
    /// What application threads queue.
    type Queued: Send + 'static;
    /// What batches hold.
    type Item: Send + Sync + 'static;
    /// Who sends a batch (a trait object).
    type Exporter: ?Sized + Send + Sync + 'static;
    /// The collector's work on each queued item.
    type Intake: Intake<Self>;
    /// The names of its counters and threads, and the words its messages use.
    const NAMES: &'static Names;
    /// Whether application threads free what the collector is done with as they queue more
    /// (spans: memory goes back to the thread that allocated it), rather than take it back
    /// to reuse (log records: their buffers).
    const FREE_ON_SUBMIT: bool;

    /// Sends `batch` once with `exporter`.
    fn export(exporter: &Self::Exporter, batch: &[Self::Item]) -> Result<Accepted, ExportError>;

    /// What becomes of a batch once sent (or dropped): by default it is freed here, on the
    /// exporter thread; a signal whose items are buffers hands them back through `graveyard`.
    fn recycle(batch: Vec<Self::Item>, graveyard: &crossbeam_queue::ArrayQueue<Self::Item>) {
        let _ = graveyard;
        drop(batch);
    }
}

/// What the collector does with each queued item, on its own thread.
pub(crate) trait Intake<S: Signal + ?Sized>: Send + 'static {
    /// Turns `queued` into what the next batch holds (`batching`: there are exporters), and
    /// returns what the collector is done with, for an application thread to free.
    fn take(&mut self, queued: S::Queued, batching: bool) -> Taken<S::Item>;
}

/// What [`Intake::take`] gives back.
pub(crate) struct Taken<T> {
    /// For the open batch.
    pub(crate) batch: Option<T>,
    /// To be freed by an application thread (where it was most likely allocated).
    pub(crate) done: Option<T>,
}

/// The self-telemetry and thread names of one signal.
#[derive(Debug)]
pub(crate) struct Names {
    /// Counter of items a receiver accepted.
    pub(crate) exported: &'static str,
    /// Counter of items dropped, with a `reason` label.
    pub(crate) dropped: &'static str,
    /// Counter of failed export attempts.
    pub(crate) export_errors: &'static str,
    /// The items, in messages: `spans`, `log records`.
    pub(crate) items: &'static str,
    /// The collector thread's name; exporter threads add `-export-N`.
    pub(crate) thread: &'static str,
}
