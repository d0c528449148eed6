//! Equality of the short byte strings a series lookup compares (a metric name, label names and
//! values: mostly under 16 bytes), without a `memcmp` call for each.
//!
//! A lookup by key compares five or so such strings; as `memcmp` calls they were a fifth of
//! the instructions of a `counter!` with two labels. Two overlapping word loads compare any
//! length from 4 to 32 bytes; longer strings still go to `memcmp`.

/// Whether `a` and `b` hold the same bytes.
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    match len {
        0 => true,
        1..=3 => {
            // First, middle and last byte cover every byte of 1 to 3.
            a[0] == b[0] && a[len / 2] == b[len / 2] && a[len - 1] == b[len - 1]
        }
        4..=7 => {
            word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, len - 4) == word::<4>(b, len - 4)
        }
        8..=16 => {
            word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, len - 8) == word::<8>(b, len - 8)
        }
        17..=32 => {
            word::<16>(a, 0) == word::<16>(b, 0)
                && word::<16>(a, len - 16) == word::<16>(b, len - 16)
        }
        _ => a == b,
    }
}

/// The `N` bytes of `bytes` from `at` (callers keep `at + N <= bytes.len()`).
#[inline(always)]
fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut word = [0; N];
    word.copy_from_slice(&bytes[at..at + N]);
    word
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_length_and_every_differing_position() {
        for len in 0..40usize {
            let a: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5A).collect();
            assert!(same(&a, &a.clone()), "len {len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 1;
                assert!(!same(&a, &b), "len {len}, differs at {at}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!same(&a, &longer) && !same(&longer, &a), "len {len}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_slice_equality(
            a in proptest::collection::vec(0u8..4, 0..24),
            b in proptest::collection::vec(0u8..4, 0..24),
        ) {
            prop_assert_eq!(same(&a, &b), a == b);
        }
    }
}
