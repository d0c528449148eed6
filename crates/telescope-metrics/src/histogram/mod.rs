//! The histogram core: records in O(1) without locks, keeps no raw samples, and answers both
//! exact classic-bucket counts and, where kept, exponential buckets (OpenTelemetry's scale 6)
//! for quantile estimates within 0.55% relative error and exact exponential-histogram export.
//!
//! How values are handled, by rule:
//! - NaN is not recorded: it is counted apart (`nan_count`, exposed as
//!   `telescope_metrics_nan_observations_total{metric}`) and touches neither count, sum nor
//!   buckets.
//! - `+Inf` and `-Inf` count in `count` and in the buckets (`+Inf` only in `le="+Inf"`, `-Inf`
//!   in every bucket) but are not added to `sum`. The sum of finite values is an `f64`: past
//!   `f64::MAX` it becomes `+Inf` (two records of 1e308 do), and stays there.
//! - Whether a negative value was ever recorded is remembered: OpenMetrics allows no `_sum`
//!   then (it would not be a counter).
//! - Quantiles are estimated for magnitudes in `[2^-48, 2^48)`; smaller ones are estimated as
//!   0 and larger ones as `±2^48`.

mod octaves;

use std::ptr;
use std::sync::Arc;

use octaves::{
    midpoint, otel_index, slot_of, OctaveTable, Slot, MAX_EXPONENT, MIN_EXPONENT, SCALE, TOP_INDEX,
};

