//! One render for every scrape that arrives while it runs: ten scrapers asking at once cost
//! one render and one body in memory, not ten.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use bytes::Bytes;

use crate::render::Format;

/// What a scrape asks for: the format, and whether the body is gzipped.
type Variant = (Format, bool);

/// How many rendered bodies may be alive at once (held by responses not yet read by their
/// clients, or being sent): the bound on scrape memory, whatever the clients do.
pub(crate) const MAX_LIVE_BODIES: usize = 8;

/// The render in progress for each variant, and how many rendered bodies are alive.
#[derive(Debug, Default)]
pub(crate) struct SharedScrapes {
    in_flight: Mutex<HashMap<Variant, Arc<Flight>>>,
    live: Arc<AtomicUsize>,
}

/// A rendered body, counted as alive until its last clone is dropped.
struct CountedBody {
    bytes: Vec<u8>,
    live: Arc<AtomicUsize>,
}

impl AsRef<[u8]> for CountedBody {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for CountedBody {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Too many rendered bodies are alive: the scrape is refused rather than rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

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

/// Gives a live-body slot back unless [kept](Self::keep) for a body.
struct SlotGuard(Option<Arc<AtomicUsize>>);

impl SlotGuard {
    fn keep(mut self) -> Arc<AtomicUsize> {
        // Present until kept or dropped.
        self.0.take().unwrap_or_default()
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(live) = self.0.take() {
            live.fetch_sub(1, Ordering::AcqRel);
        }
    }
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
    ///
    /// A fresh render needs a free slot among [`MAX_LIVE_BODIES`]; without one the scrape is
    /// [`Busy`] (sharing a render in progress needs no slot).
    pub(crate) fn body(
        &self,
        variant: Variant,
        render: impl FnOnce() -> Vec<u8>,
    ) -> Result<Bytes, Busy> {
        let render = || -> Result<Bytes, Busy> {
            let taken = self
                .live
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                    (live < MAX_LIVE_BODIES).then_some(live + 1)
                });
            if taken.is_err() {
                return Err(Busy);
            }
            // The slot is given back when the last clone of the body is dropped (or here, if
            // the render unwinds).
            let slot = SlotGuard(Some(Arc::clone(&self.live)));
            let bytes = render();
            let live = slot.keep();
            Ok(Bytes::from_owner(CountedBody { bytes, live }))
        };
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
            let body = render()?;
            landing.body = Some(body.clone());
            return Ok(body);
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
                Outcome::Done(body) => return Ok(body.clone()),
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
                    b"metrics\n".to_vec()
                })
            });
            started.wait();
            let followers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        scrapes.body((Format::Prometheus, false), || {
                            renders.fetch_add(1, Ordering::SeqCst);
                            b"fresh\n".to_vec()
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
            let mut bodies = vec![leader.join().expect("leader").expect("rendered")];
            bodies.extend(
                followers
                    .into_iter()
                    .map(|f| f.join().expect("follower").expect("shared")),
            );
            bodies
        });
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert!(bodies.iter().all(|body| body == "metrics\n"));
        // Once landed, the next scrape renders afresh.
        let next = scrapes
            .body((Format::Prometheus, false), || b"next\n".to_vec())
            .expect("rendered");
        assert_eq!(next, "next\n");
    }

    #[test]
    fn a_render_that_panics_lets_the_waiters_render_for_themselves() {
        let scrapes = SharedScrapes::default();
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scrapes.body((Format::OpenMetrics, true), || panic!("render bug"))
        }));
        assert!(failed.is_err());
        let body = scrapes
            .body((Format::OpenMetrics, true), || b"ok\n".to_vec())
            .expect("rendered");
        assert_eq!(body, "ok\n");
        assert_eq!(
            scrapes.live.load(Ordering::SeqCst),
            1,
            "the panicked render gave its slot back"
        );
    }

    #[test]
    fn bodies_alive_are_bounded_and_their_slots_come_back() {
        let scrapes = SharedScrapes::default();
        // Responses nobody reads hold their bodies.
        let held: Vec<Bytes> = (0..MAX_LIVE_BODIES)
            .map(|_| {
                scrapes
                    .body((Format::Prometheus, false), || vec![b'x'; 1024])
                    .expect("a slot")
            })
            .collect();
        assert_eq!(
            scrapes.body((Format::Prometheus, false), || vec![b'y'; 1024]),
            Err(Busy)
        );
        // A clone (a HEAD and a GET of the same render) holds no second slot; dropping every
        // clone frees it.
        let clone = held[0].clone();
        drop(held);
        assert!(scrapes
            .body((Format::Prometheus, false), || vec![b'z'; 1024])
            .is_ok());
        drop(clone);
        assert_eq!(scrapes.live.load(Ordering::SeqCst), 0);
    }
}
