//! W3C Trace Context conformance of the extract/inject path, with the spec's own examples.

use http::HeaderMap;
use telescope_otlp::propagation::{extract, inject, remote_parent, ExtractError};
use telescope_otlp::OtlpLayer;
use tracing_subscriber::layer::SubscriberExt;

const SPEC_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    map
}

#[test]
fn the_spec_examples_extract() {
    let context = extract(&headers(&[
        ("traceparent", SPEC_TRACEPARENT),
        ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
    ]))
    .expect("valid");
    assert_eq!(
        context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(context.span_id().to_string(), "00f067aa0ba902b7");
    assert!(context.is_sampled() && context.is_remote());
    assert_eq!(context.trace_state().get("congo"), Some("t61rcWkgMzE"));
    // Two tracestate lines are one list.
    let split = extract(&headers(&[
        ("traceparent", SPEC_TRACEPARENT),
        ("tracestate", "rojo=1"),
        ("tracestate", "congo=2"),
    ]))
    .expect("valid");
    assert_eq!(split.trace_state().header(), "rojo=1,congo=2");
}

#[test]
fn invalid_headers_start_a_new_trace_and_are_counted() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let invalid = [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "garbage",
    ];
    metrics::with_local_recorder(&recorder, || {
        for header in invalid {
            assert!(
                matches!(
                    extract(&headers(&[("traceparent", header)])),
                    Err(ExtractError::Invalid(_))
                ),
                "{header}"
            );
        }
        assert!(matches!(
            extract(&headers(&[
                ("traceparent", SPEC_TRACEPARENT),
                ("traceparent", SPEC_TRACEPARENT)
            ])),
            Err(ExtractError::Invalid(_))
        ));
        assert_eq!(extract(&HeaderMap::new()), Err(ExtractError::Missing));
        // A bad tracestate is dropped; the traceparent stands.
        let kept = extract(&headers(&[
            ("traceparent", SPEC_TRACEPARENT),
            ("tracestate", "BAD KEY=1"),
        ]))
        .expect("traceparent kept");
        assert!(kept.trace_state().is_empty());
    });
    let counts: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "telescope_propagation_invalid_total")
        .map(|(key, _, _, value)| {
            let header = key
                .key()
                .labels()
                .next()
                .map(|l| l.value().to_owned())
                .unwrap_or_default();
            (
                header,
                if let DebugValue::Counter(n) = value {
                    n
                } else {
                    0
                },
            )
        })
        .collect();
    assert!(
        counts.contains(&("traceparent".to_owned(), 7)),
        "{counts:?}"
    );
    assert!(counts.contains(&("tracestate".to_owned(), 1)), "{counts:?}");
}

#[test]
fn a_remote_parent_becomes_the_parent_of_the_next_root_span_and_injection_round_trips() {
    let layer = OtlpLayer::builder().build();
    let pipeline = layer.pipeline();
    let mut outgoing = HeaderMap::new();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let incoming = headers(&[
            ("traceparent", SPEC_TRACEPARENT),
            ("tracestate", "congo=t61rcWkgMzE"),
        ]);
        let span = {
            let _parent = remote_parent(&incoming);
            tracing::info_span!("GET /orders", otel.kind = "server")
        };
        let _entered = span.enter();
        assert!(telescope_otlp::propagation::inject_current(&mut outgoing));
        // A new root after the guard is gone starts its own trace.
        drop(tracing::info_span!(parent: None, "not a child of the remote parent"));
    });
    assert!(pipeline.force_flush(std::time::Duration::from_secs(10)));
    let spans = pipeline.ring().spans();
    let server = spans
        .iter()
        .find(|s| s.name == "GET /orders")
        .expect("server span");
    assert_eq!(
        server.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(server.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert!(server.parent_span_is_remote);
    assert_eq!(
        server.span_context.trace_state().get("congo"),
        Some("t61rcWkgMzE")
    );
    let injected = extract(&outgoing).expect("what we inject, we can extract");
    assert_eq!(
        injected.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        injected.span_id().to_string(),
        server.span_context.span_id().to_string()
    );
    let other = spans
        .iter()
        .find(|s| s.name.starts_with("not a child"))
        .expect("other");
    assert_ne!(
        other.span_context.trace_id(),
        server.span_context.trace_id(),
        "the guard applies to one root only"
    );

    let mut round_trip = HeaderMap::new();
    inject(&injected, &mut round_trip);
    assert_eq!(
        extract(&round_trip).expect("valid").traceparent(),
        injected.traceparent()
    );
}