use crate::exemplar::{Exemplar, ExemplarSettings, Exemplars};
use crate::lazy_slice::LazySlice;
use crate::shard::{current_shard, BUSY_AFTER};
use crate::sync::{add_f64, get_or_install, AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// The exponential buckets that quantile estimates and exponential histograms come from: kept
/// only by histograms rendered as summaries or pushed as exponential histograms (each costs 768 bytes plus 512 per power of two that values fall in).
struct QuantileTable {
    positive: OctaveTable,
    negative: AtomicPtr<OctaveTable>,
    zero: AtomicU64,
    overflow_positive: AtomicU64,
    overflow_negative: AtomicU64,
}

impl QuantileTable {
    fn new() -> Self {
        Self {
            positive: OctaveTable::new(),
            negative: AtomicPtr::new(ptr::null_mut()),
            zero: AtomicU64::new(0),
            overflow_positive: AtomicU64::new(0),
            overflow_negative: AtomicU64::new(0),
        }
    }

    fn negative(&self) -> &OctaveTable {
        // SAFETY: only `get_or_install` stores into `negative`; it is freed in `Drop`
        // (`&mut self`).
        unsafe { get_or_install(&self.negative, OctaveTable::new) }
    }

    fn negative_if_any(&self) -> Option<&OctaveTable> {
        let table = self.negative.load(Ordering::Acquire);
        // SAFETY: as in `negative`.
        (!table.is_null()).then(|| unsafe { &*table })
    }

    // Out of line: histograms without the table (most) keep a small record path.
    #[inline(never)]
    fn record(&self, value: f64) {
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
            + self.positive.heap_bytes()
            + self
                .negative_if_any()
                .map_or(0, |t| t.heap_bytes() + std::mem::size_of::<OctaveTable>())
    }
}

impl Drop for QuantileTable {
    fn drop(&mut self) {
        let table = self.negative.load(Ordering::Acquire);
        if !table.is_null() {
            // SAFETY: set from `Box::into_raw`; `&mut self` means no one else can reach it.
            drop(unsafe { Box::from_raw(table) });
        }
    }
}

/// Classic bucket counts kept inline: Prometheus' default 11 bounds plus `+Inf`.
const INLINE_BUCKETS: usize = 12;

/// Classic bucket counts: inside the shard for up to [`INLINE_BUCKETS`] (one allocation less
/// per series), else on the heap.
enum ClassicCounts {
    Inline {
        counts: [AtomicU64; INLINE_BUCKETS],
        len: usize,
    },
    Heap(Box<[AtomicU64]>),
}

impl ClassicCounts {
    fn new(buckets: usize) -> Self {
        if buckets <= INLINE_BUCKETS {
            Self::Inline {
                counts: std::array::from_fn(|_| AtomicU64::new(0)),
                len: buckets,
            }
        } else {
            Self::Heap((0..buckets).map(|_| AtomicU64::new(0)).collect())
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Self::Inline { .. } => 0,
            Self::Heap(counts) => counts.len() * 8,
        }
    }
}

impl std::ops::Deref for ClassicCounts {
    type Target = [AtomicU64];

    fn deref(&self) -> &[AtomicU64] {
        match self {
            Self::Inline { counts, len } => &counts[..*len],
            Self::Heap(counts) => counts,
        }
    }
}

/// The counts of one writer (or of every writer, until two collide).
struct Shard {
    count: AtomicU64,
    /// The sum of finite values, as `f64` bits.
    sum: AtomicU64,
    nan: AtomicU64,
    /// Non-cumulative counts: `classic[i]` counts values in `(bounds[i-1], bounds[i]]`, the
    /// last one values above every bound.
    classic: ClassicCounts,
    quantiles: Option<Box<QuantileTable>>,
}

impl Shard {
    fn new(classic_buckets: usize, quantiles: bool) -> Self {
        Self {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
            nan: AtomicU64::new(0),
            classic: ClassicCounts::new(classic_buckets),
            quantiles: quantiles.then(|| Box::new(QuantileTable::new())),
        }
    }

    /// Records a value whose `count` was already incremented.
    fn record_counted(&self, value: f64, classic_index: usize) {
        if value.is_finite() {
            add_f64(&self.sum, value);
        }
        self.classic[classic_index].fetch_add(1, Ordering::Relaxed);
        if let Some(table) = &self.quantiles {
            table.record(value);
        }
    }

    fn bytes(&self) -> usize {
        self.classic.heap_bytes() + self.quantiles.as_ref().map_or(0, |t| t.bytes())
    }
}

/// A writer's shard on a cache line of its own.
#[repr(align(64))]
struct PaddedShard(Shard);

/// What a histogram series is made with.
#[derive(Debug, Clone)]
pub(crate) struct HistogramOptions {
    /// Upper bounds of the classic buckets, ascending, finite.
    pub(crate) bounds: Arc<[f64]>,
    /// Shards once contended (a power of two).
    pub(crate) shards: usize,
    /// Whether to keep the exponential buckets (quantile estimates, exponential export).
    pub(crate) quantiles: bool,
    /// Whether and how to keep exemplars.
    pub(crate) exemplars: Option<ExemplarSettings>,
}

/// A histogram series.
pub(crate) struct HistogramCore {
    /// Upper bounds of the classic buckets, ascending, finite.
    bounds: Arc<[f64]>,
    /// Where every record goes until two writers collide on its count or it gets busy
    /// ([`BUSY_AFTER`]).
    home: Shard,
    /// Then: a slot per shard, each a lazily allocated shard.
    shards: LazySlice<AtomicPtr<PaddedShard>>,
    /// One exemplar per classic bucket, when the recorder takes them.
    exemplars: Option<Box<Exemplars>>,
    /// Whether a value below zero was recorded.
    negative_seen: AtomicBool,
}

impl std::fmt::Debug for HistogramCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistogramCore")
            .field("bounds", &self.bounds)
            .finish_non_exhaustive()
    }
}

