//! What each thread remembers about the spans of each [`OtlpLayer`](super::OtlpLayer), so that
//! the common paths need no registry lookup: the decision of the spans it created recently
//! (entering and closing them usually follow soon, on the same thread), and the stack of spans
//! it has entered (an event in an unsampled span returns at once).
//!
//! Each layer has its own memory on each thread: two subscribers on one thread (a scoped
//! default inside another) have registries that hand out the same ids, and one layer's memory
//! must never answer for another's span.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_core::span::Id;

/// How many recently created spans each thread remembers the sampling decision of.
const RECENT_SPANS: usize = 16;

/// How many layers each thread keeps memory for; the least recently used one is forgotten
/// (its spans then take the registry lookup path).
const LAYERS_PER_THREAD: usize = 8;

/// One layer's memory on one thread.
struct Memory {
    layer: u64,
    /// Span ids (0: empty) and decisions of the spans most recently created here; `next` is
    /// where the next goes. Lookups go from the newest entry to the oldest, so when a registry
    /// hands out an id again (a span closed on another thread leaves its entry here), the new
    /// span's entry is found before the stale one, which is overwritten first.
    recent: [(u64, bool); RECENT_SPANS],
    next: usize,
    /// The spans entered here, innermost last, and whether each is sampled.
    entered: Vec<(u64, bool)>,
}

impl Memory {
    const fn new(layer: u64) -> Self {
        Self {
            layer,
            recent: [(0, false); RECENT_SPANS],
            next: 0,
            entered: Vec::new(),
        }
    }

    /// The slot holding `span`, looking at the most recently written first: a span is usually
    /// entered and closed soon after it is created.
    fn slot_of(&self, span: u64) -> Option<usize> {
        (1..=RECENT_SPANS)
            .map(|back| self.next.wrapping_sub(back) % RECENT_SPANS)
            .find(|slot| self.recent[*slot].0 == span)
    }
}

/// The memory of the layers used on a thread.
struct Memories {
    /// The layer in use (usually the only one; layer 0: none yet).
    current: Memory,
    /// The others, most recently used first.
    others: Vec<Memory>,
}

impl Memories {
    /// Makes `layer`'s memory the current one, keeping the one it replaces.
    #[cold]
    fn switch_to(&mut self, layer: u64) {
        let incoming = match self.others.iter().position(|m| m.layer == layer) {
            Some(index) => self.others.remove(index),
            None => Memory::new(layer),
        };
        let outgoing = std::mem::replace(&mut self.current, incoming);
        if outgoing.layer != 0 {
            if self.others.len() + 1 >= LAYERS_PER_THREAD {
                self.others.pop();
            }
            self.others.insert(0, outgoing);
        }
    }
}

thread_local! {
    static MEMORY: RefCell<Memories> = const {
        RefCell::new(Memories {
            current: Memory::new(0),
            others: Vec::new(),
        })
    };
}

/// One layer's handle on its per-thread memory.
#[derive(Debug, Clone, Copy)]
pub(super) struct ThreadState {
    layer: u64,
}

