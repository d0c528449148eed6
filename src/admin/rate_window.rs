//! Samples of the span duration histogram's counts over time, so that the overview shows
//! rates and percentiles of the last minute rather than of the whole uptime.
//!
//! A sample is taken when the overview is read (at most one per [`SAMPLE_EVERY`]) and kept
//! for [`KEEP`]; the window is from the newest sample at least [`WINDOW`] old (or, early on,
//! the oldest at least [`SHORTEST`] old) to now, else from the admin server's start, when
//! every count was zero.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

/// How often a sample is kept, at most.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How long samples are kept.
const KEEP: Duration = Duration::from_secs(10 * 60);
/// The window wanted.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// The shortest window measured between samples; shorter ones are measured from the start.
const SHORTEST: Duration = Duration::from_secs(10);

/// A series: its metric's name and its labels.
pub(crate) type SeriesKey = (&'static str, Vec<(String, String)>);

/// Each series' bucket counts (not cumulative; the last above every bound).
pub(crate) type Counts = FxHashMap<SeriesKey, Vec<u64>>;

/// The window the overview measures over.
#[derive(Debug)]
pub(crate) struct Baseline<'a> {
    /// The counts at its start (`None`: the start of the process, all zero).
    pub(crate) counts: Option<&'a Counts>,
    /// How long it is.
    pub(crate) length: Duration,
}

/// The samples kept.
#[derive(Debug)]
pub(crate) struct RateWindow {
    started: Instant,
    samples: Vec<(Instant, Counts)>,
}

impl RateWindow {
    pub(crate) fn new(started: Instant) -> Self {
        Self {
            started,
            samples: Vec::new(),
        }
    }

    /// Keeps `counts`, read at `now`, if the last sample is old enough, and forgets samples
    /// older than [`KEEP`] (the newest of those stays, as a baseline).
    pub(crate) fn record(&mut self, now: Instant, counts: &Counts) {
        let due = self
            .samples
            .last()
            .is_none_or(|(at, _)| now.saturating_duration_since(*at) >= SAMPLE_EVERY);
        if due {
            self.samples.push((now, counts.clone()));
        }
        let expired = self
            .samples
            .iter()
            .take_while(|(at, _)| now.saturating_duration_since(*at) > KEEP)
            .count();
        if expired > 1 {
            self.samples.drain(..expired - 1);
        }
    }

    /// The window ending at `now`.
    pub(crate) fn baseline(&self, now: Instant) -> Baseline<'_> {
        let age = |at: &Instant| now.saturating_duration_since(*at);
        let chosen = self
            .samples
            .iter()
            .rev()
            .find(|(at, _)| age(at) >= WINDOW)
            .or_else(|| self.samples.iter().find(|(at, _)| age(at) >= SHORTEST));
        match chosen {
            Some((at, counts)) => Baseline {
                counts: Some(counts),
                length: age(at),
            },
            None => Baseline {
                counts: None,
                length: age(&self.started),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SeriesKey {
        ("m", vec![("op".to_owned(), "ok".to_owned())])
    }

    fn counts(n: u64) -> Counts {
        let mut counts = Counts::default();
        counts.insert(key(), vec![n, 0]);
        counts
    }

    #[test]
    fn the_window_is_a_minute_once_samples_are_old_enough() {
        let start = Instant::now();
        let mut window = RateWindow::new(start);
        let at = |s: u64| start + Duration::from_secs(s);
        window.record(at(1), &counts(10));
        // Too early for any sample: from the start.
        let early = window.baseline(at(5));
        assert!(early.counts.is_none());
        assert_eq!(early.length, Duration::from_secs(5));
        window.record(at(3), &counts(30)); // within SAMPLE_EVERY: not kept
        window.record(at(20), &counts(200));
        // 12 s after the first: the oldest sample is the baseline.
        let short = window.baseline(at(13));
        assert_eq!(short.counts.map(|c| c[&key()][0]), Some(10));
        for s in (25..=120).step_by(5) {
            window.record(at(s), &counts(s * 10));
        }
        let minute = window.baseline(at(120));
        assert_eq!(minute.length, Duration::from_secs(60));
        assert_eq!(minute.counts.map(|c| c[&key()][0]), Some(600));
        // Old samples go; the newest old one stays.
        window.record(at(1_000), &counts(1));
        assert!(window.samples.len() <= 2 + (KEEP.as_secs() / 5) as usize);
        assert!(window.baseline(at(1_000)).counts.is_some());
    }
}
