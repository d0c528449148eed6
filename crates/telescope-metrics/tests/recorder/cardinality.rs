//! The cardinality limit: exact folding, the overflow count, limits per name.

use telescope_metrics::{Format, Matcher, TelescopeRecorder};

use crate::parse::samples;

#[test]
fn folding_is_exact_nothing_lost_or_double_counted() {
    let (recorder, handle) = TelescopeRecorder::builder().cardinality_limit(10).build();
    let mut expected_total = 0u64;
    metrics::with_local_recorder(&recorder, || {
        for round in 0..3u64 {
            for user in 0..1000u64 {
                let amount = (user * 7 + round) % 13 + 1;
                expected_total += amount;
                metrics::counter!("logins_total", "user" => user.to_string()).increment(amount);
            }
        }
    });
    let text = handle.render(Format::Prometheus);
    let logins: Vec<_> = samples(&text)
        .into_iter()
        .filter(|s| s.name == "logins_total")
        .collect();
    assert_eq!(logins.len(), 11, "10 series and the overflow series");
    let total: f64 = logins.iter().map(|s| s.number()).sum();
    assert_eq!(total as u64, expected_total);
    assert_eq!(
        logins
            .iter()
            .filter(|s| s.label("otel_metric_overflow") == Some("true"))
            .count(),
        1
    );
    assert_eq!(handle.series_count("logins_total"), 10);
    let folds = samples(&text)
        .into_iter()
        .find(|s| {
            s.name == "telescope_metrics_cardinality_overflow_total"
                && s.label("metric") == Some("logins_total")
        })
        .expect("overflow count");
    assert_eq!(
        folds.number(),
        (990 * 3) as f64,
        "every registration beyond the limit is counted"
    );
}

/// Many names, each under its own limit, still stop at the limit across all names: 1,000
/// names x 100 label values with a total limit of 10,000 make 10,000 series (plus one
/// overflow series per name that reached it), every value still counted exactly.
#[test]
fn the_limit_across_all_names_holds_however_many_names_there_are() {
    let (recorder, handle) = TelescopeRecorder::builder()
        .cardinality_limit(1_000)
        .series_limit(10_000)
        .build();
    metrics::with_local_recorder(&recorder, || {
        for name in 0..1_000u64 {
            let name = format!("tenant_{name:04}_requests_total");
            for value in 0..100u64 {
                metrics::counter!(name.clone(), "path" => value.to_string()).increment(value + 1);
            }
        }
    });
    let real: usize = (0..1_000u64)
        .map(|name| handle.series_count(&format!("tenant_{name:04}_requests_total")))
        .sum();
    assert_eq!(real, 10_000);
    let text = handle.render(Format::Prometheus);
    let counted: f64 = samples(&text)
        .into_iter()
        .filter(|s| s.name.starts_with("tenant_"))
        .map(|s| s.number())
        .sum();
    assert_eq!(
        counted,
        (1_000 * (1..=100).sum::<u64>()) as f64,
        "nothing lost"
    );
    let folds: f64 = samples(&text)
        .into_iter()
        .filter(|s| s.name == "telescope_metrics_cardinality_overflow_total")
        .map(|s| s.number())
        .sum();
    assert_eq!(folds, 90_000.0, "every label set past the limit is counted");
}

#[test]
fn histograms_and_gauges_fold_too_and_limits_can_differ_per_name() {
    let (recorder, handle) = TelescopeRecorder::builder()
        .cardinality_limit(2)
        .cardinality_limit_for(Matcher::Prefix("wide_".into()), 50)
        .build();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..20 {
            metrics::histogram!("latency_seconds", "route" => format!("/r{i}")).record(0.1);
            metrics::gauge!("temperature", "room" => format!("r{i}")).increment(1.0);
            metrics::counter!("wide_total", "id" => format!("{i}")).increment(1);
        }
    });
    assert_eq!(handle.series_count("latency_seconds"), 2);
    assert_eq!(handle.series_count("wide_total"), 20);
    let text = handle.render(Format::Prometheus);
    let all = samples(&text);
    let counts: f64 = all
        .iter()
        .filter(|s| s.name == "latency_seconds_count")
        .map(|s| s.number())
        .sum();
    assert_eq!(counts, 20.0);
    let overflow_gauge = all
        .iter()
        .find(|s| s.name == "temperature" && s.label("otel_metric_overflow") == Some("true"))
        .expect("overflow gauge");
    assert_eq!(overflow_gauge.number(), 18.0);
}

#[test]
fn two_hundred_thousand_label_values_stay_within_the_limit_and_bounded_memory() {
    let (recorder, handle) = TelescopeRecorder::builder().build();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..200_000u32 {
            metrics::histogram!("request_seconds", "user" => i.to_string())
                .record(f64::from(i % 1000) / 1000.0);
        }
    });
    assert_eq!(
        handle.series_count("request_seconds"),
        telescope_metrics::DEFAULT_CARDINALITY_LIMIT
    );
    let bytes = handle.histogram_bytes();
    assert!(bytes < 16 << 20, "histogram storage {bytes} bytes");
    let text = handle.render(Format::Prometheus);
    let count: f64 = samples(&text)
        .iter()
        .filter(|s| s.name == "request_seconds_count")
        .map(|s| s.number())
        .sum();
    assert_eq!(count, 200_000.0);
}

#[test]
fn idle_series_expire_and_free_their_budget_but_held_ones_stay() {
    use std::time::Duration;
    let (recorder, handle) = TelescopeRecorder::builder()
        .cardinality_limit(3)
        .idle_timeout(Duration::from_millis(20))
        .build();
    let held = metrics::with_local_recorder(&recorder, || {
        metrics::counter!("jobs_total", "queue" => "a").increment(1);
        metrics::counter!("jobs_total", "queue" => "b").increment(1);
        let held = metrics::counter!("jobs_total", "queue" => "held");
        held.increment(5);
        held
    });
    assert_eq!(handle.series_count("jobs_total"), 3);
    assert_eq!(
        handle.run_upkeep(),
        0,
        "the first pass only notes that they were used"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(handle.run_upkeep(), 2, "a and b expire; the held one stays");
    assert_eq!(handle.series_count("jobs_total"), 1);
    held.increment(1);
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("jobs_total", "queue" => "c").increment(7);
        metrics::counter!("jobs_total", "queue" => "d").increment(8);
    });
    let text = handle.render(Format::Prometheus);
    let jobs: Vec<_> = samples(&text)
        .into_iter()
        .filter(|s| s.name == "jobs_total")
        .collect();
    let queues: Vec<_> = jobs.iter().filter_map(|s| s.label("queue")).collect();
    assert_eq!(
        queues,
        ["c", "d", "held"],
        "freed budget went to new series, no overflow: {text}"
    );
    assert_eq!(
        jobs.iter()
            .find(|s| s.label("queue") == Some("held"))
            .map(|s| s.number()),
        Some(6.0)
    );
}
