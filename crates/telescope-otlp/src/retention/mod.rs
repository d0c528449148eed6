//! Retention beyond the recent-span ring: what people come back for. Per operation (the name
//! of a trace's local root span) the last error traces and the slowest traces of a recent
//! window, and the traces that metric exemplars point at; whole traces (spans that finish
//! before their root are held until it ends, and spans that finish after it join the kept
//! trace), all within a byte budget.
//!
//! Time here is the spans' own: "the last 15 minutes" are counted back from the latest end
//! time seen, so a replayed or simulated stream of spans behaves like a live one.

mod kept;
mod pending;
mod pins;
mod reservoir;
mod size;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::trace::SpanData;
use rustc_hash::{FxHashMap, FxHashSet};

use kept::{Kept, KeptTrace, SlotKey};
use pending::{Pending, PendingTrace};
use reservoir::Operation;

pub use pins::pin_exemplar;

/// Where the traces of operations past [`TraceRetention::max_operations`] are kept together.
pub const OTHER_OPERATIONS: &str = "(other operations)";

/// How often (in span time) slow traces older than the window are let go.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// How many finished, unkept traces are remembered, so that their late spans are not held.
const FINISHED_MEMORY: usize = 4096;

/// Prometheus' default buckets: the bounds of `telescope_span_duration_seconds` unless
/// configured otherwise.
const DEFAULT_DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What the span ring keeps beyond its most recent spans, so that an error or an exemplar from
/// minutes ago still opens: per operation (the name of a trace's local root span), the last
/// error traces and the slowest traces of a window; and for every exemplar slot (span name,
/// status, duration bucket of `telescope_span_duration_seconds`) the latest trace an exemplar
/// pointed at ([`pin_exemplar`]). Whole traces, within [`max_bytes`](Self::max_bytes).
///
/// Zero is meaningful everywhere: `errors_per_operation(0)` keeps no error traces,
/// `max_bytes(0)` turns retention off.
///
/// ```
/// use std::time::Duration;
/// use telescope_otlp::{SpanRing, TraceRetention};
///
/// let retention = TraceRetention::default()
///     .errors_per_operation(50)
///     .slowest_per_operation(10)
///     .slow_window(Duration::from_secs(30 * 60))
///     .max_bytes(64 << 20);
/// let ring = SpanRing::with_retention(2048, retention);
/// assert_eq!(ring.retention_stats().max_bytes, 64 << 20);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct TraceRetention {
    errors_per_operation: usize,
    slowest_per_operation: usize,
    slow_window: Duration,
    max_bytes: usize,
    max_operations: usize,
    duration_buckets: Arc<[f64]>,
}

impl Default for TraceRetention {
    /// 20 error and 20 slowest traces per operation over 15 minutes, 500 operations, 16 MiB.
    fn default() -> Self {
        Self {
            errors_per_operation: 20,
            slowest_per_operation: 20,
            slow_window: Duration::from_secs(15 * 60),
            max_bytes: 16 << 20,
            max_operations: 500,
            duration_buckets: Arc::from(DEFAULT_DURATION_BUCKETS.as_slice()),
        }
    }
}

impl TraceRetention {
    /// Keeps nothing beyond the ring.
    pub fn off() -> Self {
        Self::default().max_bytes(0)
    }

    /// How many of each operation's latest error traces are kept (default 20).
    pub fn errors_per_operation(mut self, traces: usize) -> Self {
        self.errors_per_operation = traces;
        self
    }

    /// How many of each operation's slowest traces of the window are kept (default 20).
    pub fn slowest_per_operation(mut self, traces: usize) -> Self {
        self.slowest_per_operation = traces;
        self
    }

    /// How far back the slowest traces are chosen from (default 15 minutes).
    pub fn slow_window(mut self, window: Duration) -> Self {
        self.slow_window = window;
        self
    }

    /// The most bytes kept traces and the spans of unfinished traces may hold together
    /// (estimated from their text; default 16 MiB). A quarter of it at most holds unfinished
    /// traces; one trace holds at most a sixteenth of it. Over budget, the traces kept only
    /// for an exemplar go first, then slow ones, error traces last, the oldest first in each.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// How many operations get reservoirs of their own (default 500); the traces of the rest
    /// share one more, [`OTHER_OPERATIONS`], so a root span name carrying an id cannot make
    /// retention unbounded.
    pub fn max_operations(mut self, operations: usize) -> Self {
        self.max_operations = operations;
        self
    }

