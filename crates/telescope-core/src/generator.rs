//! A fast, non-cryptographic source of trace and span ids.

use crate::{SpanId, TraceId};

/// Makes random trace and span ids; never returns the invalid all-zero id.
///
/// It draws from a per-thread wyrand generator (`fastrand`), seeded from the operating
/// system's randomness through `std`, so it takes no lock and makes no system call per id.
/// The ids are unpredictable enough to be unique, not to be secret: do not use them as tokens.
///
/// ```
/// use telescope_core::IdGenerator;
/// let ids = IdGenerator::default();
/// assert!(ids.trace_id().is_valid());
/// assert_ne!(ids.span_id(), ids.span_id());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct IdGenerator {
    _private: (),
}

impl IdGenerator {
    /// A random trace id, all 128 bits random (so the W3C `random` flag may be set for it).
    pub fn trace_id(&self) -> TraceId {
        loop {
            let id = TraceId::from_u128(fastrand::u128(..));
            if id.is_valid() {
                return id;
            }
        }
    }

    /// A random span id.
    pub fn span_id(&self) -> SpanId {
        loop {
            let id = SpanId::from_u64(fastrand::u64(..));
            if id.is_valid() {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_valid_and_distinct() {
        let ids = IdGenerator::default();
        let spans: HashSet<_> = (0..10_000).map(|_| ids.span_id()).collect();
        assert_eq!(spans.len(), 10_000);
        assert!(spans.iter().all(|id| id.is_valid()));
        let traces: HashSet<_> = (0..10_000).map(|_| ids.trace_id()).collect();
        assert_eq!(traces.len(), 10_000);
    }

    #[test]
    fn threads_draw_different_sequences() {
        let ids = IdGenerator::default();
        let here: Vec<_> = (0..8).map(|_| ids.span_id()).collect();
        let there = std::thread::spawn(move || (0..8).map(|_| ids.span_id()).collect::<Vec<_>>())
            .join()
            .expect("thread");
        assert_ne!(here, there);
    }
}
