//! Exemplar pins: the spans that metric exemplars point at, so that the traces behind the
//! exemplars on `/metrics` are kept when they finish.
//!
//! A histogram takes an exemplar rarely (at most once per bucket per interval), and the trace
//! it names is still running then, so the recorder's exemplar source says so here, and the
//! span ring looks when that trace's local root ends. The set is process-wide (the source is a
//! plain function) and bounded: the oldest pins are forgotten first.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use rustc_hash::FxHashSet;

/// How many pins are remembered: far more than the exemplars a scrape shows at once that can
/// still be running.
const CAPACITY: usize = 8192;

/// A trace id and a span id, as integers.
type Pin = (u128, u64);

#[derive(Default)]
struct Pins {
    set: FxHashSet<Pin>,
    order: VecDeque<Pin>,
}

impl Pins {
    fn insert(&mut self, pin: Pin) {
        if !self.set.insert(pin) {
            return;
        }
        self.order.push_back(pin);
        if self.order.len() > CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
    }

    fn contains(&self, pin: Pin) -> bool {
        self.set.contains(&pin)
    }
}

static PINS: Mutex<Option<Pins>> = Mutex::new(None);

/// Remembers that an exemplar points at span `span_id` of trace `trace_id` (big-endian bytes,
/// as in W3C `traceparent`): when that trace finishes, the span ring keeps it as the
/// exemplar's trace (see [`TraceRetention`](crate::TraceRetention)). Exemplar sources call it;
/// cheap (one uncontended lock), and safe to call from any thread.
///
/// ```
/// telescope_otlp::pin_exemplar([7; 16], [9; 8]);
/// ```
pub fn pin_exemplar(trace_id: [u8; 16], span_id: [u8; 8]) {
    let pin = (u128::from_be_bytes(trace_id), u64::from_be_bytes(span_id));
    PINS.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(Pins::default)
        .insert(pin);
}

/// Runs `look` with a test saying whether an exemplar points at a span (`(trace, span)` as
/// integers): one lock for all the spans of a trace.
pub(crate) fn with_pins<T>(look: impl FnOnce(&dyn Fn(u128, u64) -> bool) -> T) -> T {
    let guard = PINS.lock().unwrap_or_else(PoisonError::into_inner);
    let pinned = |trace: u128, span: u64| {
        guard
            .as_ref()
            .is_some_and(|pins| pins.contains((trace, span)))
    };
    look(&pinned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_remembered_and_the_oldest_forgotten() {
        let mut pins = Pins::default();
        pins.insert((0, 1));
        pins.insert((0, 1));
        assert!(pins.contains((0, 1)) && !pins.contains((0, 2)));
        for n in 1..CAPACITY as u128 {
            pins.insert((n, 1));
        }
        assert!(pins.contains((0, 1)), "a repeated pin takes one place");
        pins.insert((u128::MAX, 1));
        assert!(!pins.contains((0, 1)) && pins.contains((u128::MAX, 1)));
        assert_eq!(pins.order.len(), CAPACITY);
        assert_eq!(pins.set.len(), CAPACITY);
    }

    #[test]
    fn the_global_set_answers() {
        pin_exemplar([0x5A; 16], [3; 8]);
        let trace = u128::from_be_bytes([0x5A; 16]);
        assert!(with_pins(|pinned| pinned(
            trace,
            u64::from_be_bytes([3; 8])
        )));
        assert!(!with_pins(|pinned| pinned(
            trace,
            u64::from_be_bytes([4; 8])
        )));
    }
}
