//! Batches formed by the collector, waiting for an exporter thread: bounded in spans, and
//! the one place that shutdown settles what will never be sent.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::counts::{Counts, Drop};
use crate::sync::{lock, wait_timeout, Condvar, Mutex};

struct State<T> {
    batches: VecDeque<Vec<T>>,
    /// Spans in `batches`.
    spans: usize,
    /// No more batches will come: exporters leave once `batches` is empty.
    stopping: bool,
    /// Shutdown stopped waiting: nothing more is sent, whatever is handed in is dropped.
    abandoned: bool,
    /// When shutdown stops waiting; retries do not pause past it.
    deadline: Option<Instant>,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        Self {
            batches: VecDeque::new(),
            spans: 0,
            stopping: false,
            abandoned: false,
            deadline: None,
        }
    }
}

pub(super) struct Backlog<T> {
    state: Mutex<State<T>>,
    /// Signalled when a batch arrives, and when stopping or abandoning.
    changed: Condvar,
    capacity: usize,
}

/// What an exporter thread is told to do next.
pub(super) enum Next<T> {
    Export(Vec<T>),
    Leave,
}

impl<T> Backlog<T> {
    /// A backlog holding at most `capacity` spans.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// Hands `batch` to the exporters, or drops and counts it: after shutdown gave up, or
    /// when the exporters are so far behind that the backlog is full.
    pub(super) fn push(&self, batch: Vec<T>, counts: &Counts) {
        let spans = batch.len();
        if spans == 0 {
            return;
        }
        let mut state = lock(&self.state);
        let refused = if state.abandoned {
            Some(Drop::Abandoned)
        } else if state.spans > 0 && state.spans + spans > self.capacity {
            Some(Drop::QueueFull)
        } else {
            None
        };
        if let Some(reason) = refused {
            drop(state);
            counts.dropped(reason, spans as u64, &"the exporters are behind");
            counts.settled(spans as u64);
            return;
        }
        state.spans += spans;
        state.batches.push_back(batch);
        drop(state);
        // All: an exporter pausing between retries waits on the same condition.
        self.changed.notify_all();
    }

    /// The next batch to export, waiting for one; [`Next::Leave`] once stopping with nothing
    /// left, or abandoned.
    pub(super) fn take(&self) -> Next<T> {
        let mut state = lock(&self.state);
        loop {
            if state.abandoned {
                return Next::Leave;
            }
            if let Some(batch) = state.batches.pop_front() {
                state.spans -= batch.len();
                return Next::Export(batch);
            }
            if state.stopping {
                return Next::Leave;
            }
            state = wait_timeout(&self.changed, state, Duration::from_secs(3600));
        }
    }

    /// Waits `pause` between two tries of a batch; returns `false` if the batch should not be
    /// tried again (abandoned, or the pause would end past the shutdown deadline).
    pub(super) fn pause(&self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        let mut state = lock(&self.state);
        loop {
            if state.abandoned || state.deadline.is_some_and(|deadline| until > deadline) {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            state = wait_timeout(&self.changed, state, left);
        }
    }

    /// Whether an exporter should still start sending: false once abandoned.
    pub(super) fn is_abandoned(&self) -> bool {
        lock(&self.state).abandoned
    }

    /// Shutdown began: retries end by `deadline`.
    pub(super) fn set_deadline(&self, deadline: Instant) {
        lock(&self.state).deadline = Some(deadline);
        self.changed.notify_all();
    }

    /// No more batches will come.
    pub(super) fn stop(&self) {
        lock(&self.state).stopping = true;
        self.changed.notify_all();
    }

    /// Shutdown stopped waiting: drops and counts every waiting batch, and every batch
    /// handed in from now on.
    pub(super) fn abandon(&self, counts: &Counts) {
        let mut state = lock(&self.state);
        state.abandoned = true;
        let batches = std::mem::take(&mut state.batches);
        let spans = std::mem::take(&mut state.spans) as u64;
        drop(state);
        self.changed.notify_all();
        counts.dropped(Drop::Abandoned, spans, &"shutdown stopped waiting");
        counts.settled(spans);
        drop(batches);
    }
}
