//! Secrets stay in: fields with a secret name never reach a span, the ring or the OTLP body,
//! whichever way they enter (span field at creation, `record`, an event in the span, a Debug
//! value, an error), while the values next to them do.

use std::time::Duration;

use opentelemetry::Value;
use telescope_core::{Redaction, Secret};
use telescope_otlp::{OtlpExport, OtlpExportConfig, OtlpLayer, OtlpProtocol, PipelineConfig};
use telescope_test_support::otlp_receiver::Receiver;
use tracing_subscriber::layer::SubscriberExt;

const SECRETS: [&str; 6] = [
    "hunter2",
    "tok_visa_4242",
    "sk_live_51H",
    "pw-in-debug",
    "DE89370400440532013000",
    "wrapped-secret",
];

#[derive(Debug)]
#[allow(dead_code)] // read through Debug only
struct Creds {
    user: &'static str,
    password: &'static str,
}

#[derive(Debug)]
struct LeakyError;

impl std::fmt::Display for LeakyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rejected sk_live_51H")
    }
}

impl std::error::Error for LeakyError {}

fn plant_secrets() {
    let span = tracing::info_span!(
        "login",
        password = "hunter2",
        user = "ada",
        token = tracing::field::Empty,
        iban = "DE89370400440532013000",
    );
    span.record("token", "tok_visa_4242");
    let _entered = span.enter();
    let error = LeakyError;
    tracing::info!(
        api_key = "sk_live_51H",
        credentials = ?Creds { user: "ada", password: "pw-in-debug" },
        private_key = &error as &(dyn std::error::Error + 'static),
        wrapped = %Secret::new("wrapped-secret"),
        attempt = 2,
        "signing in"
    );
}

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
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), plant_secrets);
    assert!(pipeline.force_flush(Duration::from_secs(30)));

    let spans = pipeline.ring().spans();
    assert_eq!(spans.len(), 1);
    let kept = format!("{:?}", spans[0]);
    let received = format!("{:?}", receiver.received());
    assert!(received.contains("login"), "{received}");
    for secret in SECRETS {
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
