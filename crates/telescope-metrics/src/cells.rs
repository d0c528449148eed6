//! Counter and gauge storage.

use std::ptr;

use crate::lazy_slice::LazySlice;
use crate::shard::{current_shard, BUSY_AFTER};
use crate::sync::{add_f64, AtomicU64, Ordering, PaddedU64};

/// Serializes `absolute` calls (rare: counters mirrored from elsewhere), so that two racing
/// calls cannot both add their difference. Shared by all counters, picked by address, so that
/// a counter carries no lock of its own.
static RAISING: [std::sync::Mutex<()>; 16] = [const { std::sync::Mutex::new(()) }; 16];

/// A counter: one cell while threads take turns, per-thread shards once two collide or it
/// gets busy ([`BUSY_AFTER`]); its value is the cell plus the shards. It saturates at
/// `u64::MAX` instead of wrapping: a counter that went back to a small number would read as a
/// reset to every `rate()`.
#[derive(Debug)]
pub(crate) struct CounterCells {
    home: AtomicU64,
    /// Cache-line-padded shards, allocated the first time two adds collide on `home`.
    shards: LazySlice<PaddedU64>,
}

impl CounterCells {
    /// A counter that spreads over `shard_count` shards (a power of two) when contended.
    pub(crate) fn new(shard_count: usize) -> Self {
        Self {
            home: AtomicU64::new(0),
            shards: LazySlice::new(shard_count),
        }
    }

    pub(crate) fn add(&self, value: u64) {
        let shards = match self.shards.get() {
            Some(shards) => shards,
            None => {
                let current = self.home.load(Ordering::Relaxed);
                let next = current.saturating_add(value);
                if current < BUSY_AFTER
                    && self
                        .home
                        .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    return;
                }
                // Another thread wrote meanwhile, or the counter is busy: give it shards.
                self.shards.get_or_init(PaddedU64::default)
            }
        };
        let shard = &shards[current_shard(shards.len())].0;
        let previous = shard.fetch_add(value, Ordering::Relaxed);
        if previous.checked_add(value).is_none() {
            // It wrapped: pin it at the top (a racing add on this shard is lost in the cap).
            shard.store(u64::MAX, Ordering::Relaxed);
        }
    }

    /// Raises the counter to at least `value` (for counters mirrored from elsewhere): a
    /// maximum, whatever the concurrency; increments made meanwhile still count.
    pub(crate) fn raise_to(&self, value: u64) {
        let lock = &RAISING[(ptr::from_ref(self) as usize >> 6) % RAISING.len()];
        let _raising = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.value();
        if value > current {
            self.add(value - current);
        }
    }

    pub(crate) fn value(&self) -> u64 {
        self.shards
            .get()
            .unwrap_or_default()
            .iter()
            .fold(self.home.load(Ordering::Relaxed), |sum, shard| {
                sum.saturating_add(shard.0.load(Ordering::Relaxed))
            })
    }

    /// Bytes held besides the struct itself.
    #[cfg(all(test, not(telescope_loom)))]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.shards.get().map_or(0, std::mem::size_of_val)
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

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_counter_written_by_one_thread_has_no_shards_until_busy() {
        let counter = CounterCells::new(8);
        for _ in 0..1000 {
            counter.add(3);
        }
        assert_eq!(counter.value(), 3000);
        assert_eq!(counter.heap_bytes(), 0, "no collision, not busy: no shards");
    }

    #[test]
    fn a_counter_saturates_in_its_cell_and_in_its_shards() {
        let in_cell = CounterCells::new(8);
        in_cell.add(5);
        in_cell.add(u64::MAX - 1);
        assert_eq!(in_cell.value(), u64::MAX);
        let in_shards = CounterCells::new(8);
        in_shards.add(u64::MAX - 1);
        in_shards.add(5);
        assert_eq!(in_shards.value(), u64::MAX);
        assert!(in_shards.heap_bytes() > 0, "the second add went to a shard");
    }

    #[test]
    fn a_busy_counter_gets_shards_and_keeps_its_value() {
        let counter = CounterCells::new(4);
        for _ in 0..3 {
            counter.add(BUSY_AFTER);
        }
        assert_eq!(counter.value(), 3 * BUSY_AFTER);
        assert_eq!(counter.heap_bytes(), 4 * 64, "busy: four padded shards");
    }

    #[test]
    fn many_threads_hammering_one_counter_lose_nothing() {
        let counter = std::sync::Arc::new(CounterCells::new(4));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        counter.add(1);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("adder");
        }
        assert_eq!(counter.value(), 800_000);
    }
}

/// Model-checked with loom: `RUSTFLAGS="--cfg telescope_loom" cargo test -p telescope-metrics
/// --lib --release loom`.
#[cfg(all(test, telescope_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn adds_racing_the_growth_of_shards_all_count() {
        loom::model(|| {
            let counter = Arc::new(CounterCells::new(2));
            let other = {
                let counter = counter.clone();
                thread::spawn(move || {
                    counter.add(1);
                    counter.add(2);
                })
            };
            counter.add(4);
            let during = counter.value();
            assert!((4..=7).contains(&during), "{during}");
            other.join().expect("adder");
            assert_eq!(counter.value(), 7);
        });
    }
}
