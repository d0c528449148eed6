//! The adaptive sampler on an injected clock, and the properties consistent sampling promises.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use telescope_core::{IdGenerator, TraceId};
use telescope_otlp::sampler::threshold::{adjusted_count, decode_threshold, ot_value};
use telescope_otlp::sampler::{
    sampler_from_env, AdaptiveConfig, AdaptiveSampler, ConsistentProbability, Sampler,
    SamplerConfigError, SamplingDecision, SamplingInput,
};

/// A clock the test moves by hand.
fn manual_clock() -> (Arc<AtomicU64>, telescope_otlp::sampler::Clock) {
    let now = Arc::new(AtomicU64::new(0));
    let reader = now.clone();
    (
        now,
        Arc::new(move || Duration::from_nanos(reader.load(Ordering::SeqCst))),
    )
}

fn decide(sampler: &dyn Sampler, name: &str, trace_id: TraceId) -> SamplingDecision {
    sampler.should_sample(&SamplingInput {
        parent: None,
        trace_id,
        name,
    })
}

/// Runs `per_second` roots of `name` through one 1 s interval, spread evenly, and leaves the
/// clock at the interval's end; returns the decisions.
fn one_second(
    sampler: &dyn Sampler,
    now: &AtomicU64,
    name: &str,
    per_second: u64,
) -> Vec<SamplingDecision> {
    let ids = IdGenerator::default();
    let start = now.load(Ordering::SeqCst);
    let decisions = (0..per_second)
        .map(|i| {
            now.store(
                start + i * 1_000_000_000 / per_second.max(1),
                Ordering::SeqCst,
            );
            decide(sampler, name, ids.trace_id())
        })
        .collect();
    now.store(start + 1_000_000_000, Ordering::SeqCst);
    decisions
}

#[test]
fn after_a_traffic_step_the_sampled_rate_settles_near_the_target_within_five_intervals() {
    let (now, clock) = manual_clock();
    let target = 10.0;
    let sampler = AdaptiveSampler::with_clock(AdaptiveConfig::per_second(target), clock);
    for _ in 0..10 {
        one_second(&sampler, &now, "GET /search", 10);
    }
    // The rate the sampler aims at after each interval: its probability times the traffic.
    let mut aimed = Vec::new();
    for _ in 0..5 {
        one_second(&sampler, &now, "GET /search", 10_000);
        aimed.push(sampler.probability("GET /search") * 10_000.0);
    }
    let last = *aimed.last().expect("five intervals");
    assert!(
        (last - target).abs() / target <= 0.2,
        "aimed rate per interval after the step: {aimed:?}"
    );
    // And what it actually sampled over the next 30 intervals (about 300 traces).
    let sampled: usize = (0..30)
        .map(|_| {
            one_second(&sampler, &now, "GET /search", 10_000)
                .iter()
                .filter(|d| d.sampled)
                .count()
        })
        .sum();
    let per_second = sampled as f64 / 30.0;
    assert!(
        (per_second - target).abs() / target <= 0.2,
        "sampled {per_second} per second"
    );
}

#[test]
fn a_rare_operation_is_still_sampled() {
    let (now, clock) = manual_clock();
    let sampler = AdaptiveSampler::with_clock(AdaptiveConfig::per_second(5.0), clock);
    let ids = IdGenerator::default();
    let mut rare_sampled = 0;
    for minute in 0..5 {
        for _ in 0..60 {
            one_second(&sampler, &now, "GET /busy", 2_000);
        }
        rare_sampled +=
            usize::from(decide(&sampler, "POST /admin/rotate-keys", ids.trace_id()).sampled);
        assert!(
            sampler.probability("GET /busy") < 0.01,
            "minute {minute}: the busy one is throttled"
        );
    }
    assert_eq!(rare_sampled, 5, "one call a minute, every one sampled");
}

#[test]
fn adjusted_counts_estimate_the_true_number_of_roots() {
    let (now, clock) = manual_clock();
    let sampler = AdaptiveSampler::with_clock(AdaptiveConfig::per_second(20.0), clock);
    let (mut roots, mut estimate) = (0u64, 0.0);
    for second in 0..100u64 {
        let rate = 2_000 + (second % 10) * 300;
        for decision in one_second(&sampler, &now, "GET /items", rate) {
            roots += 1;
            if decision.sampled {
                let threshold = ot_value(&decision.trace_state, "th")
                    .and_then(decode_threshold)
                    .expect("th on every sampled root");
                estimate += adjusted_count(threshold);
            }
        }
    }
    let error = (estimate - roots as f64).abs() / roots as f64;
    assert!(
        error <= 0.10,
        "adjusted count {estimate:.0} vs {roots} roots ({:.1}%)",
        error * 100.0
    );
}

#[test]
fn the_same_trace_id_and_threshold_always_give_the_same_decision() {
    let ids = IdGenerator::default();
    for probability in [0.001, 0.1, 0.5, 0.9] {
        let (a, b) = (
            ConsistentProbability::new(probability),
            ConsistentProbability::new(probability),
        );
        for _ in 0..1000 {
            let trace_id = ids.trace_id();
            let first = decide(&a, "x", trace_id);
            assert_eq!(first, decide(&b, "other name", trace_id));
            assert_eq!(first, decide(&a, "x", trace_id));
        }
    }
}

#[test]
fn sampler_variables_are_parsed_and_bad_ones_named() {
    let env = |sampler: &'static str, arg: Option<&'static str>| {
        move |name: &str| match name {
            "OTEL_TRACES_SAMPLER" => Some(sampler.to_owned()),
            "OTEL_TRACES_SAMPLER_ARG" => arg.map(str::to_owned),
            _ => None,
        }
    };
    for name in [
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
        "adaptive",
        "ADAPTIVE",
    ] {
        assert!(sampler_from_env(env(name, None)).is_ok(), "{name}");
    }
    assert!(
        sampler_from_env(|_| None).is_ok(),
        "unset: parent-based always on"
    );
    assert_eq!(
        sampler_from_env(env("sometimes", None)).err(),
        Some(SamplerConfigError::UnknownSampler("sometimes".into()))
    );
    for (name, arg) in [
        ("traceidratio", "1.5"),
        ("traceidratio", "half"),
        ("adaptive", "-3"),
        ("adaptive", "NaN"),
    ] {
        let error = sampler_from_env(env(name, Some(arg))).err();
        assert!(
            matches!(error, Some(SamplerConfigError::InvalidArgument { .. })),
            "{name}={arg}: {error:?}"
        );
        assert!(error
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("OTEL_TRACES_SAMPLER_ARG"));
    }
}
