//! A slice allocated the first time it is needed, by whichever thread needs it first, and
//! never moved or freed before its owner is dropped: the shards of a contended series.

use std::ptr;

use crate::sync::{AtomicPtr, Ordering};

/// `len` values of `T`, allocated on first use.
pub(crate) struct LazySlice<T> {
    /// The first element, or null before the allocation.
    first: AtomicPtr<T>,
    len: u32,
}

impl<T> LazySlice<T> {
    /// An empty slot for `len` values (at most `u32::MAX`).
    pub(crate) fn new(len: usize) -> Self {
        Self {
            first: AtomicPtr::new(ptr::null_mut()),
            len: u32::try_from(len).unwrap_or(u32::MAX),
        }
    }

    /// How many values the slice has once allocated.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The values, if allocated.
    pub(crate) fn get(&self) -> Option<&[T]> {
        let first = self.first.load(Ordering::Acquire);
        // SAFETY: a non-null `first` was published by `get_or_init` from a boxed slice of
        // `len` values, freed only in `Drop` (`&mut self`).
        (!first.is_null()).then(|| unsafe { std::slice::from_raw_parts(first, self.len()) })
    }

    /// The values, allocated with `make` now unless another thread did first (then the
    /// values made here are dropped).
    pub(crate) fn get_or_init(&self, make: impl FnMut() -> T) -> &[T] {
        if let Some(values) = self.get() {
            return values;
        }
        let fresh: Box<[T]> = std::iter::repeat_with(make).take(self.len()).collect();
        let fresh = Box::into_raw(fresh).cast::<T>();
        if let Err(winner) =
            self.first
                .compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: `fresh` came from `Box::into_raw` above and was never shared.
            drop(unsafe { self.boxed(fresh) });
            // SAFETY: as in `get`: `winner` was published by the thread that won.
            return unsafe { std::slice::from_raw_parts(winner, self.len()) };
        }
        // SAFETY: just published from a boxed slice of `len` values.
        unsafe { std::slice::from_raw_parts(fresh, self.len()) }
    }

    /// The box `first` came from.
    ///
    /// # Safety
    /// `first` must come from `get_or_init`'s `Box::into_raw`, and nobody may use it after.
    unsafe fn boxed(&self, first: *mut T) -> Box<[T]> {
        let slice = ptr::slice_from_raw_parts_mut(first, self.len());
        // SAFETY: the caller's promise.
        unsafe { Box::from_raw(slice) }
    }
}

impl<T> Drop for LazySlice<T> {
    fn drop(&mut self) {
        let first = self.first.load(Ordering::Acquire);
        if !first.is_null() {
            // SAFETY: published by `get_or_init`; `&mut self` means no one else can reach it.
            drop(unsafe { self.boxed(first) });
        }
    }
}

impl<T> std::fmt::Debug for LazySlice<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazySlice")
            .field("len", &self.len)
            .field("allocated", &self.get().is_some())
            .finish()
    }
}