impl HistogramCore {
    /// A histogram with classic buckets at `bounds` (ascending, finite) that also keeps
    /// quantile estimates, spreading over 4 shards when contended.
    #[cfg(test)]
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        Self::with_options(HistogramOptions {
            bounds,
            shards: 4,
            quantiles: true,
            exemplars: None,
        })
    }

    /// A histogram made as `options` say.
    pub(crate) fn with_options(options: HistogramOptions) -> Self {
        let buckets = options.bounds.len() + 1;
        Self {
            exemplars: options
                .exemplars
                .map(|settings| Box::new(Exemplars::new(settings, buckets))),
            home: Shard::new(buckets, options.quantiles),
            bounds: options.bounds,
            shards: LazySlice::new(options.shards),
            negative_seen: AtomicBool::new(false),
        }
    }

    /// The exemplar on classic bucket `index` (`bounds().len()` is the `+Inf` bucket).
    pub(crate) fn exemplar(&self, index: usize) -> Option<Exemplar> {
        self.exemplars.as_ref()?.get(index)
    }

    /// The current thread's shard in `slots`, allocated if it is the first to write it.
    fn own_shard<'a>(&self, slots: &'a [AtomicPtr<PaddedShard>]) -> &'a Shard {
        let slot = &slots[current_shard(slots.len())];
        let quantiles = self.home.quantiles.is_some();
        let buckets = self.bounds.len() + 1;
        // SAFETY: only `get_or_install` stores into the shard slots; they are freed in `Drop`
        // (`&mut self`).
        let shard = unsafe { get_or_install(slot, || PaddedShard(Shard::new(buckets, quantiles))) };
        &shard.0
    }

    /// Every shard with counts: the home shard, then the others.
    fn shards(&self) -> impl Iterator<Item = &Shard> + '_ {
        let slots = self.shards.get().unwrap_or_default();
        std::iter::once(&self.home).chain(slots.iter().filter_map(|slot| {
            let shard = slot.load(Ordering::Acquire);
            // SAFETY: as in `own_shard`.
            (!shard.is_null()).then(|| unsafe { &(*shard).0 })
        }))
    }

    /// Records one value (see the module docs for NaN and infinities).
    pub(crate) fn record(&self, value: f64) {
        if value.is_nan() {
            self.home.nan.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if value < 0.0 && !self.negative_seen.load(Ordering::Relaxed) {
            self.negative_seen.store(true, Ordering::Relaxed);
        }
        let classic_index = self.bounds.partition_point(|bound| *bound < value);
        let slots = match self.shards.get() {
            Some(slots) => slots,
            None => {
                let count = self.home.count.load(Ordering::Relaxed);
                if count < BUSY_AFTER
                    && self
                        .home
                        .count
                        .compare_exchange(count, count + 1, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    self.home.record_counted(value, classic_index);
                    self.offer_exemplar(classic_index, value);
                    return;
                }
                // Another thread recorded meanwhile, or the histogram is busy: give it shards.
                self.shards.get_or_init(|| AtomicPtr::new(ptr::null_mut()))
            }
        };
        let shard = self.own_shard(slots);
        shard.count.fetch_add(1, Ordering::Relaxed);
        shard.record_counted(value, classic_index);
        self.offer_exemplar(classic_index, value);
    }

    fn offer_exemplar(&self, classic_index: usize, value: f64) {
        if let Some(exemplars) = &self.exemplars {
            exemplars.offer(classic_index, value);
        }
    }

    /// The upper bounds of the classic buckets.
    pub(crate) fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// The bounds, shared.
    pub(crate) fn bounds_shared(&self) -> Arc<[f64]> {
        self.bounds.clone()
    }

    /// Counts, sum and classic buckets, merged over shards.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot {
            count: 0,
            sum: 0.0,
            nan: 0,
            classic: vec![0; self.bounds.len() + 1],
            negative: self.negative_seen.load(Ordering::Relaxed),
        };
        for shard in self.shards() {
            snapshot.sum += f64::from_bits(shard.sum.load(Ordering::Relaxed));
            snapshot.nan += shard.nan.load(Ordering::Relaxed);
            for (total, bucket) in snapshot.classic.iter_mut().zip(shard.classic.iter()) {
                *total += bucket.load(Ordering::Relaxed);
            }
        }
        // The total is the buckets' own sum, not the shards' counters read at another
        // moment: a scrape's `+Inf` bucket and `_count` then always equal its buckets.
        snapshot.count = snapshot.classic.iter().sum();
        snapshot
    }

    /// NaN values seen (not recorded), over every shard.
    pub(crate) fn nan_count(&self) -> u64 {
        self.shards()
            .map(|shard| shard.nan.load(Ordering::Relaxed))
            .sum()
    }

    /// Estimates of the values at quantiles `qs` (each in `[0, 1]`); `None` when nothing was
    /// recorded. With the quantile table (histograms rendered as summaries): for each, the
    /// midpoint of the bucket holding the element of rank `floor(q * (n - 1))` in sorted
    /// order, within 0.55%. Without: interpolated within the classic bucket holding that
    /// rank, as PromQL's `histogram_quantile` does.
    pub(crate) fn quantiles(&self, qs: &[f64]) -> Option<Vec<f64>> {
        if self.home.quantiles.is_none() {
            return self.classic_quantiles(qs);
        }
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

    /// Quantiles from the classic buckets: linear within the bucket, 0 as the lower edge of
    /// the first bucket when its bound is positive, the highest bound for ranks above it.
    fn classic_quantiles(&self, qs: &[f64]) -> Option<Vec<f64>> {
        let snapshot = self.snapshot();
        let total: u64 = snapshot.classic.iter().sum();
        if total == 0 {
            return None;
        }
        let bounds = self.bounds();
        Some(
            qs.iter()
                .map(|q| {
                    let rank = q.clamp(0.0, 1.0) * total as f64;
                    let mut below = 0u64;
                    for (index, count) in snapshot.classic.iter().enumerate() {
                        let Some(&upper) = bounds.get(index) else {
                            break;
                        };
                        if (below + count) as f64 >= rank && *count > 0 {
                            let lower = match index {
                                0 if upper > 0.0 => 0.0,
                                0 => return upper,
                                _ => bounds[index - 1],
                            };
                            let within = (rank - below as f64) / *count as f64;
                            return lower + (upper - lower) * within;
                        }
                        below += count;
                    }
                    bounds.last().copied().unwrap_or(0.0)
                })
                .collect(),
        )
    }

    /// The quantile tables' buckets as OpenTelemetry's exponential buckets (scale 6), when
    /// this histogram keeps them: the same buckets, counted across shards. Magnitudes above
    /// `2^48` (infinities included) are counted in the highest bucket; those at or below
    /// `2^-48` in the zero bucket, whose threshold says so.
    pub(crate) fn exponential(&self) -> Option<ExponentialBuckets> {
        self.home.quantiles.as_ref()?;
        let mut positive: std::collections::BTreeMap<i32, u64> = Default::default();
        let mut negative: std::collections::BTreeMap<i32, u64> = Default::default();
        let mut zero = 0;
        for table in self.shards().filter_map(|shard| shard.quantiles.as_deref()) {
            table.positive.for_each(|octave, sub, count| {
                *positive.entry(otel_index(octave, sub)).or_default() += count;
            });
            if let Some(negative_table) = table.negative_if_any() {
                negative_table.for_each(|octave, sub, count| {
                    *negative.entry(otel_index(octave, sub)).or_default() += count;
                });
            }
            zero += table.zero.load(Ordering::Relaxed);
            for (overflow, side) in [
                (&table.overflow_positive, &mut positive),
                (&table.overflow_negative, &mut negative),
            ] {
                let count = overflow.load(Ordering::Relaxed);
                if count > 0 {
                    *side.entry(TOP_INDEX).or_default() += count;
                }
            }
        }
        let (positive_offset, positive) = dense(&positive);
        let (negative_offset, negative) = dense(&negative);
        Some(ExponentialBuckets {
            scale: SCALE,
            zero_count: zero,
            zero_threshold: 2f64.powi(MIN_EXPONENT),
            positive_offset,
            positive,
            negative_offset,
            negative,
        })
    }

    /// Every non-empty bucket of the quantile tables as (estimate, count), ascending.
    fn sorted_buckets(&self) -> Vec<(f64, u64)> {
        let mut negative: std::collections::BTreeMap<(usize, usize), u64> = Default::default();
        let mut positive: std::collections::BTreeMap<(usize, usize), u64> = Default::default();
        let (mut zero, mut over_positive, mut over_negative) = (0, 0, 0);
        for table in self.shards().filter_map(|shard| shard.quantiles.as_deref()) {
            table.positive.for_each(|octave, sub, count| {
                *positive.entry((octave, sub)).or_default() += count
            });
            if let Some(negative_table) = table.negative_if_any() {
                negative_table.for_each(|octave, sub, count| {
                    *negative.entry((octave, sub)).or_default() += count
                });
            }
            zero += table.zero.load(Ordering::Relaxed);
            over_positive += table.overflow_positive.load(Ordering::Relaxed);
            over_negative += table.overflow_negative.load(Ordering::Relaxed);
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
            + self.shards.get().map_or(0, |slots| slots.len() * 8)
            + self
                .shards()
                .enumerate()
                .map(|(index, shard)| {
                    let own = if index == 0 {
                        0
                    } else {
                        std::mem::size_of::<PaddedShard>()
                    };
                    own + shard.bytes()
                })
                .sum::<usize>()
            + self.exemplars.as_ref().map_or(0, |e| e.bytes())
    }
}

impl Drop for HistogramCore {
    fn drop(&mut self) {
        // The slots themselves are freed by their `LazySlice`; the shards they point at here.
        for slot in self.shards.get().unwrap_or_default() {
            let shard = slot.load(Ordering::Acquire);
            if !shard.is_null() {
                // SAFETY: set from `Box::into_raw` in `own_shard`; `&mut self` means no one
                // else can reach it any more.
                drop(unsafe { Box::from_raw(shard) });
            }
        }
    }
}

/// Exponential buckets as OpenTelemetry counts them: bucket `offset + k` of a side holds the
/// magnitudes in `(2^((offset+k)/2^scale), 2^((offset+k+1)/2^scale)]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExponentialBuckets {
    pub(crate) scale: i32,
    pub(crate) zero_count: u64,
    pub(crate) zero_threshold: f64,
    pub(crate) positive_offset: i32,
    pub(crate) positive: Vec<u64>,
    pub(crate) negative_offset: i32,
    pub(crate) negative: Vec<u64>,
}

