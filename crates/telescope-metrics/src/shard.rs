//! Which shard of a striped cell the current thread writes to.
//!
//! Each thread is given a shard once (round robin), so two threads hammering one series write
//! to different cache lines and the series' throughput grows with threads instead of falling.

use std::sync::OnceLock;

/// How many shards a striped cell has: the number of CPUs, as a power of two, at most 8.
pub(crate) fn shard_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        cpus.next_power_of_two().min(8)
    })
}

/// The current thread's shard, below [`shard_count`].
#[cfg(not(telescope_loom))]
pub(crate) fn current_shard() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SHARD.try_with(|shard| *shard).unwrap_or(0) & (shard_count() - 1)
}

/// Under loom every thread shares shard 0: the contended case is the one worth checking.
#[cfg(telescope_loom)]
pub(crate) fn current_shard() -> usize {
    0
}
