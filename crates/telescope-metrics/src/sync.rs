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

/// The value in `slot`, made with `make` and installed first if the slot is empty: when two
/// threads race, one box is installed and the other dropped. The one lazy install of the
/// histogram core (its negative table, each thread's shard, each octave's chunk).
///
/// # Safety
/// Every non-null pointer ever stored in `slot` comes from `Box::into_raw` (only this function
/// stores one), and the slot's owner frees it only with exclusive access (in `Drop`), so it
/// outlives the shared borrow of `slot` that the returned reference is tied to.
#[inline]
pub(crate) unsafe fn get_or_install<T>(slot: &AtomicPtr<T>, make: impl FnOnce() -> T) -> &T {
    let mut current = slot.load(Ordering::Acquire);
    if current.is_null() {
        let fresh = Box::into_raw(Box::new(make()));
        match slot.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => current = fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from `Box::into_raw` above and was never shared.
                drop(unsafe { Box::from_raw(fresh) });
                current = winner;
            }
        }
    }
    // SAFETY: non-null, from `Box::into_raw`, alive while `slot` is borrowed (the caller's
    // contract above).
    unsafe { &*current }
}
