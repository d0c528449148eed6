//! Export to real OTLP receivers over 127.0.0.1 that decode the official protobufs: content,
//! both transports, refusals, a collector that is down then up, one that stays down, one that
//! stalls, and a full queue; every span ends up exported or counted as dropped.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use telescope_otlp::{
    OtlpCompression, OtlpExport, OtlpExportConfig, OtlpLayer, OtlpProtocol, Pipeline,
    PipelineConfig,
};
use tracing_subscriber::layer::SubscriberExt;

use telescope_test_support::otlp_receiver::{free_port, Receiver, Reply};

fn http_config(port: u16) -> OtlpExportConfig {
    OtlpExportConfig::new(
        format!("http://127.0.0.1:{port}/v1/traces"),
        OtlpProtocol::HttpProtobuf,
    )
}

fn quick(export_timeout: Duration) -> PipelineConfig {
    PipelineConfig {
        schedule_delay: Duration::from_millis(20),
        export_timeout,
        ..PipelineConfig::default()
    }
}

/// Runs `spans` under a layer exporting with `config`, returning the layer's pipeline.
fn run(config: OtlpExportConfig, pipeline: PipelineConfig, spans: impl FnOnce()) -> Pipeline {
    let layer = OtlpLayer::builder()
        .exporter(OtlpExport::new(config))
        .pipeline(pipeline)
        .build();
    let handle = layer.pipeline();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), spans);
    handle
}

fn emit(count: usize) {
    for index in 0..count {
        tracing::info_span!("work", index).in_scope(|| {});
    }
}

const REMOTE_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(text) => Some(text.as_str()),
            _ => None,
        }
    })
}

/// Waits (without asserting on time) until `condition` holds or a generous deadline passes.
fn wait_until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn check_content(receiver: &Receiver, config: OtlpExportConfig, expected_path: &str) {
    let expected_encoding = match config.compression {
        OtlpCompression::Gzip => Some("gzip"),
        OtlpCompression::None => None,
    };
    let config = OtlpExportConfig {
        headers: vec![("api-key".to_owned(), "s3cret".to_owned())],
        ..config
    }
    .resource(vec![("service.name".to_owned(), "checkout".to_owned())]);
    let layer = OtlpLayer::builder()
        .exporter(OtlpExport::new(config))
        .pipeline(quick(Duration::from_secs(10)))
        .build();
    let pipeline = layer.pipeline();
    let ring = layer.ring();
    let mut incoming = http::HeaderMap::new();
    incoming.insert("traceparent", http::HeaderValue::from_static(REMOTE_PARENT));
    incoming.insert(
        "tracestate",
        http::HeaderValue::from_static("vendor=opaque"),
    );
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _parent = telescope_otlp::propagation::remote_parent(&incoming);
        tracing::info_span!("request", http.route = "/orders", otel.kind = "server").in_scope(
            || {
                tracing::info_span!("db", rows = 3_i64, cached = false, ratio = 0.5_f64).in_scope(
                    || {
                        tracing::error!(code = 7_i64, "slow query");
                    },
                );
            },
        );
    });
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    let stats = pipeline.stats();
    assert_eq!(
        (stats.exported, stats.dropped_export_failed),
        (2, 0),
        "{stats:?}"
    );

    let received = receiver.received();
    assert!(!received.is_empty());
    assert!(
        received.iter().all(|r| r.path == expected_path
            && r.api_key.as_deref() == Some("s3cret")
            && r.encoding.as_deref() == expected_encoding),
        "{received:?}"
    );
    let resource_spans: Vec<_> = received
        .iter()
        .flat_map(|r| r.request.resource_spans.clone())
        .collect();
    for resource in &resource_spans {
        let attributes = &resource.resource.as_ref().expect("a resource").attributes;
        assert_eq!(
            string_attribute(attributes, "service.name"),
            Some("checkout")
        );
    }
    let spans: Vec<_> = resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.clone())
        .collect();
    let request = spans
        .iter()
        .find(|s| s.name == "request")
        .expect("the request span");
    let db = spans.iter().find(|s| s.name == "db").expect("the db span");
    assert_eq!(spans.len(), 2);
    assert_eq!(db.trace_id, request.trace_id);
    assert_eq!(db.parent_span_id, request.span_id);
    // The remote parent's ids and tracestate travel with the root.
    assert_eq!(hex(&request.trace_id), &REMOTE_PARENT[3..35]);
    assert_eq!(hex(&request.parent_span_id), &REMOTE_PARENT[36..52]);
    assert!(
        request.trace_state.contains("vendor=opaque"),
        "{:?}",
        request.trace_state
    );
    assert_eq!(
        string_attribute(&request.attributes, "http.route"),
        Some("/orders")
    );
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(db.kind, SpanKind::Internal as i32);
    let value = |key: &str| {
        db.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone()?.value)
    };
    assert_eq!(value("rows"), Some(Value::IntValue(3)));
    assert_eq!(value("cached"), Some(Value::BoolValue(false)));
    assert_eq!(value("ratio"), Some(Value::DoubleValue(0.5)));
    let event = db
        .events
        .iter()
        .find(|e| e.name == "slow query")
        .expect("the event");
    assert!(
        event.attributes.iter().any(|kv| kv.key == "code"),
        "{:?}",
        event.attributes
    );
    assert_eq!(
        db.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32),
        "an ERROR event fails the span"
    );
    let scopes: Vec<_> = resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .filter_map(|s| s.scope.as_ref())
        .collect();
    assert!(
        !scopes.is_empty() && scopes.iter().all(|scope| scope.name == "telescope"),
        "{scopes:?}"
    );
    assert!(db.end_time_unix_nano >= db.start_time_unix_nano && db.start_time_unix_nano > 0);
    // The ids on the wire are the ones the layer gave the spans.
    let kept = ring.spans();
    let kept_db = kept
        .iter()
        .find(|s| s.name == "db")
        .expect("db in the ring");
    assert_eq!(db.trace_id, kept_db.span_context.trace_id().to_bytes());
    assert_eq!(db.span_id, kept_db.span_context.span_id().to_bytes());
}

