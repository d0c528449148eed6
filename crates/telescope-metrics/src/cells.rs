//! Counter and gauge storage.

use crate::shard::{current_shard, shard_count};
use crate::sync::{add_f64, AtomicU64, Ordering, PaddedU64};

/// A counter striped over per-thread shards; its value is their sum.
#[derive(Debug)]
pub(crate) struct CounterCells {
    shards: Box<[PaddedU64]>,
}

impl CounterCells {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..shard_count()).map(|_| PaddedU64::default()).collect(),
        }
    }

    pub(crate) fn add(&self, value: u64) {
        self.shards[current_shard()]
            .0
            .fetch_add(value, Ordering::Relaxed);
    }

    /// Raises the counter to at least `value` (for counters mirrored from elsewhere).
    pub(crate) fn raise_to(&self, value: u64) {
        let current = self.value();
        if value > current {
            self.add(value - current);
        }
    }

    pub(crate) fn value(&self) -> u64 {
        self.shards.iter().fold(0u64, |sum, shard| {
            sum.wrapping_add(shard.0.load(Ordering::Relaxed))
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
