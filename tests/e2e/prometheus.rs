//! A real Prometheus server (Debian's `prometheus`, started here on 127.0.0.1 with a generated
//! config) scrapes the admin server, and its query API returns the request rate and the
//! exemplars; `promtool check metrics` accepts the scrape.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http_client::request;
use crate::promtool_support::promtool_check;
use crate::setup::setup;

/// Stops the Prometheus server when dropped.
pub(crate) struct Prometheus {
    child: Child,
    pub(crate) addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

fn start_prometheus(target: SocketAddr) -> Prometheus {
    start_prometheus_with(target, "", &[])
}

/// Prometheus scraping `target` every second, with `extra` appended to its configuration
/// and `files` (name, content) written beside it (rule files).
pub(crate) fn start_prometheus_with(
    target: SocketAddr,
    extra: &str,
    files: &[(&str, &str)],
) -> Prometheus {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("a file beside the config");
    }
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: telescope\n    static_configs:\n      - targets: ['{target}']\n{extra}"
        ),
    )
    .expect("config");
    let addr = free_addr();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--enable-feature=exemplar-storage")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is installed (apt-get install prometheus)");
    Prometheus {
        child,
        addr,
        _dir: dir,
    }
}

/// Percent-encodes a query parameter.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Asks Prometheus until `accept` finds what it wants in the answer's `data`, or 60 s pass.
pub(crate) fn poll<T>(
    prometheus: &Prometheus,
    path: &str,
    accept: impl Fn(&Value) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(prometheus.addr).is_ok() {
            let reply = request(prometheus.addr, "GET", path, &[], "");
            if let Ok(answer) = serde_json::from_str::<Value>(&reply.body) {
                if let Some(found) = accept(&answer["data"]) {
                    return found;
                }
            }
            last = reply.body;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("Prometheus never answered {path} as expected; last answer: {last}");
}

/// Waits until Prometheus scraped the target successfully (`up` is 1).
pub(crate) fn wait_until_up(prometheus: &Prometheus) {
    poll(
        prometheus,
        &format!("/api/v1/query?query={}", encode("up{job=\"telescope\"}")),
        |data| {
            let value = data["result"][0]["value"][1].as_str()?;
            (value == "1").then_some(())
        },
    );
}

#[test]
fn prometheus_scrapes_the_admin_server_and_sees_the_request_rate_and_exemplars() {
    let setup = setup();
    let _serial = setup
        .serial
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (stop, api) = (stop.clone(), setup.api);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                request(api, "GET", "/products", &[], "");
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // promtool accepts the Prometheus text scrape.
    let scrape = request(setup.admin, "GET", "/metrics", &[], "");
    assert_eq!(scrape.status, 200);
    let (accepted, said) = promtool_check(&scrape.body);
    assert!(accepted, "promtool: {said}\n{}", scrape.body);

    let prometheus = start_prometheus(setup.admin);
    wait_until_up(&prometheus);
    let rate = poll(
        &prometheus,
        &format!(
            "/api/v1/query?query={}",
            encode(
                "sum(rate(http_server_request_duration_seconds_count{route=\"/products\"}[10s]))"
            )
        ),
        |data| {
            let value: f64 = data["result"][0]["value"][1].as_str()?.parse().ok()?;
            (value > 0.0).then_some(value)
        },
    );
    assert!(
        rate > 1.0,
        "about 50 requests a second were sent; Prometheus says {rate}/s"
    );

    // Prometheus parsed our OpenMetrics exemplars, and they point at exported traces.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let trace_id = poll(
        &prometheus,
        &format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            encode("http_server_request_duration_seconds_bucket"),
            now - 600,
            now + 600
        ),
        |data| {
            data.as_array()?
                .iter()
                .flat_map(|series| series["exemplars"].as_array().into_iter().flatten())
                .find_map(|exemplar| exemplar["labels"]["trace_id"].as_str().map(str::to_owned))
        },
    );
    stop.store(true, Ordering::Relaxed);
    traffic.join().expect("traffic");
    let telemetry = setup.telemetry.lock().expect("telemetry");
    assert!(telemetry.flush(Duration::from_secs(10)));
    let exported: Vec<String> = setup
        .receiver
        .received()
        .iter()
        .flat_map(|r| r.request.resource_spans.iter())
        .flat_map(|r| r.scope_spans.iter())
        .flat_map(|s| s.spans.iter())
        .map(|span| span.trace_id.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert!(
        exported.contains(&trace_id),
        "exemplar trace {trace_id} was not exported"
    );
}

/// A real Prometheus scrapes a `/metrics` holding the metric set that once broke parsers:
/// the scrape succeeds (`up` is 1) and every sample of the exposition is ingested.
#[test]
fn prometheus_ingests_every_sample_of_a_hostile_metric_set() {
    use telescope::recorder::{Format, Matcher, MetricsServer, TelescopeRecorder};
    let (recorder, handle) = TelescopeRecorder::builder()
        .summary_for(Matcher::Full("s_summary".into()), &[0.5])
        .expect("valid quantiles")
        .build();
    metrics::with_local_recorder(&recorder, crate::hostile_metrics::record);
    // Prometheus asks for OpenMetrics first: count the samples of that render.
    let samples = handle
        .render(Format::OpenMetrics)
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .count();
    let server = MetricsServer::builder()
        .address("127.0.0.1:0")
        .start(handle)
        .expect("metrics server");
    let prometheus = start_prometheus(server.local_addr());
    wait_until_up(&prometheus);
    let scraped = poll(
        &prometheus,
        &format!(
            "/api/v1/query?query={}",
            encode("scrape_samples_scraped{job=\"telescope\"}")
        ),
        |data| {
            data["result"][0]["value"][1]
                .as_str()?
                .parse::<usize>()
                .ok()
        },
    );
    assert_eq!(scraped, samples, "every sample ingested");
    server.shutdown();
}
