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
    let (recorder, handle) = telescope::recorder::TelescopeRecorder::builder()
        .exemplars(
            std::time::Duration::from_secs(3600),
            telescope::context::current_sampled_ids,
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
    let text = handle.render(telescope::recorder::Format::OpenMetrics);
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
        telescope::context::current_sampled_ids(),
        None,
        "the override ends with the observation"
    );
}

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection refused")
    }
}

impl std::error::Error for Refused {}

/// A span named `$name` with the outcome fields declared, given to `$mark`.
macro_rules! marking {
    ($name:literal, $failed:expr, $mark:expr) => {
        (
            $name,
            $failed,
            Box::new(|| {
                let span = tracing::info_span!(
                    $name,
                    error = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                    otel.status_description = tracing::field::Empty,
                );
                let mark: fn(&tracing::Span) = $mark;
                span.in_scope(|| mark(&span));
            }) as Box<dyn Fn()>,
        )
    };
}

/// Every way of marking a span, through the real layers: the exported span's status, the
/// span metric's `status` label (and so `/debug/traces?status=error`, which reads the span's
/// status) agree with the rules of `telescope::context::outcome`.
#[test]
fn the_exported_status_and_the_metric_agree_on_every_marking() {
    use tracing::field::{debug, display};
    let cases = vec![
        marking!("nothing", false, |_| {}),
        marking!("error_true", true, |s| {
            s.record("error", true);
        }),
        marking!("error_false", false, |s| {
            s.record("error", false);
        }),
        marking!("error_zero", false, |s| {
            s.record("error", 0);
        }),
        marking!("error_one", true, |s| {
            s.record("error", 1u64);
        }),
        marking!("error_text", true, |s| {
            s.record("error", "timeout");
        }),
        marking!("error_debug_none", false, |s| {
            s.record("error", debug(Option::<u8>::None));
        }),
        marking!("error_display", true, |s| {
            s.record("error", display(Refused));
        }),
        marking!("error_dyn_error", true, |s| {
            let error: &(dyn std::error::Error + 'static) = &Refused;
            s.record("error", error);
        }),
        marking!("error_then_false", false, |s| {
            s.record("error", true);
            s.record("error", false);
        }),
        marking!("code_error", true, |s| {
            s.record("otel.status_code", "ERROR");
        }),
        marking!("code_error_then_ok", false, |s| {
            s.record("otel.status_code", "ERROR");
            s.record("otel.status_code", "OK");
        }),
        marking!("code_ok_then_error_event", false, |s| {
            s.record("otel.status_code", "OK");
            tracing::error!("boom");
        }),
        marking!("description_alone", false, |s| {
            s.record("otel.status_description", "why");
        }),
        marking!("error_event", true, |_| tracing::error!("boom")),
        marking!("error_event_with_error", true, |_| {
            tracing::error!(error = %Refused, "call failed");
        }),
        marking!("warn_event_with_error", false, |_| {
            tracing::warn!(error = "timeout", "retrying");
        }),
        marking!("info_event_with_dyn_error", false, |_| {
            let error: &(dyn std::error::Error + 'static) = &Refused;
            tracing::info!(error, "handled");
        }),
        marking!("error_event_in_a_child", false, |_| {
            tracing::info_span!("child").in_scope(|| tracing::error!("only the child failed"));
        }),
    ];
    let recorder = DebuggingRecorder::new();
    let traces = OtlpLayer::builder().build();
    let pipeline = traces.pipeline();
    let subscriber = tracing_subscriber::registry()
        .with(traces)
        .with(SpanMetricsLayer::new());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            for (_, _, run) in &cases {
                run();
            }
        });
    });
    assert!(pipeline.force_flush(std::time::Duration::from_secs(5)));
    let spans = pipeline.ring().spans();
    let found = durations(&recorder);
    for (name, failed, _) in &cases {
        let span = spans
            .iter()
            .find(|span| span.name == *name)
            .unwrap_or_else(|| panic!("{name}: no span"));
        let exported_failed = matches!(span.status, opentelemetry::trace::Status::Error { .. });
        let statuses: Vec<&str> = found
            .iter()
            .filter(|((span_name, _), _)| span_name == name)
            .map(|((_, status), _)| status.as_str())
            .collect();
        let expected = if *failed { "error" } else { "ok" };
        assert_eq!(
            (exported_failed, statuses.as_slice()),
            (*failed, [expected].as_slice()),
            "{name}: exported status {:?}",
            span.status
        );
    }
}