/// Sparse counts by index as an offset and the counts from there to the last, gaps zero.
fn dense(counts: &std::collections::BTreeMap<i32, u64>) -> (i32, Vec<u64>) {
    let (Some((&first, _)), Some((&last, _))) = (counts.first_key_value(), counts.last_key_value())
    else {
        return (0, Vec::new());
    };
    let mut out = vec![0; (last - first) as usize + 1];
    for (&index, &count) in counts {
        out[(index - first) as usize] = count;
    }
    (first, out)
}

/// A histogram's totals at one moment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// Values recorded, infinities included, NaN excluded: the sum of `classic`.
    pub(crate) count: u64,
    /// Sum of the finite values.
    pub(crate) sum: f64,
    /// NaN values seen (not recorded).
    pub(crate) nan: u64,
    /// Non-cumulative classic bucket counts; the last is above every bound.
    pub(crate) classic: Vec<u64>,
    /// Whether a value below zero was ever recorded.
    pub(crate) negative: bool,
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

    /// Loom's model with room for the quantile tables' many atomics (96 chunk pointers per
    /// table, read on every estimate).
    fn model(test: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.max_branches = 20_000;
        builder.check(test);
    }

    #[test]
    fn record_while_render_sees_consistent_monotonic_state() {
        model(|| {
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
            assert_eq!(
                during.count,
                during.classic.iter().sum::<u64>(),
                "+Inf and _count equal the buckets in every scrape"
            );
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
        model(|| {
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
