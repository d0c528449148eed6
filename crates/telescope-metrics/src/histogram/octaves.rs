//! Exponential buckets for one sign, OpenTelemetry's base-2 layout at scale 6: 64 buckets per
//! power of two, bucket `i` holding the magnitudes in `(2^(i/64), 2^((i+1)/64)]`, one lazily
//! allocated chunk per power of two. Because the layout is OpenTelemetry's own, an OTLP
//! exponential histogram is these counts as they are: no re-bucketing, no error.

use std::ptr;

use crate::sync::{get_or_install, AtomicPtr, AtomicU64, Ordering};

/// Buckets per power of two (`2^6`: OpenTelemetry scale 6). A bucket's upper bound is
/// `2^(1/64)` = 1.0109 times its lower bound, so its geometric middle is within
/// `2^(1/128) - 1` (0.55%) of any value in it.
pub(crate) const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
/// The OpenTelemetry scale of this layout.
pub(crate) const SCALE: i32 = SUB_BUCKET_BITS as i32;
/// The smallest and largest binary exponents with buckets: magnitudes in `(2^-48, 2^48]`
/// (about 3.6e-15 to 2.8e14). Smaller ones count as zero, larger ones as overflow.
pub(crate) const MIN_EXPONENT: i32 = -48;
pub(crate) const MAX_EXPONENT: i32 = 47;
const OCTAVES: usize = (MAX_EXPONENT - MIN_EXPONENT + 1) as usize;

/// `floor((2^(j/64) - 1) * 2^52)` for `j` in 1..64: the mantissas (as integers) of the bucket
/// bounds inside a power of two. A value whose mantissa is above `BOUNDS[j - 1]` is above
/// `2^(j/64)` times its power of two (the bounds are irrational, so never equal to one).
/// Computed with 80-digit decimal arithmetic; `bounds_match_the_powers_of_two` checks them.
const BOUNDS: [u64; 63] = [
    0x2c9a3e778060,
    0x59b0d3158574,
    0x874518759bc8,
    0xb5586cf9890f,
    0xe3ec32d3d1a2,
    0x11301d0125b50,
    0x1429aaea92ddf,
    0x172b83c7d517a,
    0x1a35beb6fcb75,
    0x1d4873168b9aa,
    0x2063b88628cd6,
    0x2387a6e756238,
    0x26b4565e27cdd,
    0x29e9df51fdee1,
    0x2d285a6e4030b,
    0x306fe0a31b715,
    0x33c08b26416ff,
    0x371a7373aa9ca,
    0x3a7db34e59ff6,
    0x3dea64c123422,
    0x4160a21f72e29,
    0x44e086061892d,
    0x486a2b5c13cd0,
    0x4bfdad5362a27,
    0x4f9b2769d2ca6,
    0x5342b569d4f81,
    0x56f4736b527da,
    0x5ab07dd485429,
    0x5e76f15ad2148,
    0x6247eb03a5584,
    0x6623882552224,
    0x6a09e667f3bcc,
    0x6dfb23c651a2e,
    0x71f75e8ec5f73,
    0x75feb564267c8,
    0x7a11473eb0186,
    0x7e2f336cf4e62,
    0x82589994cce12,
    0x868d99b4492ec,
    0x8ace5422aa0db,
    0x8f1ae99157736,
    0x93737b0cdc5e4,
    0x97d829fde4e4f,
    0x9c49182a3f090,
    0xa0c667b5de564,
    0xa5503b23e255c,
    0xa9e6b5579fdbf,
    0xae89f995ad3ad,
    0xb33a2b84f15fa,
    0xb7f76f2fb5e46,
    0xbcc1e904bc1d2,
    0xc199bdd85529c,
    0xc67f12e57d14b,
    0xcb720dcef9069,
    0xd072d4a07897b,
    0xd5818dcfba487,
    0xda9e603db3285,
    0xdfc97337b9b5e,
    0xe502ee78b3ff6,
    0xea4afa2a490d9,
    0xefa1bee615a27,
    0xf50765b6e4540,
    0xfa7c1819e90d8,
];

/// The counts of one power of two.
struct Chunk {
    buckets: [AtomicU64; SUB_BUCKETS],
}

impl Chunk {
    fn new() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Where a magnitude lands.
pub(crate) enum Slot {
    /// Octave (0-based from [`MIN_EXPONENT`]) and bucket within it.
    Bucket(usize, usize),
    /// At or below `2^MIN_EXPONENT` (zero included).
    Underflow,
    /// Above `2^(MAX_EXPONENT + 1)` (infinity included).
    Overflow,
}

/// The slot of a non-negative, non-NaN magnitude. A power of two `2^e` is the upper bound of
/// the last bucket of the octave below, as OpenTelemetry's buckets are upper-inclusive.
pub(crate) fn slot_of(magnitude: f64) -> Slot {
    let bits = magnitude.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let mantissa = bits & ((1 << 52) - 1);
    let sub = if mantissa == 0 {
        exponent -= 1;
        SUB_BUCKETS - 1
    } else {
        BOUNDS.partition_point(|bound| *bound < mantissa)
    };
    if exponent < MIN_EXPONENT || magnitude == 0.0 {
        Slot::Underflow
    } else if exponent > MAX_EXPONENT {
        Slot::Overflow
    } else {
        Slot::Bucket((exponent - MIN_EXPONENT) as usize, sub)
    }
}

/// OpenTelemetry's index (at [`SCALE`]) of a bucket.
pub(crate) fn otel_index(octave: usize, sub: usize) -> i32 {
    (octave as i32 + MIN_EXPONENT) * SUB_BUCKETS as i32 + sub as i32
}

/// The index of the highest bucket: where overflow is put when the buckets are exported.
pub(crate) const TOP_INDEX: i32 = (MAX_EXPONENT + 1) * SUB_BUCKETS as i32 - 1;

/// The geometric middle of a bucket: the estimate for any value in it.
pub(crate) fn midpoint(octave: usize, sub: usize) -> f64 {
    let index = f64::from(otel_index(octave, sub));
    2f64.powf((index + 0.5) / SUB_BUCKETS as f64)
}

/// The buckets of one sign.
pub(crate) struct OctaveTable {
    chunks: Box<[AtomicPtr<Chunk>]>,
}

impl OctaveTable {
    pub(crate) fn new() -> Self {
        Self {
            chunks: (0..OCTAVES)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
        }
    }