#[test]
fn http_protobuf_export_carries_spans_resource_and_headers() {
    let receiver = Receiver::http(0, &[]);
    check_content(&receiver, http_config(receiver.addr.port()), "/v1/traces");
}

#[test]
fn grpc_export_carries_spans_resource_and_metadata() {
    let receiver = Receiver::grpc(0, &[]);
    let config = OtlpExportConfig::new(format!("http://{}", receiver.addr), OtlpProtocol::Grpc);
    check_content(
        &receiver,
        config,
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
}

#[test]
fn gzip_bodies_arrive_whole_over_http() {
    let receiver = Receiver::http(0, &[]);
    let config = OtlpExportConfig {
        compression: OtlpCompression::Gzip,
        ..http_config(receiver.addr.port())
    };
    check_content(&receiver, config, "/v1/traces");
}

#[test]
fn gzip_messages_arrive_whole_over_grpc() {
    let receiver = Receiver::grpc(0, &[]);
    let config = OtlpExportConfig {
        compression: OtlpCompression::Gzip,
        ..OtlpExportConfig::new(format!("http://{}", receiver.addr), OtlpProtocol::Grpc)
    };
    check_content(
        &receiver,
        config,
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
}

#[test]
fn refused_batches_are_retried_until_accepted() {
    let receiver = Receiver::http(0, &[Reply::Refuse(503), Reply::Refuse(502)]);
    let pipeline = run(
        http_config(receiver.addr.port()),
        quick(Duration::from_secs(30)),
        || emit(5),
    );
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    let stats = pipeline.stats();
    assert_eq!(receiver.span_names().len(), 5);
    assert_eq!(receiver.requests(), 3);
    assert_eq!(
        (stats.exported, stats.dropped_export_failed),
        (5, 0),
        "{stats:?}"
    );
}

#[test]
fn retry_after_is_honoured() {
    let receiver = Receiver::http(0, &[Reply::Throttle(503, 1)]);
    let pipeline = run(
        http_config(receiver.addr.port()),
        quick(Duration::from_secs(30)),
        || emit(1),
    );
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    assert_eq!(receiver.span_names().len(), 1);
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 2);
    // A lower bound only: the retry must not come before the server asked.
    assert!(
        arrivals[1] - arrivals[0] >= Duration::from_millis(950),
        "{:?}",
        arrivals[1] - arrivals[0]
    );
}

#[test]
fn grpc_refusals_are_retried_too() {
    let receiver = Receiver::grpc(0, &[Reply::Refuse(503)]);
    let config = OtlpExportConfig::new(format!("http://{}", receiver.addr), OtlpProtocol::Grpc);
    let pipeline = run(config, quick(Duration::from_secs(30)), || emit(3));
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    assert_eq!(receiver.span_names().len(), 3);
    assert_eq!(receiver.requests(), 2);
    assert_eq!(pipeline.stats().exported, 3);
}

#[test]
fn a_collector_that_comes_up_late_gets_every_span() {
    let port = free_port();
    let pipeline = run(http_config(port), quick(Duration::from_secs(60)), || {
        emit(10)
    });
    wait_until(|| pipeline.stats().export_errors >= 1);
    assert!(
        pipeline.stats().export_errors >= 1,
        "the first try must have failed"
    );
    let receiver = Receiver::http(port, &[]);
    assert!(pipeline.force_flush(Duration::from_secs(60)));
    assert_eq!(receiver.span_names().len(), 10);
    let stats = pipeline.stats();
    assert_eq!(
        (stats.exported, stats.dropped_export_failed),
        (10, 0),
        "{stats:?}"
    );
}

#[test]
fn a_dead_collector_costs_counted_drops_not_a_hang() {
    let pipeline = run(
        http_config(free_port()),
        quick(Duration::from_millis(300)),
        || emit(4),
    );
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    let stats = pipeline.stats();
    assert_eq!(
        (stats.exported, stats.dropped_export_failed),
        (0, 4),
        "{stats:?}"
    );
    assert!(stats.export_errors >= 1, "{stats:?}");
    assert!(pipeline.shutdown(Duration::from_secs(30)));
}

#[test]
fn a_stalled_request_times_out_and_is_retried() {
    let receiver = Receiver::http(0, &[Reply::Stall(Duration::from_secs(3))]);
    let config = OtlpExportConfig {
        timeout: Duration::from_millis(200),
        ..http_config(receiver.addr.port())
    };
    let pipeline = run(config, quick(Duration::from_secs(30)), || emit(2));
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    let stats = pipeline.stats();
    assert!(stats.export_errors >= 1, "{stats:?}");
    assert_eq!(
        (stats.exported, stats.dropped_export_failed),
        (2, 0),
        "{stats:?}"
    );
    assert!(receiver.requests() >= 2);
}

#[test]
fn with_the_collector_down_every_span_is_exported_or_counted() {
    let pipeline_config = PipelineConfig {
        max_queue_size: 8,
        max_export_batch_size: 4,
        schedule_delay: Duration::from_millis(5),
        export_timeout: Duration::from_millis(200),
        max_concurrent_exports: 1,
    };
    let pipeline = run(http_config(free_port()), pipeline_config, || emit(200));
    assert!(pipeline.shutdown(Duration::from_secs(30)));
    let stats = pipeline.stats();
    assert!(stats.dropped_queue_full > 0, "{stats:?}");
    assert!(stats.dropped_export_failed > 0, "{stats:?}");
    assert_eq!(
        stats.exported
            + stats.dropped_queue_full
            + stats.dropped_export_failed
            + stats.dropped_rejected
            + stats.abandoned_at_shutdown
            + stats.dropped_after_shutdown,
        200,
        "{stats:?}"
    );
    assert_eq!(stats.pending, 0, "{stats:?}");
}

#[test]
fn shutdown_delivers_inside_every_kind_of_runtime() {
    for setting in ["none", "current_thread", "multi_thread"] {
        for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
            let receiver = match protocol {
                OtlpProtocol::Grpc => Receiver::grpc(0, &[]),
                OtlpProtocol::HttpProtobuf => Receiver::http(0, &[]),
            };
            let config = match protocol {
                OtlpProtocol::Grpc => {
                    OtlpExportConfig::new(format!("http://{}", receiver.addr), protocol)
                }
                OtlpProtocol::HttpProtobuf => http_config(receiver.addr.port()),
            };
            // A long schedule delay: only the shutdown's flush sends the spans.
            let slow = PipelineConfig {
                schedule_delay: Duration::from_secs(3600),
                ..PipelineConfig::default()
            };
            let pipeline = run(config, slow, || emit(3));
            let shut_down = match setting {
                "none" => pipeline.shutdown(Duration::from_secs(30)),
                "current_thread" => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(async { pipeline.shutdown(Duration::from_secs(30)) }),
                _ => tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(async { pipeline.shutdown(Duration::from_secs(30)) }),
            };
            assert!(shut_down, "{setting} {protocol:?}");
            assert_eq!(receiver.span_names().len(), 3, "{setting} {protocol:?}");
        }
    }
}

