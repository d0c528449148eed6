//! The atomics of the hot path, routed through one place so that `--cfg telescope_loom` can swap in
//! loom's model-checked versions (`RUSTFLAGS="--cfg telescope_loom" cargo test -p telescope-metrics --lib loom`).

#[cfg(telescope_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
#[cfg(not(telescope_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// A `u64` atomic alone on its cache line, so that shards written by different threads do
/// not slow each other down.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct PaddedU64(pub(crate) AtomicU64);

/// Adds `value` to the `f64` stored as bits in `cell`.
pub(crate) fn add_f64(cell: &AtomicU64, value: f64) {
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let next = (f64::from_bits(current) + value).to_bits();
        match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}
