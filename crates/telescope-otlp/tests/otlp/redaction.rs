//! Secrets stay in: fields with a secret name never reach a span, the ring or the OTLP body,
//! whichever way they enter (span field at creation, `record`, an event in the span, a Debug
//! value, an error), while the values next to them do.

use std::time::Duration;

use opentelemetry::Value;
use telescope_core::Redaction;
use telescope_otlp::{OtlpExport, OtlpExportConfig, OtlpLayer, OtlpProtocol, PipelineConfig};
use telescope_test_support::otlp_receiver::Receiver;
use telescope_test_support::secrets::{plant_named_secrets, NAMED_SECRETS};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn no_secret_reaches_the_ring_or_the_receiver() {
    let receiver = Receiver::http(0, &[]);
    let layer = OtlpLayer::builder()
        .redaction(Redaction::default().with_name("iban"))
        .exporter(OtlpExport::new(OtlpExportConfig::new(
            format!("http://{}/v1/traces", receiver.addr),
            OtlpProtocol::HttpProtobuf,
        )))
        .pipeline(PipelineConfig {
            schedule_delay: Duration::from_millis(10),
            ..PipelineConfig::default()
        })
        .build();
    let pipeline = layer.pipeline();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        plant_named_secrets(|| {});
    });
    assert!(pipeline.force_flush(Duration::from_secs(30)));

    let spans = pipeline.ring().spans();
    assert_eq!(spans.len(), 1);
    let kept = format!("{:?}", spans[0]);
    let received = format!("{:?}", receiver.received());
    assert!(received.contains("login"), "{received}");
    for secret in NAMED_SECRETS {
        assert!(!kept.contains(secret), "the ring holds {secret}: {kept}");
        assert!(
            !received.contains(secret),
            "the export carries {secret}: {received}"
        );
    }
    let attribute = |key: &str| {
        spans[0]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    };
    for key in ["password", "token", "iban"] {
        assert_eq!(attribute(key), Some(Value::from("[REDACTED]")), "{key}");
    }
    assert_eq!(attribute("user"), Some(Value::from("ada")));
    let event = &spans[0].events.events[0];
    let event_attribute = |key: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    };
    for key in ["api_key", "credentials", "private_key"] {
        assert_eq!(
            event_attribute(key),
            Some(Value::from("[REDACTED]")),
            "{key}"
        );
    }
    assert_eq!(event_attribute("wrapped"), Some(Value::from("[REDACTED]")));
    assert_eq!(event_attribute("attempt"), Some(Value::I64(2)));
    assert_eq!(event.name, "signing in");
}
