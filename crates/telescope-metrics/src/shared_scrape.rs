//! One render for every scrape that arrives while it runs: ten scrapers asking at once cost
//! one render and one body in memory, not ten.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use bytes::Bytes;

use crate::render::Format;

/// What a scrape asks for: the format, and whether the body is gzipped.
type Variant = (Format, bool);

/// The render in progress for each variant.
#[derive(Debug, Default)]
pub(crate) struct SharedScrapes {
    in_flight: Mutex<HashMap<Variant, Arc<Flight>>>,
}

/// One render, and the scrapes waiting for it.
#[derive(Debug, Default)]
struct Flight {
    outcome: Mutex<Outcome>,
    finished: Condvar,
}

#[derive(Debug, Default)]
enum Outcome {
    #[default]
    Running,
    Done(Bytes),
    /// The render panicked: each waiter renders for itself.
    Failed,
}

/// Ends a flight when its render returns or unwinds, so that no waiter waits forever.
struct Landing<'s> {
    scrapes: &'s SharedScrapes,
    variant: Variant,
    flight: Arc<Flight>,
    body: Option<Bytes>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        self.scrapes
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.variant);
        let mut outcome = self
            .flight
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *outcome = match self.body.take() {
            Some(body) => Outcome::Done(body),
            None => Outcome::Failed,
        };
        self.flight.finished.notify_all();
    }
}

impl SharedScrapes {
    /// The body for `variant`: the one being rendered right now if there is one (waiting for
    /// it), else a fresh `render()` that later arrivals share.
    pub(crate) fn body(&self, variant: Variant, render: impl FnOnce() -> Bytes) -> Bytes {
        let (flight, leader) = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match in_flight.get(&variant) {
                Some(flight) => (Arc::clone(flight), false),
                None => {
                    let flight = Arc::new(Flight::default());
                    in_flight.insert(variant, Arc::clone(&flight));
                    (flight, true)
                }
            }
        };
        if leader {
            let mut landing = Landing {
                scrapes: self,
                variant,
                flight,
                body: None,
            };
            let body = render();
            landing.body = Some(body.clone());
            return body;
        }
        let mut outcome = flight
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            match &*outcome {
                Outcome::Running => {
                    outcome = flight
                        .finished
                        .wait(outcome)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Outcome::Done(body) => return body.clone(),
                Outcome::Failed => {
                    drop(outcome);
                    return render();
                }
            }
        }
    }
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;

    use super::*;

    #[test]
    fn scrapes_arriving_during_a_render_share_it() {
        let scrapes = SharedScrapes::default();
        let renders = AtomicUsize::new(0);
        let started = Barrier::new(2);
        let release = Barrier::new(2);
        let bodies: Vec<Bytes> = std::thread::scope(|scope| {
            let leader = scope.spawn(|| {
                scrapes.body((Format::Prometheus, false), || {
                    renders.fetch_add(1, Ordering::SeqCst);
                    started.wait();
                    // Held until the followers are waiting on this render.
                    release.wait();
                    Bytes::from_static(b"metrics\n")
                })
            });
            started.wait();
            let followers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        scrapes.body((Format::Prometheus, false), || {
                            renders.fetch_add(1, Ordering::SeqCst);
                            Bytes::from_static(b"fresh\n")
                        })
                    })
                })
                .collect();
            // Let the followers reach the flight before the leader lands.
            while Arc::strong_count(
                scrapes
                    .in_flight
                    .lock()
                    .expect("map")
                    .get(&(Format::Prometheus, false))
                    .expect("in flight"),
            ) < 6
            {
                std::thread::yield_now();
            }
            release.wait();
            let mut bodies = vec![leader.join().expect("leader")];
            bodies.extend(followers.into_iter().map(|f| f.join().expect("follower")));
            bodies
        });
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert!(bodies.iter().all(|body| body == "metrics\n"));
        // Once landed, the next scrape renders afresh.
        let next = scrapes.body((Format::Prometheus, false), || {
            Bytes::from_static(b"next\n")
        });
        assert_eq!(next, "next\n");
    }

    #[test]
    fn a_render_that_panics_lets_the_waiters_render_for_themselves() {
        let scrapes = SharedScrapes::default();
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scrapes.body((Format::OpenMetrics, true), || panic!("render bug"))
        }));
        assert!(failed.is_err());
        let body = scrapes.body((Format::OpenMetrics, true), || Bytes::from_static(b"ok\n"));
        assert_eq!(body, "ok\n");
    }
}
