//! User code that logs while telescope is handling its value: a field whose `Debug` logs, in
//! an event, in a span's creation and in `span.record`, a `Debug` that records on the current
//! span, and a health check that logs such a field, all with every layer of `try_init()`
//! installed. None may hang; the nested lines are written like any other.

#[path = "../support/capture.rs"]
mod capture;

use std::sync::mpsc;
use std::time::Duration;

use capture::Capture;
use telescope::health::{check_fn, CheckConfig, CheckResult};

/// A value whose `Debug` logs an event (with a field of its own) first.
struct Loud(&'static str);

impl std::fmt::Debug for Loud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::info!(inner = self.0, "formatting {}", self.0);
        f.write_str(self.0)
    }
}

/// A value whose `Debug` records a field on the current span.
struct Recorder;

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::Span::current().record("noted", "from-debug");
        f.write_str("recorder")
    }
}

/// Runs `body` on its own thread; a hang is reported instead of hanging the test run.
fn without_hanging(what: &str, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(60)).is_ok(),
        "{what} deadlocked"
    );
}

#[test]
fn logging_from_inside_a_logged_value_never_deadlocks() {
    let logs = Capture::default();
    let telemetry = telescope::builder()
        .service_name("reentrancy")
        .admin_address("127.0.0.1:0")
        .log_writer(logs.clone())
        .try_init()
        .expect("the only init in this process");

    without_hanging("an event field", || {
        let span = tracing::info_span!("request", noted = tracing::field::Empty);
        let _entered = span.enter();
        tracing::info!(x = ?Loud("in-event"), "outer event");
        tracing::info!(y = ?Recorder, "records on its span");
    });
    without_hanging("span creation", || {
        let span = tracing::info_span!("created", x = ?Loud("in-span-creation"));
        drop(span.enter());
    });
    without_hanging("span.record", || {
        let span = tracing::info_span!("recorded", x = tracing::field::Empty);
        span.record("x", tracing::field::debug(Loud("in-record")));
        let _entered = span.enter();
        tracing::info!("after the record");
    });
    let health = telemetry.health().clone();
    health
        .register(
            check_fn("loud", || async {
                tracing::info!(x = ?Loud("in-health-check"), "checking");
                CheckResult::pass()
            }),
            CheckConfig::readiness().interval(Duration::from_millis(50)),
        )
        .expect("registers");
    without_hanging("a health check", move || {
        while health.runs("loud").unwrap_or(0) < 2 {
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    assert!(telemetry.flush(Duration::from_secs(10)));

    let text = logs.text();
    for expected in [
        "formatting in-event",
        "outer event",
        "records on its span",
        "formatting in-span-creation",
        "formatting in-record",
        "after the record",
        "formatting in-health-check",
        "checking",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
    // The recorded values landed where they belong.
    let after = logs
        .json_lines()
        .into_iter()
        .find(|line| line["message"] == "after the record")
        .expect("the line");
    assert_eq!(after["span"]["x"], "in-record", "{after}");
    let spans = telemetry.traces().ring().spans();
    let recorded = spans
        .iter()
        .find(|span| span.name == "recorded")
        .expect("the recorded span");
    assert!(
        recorded
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "x" && kv.value.as_str() == "in-record"),
        "{recorded:?}"
    );
    let request = spans
        .iter()
        .find(|span| span.name == "request")
        .expect("the request span");
    assert!(
        request
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "noted" && kv.value.as_str() == "from-debug"),
        "{request:?}"
    );
}
