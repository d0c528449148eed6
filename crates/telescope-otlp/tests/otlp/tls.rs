//! OTLP over TLS to receivers on 127.0.0.1 with certificates made by rcgen, both transports:
//! delivery to a receiver whose CA is configured, a receiver signed by another CA refused and
//! counted, and mutual TLS required, then satisfied.

use std::time::Duration;

use telescope_otlp::{
    OtlpExport, OtlpExportConfig, OtlpLayer, OtlpProtocol, OtlpTls, Pipeline, PipelineConfig,
    TlsError,
};
use telescope_test_support::otlp_receiver::Receiver;
use telescope_test_support::tls::TestPki;
use tracing_subscriber::layer::SubscriberExt;

const H2: &[u8] = b"h2";
const HTTP1: &[u8] = b"http/1.1";

/// A receiver of `protocol` over TLS with `pki`'s server certificate.
fn receiver(protocol: OtlpProtocol, pki: &TestPki, mutual: bool) -> Receiver {
    match protocol {
        OtlpProtocol::HttpProtobuf => Receiver::https(0, pki.server_config(mutual, &[HTTP1])),
        OtlpProtocol::Grpc => Receiver::grpc_tls(0, pki.server_config(mutual, &[H2])),
    }
}

fn config(protocol: OtlpProtocol, receiver: &Receiver, tls: OtlpTls) -> OtlpExportConfig {
    let port = receiver.addr.port();
    let endpoint = match protocol {
        // `localhost`, not the address: the name the server certificate is checked against.
        OtlpProtocol::HttpProtobuf => format!("https://localhost:{port}/v1/traces"),
        OtlpProtocol::Grpc => format!("https://localhost:{port}"),
    };
    OtlpExportConfig::new(endpoint, protocol).tls(tls)
}

/// Exports three spans with `config` and waits for the pipeline to settle them.
fn export_three(config: OtlpExportConfig) -> Pipeline {
    let layer = OtlpLayer::builder()
        .exporter(OtlpExport::new(config))
        .pipeline(PipelineConfig {
            schedule_delay: Duration::from_millis(20),
            export_timeout: Duration::from_secs(2),
            ..PipelineConfig::default()
        })
        .build();
    let pipeline = layer.pipeline();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for index in 0..3 {
            tracing::info_span!("secure", index).in_scope(|| {});
        }
    });
    assert!(pipeline.force_flush(Duration::from_secs(30)));
    pipeline
}

fn trusting(pki: &TestPki) -> OtlpTls {
    OtlpTls {
        ca_certificate: Some(pki.ca()),
        ..OtlpTls::default()
    }
}

const BOTH: [OtlpProtocol; 2] = [OtlpProtocol::HttpProtobuf, OtlpProtocol::Grpc];

#[test]
fn spans_arrive_over_tls_when_the_ca_is_trusted() {
    let pki = TestPki::new();
    for protocol in BOTH {
        let receiver = receiver(protocol, &pki, false);
        let pipeline = export_three(config(protocol, &receiver, trusting(&pki)));
        assert_eq!(pipeline.stats().exported, 3, "{protocol:?}");
        assert_eq!(receiver.span_names(), ["secure"; 3], "{protocol:?}");
        assert_eq!(receiver.handshakes_failed(), 0, "{protocol:?}");
    }
}

#[test]
fn a_receiver_signed_by_another_ca_is_refused_and_counted() {
    let ours = TestPki::new();
    let theirs = TestPki::new();
    for protocol in BOTH {
        let receiver = receiver(protocol, &theirs, false);
        let pipeline = export_three(config(protocol, &receiver, trusting(&ours)));
        let stats = pipeline.stats();
        assert_eq!(stats.exported, 0, "{protocol:?}");
        assert_eq!(
            stats.dropped_rejected, 3,
            "refused for good, not retried: {protocol:?} {stats:?}"
        );
        assert_eq!(stats.export_errors, 1, "one try only: {protocol:?}");
        assert_eq!(receiver.requests(), 0, "{protocol:?}");
        // The receiver counts the failed handshake on its own task: wait for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while receiver.handshakes_failed() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(receiver.handshakes_failed() >= 1, "{protocol:?}");
    }
}

