//! Both formats parse back to what was recorded, whatever the names and label values.

use proptest::prelude::*;
use telescope_metrics::{Format, TelescopeRecorder};

use crate::parse::samples;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_names_and_label_values_round_trip(
        name in "[a-zA-Z_:.\\- ]{1,20}",
        label in "[a-zA-Z_.\\-]{1,12}",
        values in proptest::collection::btree_map("\\PC{0,24}", 1u64..1000, 1..8),
    ) {
        let (recorder, handle) = TelescopeRecorder::builder().build();
        metrics::with_local_recorder(&recorder, || {
            for (value, amount) in &values {
                metrics::counter!(name.clone(), label.clone() => value.clone()).increment(*amount);
            }
        });
        for format in [Format::Prometheus, Format::OpenMetrics] {
            let text = handle.render(format);
            let parsed = samples(&text);
            let ours: Vec<_> = parsed.iter().filter(|s| !s.name.starts_with("telescope_")).collect();
            prop_assert_eq!(ours.len(), values.len(), "{}", text);
            for sample in ours {
                prop_assert_eq!(sample.labels.len(), 1);
                let value = &sample.labels[0].1;
                prop_assert_eq!(Some(sample.number() as u64), values.get(value).copied(), "{:?}", value);
            }
        }
    }
}

#[test]
fn openmetrics_names_counters_without_total_and_ends_with_eof() {
    let (recorder, handle) = TelescopeRecorder::builder().build();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_histogram!(
            "request_duration_seconds",
            metrics::Unit::Seconds,
            "Latency \"quoted\"."
        );
        metrics::describe_counter!("jobs_total", metrics::Unit::Count, "Jobs.");
        metrics::counter!("jobs_total").increment(2);
        metrics::counter!("bare").increment(1);
        metrics::histogram!("request_duration_seconds").record(0.3);
        metrics::describe_gauge!("heap", metrics::Unit::Bytes, "No unit suffix in the name.");
        metrics::gauge!("heap").set(1.0);
    });
    let text = handle.render(Format::OpenMetrics);
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("# TYPE jobs counter\njobs_total 2\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE bare counter\nbare_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("# UNIT request_duration_seconds seconds\n"),
        "{text}"
    );
    assert!(
        text.contains("# HELP request_duration_seconds Latency \\\"quoted\\\".\n"),
        "{text}"
    );
    assert!(
        !text.contains("# UNIT heap"),
        "UNIT only when the name ends with it: {text}"
    );
    assert!(
        text.contains("request_duration_seconds_bucket{le=\"0.5\"} 1\n"),
        "{text}"
    );

    let prometheus = handle.render(Format::Prometheus);
    assert!(
        prometheus.contains("# TYPE jobs_total counter\njobs_total 2\n"),
        "{prometheus}"
    );
    assert!(!prometheus.contains("# EOF"));
    assert!(!prometheus.contains("# UNIT"));
}

