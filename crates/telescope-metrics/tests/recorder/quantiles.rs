//! Quantile estimates against an exact sort, on several distributions.

use metrics::Key;
use telescope_metrics::{Matcher, TelescopeRecorder};

/// Draws from `distribution` with a seeded generator.
fn draw(distribution: &str, rng: &mut fastrand::Rng) -> f64 {
    match distribution {
        "uniform" => rng.f64() * 1000.0,
        "exponential" => -rng.f64().max(f64::MIN_POSITIVE).ln() * 0.05,
        "lognormal" => {
            // Box-Muller.
            let (u1, u2) = (rng.f64().max(1e-300), rng.f64());
            let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (normal * 2.0 - 4.0).exp()
        }
        "pareto" => 1e-6 / rng.f64().max(1e-12).powf(1.0 / 1.2),
        "wide" => 10f64.powf(rng.f64() * 18.0 - 9.0),
        "signed" => (rng.f64() - 0.5) * 200.0,
        other => panic!("unknown distribution {other}"),
    }
}

/// Histograms rendered as summaries keep the exponential buckets the estimates come from.
#[test]
fn estimates_are_within_one_percent_of_the_exact_quantile() {
    let quantiles = [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0];
    for distribution in [
        "uniform",
        "exponential",
        "lognormal",
        "pareto",
        "wide",
        "signed",
    ] {
        let mut rng = fastrand::Rng::with_seed(0x7e1e5c0fe);
        let (recorder, handle) = TelescopeRecorder::builder()
            .summary_for(Matcher::Full("values".into()), &[0.5])
            .expect("valid quantiles")
            .build();
        let mut values: Vec<f64> = (0..50_000).map(|_| draw(distribution, &mut rng)).collect();
        metrics::with_local_recorder(&recorder, || {
            let histogram = metrics::histogram!("values");
            for value in &values {
                histogram.record(*value);
            }
        });
        values.sort_by(f64::total_cmp);
        let estimates = handle
            .histogram_quantiles(&Key::from_name("values"), &quantiles)
            .expect("recorded");
        for (q, estimate) in quantiles.iter().zip(estimates) {
            let exact = values[(q * (values.len() - 1) as f64).floor() as usize];
            let error = (estimate - exact).abs() / exact.abs();
            assert!(
                error <= 0.01,
                "{distribution} q={q}: estimate {estimate} exact {exact} error {error}"
            );
        }
    }
}

/// Other histograms keep only their classic buckets: estimates are interpolated within the
/// bucket holding the quantile, so they are exact at bucket bounds for a uniform spread and
/// never leave the bucket.
#[test]
fn without_a_summary_estimates_come_from_the_classic_buckets() {
    let bounds: Vec<f64> = (1..=10).map(|b| f64::from(b) * 100.0).collect();
    let (recorder, handle) = TelescopeRecorder::builder()
        .buckets(&bounds)
        .expect("valid buckets")
        .build();
    metrics::with_local_recorder(&recorder, || {
        let histogram = metrics::histogram!("uniform");
        for value in 0..10_000 {
            histogram.record(f64::from(value) / 10.0);
        }
        metrics::histogram!("above").record(5000.0);
    });
    let estimates = handle
        .histogram_quantiles(&Key::from_name("uniform"), &[0.0, 0.25, 0.5, 0.99, 1.0])
        .expect("recorded");
    for (estimate, expected) in estimates.iter().zip([0.0, 250.0, 500.0, 990.0, 1000.0]) {
        assert!((estimate - expected).abs() < 0.2, "{estimates:?}");
    }
    // A value above every bound: the highest bound is all a classic histogram can say.
    assert_eq!(
        handle.histogram_quantiles(&Key::from_name("above"), &[0.5]),
        Some(vec![1000.0])
    );
    assert_eq!(
        handle.histogram_quantiles(&Key::from_name("missing"), &[0.5]),
        None
    );
}
