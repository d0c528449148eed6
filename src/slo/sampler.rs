//! The thread that samples an [`SloMonitor`] at a fixed interval until it is stopped.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use telescope_metrics::TelescopeRecorder;

use super::SloMonitor;

/// Samples until dropped (or [`stop`](Self::stop)ped); the burn-rate gauges go to `recorder`.
#[derive(Debug)]
pub(crate) struct SloSampler {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SloSampler {
    /// Takes the first sample now (the baseline: events from here on count), then one every
    /// `interval` on a thread of its own.
    pub(crate) fn start(
        monitor: Arc<SloMonitor>,
        recorder: TelescopeRecorder,
        interval: Duration,
    ) -> std::io::Result<Self> {
        metrics::with_local_recorder(&recorder, || monitor.sample());
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("telescope-slo".to_owned())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                metrics::with_local_recorder(&recorder, || monitor.sample());
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SloSampler {
    fn drop(&mut self) {
        self.stop();
    }
}