#[test]
fn without_a_configured_ca_a_private_ca_is_not_trusted() {
    // The system roots do not hold the test CA: the default is safe, not permissive.
    let pki = TestPki::new();
    let receiver = receiver(OtlpProtocol::HttpProtobuf, &pki, false);
    let pipeline = export_three(config(
        OtlpProtocol::HttpProtobuf,
        &receiver,
        OtlpTls::default(),
    ));
    assert_eq!(pipeline.stats().exported, 0);
    assert_eq!(pipeline.stats().dropped_rejected, 3);
}

#[test]
fn mutual_tls_is_refused_without_a_client_certificate_and_delivered_with_one() {
    let pki = TestPki::new();
    for protocol in BOTH {
        let receiver = receiver(protocol, &pki, true);
        let without = export_three(config(protocol, &receiver, trusting(&pki)));
        let stats = without.stats();
        assert_eq!(stats.exported, 0, "{protocol:?}");
        assert_eq!(
            stats.dropped_rejected + stats.dropped_export_failed,
            3,
            "counted: {protocol:?} {stats:?}"
        );
        assert_eq!(receiver.requests(), 0, "{protocol:?}");
        let with = export_three(config(
            protocol,
            &receiver,
            OtlpTls {
                ca_certificate: Some(pki.ca()),
                client_certificate: Some(pki.client_certificate()),
                client_key: Some(pki.client_key()),
            },
        ));
        assert_eq!(with.stats().exported, 3, "{protocol:?}");
        assert_eq!(receiver.span_names(), ["secure"; 3], "{protocol:?}");
    }
}

#[test]
fn tls_settings_come_from_the_environment() {
    let pki = TestPki::new();
    let receiver = receiver(OtlpProtocol::Grpc, &pki, true);
    let endpoint = format!("localhost:{}", receiver.addr.port());
    let ca = pki.ca().display().to_string();
    let certificate = pki.client_certificate().display().to_string();
    let key = pki.client_key().display().to_string();
    let env = |name: &str| {
        match name {
            // Scheme-less gRPC: secure by default.
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".to_owned()),
            "OTEL_EXPORTER_OTLP_CERTIFICATE" => Some(ca.clone()),
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE" => Some(certificate.clone()),
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY" => Some(key.clone()),
            _ => None,
        }
    };
    let config = OtlpExportConfig::from_env(env)
        .expect("valid")
        .expect("an endpoint");
    assert_eq!(config.tls.ca_certificate, Some(pki.ca()));
    let pipeline = export_three(config);
    assert_eq!(pipeline.stats().exported, 3);
    assert_eq!(receiver.span_names().len(), 3);
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused_at_configuration() {
    let pki = TestPki::new();
    let tls = OtlpTls {
        ca_certificate: Some(pki.ca()),
        client_certificate: Some(pki.client_certificate()),
        client_key: Some(pki.server_key()),
    };
    assert!(
        matches!(tls.validate(), Err(TlsError::Refused(_))),
        "{:?}",
        tls.validate()
    );
    let key = pki.server_key().display().to_string();
    let certificate = pki.client_certificate().display().to_string();
    let env = |name: &str| match name {
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" => Some(certificate.clone()),
        "OTEL_EXPORTER_OTLP_CLIENT_KEY" => Some(key.clone()),
        _ => None,
    };
    let error = OtlpExportConfig::from_env(env).expect_err("mismatched key");
    assert_eq!(error.var, "OTEL_EXPORTER_OTLP_CLIENT_KEY");
    // Built in code, the same mistake costs the batches, refused for good and counted.
    let receiver = receiver(OtlpProtocol::HttpProtobuf, &pki, false);
    let pipeline = export_three(config(OtlpProtocol::HttpProtobuf, &receiver, tls));
    assert_eq!(pipeline.stats().exported, 0);
    assert_eq!(pipeline.stats().dropped_rejected, 3);
}
