//! Where finished sampled spans go: an exporter, and always the in-process ring.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::SpanData;

use crate::retention::{RetainReasons, Retained, RetainedTrace, RetentionStats, TraceRetention};

/// Receives every finished sampled span. Must not block: queue and return. The span is shared
/// (the ring keeps it too); an exporter that needs it owned takes it apart on its own thread.
pub trait SpanSink: Send + Sync + 'static {
    /// A span ended.
    fn on_end(&self, span: Arc<SpanData>);
}

/// The most recent finished spans, bounded, oldest dropped first, and the traces the
/// retention reservoirs keep beyond them ([`TraceRetention`]: per operation the last error
/// traces and the slowest of a window, and the traces exemplars point at): where traces go
/// when no collector is configured, and what `/debug/traces` shows.
///
/// ```
/// let ring = telescope_otlp::SpanRing::new(1000);
/// assert!(ring.spans().is_empty());
/// assert_eq!(ring.retention_stats().kept_traces, 0);
/// ```
#[derive(Debug, Clone)]
pub struct SpanRing {
    inner: Arc<Mutex<Inner>>,
    capacity: usize,
}

#[derive(Debug)]
struct Inner {
    recent: VecDeque<Arc<SpanData>>,
    retained: Retained,
}

/// What a [`SpanRing`] holds at one moment.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RingContents {
    /// The most recent spans, oldest first.
    pub recent: Vec<Arc<SpanData>>,
    /// The traces the reservoirs keep (a trace may also have spans in `recent`).
    pub retained: Vec<RetainedTrace>,
    /// The reservoirs' state and settings.
    pub stats: RetentionStats,
}

/// One trace as a [`SpanRing`] holds it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FoundTrace {
    /// Its spans, each once (none: the ring does not hold it).
    pub spans: Vec<Arc<SpanData>>,
    /// Why the reservoirs keep it, if they do.
    pub reasons: Option<RetainReasons>,
    /// Spans the reservoirs left out because the trace reached its byte limit.
    pub dropped_spans: usize,
}

impl SpanRing {
    /// A ring keeping the latest `capacity` spans (at least 1), with the default retention.
    pub fn new(capacity: usize) -> Self {
        Self::with_retention(capacity, TraceRetention::default())
    }

    /// A ring keeping the latest `capacity` spans (at least 1) and the traces `retention`
    /// asks for.
    pub fn with_retention(capacity: usize, retention: TraceRetention) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                recent: VecDeque::with_capacity(capacity.min(4096)),
                retained: Retained::new(retention),
            })),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recent spans it holds, oldest first.
    pub fn spans(&self) -> Vec<Arc<SpanData>> {
        self.lock().recent.iter().cloned().collect()
    }

    /// The recent spans, the kept traces and the reservoirs' state, read at one moment.
    pub fn contents(&self) -> RingContents {
        let inner = self.lock();
        RingContents {
            recent: inner.recent.iter().cloned().collect(),
            retained: inner.retained.retained(),
            stats: inner.retained.stats(),
        }
    }

    /// Every span held of trace `trace_id`, whether recent, kept, or waiting for its root to
    /// end (each span once), and why the reservoirs keep it, if they do.
    pub fn trace(&self, trace_id: TraceId) -> FoundTrace {
        let inner = self.lock();
        let kept = inner.retained.get(trace_id);
        let mut spans: Vec<Arc<SpanData>> = Vec::new();
        let mut seen = rustc_hash::FxHashSet::default();
        let recent = inner
            .recent
            .iter()
            .filter(|span| span.span_context.trace_id() == trace_id);
        let held = kept.iter().flat_map(|trace| trace.spans.iter());
        let pending = inner.retained.pending_spans(trace_id).iter();
        for span in held.chain(pending).chain(recent) {
            if seen.insert(span.span_context.span_id()) {
                spans.push(span.clone());
            }
        }
        FoundTrace {
            spans,
            reasons: kept.as_ref().map(|trace| trace.reasons),
            dropped_spans: kept.map_or(0, |trace| trace.dropped_spans),
        }
    }

    /// The reservoirs' state and settings.
    pub fn retention_stats(&self) -> RetentionStats {
        self.lock().retained.stats()
    }

    /// How many recent spans it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl SpanRing {
    /// Keeps `span`, returning the oldest recent one if the ring was full.
    pub(crate) fn keep(&self, span: Arc<SpanData>) -> Option<Arc<SpanData>> {
        let mut freed = Vec::new();
        let mut inner = self.lock();
        inner.retained.offer(&span, &mut freed);
        let evicted = if inner.recent.len() >= self.capacity {
            inner.recent.pop_front()
        } else {
            None
        };
        inner.recent.push_back(span);
        drop(inner);
        // What the reservoirs let go is dropped with no lock held.
        drop(freed);
        evicted
    }
}

impl SpanSink for SpanRing {
    fn on_end(&self, span: Arc<SpanData>) {
        // Dropped after the lock is released.
        drop(self.keep(span));
    }
}
