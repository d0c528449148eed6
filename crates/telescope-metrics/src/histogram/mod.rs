//! The histogram core: records in O(1) without locks, keeps no raw samples, and answers both
//! exact classic-bucket counts and quantile estimates within 0.78% relative error.
//!
//! How values are handled, by rule:
//! - NaN is not recorded: it is counted apart (`nan_count`) and touches neither count, sum nor
//!   buckets.
//! - `+Inf` and `-Inf` count in `count` and in the buckets (`+Inf` only in `le="+Inf"`, `-Inf`
//!   in every bucket) but are not added to `sum`, which stays finite.
//! - Quantiles are estimated for magnitudes in `[2^-48, 2^48)`; smaller ones are estimated as
//!   0 and larger ones as `±2^48`.

mod octaves;

use std::ptr;
use std::sync::Arc;

use octaves::{midpoint, slot_of, OctaveTable, Slot, MAX_EXPONENT};

use crate::exemplar::{Exemplar, ExemplarSettings, Exemplars};
use crate::shard::{current_shard, shard_count};
use crate::sync::{add_f64, AtomicPtr, AtomicU64, Ordering};

/// One thread-shard of a histogram, allocated when a thread first records into it.
#[repr(align(64))]
struct Shard {
    count: AtomicU64,
    /// The sum of finite values, as `f64` bits.
    sum: AtomicU64,
    nan: AtomicU64,
    /// Non-cumulative counts: `classic[i]` counts values in `(bounds[i-1], bounds[i]]`, the
    /// last one values above every bound.
    classic: Box<[AtomicU64]>,
    positive: OctaveTable,
    negative: AtomicPtr<OctaveTable>,
    zero: AtomicU64,
    overflow_positive: AtomicU64,
    overflow_negative: AtomicU64,
}

impl Shard {
    fn new(classic_buckets: usize) -> Self {
        Self {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
            nan: AtomicU64::new(0),
            classic: (0..classic_buckets).map(|_| AtomicU64::new(0)).collect(),
            positive: OctaveTable::new(),
            negative: AtomicPtr::new(ptr::null_mut()),
            zero: AtomicU64::new(0),
            overflow_positive: AtomicU64::new(0),
            overflow_negative: AtomicU64::new(0),
        }
    }

    fn negative(&self) -> &OctaveTable {
        let mut table = self.negative.load(Ordering::Acquire);
        if table.is_null() {
            let fresh = Box::into_raw(Box::new(OctaveTable::new()));
            match self.negative.compare_exchange(
                ptr::null_mut(),
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => table = fresh,
                Err(winner) => {
                    // SAFETY: `fresh` came from `Box::into_raw` above and was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                    table = winner;
                }
            }
        }
        // SAFETY: set once from `Box::into_raw`, freed only in `Drop` (`&mut self`).
        unsafe { &*table }
    }

    fn negative_if_any(&self) -> Option<&OctaveTable> {
        let table = self.negative.load(Ordering::Acquire);
        // SAFETY: as in `negative`.
        (!table.is_null()).then(|| unsafe { &*table })
    }

    fn record(&self, value: f64, classic_index: usize) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if value.is_finite() {
            add_f64(&self.sum, value);
        }
        self.classic[classic_index].fetch_add(1, Ordering::Relaxed);
        let table = if value.is_sign_negative() {
            None
        } else {
            Some(&self.positive)
        };
        match (slot_of(value.abs()), table) {
            (Slot::Underflow, _) => self.zero.fetch_add(1, Ordering::Relaxed),
            (Slot::Overflow, Some(_)) => self.overflow_positive.fetch_add(1, Ordering::Relaxed),
            (Slot::Overflow, None) => self.overflow_negative.fetch_add(1, Ordering::Relaxed),
            (Slot::Bucket(octave, sub), Some(positive)) => {
                positive.add(octave, sub);
                0
            }
            (Slot::Bucket(octave, sub), None) => {
                self.negative().add(octave, sub);
                0
            }
        };
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.classic.len() * 8
            + self.positive.chunk_bytes()
            + self
                .negative_if_any()
                .map_or(0, |t| t.chunk_bytes() + std::mem::size_of::<OctaveTable>())
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        let table = self.negative.load(Ordering::Acquire);
        if !table.is_null() {
            // SAFETY: set from `Box::into_raw`; `&mut self` means no one else can reach it.
            drop(unsafe { Box::from_raw(table) });
        }
    }
}

