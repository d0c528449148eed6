//! The collector thread: takes items off the queue as they come, hands each to the signal's
//! [`Intake`] (for spans: complete them, keep them in the ring so a trace can be looked up as
//! soon as it ends, give them to the sinks), and forms the batches that the exporter threads
//! send. It never waits for an export.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::counts::Drop;
use super::signal::{Intake, Signal, Taken};
use super::Shared;
use crate::sync::Ordering;

/// How long a finished span may wait in the queue while spans keep coming, before it is in the
/// ring. When the queue was empty, the first span rings the collector awake instead.
pub const RING_LATENCY: Duration = Duration::from_millis(20);

/// How often a flush in progress looks again.
const FLUSH_POLL: Duration = Duration::from_millis(1);

pub(super) struct Collector<S: Signal> {
    pub(super) shared: Arc<Shared<S>>,
    pub(super) intake: S::Intake,
    pub(super) delay: Duration,
    /// The batch being formed, and when its first item came.
    pub(super) open: Vec<S::Item>,
    pub(super) open_since: Instant,
}

impl<S: Signal> Collector<S> {
    pub(super) fn run(mut self) {
        loop {
            let took = self.drain();
            let shared = self.shared.clone();
            let closed = shared.closed.load(Ordering::SeqCst);
            let flushing = shared.flushing.load(crate::sync::Ordering::SeqCst) > 0;
            if !self.open.is_empty()
                && (closed || flushing || self.open_since.elapsed() >= self.delay)
            {
                self.hand_off();
            }
            if closed && shared.queue.is_empty() {
                shared.backlog.stop();
                return;
            }
            let timeout = if flushing {
                FLUSH_POLL
            } else if took > 0 {
                RING_LATENCY.min(self.until_due())
            } else {
                // Idle: say so, so that the next span rings; then look once more, in case one
                // came between the drain and the announcement.
                shared.collector_idle.swap(true, Ordering::SeqCst);
                if !shared.queue.is_empty() {
                    shared.collector_idle.store(false, Ordering::SeqCst);
                    continue;
                }
                self.until_due()
            };
            shared.doorbell.wait(timeout);
            shared.collector_idle.store(false, Ordering::SeqCst);
        }
    }

    /// How long until the open batch is due (a long time when there is none).
    fn until_due(&self) -> Duration {
        if self.open.is_empty() {
            Duration::from_secs(3600)
        } else {
            self.delay.saturating_sub(self.open_since.elapsed())
        }
    }

    /// Takes everything queued; returns how many spans it took.
    fn drain(&mut self) -> u64 {
        let mut took = 0;
        while let Some(queued) = self.shared.queue.pop() {
            took += 1;
            let Taken { batch, done } = self.intake.take(queued, self.shared.has_exporters);
            if let Some(item) = batch {
                if self.open.is_empty() {
                    self.open_since = Instant::now();
                }
                self.open.push(item);
            }
            if let Some(done) = done {
                // Back to be freed by an application thread (here only when the graveyard
                // is full).
                let _ = self.shared.graveyard.push(done);
            }
            if self.open.len() >= self.shared.batch_size {
                self.hand_off();
            }
        }
        self.shared.counts.processed(took);
        if !self.shared.has_exporters {
            self.shared.counts.settled(took);
        }
        took
    }

    fn hand_off(&mut self) {
        let batch = std::mem::replace(&mut self.open, Vec::with_capacity(self.shared.batch_size));
        self.shared.backlog.push(batch, &self.shared.counts);
    }
}

/// Counts items still in the queue after shutdown gave up.
pub(super) fn abandon_queued<S: Signal>(shared: &Shared<S>) {
    let mut left = 0;
    while shared.queue.pop().is_some() {
        left += 1;
    }
    shared
        .counts
        .dropped(Drop::Abandoned, left, &"shutdown stopped waiting");
    shared.counts.settled(left);
}
