//! Which shard of a striped cell the current thread writes to.
//!
//! A series starts with one cell that every thread writes; the first time two writers collide
//! on it, the series grows per-thread shards, and each thread writes the shard it was given
//! (round robin), so a hot series' throughput grows with threads instead of falling, while the
//! many cold series of a big label set stay one cell each. A series busy enough to reach
//! [`BUSY_AFTER`] updates gets its shards then, collision or not.

/// The default shard count: the number of CPUs, as a power of two, at most 8.
pub(crate) fn default_shard_count() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cpus.next_power_of_two().min(8)
}

/// A series whose one cell reached this many updates (a counter: this value) is busy and
/// gets shards without waiting for a collision: on shards an update is a plain atomic add,
/// a few nanoseconds cheaper than the compare-and-swap that detects collisions.
pub(crate) const BUSY_AFTER: u64 = 1 << 16;

/// The most shards a recorder accepts.
pub(crate) const MAX_SHARDS: usize = 64;

/// `requested` as a valid shard count: a power of two in `1..=MAX_SHARDS`.
pub(crate) fn valid_shard_count(requested: usize) -> usize {
    requested.clamp(1, MAX_SHARDS).next_power_of_two()
}

/// The current thread's shard, below `count` (a power of two).
#[cfg(not(telescope_loom))]
pub(crate) fn current_shard(count: usize) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SHARD.try_with(|shard| *shard).unwrap_or(0) & (count - 1)
}

/// Under loom every thread shares shard 0: the contended case is the one worth checking.
#[cfg(telescope_loom)]
pub(crate) fn current_shard(_count: usize) -> usize {
    0
}