    /// The bucket bounds of `telescope_span_duration_seconds` (default: Prometheus' default
    /// buckets), so that the exemplar slots are the histogram's buckets. Bounds that are not
    /// finite, or not increasing, are left out.
    pub fn duration_buckets(mut self, bounds: &[f64]) -> Self {
        let mut kept: Vec<f64> = Vec::with_capacity(bounds.len());
        for &bound in bounds {
            if bound.is_finite() && kept.last().is_none_or(|last| bound > *last) {
                kept.push(bound);
            }
        }
        self.duration_buckets = Arc::from(kept);
        self
    }

    fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    fn pending_budget(&self) -> usize {
        self.max_bytes / 4
    }

    fn kept_budget(&self) -> usize {
        self.max_bytes - self.pending_budget()
    }

    fn trace_limit(&self) -> usize {
        self.max_bytes / 16
    }

    /// How many exemplar slots may exist: every operation's span names, two statuses, every
    /// bucket.
    fn max_slots(&self) -> usize {
        self.max_operations
            .saturating_mul(2)
            .saturating_mul(self.duration_buckets.len() + 1)
    }

    /// The index of the bucket `seconds` falls in (upper-inclusive, as Prometheus' `le`).
    fn bucket_of(&self, seconds: f64) -> u16 {
        let index = self
            .duration_buckets
            .partition_point(|bound| *bound < seconds);
        u16::try_from(index).unwrap_or(u16::MAX)
    }
}

/// Why a trace is kept beyond the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RetainReasons {
    /// Among its operation's latest error traces.
    pub error: bool,
    /// Among its operation's slowest traces of the window.
    pub slow: bool,
    /// The latest trace an exemplar pointed at for one of its spans' slots.
    pub exemplar: bool,
}

/// A trace the reservoirs keep.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RetainedTrace {
    /// Its id.
    pub trace_id: TraceId,
    /// The operation it is kept for: its local root's name, or [`OTHER_OPERATIONS`].
    pub operation: Arc<str>,
    /// Its spans, in the order they finished.
    pub spans: Vec<Arc<SpanData>>,
    /// Why it is kept.
    pub reasons: RetainReasons,
    /// Spans left out because the trace reached its byte limit.
    pub dropped_spans: usize,
}

/// The state of the reservoirs and their settings, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RetentionStats {
    /// The byte budget ([`TraceRetention::max_bytes`]).
    pub max_bytes: usize,
    /// Bytes held now, kept and unfinished traces together.
    pub bytes: usize,
    /// Traces kept.
    pub kept_traces: usize,
    /// Unfinished traces held until their root ends.
    pub pending_traces: usize,
    /// Operations with reservoirs.
    pub operations: usize,
    /// Kept traces let go for the byte budget since start (not those replaced by newer ones).
    pub evicted_traces: u64,
    /// Unfinished traces let go for the byte budget since start.
    pub evicted_pending_traces: u64,
    /// [`TraceRetention::errors_per_operation`].
    pub errors_per_operation: usize,
    /// [`TraceRetention::slowest_per_operation`].
    pub slowest_per_operation: usize,
    /// [`TraceRetention::slow_window`].
    pub slow_window: Duration,
}

/// A span with no parent in this process: its end is the end of the trace here.
fn is_local_root(span: &SpanData) -> bool {
    span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote
}

fn failed(span: &SpanData) -> bool {
    matches!(span.status, Status::Error { .. })
}

fn duration(span: &SpanData) -> Duration {
    span.end_time
        .duration_since(span.start_time)
        .unwrap_or_default()
}

/// Trace ids remembered in a bounded first-in first-out set.
#[derive(Debug, Default)]
struct RecentIds {
    set: FxHashSet<TraceId>,
    order: VecDeque<TraceId>,
}

impl RecentIds {
    fn insert(&mut self, id: TraceId) {
        if self.set.insert(id) {
            self.order.push_back(id);
            if self.order.len() > FINISHED_MEMORY {
                if let Some(oldest) = self.order.pop_front() {
                    self.set.remove(&oldest);
                }
            }
        }
    }

    fn contains(&self, id: TraceId) -> bool {
        self.set.contains(&id)
    }
}

/// The reservoirs, fed every finished sampled span by the ring (under its lock).
#[derive(Debug)]
pub(crate) struct Retained {
    config: TraceRetention,
    pending: Pending,
    kept: Kept,
    operations: FxHashMap<Arc<str>, Operation>,
    slots: FxHashMap<SlotKey, TraceId>,
    /// Traces that finished and were not kept: their late spans are not held.
    finished: RecentIds,
    /// The latest span end seen: "now" for the window.
    now: SystemTime,
    last_sweep: SystemTime,
    evicted_traces: u64,
    evicted_pending_traces: u64,
}