impl ThreadState {
    /// A handle for a new layer, with a number no other layer has.
    pub(super) fn new() -> Self {
        static NEXT_LAYER: AtomicU64 = AtomicU64::new(1);
        Self {
            layer: NEXT_LAYER.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Runs `f` on this layer's memory on this thread (made if missing); `None` while the
    /// thread is being torn down.
    fn with<R>(self, f: impl FnOnce(&mut Memory) -> R) -> Option<R> {
        MEMORY
            .try_with(|memory| {
                let mut memory = memory.borrow_mut();
                if memory.current.layer != self.layer {
                    memory.switch_to(self.layer);
                }
                f(&mut memory.current)
            })
            .ok()
    }

    /// Remembers the decision for a span just created on this thread.
    pub(super) fn remember(self, id: &Id, sampled: bool) {
        let span = id.into_u64();
        self.with(|memory| {
            let next = memory.next % RECENT_SPANS;
            memory.recent[next] = (span, sampled);
            memory.next = memory.next.wrapping_add(1);
        });
    }

    /// The remembered decision for `id`, if this thread created it recently.
    #[cfg(test)]
    fn recall(self, id: &Id) -> Option<bool> {
        let span = id.into_u64();
        self.with(|memory| memory.slot_of(span).map(|slot| memory.recent[slot].1))
            .flatten()
    }

    /// The remembered decision for `id`, forgotten (the span is closing).
    pub(super) fn take_recalled(self, id: &Id) -> Option<bool> {
        let span = id.into_u64();
        self.with(|memory| {
            let slot = memory.slot_of(span)?;
            let sampled = memory.recent[slot].1;
            memory.recent[slot] = (0, false);
            Some(sampled)
        })
        .flatten()
    }

    /// `id` was entered on this thread: pushed with its decision, remembered or else given by
    /// `sampled` (a registry lookup). Returns whether it is sampled.
    pub(super) fn entered(self, id: &Id, sampled: impl FnOnce() -> bool) -> bool {
        let span = id.into_u64();
        let remembered = self
            .with(|memory| {
                let slot = memory.slot_of(span)?;
                let sampled = memory.recent[slot].1;
                memory.entered.push((span, sampled));
                Some(sampled)
            })
            .flatten();
        remembered.unwrap_or_else(|| {
            let sampled = sampled();
            self.with(|memory| memory.entered.push((span, sampled)));
            sampled
        })
    }

    /// `id` was exited on this thread (its innermost entry goes).
    pub(super) fn exited(self, id: &Id) {
        let span = id.into_u64();
        self.with(|memory| {
            if let Some(position) = memory.entered.iter().rposition(|(entry, _)| *entry == span) {
                memory.entered.remove(position);
            }
        });
    }

    /// This layer's innermost span entered on this thread, and whether it is sampled.
    pub(super) fn innermost(self) -> Option<(Id, bool)> {
        self.with(|memory| {
            memory
                .entered
                .last()
                .map(|(span, sampled)| (Id::from_u64(*span), *sampled))
        })
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_never_answer_for_each_other() {
        let (first, second) = (ThreadState::new(), ThreadState::new());
        let id = Id::from_u64(7);
        first.remember(&id, true);
        second.remember(&id, false);
        assert_eq!(first.recall(&id), Some(true));
        assert_eq!(second.recall(&id), Some(false));
        assert_eq!(second.take_recalled(&id), Some(false));
        assert_eq!(second.recall(&id), None);
        assert_eq!(first.recall(&id), Some(true));

        assert!(first.entered(&id, || unreachable!("remembered")));
        assert!(!second.entered(&Id::from_u64(9), || false));
        assert_eq!(first.innermost(), Some((id.clone(), true)));
        assert_eq!(second.innermost(), Some((Id::from_u64(9), false)));
        first.exited(&id);
        assert_eq!(first.innermost(), None);
        assert_eq!(second.innermost(), Some((Id::from_u64(9), false)));
    }

    #[test]
    fn an_id_handed_out_again_answers_with_the_new_decision() {
        let state = ThreadState::new();
        let id = Id::from_u64(3);
        // Closed on another thread: its entry stays here.
        state.remember(&id, true);
        state.remember(&id, false);
        assert_eq!(state.recall(&id), Some(false));
        assert!(!state.entered(&id, || unreachable!("remembered")));
        assert_eq!(state.take_recalled(&id), Some(false));
    }

    #[test]
    fn only_the_most_recent_spans_are_remembered() {
        let state = ThreadState::new();
        for span in 1..=(RECENT_SPANS as u64 + 1) {
            state.remember(&Id::from_u64(span), true);
        }
        assert_eq!(state.recall(&Id::from_u64(1)), None);
        assert_eq!(state.recall(&Id::from_u64(2)), Some(true));
    }

    #[test]
    fn a_thread_keeps_memory_for_a_bounded_number_of_layers() {
        let layers: Vec<ThreadState> = (0..=LAYERS_PER_THREAD)
            .map(|_| ThreadState::new())
            .collect();
        let id = Id::from_u64(1);
        for layer in &layers {
            layer.remember(&id, true);
        }
        // The first layer was the least recently used: forgotten, so it answers "don't know"
        // (and the layer asks its registry), never a wrong decision.
        assert_eq!(layers[0].recall(&id), None);
        assert_eq!(layers[LAYERS_PER_THREAD].recall(&id), Some(true));
        MEMORY.with(|memory| {
            assert_eq!(memory.borrow().others.len() + 1, LAYERS_PER_THREAD);
        });
    }
}
