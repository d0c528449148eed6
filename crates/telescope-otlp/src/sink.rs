//! Where finished sampled spans go: an exporter, and always the in-process ring.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry_sdk::trace::SpanData;

/// Receives every finished sampled span. Must not block: queue and return. The span is shared
/// (the ring keeps it too); an exporter that needs it owned takes it apart on its own thread.
pub trait SpanSink: Send + Sync + 'static {
    /// A span ended.
    fn on_end(&self, span: Arc<SpanData>);
}

/// The most recent finished spans, bounded, oldest dropped first: where traces go when no
/// collector is configured, and what `/debug/traces` shows.
///
/// ```
/// let ring = telescope_otlp::SpanRing::new(1000);
/// assert!(ring.spans().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct SpanRing {
    spans: Arc<Mutex<VecDeque<Arc<SpanData>>>>,
    capacity: usize,
}

impl SpanRing {
    /// A ring keeping the latest `capacity` spans (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            spans: Arc::new(Mutex::new(VecDeque::with_capacity(capacity.min(4096)))),
            capacity,
        }
    }

    /// The spans it holds, oldest first.
    pub fn spans(&self) -> Vec<Arc<SpanData>> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// How many spans it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl SpanRing {
    /// Keeps `span`, returning the oldest one if the ring was full.
    pub(crate) fn keep(&self, span: Arc<SpanData>) -> Option<Arc<SpanData>> {
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        let evicted = if spans.len() >= self.capacity {
            spans.pop_front()
        } else {
            None
        };
        spans.push_back(span);
        evicted
    }
}

impl SpanSink for SpanRing {
    fn on_end(&self, span: Arc<SpanData>) {
        // Dropped after the lock is released.
        drop(self.keep(span));
    }
}
