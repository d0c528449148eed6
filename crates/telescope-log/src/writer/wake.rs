//! The non-blocking writer's wake-up: the worker parks only when the queue is empty, and a
//! logging thread that queued a line wakes it if it parked, never both missing each other.
//! A Dekker pair: each side writes its own fact (a line queued; "about to park"), a SeqCst
//! fence, then reads the other's. Routed through `cfg(telescope_loom)` so that loom checks it
//! under every interleaving (`RUSTFLAGS="--cfg telescope_loom" cargo test -p telescope-log
//! --lib --release loom`).

#[cfg(telescope_loom)]
use loom::sync::atomic::{fence, AtomicBool, Ordering};
#[cfg(not(telescope_loom))]
use std::sync::atomic::{fence, AtomicBool, Ordering};

/// Whether the worker said it is parking.
#[derive(Debug, Default)]
pub(crate) struct ParkFlag {
    parked: AtomicBool,
}

impl ParkFlag {
    /// Called by a logging thread after its line is in the queue: whether the worker parked
    /// (or is about to) and must be unparked. At most one caller gets `true` per park.
    pub(crate) fn must_wake(&self) -> bool {
        // Pairs with the fence in `park_if_empty`: either the worker sees the line before
        // parking, or this thread sees it parking.
        fence(Ordering::SeqCst);
        self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel)
    }

    /// Called by the worker with nothing to do: says it parks, then runs `park` unless
    /// `is_empty` finds a line queued meanwhile.
    pub(crate) fn park_if_empty(&self, is_empty: impl FnOnce() -> bool, park: impl FnOnce()) {
        self.parked.store(true, Ordering::Relaxed);
        // Pairs with the fence in `must_wake`.
        fence(Ordering::SeqCst);
        if is_empty() {
            // A wake-up that came before this call makes it return at once.
            park();
        }
        self.parked.store(false, Ordering::Relaxed);
    }
}

/// Model-checked with loom.
#[cfg(all(test, telescope_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;

    /// One line queued while the worker decides to park: it is always woken. A lost wake-up
    /// leaves the worker parked for ever, which loom reports as a deadlock.
    #[test]
    fn loom_a_queued_line_always_wakes_the_worker() {
        loom::model(|| {
            let flag = Arc::new(ParkFlag::default());
            let queued = Arc::new(AtomicUsize::new(0));
            let worker = {
                let (flag, queued) = (flag.clone(), queued.clone());
                loom::thread::spawn(move || {
                    while queued.load(Ordering::Acquire) == 0 {
                        flag.park_if_empty(
                            || queued.load(Ordering::Acquire) == 0,
                            loom::thread::park,
                        );
                    }
                })
            };
            queued.fetch_add(1, Ordering::Release);
            if flag.must_wake() {
                worker.thread().unpark();
            }
            worker.join().expect("worker");
        });
    }

    /// Two logging threads, one worker: the worker wakes whoever queued first, and the flag
    /// is handed to at most one of them. Three threads parking and fencing have too many
    /// interleavings to walk them all in CI's time: bounded to three preemptions, which is
    /// where lost wake-ups show (each needs one preemption between a check and a park).
    #[test]
    fn loom_two_loggers_one_worker() {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(3);
        model.check(|| {
            let flag = Arc::new(ParkFlag::default());
            let queued = Arc::new(AtomicUsize::new(0));
            let worker = {
                let (flag, queued) = (flag.clone(), queued.clone());
                loom::thread::spawn(move || {
                    while queued.load(Ordering::Acquire) < 2 {
                        flag.park_if_empty(
                            || queued.load(Ordering::Acquire) < 2,
                            loom::thread::park,
                        );
                    }
                })
            };
            let worker_thread = worker.thread().clone();
            let loggers: Vec<_> = (0..2)
                .map(|_| {
                    let (flag, queued, worker) =
                        (flag.clone(), queued.clone(), worker_thread.clone());
                    loom::thread::spawn(move || {
                        queued.fetch_add(1, Ordering::Release);
                        if flag.must_wake() {
                            worker.unpark();
                        }
                    })
                })
                .collect();
            for logger in loggers {
                logger.join().expect("logger");
            }
            worker.join().expect("worker");
        });
    }
}