#[test]
fn output_order_is_stable_between_renders() {
    let (recorder, handle) = TelescopeRecorder::builder().build();
    metrics::with_local_recorder(&recorder, || {
        for i in (0..100).rev() {
            metrics::counter!("c_total", "k" => format!("{i:03}")).increment(1);
            metrics::gauge!(format!("g{}", i % 7)).set(1.0);
        }
    });
    let strip_render_time = |text: String| {
        text.lines()
            .filter(|l| !l.starts_with("telescope_metrics_render_seconds"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let first = strip_render_time(handle.render(Format::Prometheus));
    let second = strip_render_time(handle.render(Format::Prometheus));
    assert_eq!(first, second);
    let keys: Vec<String> = samples(&first)
        .iter()
        .filter(|s| s.name == "c_total")
        .map(|s| s.labels[0].1.clone())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn bad_settings_are_refused() {
    use telescope_metrics::{BuildError, Matcher};
    assert!(matches!(
        TelescopeRecorder::builder().buckets(&[1.0, 0.5]),
        Err(BuildError::InvalidBuckets(_))
    ));
    assert!(matches!(
        TelescopeRecorder::builder().buckets(&[1.0, f64::NAN]),
        Err(BuildError::InvalidBuckets(_))
    ));
    assert!(matches!(
        TelescopeRecorder::builder().summary_for(Matcher::Full("x".into()), &[1.5]),
        Err(BuildError::InvalidQuantiles(_))
    ));
}

/// Series are listed in label order whenever they were created: before a render, between
/// renders, and after idle ones were removed.
#[test]
fn series_are_in_label_order_across_renders_and_expiry() {
    let (recorder, handle) = TelescopeRecorder::builder()
        .idle_timeout(std::time::Duration::from_nanos(1))
        .build();
    let users = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| line.starts_with("visits_total{"))
            .map(|line| line.split('"').nth(1).unwrap_or_default().to_owned())
            .collect()
    };
    let held = metrics::with_local_recorder(&recorder, || {
        for user in ["m", "c", "x"] {
            metrics::counter!("visits_total", "user" => user).increment(1);
        }
        metrics::counter!("visits_total", "user" => "k")
    });
    held.increment(1);
    assert_eq!(
        users(&handle.render(Format::Prometheus)),
        ["c", "k", "m", "x"]
    );
    metrics::with_local_recorder(&recorder, || {
        for user in ["z", "a", "l"] {
            metrics::counter!("visits_total", "user" => user).increment(1);
        }
    });
    // A new series is not idle before upkeep first saw it: this render's expiry removes the
    // first four, but the held one, and keeps the three new ones, merged in order.
    assert_eq!(
        users(&handle.render(Format::Prometheus)),
        ["a", "k", "l", "z"]
    );
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("visits_total", "user" => "b").increment(1);
    });
    assert_eq!(users(&handle.render(Format::Prometheus)), ["b", "k"]);
}

