//! Many threads on one series: counts and sums stay exact.

use std::sync::Arc;

use telescope_metrics::{Format, TelescopeRecorder};

use crate::parse::samples;
use crate::threads::on_threads;

#[test]
fn eight_threads_on_one_counter_and_one_histogram_lose_nothing() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 100_000;
    let (recorder, handle) = TelescopeRecorder::builder().build();
    on_threads(&recorder, THREADS, |thread, start| {
        let counter = metrics::counter!("hits_total");
        let histogram = metrics::histogram!("work_seconds");
        start.wait();
        for n in 0..PER_THREAD {
            counter.increment(1);
            // Small integers and halves: every partial sum is exact in f64.
            histogram.record(((thread + n) % 4) as f64 * 0.5);
            // And through the macro path, which registers on every call.
            metrics::counter!("macro_hits_total", "thread" => "any").increment(1);
        }
    });
    let text = handle.render(Format::Prometheus);
    let value = |name: &str| {
        samples(&text)
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.number())
    };
    let total = (THREADS * PER_THREAD) as f64;
    assert_eq!(value("hits_total"), Some(total));
    assert_eq!(value("macro_hits_total"), Some(total));
    assert_eq!(value("work_seconds_count"), Some(total));
    let expected_sum: f64 = (0..THREADS)
        .map(|thread| {
            (0..PER_THREAD)
                .map(|n| ((thread + n) % 4) as f64 * 0.5)
                .sum::<f64>()
        })
        .sum();
    assert_eq!(value("work_seconds_sum"), Some(expected_sum));
}

#[test]
fn rendering_while_recording_sees_monotonic_counts() {
    let (recorder, handle) = TelescopeRecorder::builder().build();
    let recorder = Arc::new(recorder);
    let writer = {
        let recorder = recorder.clone();
        std::thread::spawn(move || {
            metrics::with_local_recorder(&*recorder, || {
                for i in 0..200_000u32 {
                    metrics::histogram!("busy_seconds", "shard" => (i % 50).to_string())
                        .record(0.01);
                }
            });
        })
    };
    let mut previous = 0.0;
    while !writer.is_finished() {
        let text = handle.render(Format::Prometheus);
        let count: f64 = samples(&text)
            .iter()
            .filter(|s| s.name == "busy_seconds_count")
            .map(|s| s.number())
            .sum();
        assert!(
            count >= previous,
            "counts never go backwards: {count} < {previous}"
        );
        previous = count;
    }
    writer.join().expect("join");
    let text = handle.render(Format::Prometheus);
    let count: f64 = samples(&text)
        .iter()
        .filter(|s| s.name == "busy_seconds_count")
        .map(|s| s.number())
        .sum();
    assert_eq!(count, 200_000.0);
}

/// Counters saturate at `u64::MAX` instead of wrapping back to a small number (which every
/// `rate()` would read as a reset), from one thread or spread over many.
#[test]
fn counters_saturate_instead_of_wrapping() {
    let (recorder, handle) = TelescopeRecorder::builder().build();
    metrics::with_local_recorder(&recorder, || {
        let counter = metrics::counter!("bytes_total");
        counter.increment(u64::MAX);
        counter.increment(2);
    });
    on_threads(&recorder, 4, |_, start| {
        let counter = metrics::counter!("spread_total");
        start.wait();
        counter.increment(u64::MAX / 2);
    });
    let text = handle.render(Format::Prometheus);
    for name in ["bytes_total", "spread_total"] {
        assert!(
            text.contains(&format!("{name} {}\n", u64::MAX)),
            "{name} saturates: {text}"
        );
    }
}

/// `absolute` is a maximum whatever the concurrency: threads racing to raise one counter to
/// their own values leave it at the largest, never above (each adding its difference to a
/// stale reading would overshoot).
#[test]
fn racing_absolute_calls_never_overshoot() {
    const THREADS: u64 = 8;
    for round in 0..50u64 {
        let (recorder, handle) = TelescopeRecorder::builder().build();
        on_threads(&recorder, THREADS, |thread, start| {
            let counter = metrics::counter!("mirrored_total");
            start.wait();
            for step in 1..=100 {
                counter.absolute(step * 1000 + thread * 10 + round);
            }
        });
        let text = handle.render(Format::Prometheus);
        let expected = 100 * 1000 + (THREADS - 1) * 10 + round;
        assert!(
            text.contains(&format!("mirrored_total {expected}\n")),
            "round {round}: expected {expected}: {text}"
        );
    }
}

/// Writers on several threads and a scraper racing them: in every scrape each histogram's
/// buckets are cumulative and end at `+Inf` == `_count`, and counters never go backwards from
/// one scrape to the next.
#[test]
fn every_scrape_during_writes_is_internally_consistent() {
    let (recorder, handle) = TelescopeRecorder::builder().build();
    let recorder = Arc::new(recorder);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3u32)
        .map(|thread| {
            let (recorder, done) = (recorder.clone(), done.clone());
            std::thread::spawn(move || {
                metrics::with_local_recorder(&*recorder, || {
                    let histogram = metrics::histogram!("race_seconds");
                    let counter = metrics::counter!("race_total");
                    let mut n = thread;
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        // Spread over the finite buckets, so the highest one holds them
                        // all: a `+Inf` read apart from them falls behind it.
                        histogram.record(f64::from(n % 21) * 0.5);
                        counter.increment(1);
                        n = n.wrapping_add(7);
                    }
                });
            })
        })
        .collect();
    let mut previous_counter = 0.0;
    let mut scrapes_with_data = 0;
    while scrapes_with_data < 2000 {
        let text = handle.render(Format::OpenMetrics);
        let all = samples(&text);
        let buckets: Vec<f64> = all
            .iter()
            .filter(|s| s.name == "race_seconds_bucket")
            .map(|s| s.number())
            .collect();
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "cumulative: {buckets:?}"
        );
        let count = all
            .iter()
            .find(|s| s.name == "race_seconds_count")
            .map(|s| s.number());
        assert_eq!(buckets.last().copied(), count, "+Inf == _count");
        let counter = all
            .iter()
            .find(|s| s.name == "race_total")
            .map_or(0.0, |s| s.number());
        assert!(
            counter >= previous_counter,
            "{counter} < {previous_counter}"
        );
        previous_counter = counter;
        if count.is_some() {
            scrapes_with_data += 1;
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("writer");
    }
}