impl Retained {
    pub(crate) fn new(config: TraceRetention) -> Self {
        Self {
            config,
            pending: Pending::default(),
            kept: Kept::default(),
            operations: FxHashMap::default(),
            slots: FxHashMap::default(),
            finished: RecentIds::default(),
            now: SystemTime::UNIX_EPOCH,
            last_sweep: SystemTime::UNIX_EPOCH,
            evicted_traces: 0,
            evicted_pending_traces: 0,
        }
    }

    /// Takes in a finished span; what is let go is put in `freed`, to be dropped after the
    /// lock is released.
    pub(crate) fn offer(&mut self, span: &Arc<SpanData>, freed: &mut Vec<Arc<SpanData>>) {
        if !self.config.enabled() {
            return;
        }
        self.now = self.now.max(span.end_time);
        let trace_id = span.span_context.trace_id();
        let bytes = size::span_bytes(span);
        if self
            .kept
            .append(trace_id, span, bytes, self.config.trace_limit())
        {
            self.shrink_kept(freed);
        } else if self.finished.contains(trace_id) {
            // A late span of a trace that was not kept.
        } else if is_local_root(span) {
            let pending = self.pending.take(trace_id).unwrap_or_default();
            self.finish(span, pending, bytes, freed);
        } else {
            self.pending
                .add(span.clone(), bytes, self.config.trace_limit());
            let budget = self.config.pending_budget();
            self.evicted_pending_traces += self.pending.shrink_to(budget, freed) as u64;
        }
        self.sweep_if_due(freed);
    }

    /// The local root `root` of a trace ended: keep the trace if a reservoir wants it.
    fn finish(
        &mut self,
        root: &Arc<SpanData>,
        pending: PendingTrace,
        root_bytes: usize,
        freed: &mut Vec<Arc<SpanData>>,
    ) {
        let trace_id = root.span_context.trace_id();
        let PendingTrace {
            mut spans,
            bytes,
            dropped_spans,
            ..
        } = pending;
        // The root is always kept with its trace, whatever the limit.
        spans.push(root.clone());
        let error = self.config.errors_per_operation > 0 && spans.iter().any(|s| failed(s));
        let slots = self.exemplar_slots(trace_id, &spans);
        let operation = self.operation_key(&root.name);
        let (slow, replaced) = if self.config.slowest_per_operation > 0 {
            self.operations
                .entry(operation.clone())
                .or_default()
                .offer_slow(
                    trace_id,
                    duration(root),
                    root.end_time,
                    self.config.slowest_per_operation,
                )
        } else {
            (false, None)
        };
        if !error && !slow && slots.is_empty() {
            self.finished.insert(trace_id);
            freed.extend(spans);
            return;
        }
        self.kept.insert(
            trace_id,
            KeptTrace {
                spans,
                operation: operation.clone(),
                bytes: bytes + root_bytes,
                dropped_spans,
                error,
                slow,
                slots: slots.clone(),
                seq: 0,
            },
        );
        if let Some(replaced) = replaced {
            self.release(replaced, |trace| trace.slow = false, freed);
        }
        if error {
            let limit = self.config.errors_per_operation;
            let pushed_out = self
                .operations
                .entry(operation)
                .or_default()
                .add_error(trace_id, limit);
            if let Some(pushed_out) = pushed_out {
                self.release(pushed_out, |trace| trace.error = false, freed);
            }
        }
        for key in slots {
            let before = self.slots.insert(key.clone(), trace_id);
            if let Some(before) = before.filter(|before| *before != trace_id) {
                self.release(before, |trace| trace.slots.retain(|k| *k != key), freed);
            }
        }
        self.shrink_kept(freed);
    }

