//! Running one body on many threads at once against one recorder.

use std::sync::Barrier;

use telescope_metrics::TelescopeRecorder;

/// Runs `body(thread, start)` on `threads` threads, each with `recorder` as its local recorder;
/// each calls `start.wait()` once its set-up is done, so the work overlaps. Returns when all
/// have finished; a panic on any thread fails the caller.
pub(crate) fn on_threads(
    recorder: &TelescopeRecorder,
    threads: u64,
    body: impl Fn(u64, &Barrier) + Sync,
) {
    let start = Barrier::new(threads as usize);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (start, body) = (&start, &body);
            scope.spawn(move || metrics::with_local_recorder(recorder, || body(thread, start)));
        }
    });
}
