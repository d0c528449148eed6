//! Counter and gauge storage.

use crate::shard::{current_shard, shard_count};
use crate::sync::{add_f64, AtomicU64, Ordering, PaddedU64};

/// A counter striped over per-thread shards; its value is their sum. It saturates at
/// `u64::MAX` instead of wrapping: a counter that went back to a small number would read as a
/// reset to every `rate()`.
#[derive(Debug)]
pub(crate) struct CounterCells {
    shards: Box<[PaddedU64]>,
    /// Serializes `absolute` (rare: counters mirrored from elsewhere), so that two racing
    /// calls cannot both add their difference.
    raising: std::sync::Mutex<()>,
}

impl CounterCells {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..shard_count()).map(|_| PaddedU64::default()).collect(),
            raising: std::sync::Mutex::new(()),
        }
    }

    pub(crate) fn add(&self, value: u64) {
        let shard = &self.shards[current_shard()].0;
        let previous = shard.fetch_add(value, Ordering::Relaxed);
        if previous.checked_add(value).is_none() {
            // It wrapped: pin it at the top (a racing add on this shard is lost in the cap).
            shard.store(u64::MAX, Ordering::Relaxed);
        }
    }

    /// Raises the counter to at least `value` (for counters mirrored from elsewhere): a
    /// maximum, whatever the concurrency; increments made meanwhile still count.
    pub(crate) fn raise_to(&self, value: u64) {
        let _raising = self
            .raising
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.value();
        if value > current {
            self.add(value - current);
        }
    }

    pub(crate) fn value(&self) -> u64 {
        self.shards.iter().fold(0u64, |sum, shard| {
            sum.saturating_add(shard.0.load(Ordering::Relaxed))
        })
    }
}

/// A gauge: one `f64` (set wins over concurrent adds, as with any gauge).
#[derive(Debug, Default)]
pub(crate) struct GaugeCell {
    bits: AtomicU64,
}

impl GaugeCell {
    pub(crate) fn value(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

impl metrics::GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        add_f64(&self.bits, value);
    }

    fn decrement(&self, value: f64) {
        add_f64(&self.bits, -value);
    }

    fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Ordering::Relaxed);
    }
}
