//! Every sampled span ends in exactly one place, read the way an operator reads it: from
//! `/metrics` over a real socket, while `init()`-installed telemetry exports over OTLP/HTTP to
//! a receiver decoding the official protobufs. Healthy, permanent refusal, partial success,
//! outage, and a shutdown that gives up on a receiver that stalls: created spans ==
//! `telescope_spans_exported_total` + `telescope_spans_dropped_total{reason}`, exactly.
//!
//! One test in its own process: telemetry is installed globally (the exporter threads count
//! into the global recorder), and the `OTEL_BSP_*` settings come from the environment.

use telescope_test_support::http_client;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use telescope::otlp::sampler::AlwaysOn;
use telescope::otlp::{OtlpExportConfig, OtlpProtocol};
use telescope_test_support::otlp_receiver::{Receiver, Reply};

/// The span counters of one scrape: `exported`, and each drop reason.
#[derive(Debug, Clone, Default, PartialEq)]
struct Scraped(BTreeMap<String, u64>);

impl Scraped {
    fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// What changed since `before`.
    fn since(&self, before: &Scraped) -> Scraped {
        Scraped(
            self.0
                .iter()
                .map(|(key, value)| (key.clone(), value - before.get(key)))
                .filter(|(_, value)| *value > 0)
                .collect(),
        )
    }
}

fn scrape(admin: SocketAddr) -> Scraped {
    let reply = http_client::request(admin, "GET", "/metrics", &[], "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut counts = BTreeMap::new();
    for line in reply.body.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let key = if name == "telescope_spans_exported_total" {
            "exported".to_owned()
        } else if let Some(labels) = name.strip_prefix("telescope_spans_dropped_total{") {
            let reason = labels
                .split(',')
                .find_map(|label| label.strip_prefix("reason=\""))
                .and_then(|rest| rest.split('"').next())
                .expect("a reason label");
            format!("dropped:{reason}")
        } else {
            continue;
        };
        counts.insert(key, value as u64);
    }
    Scraped(counts)
}

fn emit(count: u64) -> u64 {
    for index in 0..count {
        tracing::info_span!("work", index).in_scope(|| {});
    }
    count
}

fn wait_until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn expect(case: &str, change: &Scraped, pairs: &[(&str, u64)]) {
    let expected = Scraped(
        pairs
            .iter()
            .filter(|(_, value)| *value > 0)
            .map(|(key, value)| ((*key).to_owned(), *value))
            .collect(),
    );
    assert_eq!(change, &expected, "{case}");
}

#[test]
fn created_spans_equal_exported_plus_dropped_by_reason_in_every_case() {
    for (var, value) in [
        ("OTEL_BSP_SCHEDULE_DELAY", "20"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "512"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "400"),
    ] {
        std::env::set_var(var, value);
    }
    let receiver = Receiver::http(0, &[]);
    let telemetry = telescope::builder()
        .service_name("accounting")
        .sampler(AlwaysOn)
        .admin_address("127.0.0.1:0")
        .otlp_export(OtlpExportConfig::new(
            format!("http://{}/v1/traces", receiver.addr),
            OtlpProtocol::HttpProtobuf,
        ))
        .log_writer(std::io::sink())
        .try_init()
        .expect("the only init in this process");
    let admin = telemetry.admin_addr().expect("admin server");
    let traces = telemetry.traces();
    let flush = || assert!(traces.force_flush(Duration::from_secs(30)));
    let mut created = 0;

    // Healthy.
    let before = scrape(admin);
    created += emit(1000);
    flush();
    expect(
        "healthy",
        &scrape(admin).since(&before),
        &[("exported", 1000)],
    );

    // A permanent refusal: every batch sent once, then dropped.
    receiver.set_replies(&[], Reply::Refuse(400));
    let (before, requests) = (scrape(admin), receiver.requests());
    created += emit(640);
    flush();
    expect(
        "permanent",
        &scrape(admin).since(&before),
        &[("dropped:rejected", 640)],
    );
    assert_eq!(
        receiver.requests() - requests,
        10,
        "10 batches, each sent once"
    );

    // Partial success: the rejected part is dropped, the rest exported.
    receiver.set_replies(&[Reply::Partial(5)], Reply::Accept);
    let before = scrape(admin);
    created += emit(64);
    flush();
    expect(
        "partial",
        &scrape(admin).since(&before),
        &[("exported", 59), ("dropped:rejected", 5)],
    );

    // An outage longer than the export timeout, with spans coming faster than the backlog
    // holds.
    receiver.set_replies(&[], Reply::Refuse(503));
    let before = scrape(admin);
    created += emit(5000);
    flush();
    let change = scrape(admin).since(&before);
    assert!(change.get("dropped:queue_full") > 0, "{change:?}");
    assert!(change.get("dropped:export_failed") > 0, "{change:?}");
    assert_eq!(change.total(), 5000, "outage: {change:?}");
    assert_eq!(change.get("exported"), 0, "outage: {change:?}");

    // A shutdown that gives up while the receiver stalls on a batch: what waits is dropped
    // (reason shutdown), the batch in flight is counted by its outcome when the receiver
    // answers, and spans that end afterwards are dropped too.
    receiver.set_replies(&[Reply::Stall(Duration::from_millis(1500))], Reply::Accept);
    let before = scrape(admin);
    created += emit(200);
    wait_until(|| receiver.requests() > 0 && traces.stats().pending <= 200);
    assert!(
        !traces.shutdown(Duration::from_millis(300)),
        "the stall outlasts it"
    );
    created += emit(5);
    wait_until(|| traces.stats().pending == 0);
    let change = scrape(admin).since(&before);
    assert_eq!(change.total(), 205, "shutdown: {change:?}");
    assert!(
        change.get("exported") > 0,
        "the stalled batch was accepted: {change:?}"
    );
    assert!(change.get("dropped:shutdown") >= 5, "{change:?}");
    assert_eq!(
        change.get("exported") + change.get("dropped:shutdown"),
        205,
        "shutdown: {change:?}"
    );

    let everything = scrape(admin);
    assert_eq!(everything.total(), created, "{everything:?}");
    assert_eq!(traces.stats().pending, 0);
    drop(telemetry);
}
