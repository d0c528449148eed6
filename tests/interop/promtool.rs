//! `promtool check metrics` accepts what the recorder renders: every metric kind, label values
//! that need escaping, an overflow series, global labels, NaN and infinities.

use telescope::recorder::{Format, Matcher, TelescopeRecorder};

use crate::promtool_support::promtool_check;

#[test]
fn promtool_accepts_every_kind_escaping_and_overflow() {
    let (recorder, handle) = TelescopeRecorder::builder()
        .cardinality_limit(3)
        .global_label("service", "checkout")
        .expect("not a reserved name")
        .summary_for(
            Matcher::Full("rpc_latency_seconds".into()),
            &[0.5, 0.9, 0.99],
        )
        .expect("valid quantiles")
        .build();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!(
            "http_requests_total",
            "Requests served,\nby \"path\" and \\ method."
        );
        metrics::describe_histogram!(
            "request_duration_seconds",
            metrics::Unit::Seconds,
            "Request latency."
        );
        for (i, path) in [
            "/",
            "/a\"quoted\"",
            "/back\\slash",
            "/new\nline",
            "/ünïcode",
            "/overflow",
        ]
        .iter()
        .enumerate()
        {
            metrics::counter!("http_requests_total", "path" => *path, "method" => "GET")
                .increment(i as u64 + 1);
        }
        metrics::gauge!("queue_depth").set(f64::NAN);
        metrics::gauge!("temperature_celsius", "room" => "a").set(-3.5);
        metrics::gauge!("free_bytes").set(f64::INFINITY);
        for value in [0.001, 0.2, 3.0, 42.0, f64::INFINITY, f64::NAN] {
            metrics::histogram!("request_duration_seconds", "route" => "/orders/{id}")
                .record(value);
        }
        metrics::histogram!("rpc_latency_seconds").record(0.02);
        metrics::counter!("weird.name-with chars_total").increment(1);
    });
    let exposition = handle.render(Format::Prometheus);
    assert!(
        exposition.contains(r#"otel_metric_overflow="true""#),
        "{exposition}"
    );
    assert!(
        exposition.contains(r#"weird_name_with_chars_total{service="checkout"} 1"#),
        "{exposition}"
    );
    let (ok, said) = promtool_check(&exposition);
    assert!(
        ok,
        "promtool rejected the exposition:\n{said}\n{exposition}"
    );
}