/// A histogram series.
pub(crate) struct HistogramCore {
    /// Upper bounds of the classic buckets, ascending, finite.
    bounds: Arc<[f64]>,
    shards: Box<[AtomicPtr<Shard>]>,
    /// One exemplar per classic bucket, when the recorder takes them.
    exemplars: Option<Box<Exemplars>>,
}

impl std::fmt::Debug for HistogramCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistogramCore")
            .field("bounds", &self.bounds)
            .finish_non_exhaustive()
    }
}

impl HistogramCore {
    /// A histogram with classic buckets at `bounds` (ascending, finite).
    #[cfg(test)]
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        Self::with_exemplars(bounds, None)
    }

    /// A histogram that also keeps exemplars, when `exemplars` says how.
    pub(crate) fn with_exemplars(bounds: Arc<[f64]>, exemplars: Option<ExemplarSettings>) -> Self {
        Self {
            exemplars: exemplars
                .map(|settings| Box::new(Exemplars::new(settings, bounds.len() + 1))),
            bounds,
            shards: (0..shard_count())
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
        }
    }

    /// The exemplar on classic bucket `index` (`bounds().len()` is the `+Inf` bucket).
    pub(crate) fn exemplar(&self, index: usize) -> Option<Exemplar> {
        self.exemplars.as_ref()?.get(index)
    }

    fn shard(&self) -> &Shard {
        let slot = &self.shards[current_shard()];
        let mut shard = slot.load(Ordering::Acquire);
        if shard.is_null() {
            let fresh = Box::into_raw(Box::new(Shard::new(self.bounds.len() + 1)));
            match slot.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => shard = fresh,
                Err(winner) => {
                    // SAFETY: `fresh` came from `Box::into_raw` above and was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                    shard = winner;
                }
            }
        }
        // SAFETY: set once from `Box::into_raw`, freed only in `Drop` (`&mut self`).
        unsafe { &*shard }
    }

    fn shards(&self) -> impl Iterator<Item = &Shard> + '_ {
        self.shards.iter().filter_map(|slot| {
            let shard = slot.load(Ordering::Acquire);
            // SAFETY: as in `shard`.
            (!shard.is_null()).then(|| unsafe { &*shard })
        })
    }

    /// Records one value (see the module docs for NaN and infinities).
    pub(crate) fn record(&self, value: f64) {
        let shard = self.shard();
        if value.is_nan() {
            shard.nan.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let classic_index = self.bounds.partition_point(|bound| *bound < value);
        shard.record(value, classic_index);
        if let Some(exemplars) = &self.exemplars {
            exemplars.offer(classic_index, value);
        }
    }

    /// The upper bounds of the classic buckets.
    pub(crate) fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Counts, sum and classic buckets, merged over shards.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot {
            count: 0,
            sum: 0.0,
            nan: 0,
            classic: vec![0; self.bounds.len() + 1],
        };
        for shard in self.shards() {
            snapshot.count += shard.count.load(Ordering::Relaxed);
            snapshot.sum += f64::from_bits(shard.sum.load(Ordering::Relaxed));
            snapshot.nan += shard.nan.load(Ordering::Relaxed);
            for (total, bucket) in snapshot.classic.iter_mut().zip(shard.classic.iter()) {
                *total += bucket.load(Ordering::Relaxed);
            }
        }
        snapshot
    }

    /// Estimates of the values at quantiles `qs` (each in `[0, 1]`): for each, the midpoint of
    /// the bucket holding the element of rank `floor(q * (n - 1))` in sorted order. `None`
    /// when nothing was recorded.
    pub(crate) fn quantiles(&self, qs: &[f64]) -> Option<Vec<f64>> {
        let buckets = self.sorted_buckets();
        let total: u64 = buckets.iter().map(|(_, count)| count).sum();
        if total == 0 {
            return None;
        }
        Some(
            qs.iter()
                .map(|q| {
                    let rank = (q.clamp(0.0, 1.0) * (total - 1) as f64).floor() as u64;
                    let mut seen = 0u64;
                    for (value, count) in &buckets {
                        seen += count;
                        if seen > rank {
                            return *value;
                        }
                    }
                    buckets.last().map_or(0.0, |(value, _)| *value)
                })
                .collect(),
        )
    }

    /// Every non-empty bucket as (estimate, count), in ascending order of value.
    fn sorted_buckets(&self) -> Vec<(f64, u64)> {
        let mut negative: std::collections::BTreeMap<(usize, usize), u64> = Default::default();
        let mut positive: std::collections::BTreeMap<(usize, usize), u64> = Default::default();
        let (mut zero, mut over_positive, mut over_negative) = (0, 0, 0);
        for shard in self.shards() {
            shard.positive.for_each(|octave, sub, count| {
                *positive.entry((octave, sub)).or_default() += count
            });
            if let Some(table) = shard.negative_if_any() {
                table.for_each(|octave, sub, count| {
                    *negative.entry((octave, sub)).or_default() += count
                });
            }
            zero += shard.zero.load(Ordering::Relaxed);
            over_positive += shard.overflow_positive.load(Ordering::Relaxed);
            over_negative += shard.overflow_negative.load(Ordering::Relaxed);
        }
        let limit = 2f64.powi(MAX_EXPONENT + 1);
        let mut buckets = Vec::with_capacity(negative.len() + positive.len() + 3);
        if over_negative > 0 {
            buckets.push((-limit, over_negative));
        }
        buckets.extend(
            negative
                .iter()
                .rev()
                .map(|(&(octave, sub), &count)| (-midpoint(octave, sub), count)),
        );
        if zero > 0 {
            buckets.push((0.0, zero));
        }
        buckets.extend(
            positive
                .iter()
                .map(|(&(octave, sub), &count)| (midpoint(octave, sub), count)),
        );
        if over_positive > 0 {
            buckets.push((limit, over_positive));
        }
        buckets
    }

    /// Bytes this series holds (for the memory report).
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.shards.len() * 8
            + self.shards().map(Shard::bytes).sum::<usize>()
            + self.exemplars.as_ref().map_or(0, |e| e.bytes())
    }
}