/// Labels the formats reserve (`le` on buckets, `quantile` on summaries) and the overflow
/// series' own label are renamed `exported_*` when a user sets them, so that every sample has
/// each label once and a user's `otel_metric_overflow="true"` is a series of its own.
#[test]
fn reserved_label_names_from_users_are_exported_ones() {
    let (recorder, handle) = TelescopeRecorder::builder()
        .cardinality_limit(2)
        .summary_for(
            telescope_metrics::Matcher::Full("rpc_seconds".into()),
            &[0.5],
        )
        .expect("valid quantiles")
        .build();
    metrics::with_local_recorder(&recorder, || {
        metrics::histogram!("h_seconds", "le" => "x").record(0.1);
        metrics::histogram!("rpc_seconds", "quantile" => "q").record(0.2);
        metrics::counter!("c_total", "otel_metric_overflow" => "true").increment(1);
        metrics::counter!("c_total", "n" => "1").increment(10);
        // Past the limit of 2: folded into the real overflow series.
        metrics::counter!("c_total", "n" => "2").increment(100);
    });
    let text = handle.render(Format::Prometheus);
    for sample in samples(&text) {
        let mut names: Vec<&str> = sample.labels.iter().map(|(n, _)| n.as_str()).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a label twice in {sample:?}");
    }
    assert!(
        text.contains(r#"h_seconds_bucket{exported_le="x",le="0.005"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(r#"rpc_seconds{exported_quantile="q",quantile="0.5"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"c_total{exported_otel_metric_overflow="true"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"c_total{otel_metric_overflow="true"} 100"#),
        "{text}"
    );
}

#[test]
fn a_global_label_with_a_reserved_name_is_refused() {
    for name in ["le", "quantile", "otel.metric.overflow"] {
        let refused = TelescopeRecorder::builder().global_label(name, "x");
        assert!(
            matches!(
                refused,
                Err(telescope_metrics::BuildError::ReservedLabel(_))
            ),
            "{name}"
        );
    }
    assert!(TelescopeRecorder::builder()
        .global_label("les", "x")
        .is_ok());
}

/// OpenMetrics treats a histogram's or summary's `_sum` as a counter and has no negative
/// quantiles: after a negative observation they are left out there (and kept in Prometheus
/// text, which allows them). NaN observations are counted per metric.
#[test]
fn negative_and_nan_observations_stay_within_what_each_format_allows() {
    let (recorder, handle) = TelescopeRecorder::builder()
        .summary_for(
            telescope_metrics::Matcher::Full("s_seconds".into()),
            &[0.0, 1.0],
        )
        .expect("valid quantiles")
        .build();
    metrics::with_local_recorder(&recorder, || {
        for value in [-1.0, 2.0, f64::NAN, f64::NAN] {
            metrics::histogram!("h_seconds").record(value);
            metrics::histogram!("s_seconds").record(value);
        }
        metrics::histogram!("positive_seconds").record(0.5);
    });
    let open = handle.render(Format::OpenMetrics);
    let open_samples = samples(&open);
    let names: Vec<&str> = open_samples.iter().map(|s| s.name.as_str()).collect();
    // Both or neither of _sum and _count (parsers want both); the +Inf bucket still counts.
    for absent in [
        "h_seconds_sum",
        "h_seconds_count",
        "s_seconds_sum",
        "s_seconds_count",
    ] {
        assert!(!names.contains(&absent), "{absent}: {open}");
    }
    assert!(open.contains("h_seconds_bucket{le=\"+Inf\"} 2\n"), "{open}");
    assert!(names.contains(&"positive_seconds_sum"), "{open}");
    assert!(
        open_samples
            .iter()
            .filter(|s| s.name == "s_seconds")
            .all(|s| s.number() >= 0.0),
        "{open}"
    );
    let text = handle.render(Format::Prometheus);
    assert!(text.contains("h_seconds_sum 1.0\n"), "{text}");
    assert!(text.contains("s_seconds{quantile=\"0.0\"} -"), "{text}");
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let rendered = handle.render(format);
        let nan = samples(&rendered)
            .into_iter()
            .find(|s| {
                s.name == "telescope_metrics_nan_observations_total"
                    && s.label("metric") == Some("h_seconds")
            })
            .map(|s| s.number());
        assert_eq!(nan, Some(2.0), "{rendered}");
    }
}

/// Metric names that collide once made valid or suffixed, registered as any kind in any
/// order: every scrape has each family once, each sample once, and every sample under the
/// family its type allows; the first registration of a name wins and the others are counted.
mod name_collisions {
    use super::*;

    const NAMES: [&str; 17] = [
        "h",
        "h_bucket",
        "h_sum",
        "h_count",
        "x",
        "x_total",
        "_total",
        "c_total",
        "c_created",
        "a.b",
        "a_b",
        "a-b",
        "telescope_metrics_series",
        "telescope_metrics_cardinality_overflow_total",
        "req\rtotal",
        "9lives",
        "",
    ];

