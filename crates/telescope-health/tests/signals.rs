//! What the registry reports about itself: one log event per change of a check's status (not
//! per run), and the status gauge and duration histogram through the `metrics` facade.
//! Its own test binary, since it installs the global recorder and subscriber.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use telescope_health::{check_fn, CheckConfig, CheckResult, Health, Probe, Status};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

type Events = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

/// Keeps every event's fields (and level) as strings.
struct CaptureEvents(Events);

struct FieldsToStrings<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for FieldsToStrings<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for CaptureEvents {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        fields.insert("level".to_owned(), event.metadata().level().to_string());
        event.record(&mut FieldsToStrings(&mut fields));
        self.0.lock().expect("events").push(fields);
    }
}

fn wait_for(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn transitions_are_logged_once_and_metrics_recorded_every_run() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder in this binary");
    let events: Events = Arc::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(CaptureEvents(events.clone())),
    )
    .expect("the only subscriber in this binary");

    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let health = Health::new();
    health
        .register(
            check_fn("flappy", move || {
                let ok = flag.load(Ordering::SeqCst);
                async move {
                    if ok {
                        CheckResult::pass()
                    } else {
                        CheckResult::fail("dependency down")
                    }
                }
            }),
            CheckConfig::readiness()
                .also_in(Probe::Liveness)
                .interval(Duration::from_millis(10)),
        )
        .expect("register");

    let for_check = |message: &str| {
        events
            .lock()
            .expect("events")
            .iter()
            .filter(|e| {
                e.get("check").map(String::as_str) == Some("flappy")
                    && e.get("message").map(String::as_str) == Some(message)
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(wait_for(|| health.runs("flappy").unwrap_or(0) >= 3));
    healthy.store(false, Ordering::SeqCst);
    let runs_at_failure = health.runs("flappy").unwrap_or(0);
    assert!(wait_for(
        || health.runs("flappy").unwrap_or(0) >= runs_at_failure + 10
    ));
    healthy.store(true, Ordering::SeqCst);
    assert!(wait_for(|| health.report(Probe::Readiness, &[]).status()
        == Status::Pass
        && for_check("health check passing").len() == 2));

    let failing = for_check("health check failing");
    assert_eq!(
        failing.len(),
        1,
        "one event for ten failing runs: {failing:?}"
    );
    assert_eq!(failing[0]["level"], "WARN");
    assert_eq!(failing[0]["from"], "pass");
    assert_eq!(failing[0]["reason"], "dependency down");
    let passing = for_check("health check passing");
    assert_eq!(passing[0]["from"], "unknown", "the first result");
    assert_eq!(passing[1]["from"], "fail", "the recovery");
    assert_eq!(passing[1]["level"], "INFO");

    let runs = health.runs("flappy").unwrap_or(0);
    let snapshot = snapshotter.snapshot().into_vec();
    let gauges: Vec<(String, &DebugValue)> = snapshot
        .iter()
        .filter(|(key, ..)| key.key().name() == "telescope_health_status")
        .map(|(key, _, _, value)| {
            let probe = key
                .key()
                .labels()
                .find(|l| l.key() == "probe")
                .map(|l| l.value().to_owned())
                .unwrap_or_default();
            (probe, value)
        })
        .collect();
    assert_eq!(
        gauges.len(),
        2,
        "one gauge per probe the check is in: {gauges:?}"
    );
    for (_, value) in &gauges {
        assert_eq!(**value, DebugValue::Gauge(1.0.into()));
    }
    let durations = snapshot
        .iter()
        .find(|(key, ..)| key.key().name() == "telescope_health_check_duration_seconds")
        .map(|(.., value)| value);
    match durations {
        Some(DebugValue::Histogram(samples)) => assert!(
            samples.len() as u64 >= runs - 1,
            "{} samples for {runs} runs",
            samples.len()
        ),
        other => panic!("no duration histogram: {other:?}"),
    }
}
