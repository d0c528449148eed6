//! Where checks run: a small runtime on a thread of its own, or a runtime the caller names.

use std::fmt;
use std::future::Future;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// Runs check tasks. A dedicated runtime stops when this is dropped; tasks spawned on a
/// caller's runtime are aborted then.
pub(crate) struct CheckRuntime {
    handle: Handle,
    /// Dropping the sender stops the dedicated runtime's thread.
    _stop: Option<oneshot::Sender<()>>,
    tasks: std::sync::Mutex<Vec<AbortHandle>>,
}

impl fmt::Debug for CheckRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckRuntime")
            .field("dedicated", &self._stop.is_some())
            .finish_non_exhaustive()
    }
}

impl CheckRuntime {
    /// A current-thread runtime on a thread named `telescope-health`.
    pub(crate) fn dedicated() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("telescope-health".to_owned())
            .spawn(move || {
                // Runs the check tasks until the registry is dropped.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            handle,
            _stop: Some(stop),
            tasks: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The caller's runtime.
    pub(crate) fn on(handle: Handle) -> Self {
        Self {
            handle,
            _stop: None,
            tasks: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let abort = self.handle.spawn(task).abort_handle();
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(abort);
    }
}

impl Drop for CheckRuntime {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}
