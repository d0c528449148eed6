//! `SpanMetricsLayer`: one duration per closed span, labelled by name and outcome, whether or
//! not the span is sampled.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use telescope::otlp::sampler::{AlwaysOff, ParentBased};
use telescope::otlp::OtlpLayer;
use telescope::SpanMetricsLayer;
use tracing_subscriber::layer::SubscriberExt;

/// `(span_name, status)` → the recorded durations.
fn durations(recorder: &DebuggingRecorder) -> Vec<((String, String), Vec<f64>)> {
    let mut found: Vec<_> = recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "telescope_span_duration_seconds")
        .map(|(key, _, _, value)| {
            let label = |name: &str| {
                key.key()
                    .labels()
                    .find(|l| l.key() == name)
                    .map(|l| l.value().to_owned())
                    .unwrap_or_default()
            };
            let values = match value {
                DebugValue::Histogram(values) => {
                    values.into_iter().map(|v| v.into_inner()).collect()
                }
                other => panic!("not a histogram: {other:?}"),
            };
            ((label("span_name"), label("status")), values)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[test]
fn every_span_gets_a_duration_and_failures_are_labelled() {
    let recorder = DebuggingRecorder::new();
    // Nothing sampled: the durations must not depend on it.
    let subscriber = tracing_subscriber::registry()
        .with(
            OtlpLayer::builder()
                .sampler(ParentBased::new(AlwaysOff))
                .build(),
        )
        .with(SpanMetricsLayer::new());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..3 {
                tracing::info_span!("ok_work").in_scope(|| {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                });
            }
            tracing::info_span!("failed_by_event").in_scope(|| tracing::error!("boom"));
            tracing::info_span!("failed_by_field", error = "timeout").in_scope(|| {});
            let span =
                tracing::info_span!("failed_later", otel.status_code = tracing::field::Empty);
            span.record("otel.status_code", "ERROR");
            drop(span);
            tracing::info_span!("warned").in_scope(|| tracing::warn!("not a failure"));
        });
    });
    let found = durations(&recorder);
    let labels: Vec<_> = found
        .iter()
        .map(|((n, s), v)| (n.as_str(), s.as_str(), v.len()))
        .collect();
    assert_eq!(
        labels,
        [
            ("failed_by_event", "error", 1),
            ("failed_by_field", "error", 1),
            ("failed_later", "error", 1),
            ("ok_work", "ok", 3),
            ("warned", "ok", 1),
        ]
    );
    let ok_work = &found
        .iter()
        .find(|((n, _), _)| n == "ok_work")
        .expect("recorded")
        .1;
    assert!(
        ok_work.iter().all(|seconds| *seconds >= 0.002),
        "{ok_work:?}"
    );
}

#[test]
fn a_sampled_spans_duration_points_at_its_own_trace() {
    let (recorder, handle) = telescope::metrics::TelescopeRecorder::builder()
        .exemplars(
            std::time::Duration::from_secs(3600),
            telescope::core::current_sampled_ids,
        )
        .build();
    let traces = OtlpLayer::builder().build();
    let pipeline = traces.pipeline();
    let subscriber = tracing_subscriber::registry()
        .with(traces)
        .with(SpanMetricsLayer::new());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            // A root span: nothing is current when it closes.
            tracing::info_span!("checkout").in_scope(|| {});
        });
    });
    assert!(pipeline.force_flush(std::time::Duration::from_secs(5)));
    let spans = pipeline.ring().spans();
    let checkout = spans.last().expect("the span was kept");
    let text = handle.render(telescope::metrics::Format::OpenMetrics);
    let exemplar = text
        .lines()
        .filter(|l| l.starts_with("telescope_span_duration_seconds_bucket"))
        .find_map(|l| l.split_once(" # ").map(|(_, e)| e.to_owned()))
        .unwrap_or_else(|| panic!("no exemplar:\n{text}"));
    assert!(
        exemplar.starts_with(&format!(
            "{{trace_id=\"{}\",span_id=\"{}\"}}",
            checkout.span_context.trace_id(),
            checkout.span_context.span_id()
        )),
        "{exemplar}"
    );
    assert_eq!(
        telescope::core::current_sampled_ids(),
        None,
        "the override ends with the observation"
    );
}