impl Drop for HistogramCore {
    fn drop(&mut self) {
        for slot in self.shards.iter() {
            let shard = slot.load(Ordering::Acquire);
            if !shard.is_null() {
                // SAFETY: set from `Box::into_raw`; `&mut self` means no one else can reach it.
                drop(unsafe { Box::from_raw(shard) });
            }
        }
    }
}

/// A histogram's totals at one moment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// Values recorded, infinities included, NaN excluded.
    pub(crate) count: u64,
    /// Sum of the finite values.
    pub(crate) sum: f64,
    /// NaN values seen (not recorded).
    pub(crate) nan: u64,
    /// Non-cumulative classic bucket counts; the last is above every bound.
    pub(crate) classic: Vec<u64>,
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;

    fn histogram() -> HistogramCore {
        HistogramCore::new(Arc::from(vec![0.1, 1.0, 10.0]))
    }

    #[test]
    fn classic_buckets_are_exact_and_nan_and_infinities_follow_the_rules() {
        let h = histogram();
        for value in [
            0.05,
            0.1,
            0.5,
            1.0,
            5.0,
            50.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -3.0,
        ] {
            h.record(value);
        }
        let snapshot = h.snapshot();
        assert_eq!(snapshot.count, 9, "NaN is not counted");
        assert_eq!(snapshot.nan, 1);
        assert_eq!(
            snapshot.sum,
            0.05 + 0.1 + 0.5 + 1.0 + 5.0 + 50.0 - 3.0,
            "infinities stay out of the sum"
        );
        // (-inf, 0.1]: 0.05, 0.1, -inf, -3 | (0.1, 1]: 0.5, 1 | (1, 10]: 5 | above: 50, +inf
        assert_eq!(snapshot.classic, [4, 2, 1, 2]);
    }

    #[test]
    fn quantiles_of_a_small_known_set() {
        let h = histogram();
        for value in 1..=100 {
            h.record(f64::from(value));
        }
        let estimates = h.quantiles(&[0.0, 0.5, 0.99, 1.0]).expect("recorded");
        for (estimate, exact) in estimates.iter().zip([1.0, 50.0, 99.0, 100.0]) {
            assert!(
                (estimate - exact).abs() / exact <= 1.0 / 128.0,
                "{estimate} vs {exact}"
            );
        }
        assert_eq!(
            HistogramCore::new(Arc::from(vec![])).quantiles(&[0.5]),
            None
        );
    }

    #[test]
    fn negative_zero_and_overflow_values_sort_correctly() {
        let h = histogram();
        for value in [-5.0, -1.0, 0.0, 1.0, 1e300] {
            h.record(value);
        }
        let estimates = h.quantiles(&[0.0, 0.25, 0.5, 0.75, 1.0]).expect("recorded");
        assert!(estimates.windows(2).all(|w| w[0] <= w[1]), "{estimates:?}");
        assert!((estimates[0] + 5.0).abs() < 0.05);
        assert_eq!(estimates[2], 0.0);
        assert_eq!(estimates[4], 2f64.powi(48));
    }
}

