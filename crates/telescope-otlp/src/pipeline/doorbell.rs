//! A wake-up that cannot be lost, whatever else runs on the waiting thread.
//!
//! The pipeline's threads used to be woken with `Thread::unpark`. A thread's park token is
//! shared by everything that runs on it, and exporters and sinks run user code: a blocking
//! HTTP client that parks inside `export` consumed the token meant for the worker, which then
//! slept for the whole schedule delay while the queue overflowed. A doorbell keeps its own
//! state: a ring sets a flag that only [`Doorbell::wait`] clears, checked under a mutex, so a
//! ring between the waiter's check and its sleep is still seen.

use crate::sync::{AtomicBool, Condvar, Mutex, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(crate) struct Doorbell {
    rung: AtomicBool,
    lock: Mutex<()>,
    bell: Condvar,
}

impl Doorbell {
    /// Wakes the waiter, or makes its next [`wait`](Self::wait) return at once. Cheap when the
    /// bell is already ringing: one atomic swap, no lock.
    pub(crate) fn ring(&self) {
        if !self.rung.swap(true, Ordering::AcqRel) {
            // Taking the lock orders this notification after the waiter's check of `rung`:
            // either it saw the flag, or it is already waiting and gets the notification.
            drop(crate::sync::lock(&self.lock));
            self.bell.notify_all();
        }
    }

    /// Waits until the bell rings or `timeout` passes; returns whether it rang. A ring is
    /// consumed by the wait that sees it.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        if self.rung.swap(false, Ordering::AcqRel) {
            return true;
        }
        let deadline = Instant::now().checked_add(timeout);
        let mut guard = crate::sync::lock(&self.lock);
        loop {
            if self.rung.swap(false, Ordering::AcqRel) {
                return true;
            }
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            guard = crate::sync::wait_timeout(&self.bell, guard, left);
        }
    }
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_ring_before_the_wait_is_kept_and_consumed_once() {
        let bell = Doorbell::default();
        bell.ring();
        bell.ring();
        assert!(bell.wait(Duration::from_secs(5)));
        assert!(!bell.wait(Duration::from_millis(1)));
    }

    #[test]
    fn parking_on_the_waiting_thread_does_not_steal_a_ring() {
        // What lost the old wake-up: the waiting thread parks and is unparked for reasons of
        // its own between rings.
        let bell = Arc::new(Doorbell::default());
        let waiter = {
            let bell = bell.clone();
            std::thread::spawn(move || {
                let mut rings = 0;
                while rings < 100 {
                    std::thread::park_timeout(Duration::from_micros(50));
                    if bell.wait(Duration::from_secs(30)) {
                        rings += 1;
                    }
                }
                rings
            })
        };
        for _ in 0..100 {
            waiter.thread().unpark();
            bell.ring();
            while bell.rung.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
        }
        assert_eq!(waiter.join().expect("waiter"), 100);
    }
}

/// Model-checked with loom: `RUSTFLAGS="--cfg telescope_loom" cargo test -p telescope-otlp
/// --lib --release loom`.
#[cfg(all(test, telescope_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    #[test]
    fn loom_no_ring_is_lost() {
        loom::model(|| {
            let bell = Arc::new(Doorbell::default());
            let ringer = {
                let bell = bell.clone();
                loom::thread::spawn(move || bell.ring())
            };
            // The waiter must see the ring whatever the interleaving; loom's condvar has no
            // real timeout, so a lost ring shows as a deadlock the model reports.
            while !bell.wait(Duration::from_secs(3600)) {}
            ringer.join().expect("ringer");
        });
    }

    #[test]
    fn loom_two_ringers_one_waiter() {
        loom::model(|| {
            let bell = Arc::new(Doorbell::default());
            let ringers: Vec<_> = (0..2)
                .map(|_| {
                    let bell = bell.clone();
                    loom::thread::spawn(move || bell.ring())
                })
                .collect();
            while !bell.wait(Duration::from_secs(3600)) {}
            for ringer in ringers {
                ringer.join().expect("ringer");
            }
        });
    }
}
