//! Exemplars: a histogram observation made inside a sampled trace can leave that trace's ids on
//! its bucket, so a latency spike on a dashboard leads to a trace that caused it.
//!
//! The hot path stays cheap: each bucket of each series looks for a trace at most once per
//! interval (a coarse clock read and an atomic load otherwise). When no sampled trace is
//! current at that moment, it looks again after a sixteenth of the interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use telescope_core::{SpanId, TraceId};

/// Finds the trace and span an observation belongs to, if it should be an exemplar (usually:
/// the current span's, when its trace is sampled).
pub type ExemplarSource = fn() -> Option<(TraceId, SpanId)>;

/// How exemplars are taken.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExemplarSettings {
    pub(crate) interval: Duration,
    pub(crate) source: ExemplarSource,
}

/// The exemplar kept on one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) value: f64,
    pub(crate) time: SystemTime,
}

struct Slot {
    /// Milliseconds on the coarse clock before which this bucket does not look.
    next_try: AtomicU64,
    exemplar: Mutex<Option<Exemplar>>,
}

/// The exemplars of one histogram series, one per classic bucket.
pub(crate) struct Exemplars {
    settings: ExemplarSettings,
    slots: Box<[Slot]>,
}

impl std::fmt::Debug for Exemplars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exemplars")
            .field("buckets", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Exemplars {
    pub(crate) fn new(settings: ExemplarSettings, buckets: usize) -> Self {
        Self {
            settings,
            slots: (0..buckets)
                .map(|_| Slot {
                    next_try: AtomicU64::new(0),
                    exemplar: Mutex::new(None),
                })
                .collect(),
        }
    }

    /// Offers an observation of `value` in bucket `index`.
    #[inline]
    pub(crate) fn offer(&self, index: usize, value: f64) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let now = coarse_millis();
        let next = slot.next_try.load(Ordering::Relaxed);
        if now < next {
            return;
        }
        self.take(slot, now, next, value);
    }

    #[cold]
    fn take(&self, slot: &Slot, now: u64, seen: u64, value: f64) {
        let interval = u64::try_from(self.settings.interval.as_millis()).unwrap_or(u64::MAX);
        // One thread looks; the others carry on.
        if slot
            .next_try
            .compare_exchange(
                seen,
                now.saturating_add(interval),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return;
        }
        match (self.settings.source)() {
            Some((trace_id, span_id)) => {
                let exemplar = Exemplar {
                    trace_id,
                    span_id,
                    value,
                    time: SystemTime::now(),
                };
                *slot.exemplar.lock().unwrap_or_else(PoisonError::into_inner) = Some(exemplar);
            }
            None => slot
                .next_try
                .store(now.saturating_add(interval / 16), Ordering::Relaxed),
        }
    }

    /// The exemplar on bucket `index`, if any.
    pub(crate) fn get(&self, index: usize) -> Option<Exemplar> {
        *self
            .slots
            .get(index)?
            .exemplar
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.slots.len() * std::mem::size_of::<Slot>()
    }
}

/// Milliseconds since the first call, from a clock that is cheap to read (a few ns where the
/// OS offers a coarse clock) and only needs to be right to a few milliseconds.
fn coarse_millis() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
        u64::try_from(now.tv_sec)
            .unwrap_or(0)
            .saturating_mul(1000)
            .saturating_add(u64::try_from(now.tv_nsec / 1_000_000).unwrap_or(0))
            // Never 0, so that a fresh slot (next_try 0) is always due.
            .max(1)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        let epoch = *EPOCH.get_or_init(Instant::now);
        u64::try_from(epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

    fn traced() -> Option<(TraceId, SpanId)> {
        LOOKUPS.fetch_add(1, Ordering::Relaxed);
        Some((TraceId::from_u128(0xabc), SpanId::from_u64(0xdef)))
    }

    fn untraced() -> Option<(TraceId, SpanId)> {
        None
    }

    #[test]
    fn each_bucket_looks_at_most_once_per_interval() {
        let exemplars = Exemplars::new(
            ExemplarSettings {
                interval: Duration::from_secs(3600),
                source: traced,
            },
            3,
        );
        let before = LOOKUPS.load(Ordering::Relaxed);
        for value in [0.1, 0.2, 0.3] {
            exemplars.offer(0, value);
        }
        exemplars.offer(2, 9.0);
        assert_eq!(
            LOOKUPS.load(Ordering::Relaxed) - before,
            2,
            "once per bucket"
        );
        let first = exemplars.get(0).expect("an exemplar");
        assert_eq!(first.value, 0.1, "the first observation of the interval");
        assert_eq!(first.trace_id, TraceId::from_u128(0xabc));
        assert_eq!(exemplars.get(1), None);
        assert_eq!(exemplars.get(2).map(|e| e.value), Some(9.0));
        exemplars.offer(7, 1.0); // out of range: ignored
    }

    #[test]
    fn no_trace_no_exemplar() {
        let exemplars = Exemplars::new(
            ExemplarSettings {
                interval: Duration::from_millis(1),
                source: untraced,
            },
            1,
        );
        exemplars.offer(0, 1.0);
        assert_eq!(exemplars.get(0), None);
    }
}