/// Model-checked with loom: `RUSTFLAGS="--cfg telescope_loom" cargo test -p telescope-metrics
/// --lib --release loom`.
#[cfg(all(test, telescope_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc as LoomArc;
    use loom::thread;

    #[test]
    fn record_while_render_sees_consistent_monotonic_state() {
        loom::model(|| {
            let histogram = LoomArc::new(HistogramCore::new(Arc::from(vec![1.0])));
            let writer = {
                let histogram = histogram.clone();
                thread::spawn(move || {
                    histogram.record(0.5);
                    histogram.record(2.0);
                })
            };
            // A render racing with the writer sees at most what was written, never garbage.
            let during = histogram.snapshot();
            assert!(during.count <= 2);
            assert!(during.classic.iter().sum::<u64>() <= 2);
            if let Some(estimates) = histogram.quantiles(&[0.5]) {
                assert!(estimates[0] > 0.0 && estimates[0] < 2.1, "{estimates:?}");
            }
            writer.join().expect("writer");
            let after = histogram.snapshot();
            assert_eq!(after.count, 2);
            assert_eq!(after.classic, vec![1, 1]);
            assert_eq!(after.sum, 2.5);
            let estimates = histogram.quantiles(&[0.0, 1.0]).expect("recorded");
            assert!(
                (estimates[0] - 0.5).abs() < 0.01 && (estimates[1] - 2.0).abs() < 0.02,
                "{estimates:?}"
            );
        });
    }

    #[test]
    fn two_writers_allocating_the_same_chunk_keep_both_counts() {
        loom::model(|| {
            let histogram = LoomArc::new(HistogramCore::new(Arc::from(vec![])));
            let other = {
                let histogram = histogram.clone();
                thread::spawn(move || histogram.record(3.0))
            };
            histogram.record(3.0);
            other.join().expect("writer");
            assert_eq!(histogram.snapshot().count, 2);
            assert_eq!(
                histogram
                    .quantiles(&[0.5])
                    .map(|q| (q[0] - 3.0).abs() < 0.03),
                Some(true)
            );
        });
    }
}
