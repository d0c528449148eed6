//! Telemetry built (not installed) for one test, with a current-thread runtime that runs
//! async work with it in scope: its dispatcher, and its recorder for `metrics` macros.

use std::future::Future;

/// A test's telemetry and runtime.
pub(crate) struct Traced {
    dispatch: tracing::Dispatch,
    pub(crate) telemetry: telescope::Telemetry,
    runtime: tokio::runtime::Runtime,
}

impl Traced {
    /// Telemetry with no admin server and logs thrown away.
    pub(crate) fn new() -> Self {
        let (dispatch, telemetry) = telescope::builder()
            .without_admin_server()
            .log_writer(std::io::sink())
            .build()
            .expect("builds");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            dispatch,
            telemetry,
            runtime,
        }
    }

    /// Runs `work` to completion with the telemetry in scope.
    pub(crate) fn run<T>(&self, work: impl Future<Output = T>) -> T {
        let recorder = self.telemetry.metrics_recorder();
        metrics::with_local_recorder(&recorder, || {
            tracing::dispatcher::with_default(&self.dispatch, || self.runtime.block_on(work))
        })
    }
}
