//! Log-linear buckets for one sign: one lazily allocated chunk of 64 linear sub-buckets per
//! power of two, addressed straight from the float's bits.

use std::ptr;

use crate::sync::{AtomicPtr, AtomicU64, Ordering};

/// Sub-buckets per power of two (`2^6`): the widest bucket, relative to its lower bound, is
/// 1/64, so the midpoint is within 1/128 (0.78%) of any value in it.
pub(crate) const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
/// The smallest and largest binary exponents with buckets: magnitudes in `[2^-48, 2^48)`
/// (about 3.6e-15 to 2.8e14). Smaller ones count as zero, larger ones as overflow.
pub(crate) const MIN_EXPONENT: i32 = -48;
pub(crate) const MAX_EXPONENT: i32 = 47;
const OCTAVES: usize = (MAX_EXPONENT - MIN_EXPONENT + 1) as usize;

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
    /// Octave (0-based from [`MIN_EXPONENT`]) and sub-bucket.
    Bucket(usize, usize),
    /// Below `2^MIN_EXPONENT` (zero included).
    Underflow,
    /// At or above `2^(MAX_EXPONENT + 1)` (infinity included).
    Overflow,
}

/// The slot of a non-negative, non-NaN magnitude.
pub(crate) fn slot_of(magnitude: f64) -> Slot {
    let bits = magnitude.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
    if exponent < MIN_EXPONENT {
        Slot::Underflow
    } else if exponent > MAX_EXPONENT {
        Slot::Overflow
    } else {
        let sub = ((bits >> (52 - SUB_BUCKET_BITS)) as usize) & (SUB_BUCKETS - 1);
        Slot::Bucket((exponent - MIN_EXPONENT) as usize, sub)
    }
}

/// The midpoint of a bucket: the estimate for any value in it.
pub(crate) fn midpoint(octave: usize, sub: usize) -> f64 {
    let base = 2f64.powi(octave as i32 + MIN_EXPONENT);
    base * (1.0 + (sub as f64 + 0.5) / SUB_BUCKETS as f64)
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
        let slot = &self.chunks[octave];
        let mut chunk = slot.load(Ordering::Acquire);
        if chunk.is_null() {
            let fresh = Box::into_raw(Box::new(Chunk::new()));
            match slot.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => chunk = fresh,
                Err(winner) => {
                    // SAFETY: `fresh` came from `Box::into_raw` above and was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                    chunk = winner;
                }
            }
        }
        // SAFETY: non-null chunk pointers are only ever set from `Box::into_raw` and freed in
        // `Drop`, which has `&mut self`, so the chunk outlives this shared borrow.
        let chunk = unsafe { &*chunk };
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
    fn every_value_in_range_is_within_the_bound_of_its_bucket_midpoint() {
        let mut value = 2f64.powi(MIN_EXPONENT);
        while value < 2f64.powi(MAX_EXPONENT + 1) {
            let Slot::Bucket(octave, sub) = slot_of(value) else {
                panic!("{value} is in range")
            };
            let error = (midpoint(octave, sub) - value).abs() / value;
            assert!(error <= 1.0 / 128.0 + 1e-12, "{value}: {error}");
            value *= 1.000_7;
        }
    }

    #[test]
    fn out_of_range_values() {
        assert!(matches!(slot_of(0.0), Slot::Underflow));
        assert!(matches!(slot_of(1e-300), Slot::Underflow));
        assert!(matches!(slot_of(f64::INFINITY), Slot::Overflow));
        assert!(matches!(slot_of(1e300), Slot::Overflow));
    }
}
