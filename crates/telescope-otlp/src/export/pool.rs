//! Transports kept between exports: each exporter thread takes one (made at its first batch,
//! with its own small runtime and connection), uses it for one request, and puts it back.

use std::sync::{Mutex, PoisonError};

use super::ExportError;

/// Idle transports of one exporter.
pub(crate) struct Pool<T> {
    idle: Mutex<Vec<T>>,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Pool<T> {
    /// Runs `use_it` on an idle transport, or on one `make` makes, then keeps it for the next
    /// request.
    pub(crate) fn with<R>(
        &self,
        make: impl FnOnce() -> Result<T, ExportError>,
        use_it: impl FnOnce(&T) -> Result<R, ExportError>,
    ) -> Result<R, ExportError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let transport = match idle {
            Some(transport) => transport,
            None => make()?,
        };
        let outcome = use_it(&transport);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(transport);
        outcome
    }
}
