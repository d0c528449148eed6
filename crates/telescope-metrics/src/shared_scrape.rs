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

/// The most bytes of rendered bodies alive at once, counting the next render at the size of
/// the last one; a first body is always rendered, however large. With 176 MB scrapes
/// (300,000 series) this keeps one body alive, not eight.
pub(crate) const MAX_LIVE_BYTES: usize = 256 << 20;

/// The render in progress for each variant, and what rendered bodies are alive.
#[derive(Debug)]
pub(crate) struct SharedScrapes {
    in_flight: Mutex<HashMap<Variant, Arc<Flight>>>,
    live: Arc<Live>,
    /// The size of the last body rendered: the estimate for the next one.
    last_size: AtomicUsize,
    byte_budget: usize,
}

impl Default for SharedScrapes {
    fn default() -> Self {
        Self::with_byte_budget(MAX_LIVE_BYTES)
    }
}

/// Rendered bodies alive: how many, and their bytes.
#[derive(Debug, Default)]
struct Live {
    bodies: AtomicUsize,
    bytes: AtomicUsize,
}

/// A rendered body, counted as alive until its last clone is dropped.
struct CountedBody {
    bytes: Vec<u8>,
    live: Arc<Live>,
}

impl AsRef<[u8]> for CountedBody {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for CountedBody {
    fn drop(&mut self) {
        self.live
            .bytes
            .fetch_sub(self.bytes.len(), Ordering::AcqRel);
        self.live.bodies.fetch_sub(1, Ordering::AcqRel);
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
struct SlotGuard(Option<Arc<Live>>);

impl SlotGuard {
    fn keep(mut self) -> Arc<Live> {
        // Present until kept or dropped.
        self.0.take().unwrap_or_default()
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(live) = self.0.take() {
            live.bodies.fetch_sub(1, Ordering::AcqRel);
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
    /// Scrapes whose rendered bodies alive may take `byte_budget` bytes (see
    /// [`MAX_LIVE_BYTES`]) and at most [`MAX_LIVE_BODIES`] bodies.
    pub(crate) fn with_byte_budget(byte_budget: usize) -> Self {
        Self {
            in_flight: Mutex::default(),
            live: Arc::default(),
            last_size: AtomicUsize::new(0),
            byte_budget,
        }
    }

    /// The body for `variant`: the one being rendered right now if there is one (waiting for
    /// it), else a fresh `render()` that later arrivals share.
    ///
    /// A fresh render needs a free slot among [`MAX_LIVE_BODIES`] and room in the byte budget
    /// for a body the size of the last one (unless no body is alive); without either the
    /// scrape is [`Busy`] (sharing a render in progress needs neither).
    pub(crate) fn body(
        &self,
        variant: Variant,
        render: impl FnOnce() -> Vec<u8>,
    ) -> Result<Bytes, Busy> {
        let render = || -> Result<Bytes, Busy> {
            let expected = self.last_size.load(Ordering::Acquire);
            let taken =
                self.live
                    .bodies
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                        let bytes = self.live.bytes.load(Ordering::Acquire);
                        let room = live == 0 || bytes.saturating_add(expected) <= self.byte_budget;
                        (live < MAX_LIVE_BODIES && room).then_some(live + 1)
                    });
            if taken.is_err() {
                return Err(Busy);
            }
            // The slot is given back when the last clone of the body is dropped (or here, if
            // the render unwinds).
            let slot = SlotGuard(Some(Arc::clone(&self.live)));
            let bytes = render();
            self.last_size.store(bytes.len(), Ordering::Release);
            let live = slot.keep();
            live.bytes.fetch_add(bytes.len(), Ordering::AcqRel);
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
            scrapes.live.bodies.load(Ordering::SeqCst),
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
        assert_eq!(scrapes.live.bodies.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn bodies_alive_are_bounded_in_bytes_but_one_is_always_rendered() {
        let scrapes = SharedScrapes::with_byte_budget(3000);
        let render = |size: usize| move || vec![b'x'; size];
        // Larger than the whole budget: rendered anyway, as the only body alive.
        let huge = scrapes
            .body((Format::Prometheus, false), render(5000))
            .expect("a first body");
        assert_eq!(
            scrapes.body((Format::Prometheus, false), render(10)),
            Err(Busy),
            "the next one would be as large as the last"
        );
        drop(huge);
        let small: Vec<Bytes> = (0..3)
            .map(|_| {
                scrapes
                    .body((Format::Prometheus, false), render(1000))
                    .expect("room for three of 1000")
            })
            .collect();
        assert_eq!(
            scrapes.body((Format::Prometheus, false), render(1000)),
            Err(Busy)
        );
        assert_eq!(scrapes.live.bytes.load(Ordering::SeqCst), 3000);
        drop(small);
        assert_eq!(scrapes.live.bytes.load(Ordering::SeqCst), 0);
        assert_eq!(scrapes.live.bodies.load(Ordering::SeqCst), 0);
    }
}
