//! The traces the reservoirs hold, with why each is held and the order in which the byte
//! budget lets them go: traces kept only for an exemplar first, then slow ones, error traces
//! last; the oldest first within each.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::SpanData;
use rustc_hash::FxHashMap;

/// An exemplar slot: a span name, whether the span failed, and its duration's bucket.
pub(crate) type SlotKey = (Cow<'static, str>, bool, u16);

/// One kept trace.
#[derive(Debug)]
pub(crate) struct KeptTrace {
    pub(crate) spans: Vec<Arc<SpanData>>,
    pub(crate) operation: Arc<str>,
    pub(crate) bytes: usize,
    pub(crate) dropped_spans: usize,
    /// Among its operation's last error traces.
    pub(crate) error: bool,
    /// Among its operation's slowest of the window.
    pub(crate) slow: bool,
    /// The exemplar slots whose latest pinned trace it is.
    pub(crate) slots: Vec<SlotKey>,
    /// When it was kept, in keeping order: set by [`Kept::insert`].
    pub(crate) seq: u64,
}

impl KeptTrace {
    /// Which traces the budget lets go first (lowest).
    fn class(&self) -> u8 {
        if self.error {
            2
        } else if self.slow {
            1
        } else {
            0
        }
    }

    /// Whether any reservoir still holds it.
    pub(crate) fn is_wanted(&self) -> bool {
        self.error || self.slow || !self.slots.is_empty()
    }
}

/// The kept traces.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    traces: FxHashMap<TraceId, KeptTrace>,
    /// `(class, seq)` of every kept trace: the first entry is the next to let go.
    order: BTreeMap<(u8, u64), TraceId>,
    bytes: usize,
    seq: u64,
}

impl Kept {
    /// Keeps a new trace (its `seq` is given here).
    pub(crate) fn insert(&mut self, trace_id: TraceId, mut trace: KeptTrace) {
        self.seq += 1;
        trace.seq = self.seq;
        self.bytes += trace.bytes;
        self.order.insert((trace.class(), trace.seq), trace_id);
        if let Some(old) = self.traces.insert(trace_id, trace) {
            // Not expected (callers look first); keep the accounts right anyway.
            self.bytes -= old.bytes;
            self.order.remove(&(old.class(), old.seq));
        }
    }

    /// Adds a span that finished after its trace was kept, unless the trace is at `trace_limit`
    /// bytes. Returns whether `trace_id` is kept at all.
    pub(crate) fn append(
        &mut self,
        trace_id: TraceId,
        span: &Arc<SpanData>,
        bytes: usize,
        trace_limit: usize,
    ) -> bool {
        let Some(trace) = self.traces.get_mut(&trace_id) else {
            return false;
        };
        if trace.bytes + bytes > trace_limit {
            trace.dropped_spans += 1;
        } else {
            trace.bytes += bytes;
            trace.spans.push(span.clone());
            self.bytes += bytes;
        }
        true
    }

    /// Changes why `trace_id` is kept; when nothing holds it any more it is removed and
    /// returned.
    pub(crate) fn update(
        &mut self,
        trace_id: TraceId,
        change: impl FnOnce(&mut KeptTrace),
    ) -> Option<KeptTrace> {
        let trace = self.traces.get_mut(&trace_id)?;
        let before = (trace.class(), trace.seq);
        change(trace);
        if trace.is_wanted() {
            let after = (trace.class(), trace.seq);
            if after != before {
                self.order.remove(&before);
                self.order.insert(after, trace_id);
            }
            return None;
        }
        self.order.remove(&before);
        self.remove(trace_id)
    }

    /// The trace the byte budget lets go next.
    pub(crate) fn next_to_let_go(&self) -> Option<TraceId> {
        self.order.values().next().copied()
    }

    /// Removes `trace_id`.
    pub(crate) fn remove(&mut self, trace_id: TraceId) -> Option<KeptTrace> {
        let trace = self.traces.remove(&trace_id)?;
        self.order.remove(&(trace.class(), trace.seq));
        self.bytes -= trace.bytes;
        Some(trace)
    }

    pub(crate) fn get(&self, trace_id: TraceId) -> Option<&KeptTrace> {
        self.traces.get(&trace_id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&TraceId, &KeptTrace)> {
        self.traces.iter()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.traces.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(bytes: usize) -> KeptTrace {
        KeptTrace {
            spans: Vec::new(),
            operation: Arc::from("op"),
            bytes,
            dropped_spans: 0,
            error: false,
            slow: false,
            slots: Vec::new(),
            seq: 0,
        }
    }

    fn id(n: u8) -> TraceId {
        TraceId::from_bytes([n; 16])
    }

    #[test]
    fn exemplar_only_traces_go_first_then_slow_then_errors_oldest_first() {
        let mut kept = Kept::default();
        for n in 1..=4 {
            kept.insert(id(n), new(10));
        }
        let error = |t: &mut KeptTrace| t.error = true;
        let slow = |t: &mut KeptTrace| t.slow = true;
        assert!(kept.update(id(1), error).is_none());
        assert!(kept.update(id(2), slow).is_none());
        assert!(kept
            .update(id(3), |t| t.slots.push((Cow::Borrowed("a"), false, 1)))
            .is_none());
        assert!(kept.update(id(4), slow).is_none());
        assert_eq!(kept.next_to_let_go(), Some(id(3)));
        kept.remove(id(3));
        assert_eq!(kept.next_to_let_go(), Some(id(2)));
        kept.remove(id(2));
        assert_eq!(kept.next_to_let_go(), Some(id(4)));
        // No longer slow, nothing else holds it: removed.
        let released = kept.update(id(4), |t| t.slow = false).expect("released");
        assert_eq!(released.bytes, 10);
        assert_eq!((kept.len(), kept.bytes()), (1, 10));
        assert_eq!(kept.next_to_let_go(), Some(id(1)));
    }
}
