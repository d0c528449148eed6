//! Zipkin v2 JSON export to a receiver on 127.0.0.1 that parses what it is sent: ids,
//! parent, kind, timestamps in microseconds, tags, annotations, endpoints, status.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use telescope_otlp::{OtlpLayer, PipelineConfig, ZipkinConfig, ZipkinExport};
use telescope_test_support::otlp_receiver::{free_port, Receiver, Reply};
use tracing_subscriber::layer::SubscriberExt;

fn config(receiver: &Receiver) -> ZipkinConfig {
    ZipkinConfig::new(
        format!("http://127.0.0.1:{}/api/v2/spans", receiver.addr.port()),
        "ignored",
    )
    .resource(vec![
        ("service.name".to_owned(), "checkout".to_owned()),
        (
            "deployment.environment.name".to_owned(),
            "staging".to_owned(),
        ),
    ])
}

fn quick() -> PipelineConfig {
    PipelineConfig {
        schedule_delay: Duration::from_millis(20),
        export_timeout: Duration::from_millis(500),
        ..PipelineConfig::default()
    }
}

#[test]
fn spans_arrive_as_zipkin_v2_json() {
    let receiver = Receiver::http(0, &[]);
    let layer = OtlpLayer::builder()
        .exporter(ZipkinExport::new(config(&receiver)))
        .pipeline(quick())
        .build();
    let pipeline = layer.pipeline();
    let before = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as u64;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!(
            "GET /orders",
            otel.kind = "server",
            http.route = "/orders",
            rows = 3
        )
        .in_scope(|| {
            tracing::info_span!("charge", otel.kind = "client", peer.service = "payments")
                .in_scope(|| {
                    tracing::info!(amount = 12, "charging");
                    tracing::error!("card declined");
                });
            tracing::info!("done");
        });
    });
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    assert_eq!(pipeline.stats().exported, 2);
    let spans = receiver.zipkin_spans();
    let by_name = |name: &str| -> &Value {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {spans:?}"))
    };
    let (server, client) = (by_name("GET /orders"), by_name("charge"));
    let ring = pipeline.ring().spans();
    let server_data = ring.iter().find(|s| s.name == "GET /orders").expect("kept");
    assert_eq!(
        server["traceId"],
        server_data.span_context.trace_id().to_string()
    );
    assert_eq!(server["id"], server_data.span_context.span_id().to_string());
    assert_eq!(server["traceId"].as_str().map(str::len), Some(32));
    assert!(server.get("parentId").is_none(), "a root has no parent");
    assert_eq!(client["parentId"], server["id"]);
    assert_eq!(client["traceId"], server["traceId"]);
    assert_eq!(
        (server["kind"].as_str(), client["kind"].as_str()),
        (Some("SERVER"), Some("CLIENT"))
    );
    let timestamp = server["timestamp"].as_u64().expect("microseconds");
    assert!(
        timestamp >= before && timestamp < before + 60_000_000,
        "{timestamp} {before}"
    );
    assert!(server["duration"].as_u64().expect("microseconds") >= 1);
    assert!(client["timestamp"].as_u64() >= Some(timestamp));
    assert_eq!(server["localEndpoint"]["serviceName"], "checkout");
    assert_eq!(client["remoteEndpoint"]["serviceName"], "payments");
    assert_eq!(server["tags"]["http.route"], "/orders");
    assert_eq!(server["tags"]["rows"], "3", "tags are strings");
    assert_eq!(server["tags"]["deployment.environment.name"], "staging");
    assert_eq!(server["tags"]["otel.scope.name"], "telescope");
    assert_eq!(client["tags"]["otel.status_code"], "ERROR");
    assert!(client["tags"]["error"].is_string());
    let annotations = client["annotations"].as_array().expect("events");
    assert_eq!(annotations.len(), 2);
    assert!(annotations
        .iter()
        .all(|a| a["timestamp"].as_u64() >= Some(timestamp)));
    let values: Vec<&str> = annotations
        .iter()
        .filter_map(|a| a["value"].as_str())
        .collect();
    assert!(values[0].starts_with("\"charging\": {"), "{values:?}");
    assert!(values[0].contains("\"amount\":12"), "{values:?}");
}

#[test]
fn a_refusal_and_a_dead_zipkin_are_counted() {
    let refusing = Receiver::http_then(0, &[], Reply::Refuse(400));
    let layer = OtlpLayer::builder()
        .exporter(ZipkinExport::new(config(&refusing)))
        .pipeline(quick())
        .build();
    let pipeline = layer.pipeline();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("refused").in_scope(|| {});
    });
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    assert_eq!(pipeline.stats().dropped_rejected, 1);

    let dead = ZipkinConfig::new(
        format!("http://127.0.0.1:{}/api/v2/spans", free_port()),
        "svc",
    );
    let layer = OtlpLayer::builder()
        .exporter(ZipkinExport::new(dead))
        .pipeline(quick())
        .build();
    let pipeline = layer.pipeline();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("lost").in_scope(|| {});
    });
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    assert_eq!(pipeline.stats().dropped_export_failed, 1);
}

#[test]
fn the_zipkin_settings_come_from_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let defaults = ZipkinConfig::from_env("svc", env(&[])).expect("valid");
    assert_eq!(defaults.endpoint, telescope_otlp::DEFAULT_ZIPKIN_ENDPOINT);
    assert_eq!(defaults.timeout, Duration::from_secs(10));
    let set = ZipkinConfig::from_env(
        "svc",
        env(&[
            (
                "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
                "https://zipkin.internal/api/v2/spans",
            ),
            ("OTEL_EXPORTER_ZIPKIN_TIMEOUT", "2500"),
        ]),
    )
    .expect("valid");
    assert_eq!(set.timeout, Duration::from_millis(2500));
    for (var, value) in [
        ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "zipkin:9411"),
        ("OTEL_EXPORTER_ZIPKIN_TIMEOUT", "0"),
    ] {
        let pairs: &'static [(&'static str, &'static str)] =
            Box::leak(vec![(var, value)].into_boxed_slice());
        assert_eq!(
            ZipkinConfig::from_env("svc", env(pairs))
                .err()
                .map(|e| e.var),
            Some(var)
        );
    }
}