    /// Counts one value in `(octave, sub)`, allocating the octave's chunk the first time a
    /// value lands in it (at most once per octave, so never in the steady state).
    pub(crate) fn add(&self, octave: usize, sub: usize) {
        // SAFETY: only `get_or_install` stores into the chunk slots; they are freed in `Drop`,
        // which has `&mut self`, so the chunk outlives this shared borrow.
        let chunk = unsafe { get_or_install(&self.chunks[octave], Chunk::new) };
        chunk.buckets[sub].fetch_add(1, Ordering::Relaxed);
    }

    /// Calls `visit(octave, sub, count)` for every non-empty bucket, smallest first.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(usize, usize, u64)) {
        for (octave, slot) in self.chunks.iter().enumerate() {
            let chunk = slot.load(Ordering::Acquire);
            if chunk.is_null() {
                continue;
            }
            // SAFETY: as in `add`.
            let chunk = unsafe { &*chunk };
            for (sub, bucket) in chunk.buckets.iter().enumerate() {
                let count = bucket.load(Ordering::Relaxed);
                if count > 0 {
                    visit(octave, sub, count);
                }
            }
        }
    }

    /// Bytes allocated: the chunk pointers and the chunks.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.chunks.len() * 8
            + self
                .chunks
                .iter()
                .filter(|slot| !slot.load(Ordering::Relaxed).is_null())
                .count()
                * std::mem::size_of::<Chunk>()
    }
}

impl Drop for OctaveTable {
    fn drop(&mut self) {
        for slot in self.chunks.iter() {
            let chunk = slot.load(Ordering::Acquire);
            if !chunk.is_null() {
                // SAFETY: set from `Box::into_raw` in `add`; `&mut self` means no one else
                // can reach it any more.
                drop(unsafe { Box::from_raw(chunk) });
            }
        }
    }
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;

    #[test]
    fn bounds_match_the_powers_of_two() {
        for (index, bound) in BOUNDS.iter().enumerate() {
            let exact = (2f64.powf((index + 1) as f64 / 64.0) - 1.0) * 2f64.powi(52);
            assert!(
                (*bound as f64 - exact).abs() <= 2.0,
                "{index}: {bound} vs {exact}"
            );
        }
        assert!(BOUNDS.windows(2).all(|pair| pair[0] < pair[1]));
    }

    /// OpenTelemetry's reference mapping (the specification's "MapToIndex" by logarithm),
    /// which is exact away from bucket bounds; powers of two are upper bounds.
    fn spec_index(value: f64) -> i32 {
        let (mantissa, exponent) = (value.to_bits() & ((1 << 52) - 1), value.log2().floor());
        if mantissa == 0 {
            return (exponent as i32) * 64 - 1;
        }
        (value.log2() * 64.0).ceil() as i32 - 1
    }

    #[test]
    fn buckets_are_opentelemetrys_scale_6_buckets() {
        let mut value = 2f64.powi(MIN_EXPONENT) * 1.000_3;
        let mut checked = 0;
        while value < 2f64.powi(MAX_EXPONENT + 1) {
            let Slot::Bucket(octave, sub) = slot_of(value) else {
                panic!("{value} is in range")
            };
            // Away from bounds (where an f64 logarithm could round across), the logarithm
            // decides; at them, the exact table does.
            let position = value.log2() * 64.0;
            if (position - position.round()).abs() > 1e-6 {
                assert_eq!(otel_index(octave, sub), spec_index(value), "{value}");
                checked += 1;
            }
            value *= 1.000_71;
        }
        assert!(checked > 50_000, "{checked}");
        for exponent in [-47, -1, 0, 1, 10, 47] {
            let power = 2f64.powi(exponent);
            let Slot::Bucket(octave, sub) = slot_of(power) else {
                panic!("{power}")
            };
            assert_eq!(otel_index(octave, sub), exponent * 64 - 1, "2^{exponent}");
        }
    }

    #[test]
    fn every_value_in_range_is_within_the_bound_of_its_bucket_midpoint() {
        let mut value = 2f64.powi(MIN_EXPONENT) * 1.000_3;
        while value < 2f64.powi(MAX_EXPONENT + 1) {
            let Slot::Bucket(octave, sub) = slot_of(value) else {
                panic!("{value} is in range")
            };
            let error = (midpoint(octave, sub) - value).abs() / value;
            assert!(
                error <= 2f64.powf(1.0 / 128.0) - 1.0 + 1e-12,
                "{value}: {error}"
            );
            value *= 1.000_7;
        }
    }

    #[test]
    fn out_of_range_values() {
        assert!(matches!(slot_of(0.0), Slot::Underflow));
        assert!(matches!(slot_of(1e-300), Slot::Underflow));
        assert!(matches!(slot_of(2f64.powi(MIN_EXPONENT)), Slot::Underflow));
        assert!(matches!(slot_of(f64::INFINITY), Slot::Overflow));
        assert!(matches!(slot_of(1e300), Slot::Overflow));
        assert!(matches!(
            slot_of(2f64.powi(MAX_EXPONENT + 1)),
            Slot::Bucket(_, 63)
        ));
    }
}