    /// The slots of the spans of `spans` that an exemplar points at.
    fn exemplar_slots(&self, trace_id: TraceId, spans: &[Arc<SpanData>]) -> Vec<SlotKey> {
        let trace = u128::from_be_bytes(trace_id.to_bytes());
        let pinned: Vec<&Arc<SpanData>> = pins::with_pins(|is_pinned| {
            spans
                .iter()
                .filter(|span| {
                    is_pinned(
                        trace,
                        u64::from_be_bytes(span.span_context.span_id().to_bytes()),
                    )
                })
                .collect()
        });
        let mut keys: Vec<SlotKey> = Vec::new();
        for span in pinned {
            let key = (
                span.name.clone(),
                failed(span),
                self.config.bucket_of(duration(span).as_secs_f64()),
            );
            let room = self.slots.len() < self.config.max_slots() || self.slots.contains_key(&key);
            if room && !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    /// The reservoirs' key for an operation named `name`: its own while there is room.
    fn operation_key(&mut self, name: &str) -> Arc<str> {
        if let Some((key, _)) = self.operations.get_key_value(name) {
            return key.clone();
        }
        let key: Arc<str> = if self.operations.len() < self.config.max_operations {
            Arc::from(name)
        } else {
            match self.operations.get_key_value(OTHER_OPERATIONS) {
                Some((key, _)) => key.clone(),
                None => Arc::from(OTHER_OPERATIONS),
            }
        };
        self.operations.entry(key.clone()).or_default();
        key
    }

    /// A reservoir lets go of `trace_id` (`change` says which); freed when none holds it.
    fn release(
        &mut self,
        trace_id: TraceId,
        change: impl FnOnce(&mut KeptTrace),
        freed: &mut Vec<Arc<SpanData>>,
    ) {
        if let Some(trace) = self.kept.update(trace_id, change) {
            self.finished.insert(trace_id);
            freed.extend(trace.spans);
        }
    }

    /// Lets go of kept traces until the budget holds them.
    fn shrink_kept(&mut self, freed: &mut Vec<Arc<SpanData>>) {
        while self.kept.bytes() > self.config.kept_budget() {
            let Some(victim) = self.kept.next_to_let_go() else {
                break;
            };
            let Some(trace) = self.kept.remove(victim) else {
                break;
            };
            if let Some(operation) = self.operations.get_mut(&trace.operation) {
                operation.forget(victim);
            }
            for key in &trace.slots {
                if self.slots.get(key) == Some(&victim) {
                    self.slots.remove(key);
                }
            }
            self.evicted_traces += 1;
            self.finished.insert(victim);
            freed.extend(trace.spans);
        }
    }

    /// Every [`SWEEP_EVERY`] of span time: slow traces older than the window are let go, and
    /// operations holding nothing are forgotten.
    fn sweep_if_due(&mut self, freed: &mut Vec<Arc<SpanData>>) {
        let due = self
            .now
            .duration_since(self.last_sweep)
            .is_ok_and(|since| since >= SWEEP_EVERY);
        if !due {
            return;
        }
        self.last_sweep = self.now;
        let oldest = self
            .now
            .checked_sub(self.config.slow_window)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut expired = Vec::new();
        for operation in self.operations.values_mut() {
            operation.expire(oldest, &mut expired);
        }
        for trace_id in expired {
            self.release(trace_id, |trace| trace.slow = false, freed);
        }
        self.operations.retain(|_, operation| !operation.is_empty());
    }

    /// Every kept trace.
    pub(crate) fn retained(&self) -> Vec<RetainedTrace> {
        self.kept
            .iter()
            .map(|(trace_id, trace)| retained_trace(*trace_id, trace))
            .collect()
    }

    /// The kept trace `trace_id`, if kept.
    pub(crate) fn get(&self, trace_id: TraceId) -> Option<RetainedTrace> {
        self.kept
            .get(trace_id)
            .map(|trace| retained_trace(trace_id, trace))
    }

    /// The spans held for `trace_id` while its root has not ended.
    pub(crate) fn pending_spans(&self, trace_id: TraceId) -> &[Arc<SpanData>] {
        self.pending.spans_of(trace_id)
    }

    pub(crate) fn stats(&self) -> RetentionStats {
        RetentionStats {
            max_bytes: self.config.max_bytes,
            bytes: self.kept.bytes() + self.pending.bytes(),
            kept_traces: self.kept.len(),
            pending_traces: self.pending.len(),
            operations: self.operations.len(),
            evicted_traces: self.evicted_traces,
            evicted_pending_traces: self.evicted_pending_traces,
            errors_per_operation: self.config.errors_per_operation,
            slowest_per_operation: self.config.slowest_per_operation,
            slow_window: self.config.slow_window,
        }
    }
}

fn retained_trace(trace_id: TraceId, trace: &KeptTrace) -> RetainedTrace {
    RetainedTrace {
        trace_id,
        operation: trace.operation.clone(),
        spans: trace.spans.clone(),
        reasons: RetainReasons {
            error: trace.error,
            slow: trace.slow,
            exemplar: !trace.slots.is_empty(),
        },
        dropped_spans: trace.dropped_spans,
    }
}

#[cfg(test)]
pub(crate) mod tests;
