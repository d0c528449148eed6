//! One redaction policy for every sink `init()` sets up: secrets planted through span fields
//! (at creation and by `record`), events in a span, the message text, Debug values and error
//! chains under harmless names, `Secret<T>`, an integer card number, a bearer token, a request's
//! query string and metric labels never appear in the JSON or pretty log lines, in
//! `/debug/traces` (HTML and JSON, over a real socket), in the OTLP requests a collector
//! receives (decoded with the official protobufs) or in `/metrics`; the values next to them
//! do. (Records of the `log` crate, bridged only by a global `try_init`, are checked in
//! `tests/log_records`.)

#[path = "../support/capture.rs"]
mod capture;
use telescope_test_support::http_client;

use std::time::Duration;

use capture::Capture;
use telescope::otlp::{OtlpExportConfig, OtlpProtocol};
use telescope::{LogFormat, Redaction};
use telescope_test_support::otlp_receiver::Receiver;
use telescope_test_support::secrets::{plant_named_secrets, Creds, NAMED_SECRETS};

/// Planted inside values, under harmless names, in a query string and as a metric label
/// (beside [`NAMED_SECRETS`]).
const OTHER_SECRETS: [&str; 9] = [
    "lbl-secret-9",
    "msg-pass-77",
    "cause-secret-5",
    "4111111111111111",
    "4242 4242 4242 4242",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "qs-pass-1",
    "qs-token-2",
    "qs-sig-3",
];

/// An error whose cause carries a secret in its message.
#[derive(Debug)]
struct Outer(Cause);

#[derive(Debug)]
struct Cause;

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("login failed")
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("upstream said password=cause-secret-5")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl std::error::Error for Cause {}

fn plant_secrets() {
    plant_named_secrets(plant_other_secrets);
    request_with_secrets_in_the_query();
}

/// One request through `TelemetryLayer` whose query string carries secrets; its handler logs.
fn request_with_secrets_in_the_query() {
    use tower::ServiceExt;
    let app = axum::Router::new()
        .route(
            "/login",
            axum::routing::get(|| async {
                tracing::info!(user = "ada", "logging in");
                "ok"
            }),
        )
        .layer(telescope::http::TelemetryLayer::new());
    let request = http::Request::get(
        "/login?user=ada&password=qs-pass-1&access_token=qs-token-2&X-Goog-Signature=qs-sig-3",
    )
    .body(axum::body::Body::empty())
    .expect("request");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let response = runtime.block_on(app.oneshot(request)).expect("infallible");
    assert_eq!(response.status(), 200);
}

fn plant_other_secrets() {
    metrics::counter!("logins_total", "api_key" => "lbl-secret-9", "outcome" => "ok").increment(1);
    // Inside values, under harmless names: the value scanner's part.
    let password = "msg-pass-77";
    tracing::info!("retrying with password={password} for ada");
    tracing::info!(
        details = ?Creds { user: "ada", password: "pw-in-debug" },
        cause = &Outer(Cause) as &(dyn std::error::Error + 'static),
        card = 4111111111111111_u64,
        note = "paid with 4242 4242 4242 4242",
        header = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        "payment"
    );
}

/// Everything each sink shows after [`plant_secrets`], as text.
fn sinks(format: LogFormat) -> Vec<(&'static str, String)> {
    let logs = Capture::default();
    let collector = Receiver::http(0, &[]);
    let (dispatch, telemetry) = telescope::builder()
        .service_name("redaction")
        .admin_address("127.0.0.1:0")
        .otlp_export(OtlpExportConfig::new(
            format!("http://{}/v1/traces", collector.addr),
            OtlpProtocol::HttpProtobuf,
        ))
        .log_format(format)
        .redaction(Redaction::default().with_name("iban"))
        .log_writer(logs.clone())
        .build()
        .expect("builds");
    let recorder = telemetry.metrics_recorder();
    metrics::with_local_recorder(&recorder, || {
        tracing::dispatcher::with_default(&dispatch, plant_secrets);
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let admin = telemetry.admin_addr().expect("admin server");
    let get = |path: &str| {
        let reply = http_client::request(admin, "GET", path, &[], "");
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        reply.body
    };
    let received = collector.received();
    assert!(!received.is_empty(), "the collector received nothing");
    vec![
        ("log lines", logs.text()),
        ("OTLP requests", format!("{received:?}")),
        ("/debug/traces", get("/debug/traces")),
        (
            "/debug/traces?format=json",
            get("/debug/traces?format=json"),
        ),
        ("/metrics", get("/metrics")),
    ]
}

#[test]
fn no_sink_shows_a_planted_secret() {
    for format in [LogFormat::Json, LogFormat::Pretty] {
        for (sink, text) in sinks(format) {
            for secret in NAMED_SECRETS.iter().chain(&OTHER_SECRETS) {
                assert!(
                    !text.contains(secret),
                    "{format:?}: {sink} shows {secret}:\n{text}"
                );
            }
            // The values next to the secrets are still there.
            let expected = if sink == "/metrics" {
                "outcome=\"ok\""
            } else {
                "ada"
            };
            assert!(
                text.contains(expected),
                "{format:?}: {sink} lost {expected}:\n{text}"
            );
            if sink != "/metrics" {
                assert!(text.contains("[REDACTED]"), "{format:?}: {sink}:\n{text}");
                // The query string keeps its harmless parameters and the secret ones' names
                // (`&` is `&amp;` in HTML).
                for part in ["user=ada&", "password=REDACTED&", "access_token=REDACTED&"] {
                    let html = part.replace('&', "&amp;");
                    assert!(
                        text.contains(part) || text.contains(&html),
                        "{format:?}: {sink} lost {part} of the query string:\n{text}"
                    );
                }
            }
        }
    }
}