fn grpc_config(receiver: &Receiver) -> OtlpExportConfig {
    OtlpExportConfig::new(format!("http://{}", receiver.addr), OtlpProtocol::Grpc)
}

/// Both transports, each against a receiver answering `script` then `fallback`.
fn both_transports(script: &[Reply], fallback: Reply) -> [(Receiver, OtlpExportConfig); 2] {
    let http = Receiver::http_then(0, script, fallback);
    let http_config = http_config(http.addr.port());
    let grpc = Receiver::grpc_then(0, script, fallback);
    let grpc_config = grpc_config(&grpc);
    [(http, http_config), (grpc, grpc_config)]
}

#[test]
fn a_permanent_refusal_is_sent_once_and_counted_as_rejected() {
    for status in [400, 401, 403, 404] {
        for (receiver, config) in both_transports(&[Reply::Refuse(status)], Reply::Accept) {
            let protocol = config.protocol;
            let pipeline = run(config, quick(Duration::from_secs(30)), || emit(5));
            assert!(pipeline.force_flush(Duration::from_secs(30)));
            let stats = pipeline.stats();
            assert_eq!(
                receiver.requests(),
                1,
                "{status} {protocol:?}: never retried"
            );
            assert_eq!(
                (
                    stats.exported,
                    stats.dropped_rejected,
                    stats.dropped_export_failed
                ),
                (0, 5, 0),
                "{status} {protocol:?}: {stats:?}"
            );
        }
    }
}