    /// Suffixes a sample may add to its family's name, by type and format.
    fn suffixes(kind: &str, format: Format) -> &'static [&'static str] {
        match (kind, format) {
            ("counter", Format::OpenMetrics) => &["_total", "_created"],
            ("counter" | "gauge", _) => &[""],
            ("histogram", _) => &["_bucket", "_sum", "_count", "_created"],
            ("summary", _) => &["", "_sum", "_count", "_created"],
            _ => &[],
        }
    }

    fn check(text: &str, format: Format) -> Result<(), String> {
        let mut families = std::collections::HashSet::new();
        let mut seen = std::collections::HashSet::new();
        let mut owners: std::collections::HashMap<String, String> = Default::default();
        let mut current: Option<(String, String)> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or(line)?;
                if name.is_empty() || !families.insert(name.to_owned()) {
                    return Err(format!("family {name:?} twice or empty"));
                }
                current = Some((name.to_owned(), kind.to_owned()));
            } else if !line.starts_with('#') && !line.is_empty() {
                let sample = crate::parse::samples(line).pop().ok_or(line)?;
                let (family, kind) = current.as_ref().ok_or("a sample before any TYPE")?;
                let belongs = suffixes(kind, format)
                    .iter()
                    .any(|suffix| sample.name == format!("{family}{suffix}"));
                if !belongs {
                    return Err(format!("{:?} is not of {kind} {family:?}", sample.name));
                }
                let mut labels = sample.labels.clone();
                labels.sort();
                if !seen.insert((sample.name.clone(), labels)) {
                    return Err(format!("sample twice: {line}"));
                }
                let owner = owners.entry(sample.name.clone()).or_insert(family.clone());
                if owner != family {
                    return Err(format!("{:?} in {owner:?} and {family:?}", sample.name));
                }
            }
        }
        // A sample name is no other family's name: parsers would not know whose it is.
        for (sample, owner) in &owners {
            if families.contains(sample) && sample != owner {
                return Err(format!("{sample:?} of {owner:?} is also a family"));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn every_family_and_sample_is_written_once(
            registrations in proptest::collection::vec((0..NAMES.len(), 0..3u8), 1..12),
        ) {
            let (recorder, handle) = TelescopeRecorder::builder().build();
            let mut refused = 0u64;
            metrics::with_local_recorder(&recorder, || {
                for (index, kind) in &registrations {
                    let name = NAMES[*index];
                    match kind {
                        0 => metrics::counter!(name).increment(1),
                        1 => metrics::gauge!(name).set(1.0),
                        _ => metrics::histogram!(name).record(1.0),
                    }
                }
            });
            for format in [Format::Prometheus, Format::OpenMetrics] {
                let text = handle.render(format);
                prop_assert!(check(&text, format).is_ok(), "{:?}\n{text}", check(&text, format));
                if format == Format::Prometheus {
                    refused = samples(&text)
                        .iter()
                        .filter(|s| s.name == "telescope_metrics_rejected_total")
                        .map(|s| s.number() as u64)
                        .sum();
                }
            }
            // A name's first registration is never refused.
            let first = registrations[0];
            let first_is_refused = NAMES[first.0].starts_with("telescope_metrics")
                || (NAMES[first.0] == "_total" && first.1 == 0);
            prop_assert!(
                first_is_refused || refused < registrations.len() as u64,
                "{refused} refused of {registrations:?}"
            );
        }
    }

    /// The check above sees what parsers reject.
    #[test]
    fn the_check_rejects_colliding_expositions() {
        let histogram_and_gauge = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n# TYPE h_bucket gauge\nh_bucket 1\n";
        assert!(check(histogram_and_gauge, Format::Prometheus).is_err());
        let twice = "# TYPE a_b counter\na_b 1\n# TYPE a_b gauge\na_b 2\n";
        assert!(check(twice, Format::Prometheus).is_err());
        let fine = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n";
        assert_eq!(check(fine, Format::Prometheus), Ok(()));
    }

    #[test]
    fn the_first_registration_wins_and_the_other_records_nothing() {
        let (recorder, handle) = TelescopeRecorder::builder().build();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("h").record(1.0);
            metrics::gauge!("h_count").set(42.0);
            metrics::counter!("a.b").increment(1);
            metrics::counter!("a_b").increment(5);
            metrics::gauge!("a.b").set(7.0);
        });
        let text = handle.render(Format::Prometheus);
        assert!(text.contains("h_count 1\n"), "{text}");
        assert!(!text.contains("h_count 42"), "{text}");
        assert!(text.contains("a_b 1\n"), "{text}");
        assert!(
            text.contains("telescope_metrics_rejected_total{reason=\"name_collision\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("telescope_metrics_rejected_total{reason=\"kind_conflict\"} 1"),
            "{text}"
        );
        assert_eq!(handle.series_count("a_b"), 0, "refused: no family");
    }
}