#[test]
fn the_delay_a_throttling_receiver_asks_for_is_honoured() {
    // HTTP: 429 with `Retry-After: 2`; gRPC: RESOURCE_EXHAUSTED with `RetryInfo` of 2 s.
    for (receiver, config) in both_transports(&[Reply::Throttle(429, 2)], Reply::Accept) {
        let protocol = config.protocol;
        let pipeline = run(config, quick(Duration::from_secs(30)), || emit(2));
        assert!(pipeline.force_flush(Duration::from_secs(30)));
        let arrivals = receiver.arrivals();
        assert_eq!(arrivals.len(), 2, "{protocol:?}");
        assert!(
            arrivals[1] - arrivals[0] >= Duration::from_secs(2),
            "{protocol:?}: {:?}",
            arrivals[1] - arrivals[0]
        );
        assert_eq!(pipeline.stats().exported, 2, "{protocol:?}");
    }
}

#[test]
fn a_retry_after_beyond_the_export_timeout_gives_up_at_once() {
    let receiver = Receiver::http(0, &[Reply::Throttle(503, 3600)]);
    let pipeline = run(
        http_config(receiver.addr.port()),
        quick(Duration::from_secs(5)),
        || emit(3),
    );
    // Far less than the hour asked for: the batch is dropped rather than held.
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    let stats = pipeline.stats();
    assert_eq!(receiver.requests(), 1);
    assert_eq!(
        (stats.exported, stats.dropped_export_failed),
        (0, 3),
        "{stats:?}"
    );
}

#[test]
fn unavailable_is_retried_with_growing_pauses_until_the_export_timeout() {
    for (receiver, config) in both_transports(&[], Reply::Refuse(503)) {
        let protocol = config.protocol;
        let budget = Duration::from_millis(1500);
        let pipeline = run(config, quick(budget), || emit(4));
        assert!(pipeline.force_flush(Duration::from_secs(30)));
        let stats = pipeline.stats();
        assert_eq!(
            (stats.exported, stats.dropped_export_failed),
            (0, 4),
            "{protocol:?}: {stats:?}"
        );
        let arrivals = receiver.arrivals();
        // 100 ms doubling (each pause drawn from the upper half): at least 50+100+200+400 ms
        // fit in 1.5 s, so five tries or more, and none after the budget.
        assert!(
            arrivals.len() >= 4,
            "{protocol:?}: {} tries",
            arrivals.len()
        );
        assert_eq!(stats.export_errors, arrivals.len() as u64, "{protocol:?}");
        let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.windows(2).filter(|g| g[1] > g[0]).count() >= gaps.len() / 2,
            "{protocol:?}: pauses should mostly grow: {gaps:?}"
        );
        let first = arrivals[0];
        let last = *arrivals.last().expect("tries");
        assert!(
            last - first <= budget,
            "{protocol:?}: tried past the budget"
        );
    }
}

#[test]
fn a_partial_success_counts_the_rejected_spans() {
    for (receiver, config) in both_transports(&[Reply::Partial(2)], Reply::Accept) {
        let protocol = config.protocol;
        let pipeline = run(config, quick(Duration::from_secs(30)), || emit(5));
        assert!(pipeline.force_flush(Duration::from_secs(30)));
        let stats = pipeline.stats();
        assert_eq!(receiver.requests(), 1, "{protocol:?}: not retried");
        assert_eq!(
            (stats.exported, stats.dropped_rejected),
            (3, 2),
            "{protocol:?}: {stats:?}"
        );
    }
}
