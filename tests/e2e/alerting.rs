//! SLO alerting end to end, with the real thing: Prometheus (Debian's `prometheus`) loads the
//! generated rules (every window divided by 60), scrapes a service that starts failing, and
//! sends the firing alert to Alertmanager (Debian's `prometheus-alertmanager`, configured by
//! the generated routing), which delivers it to a webhook receiver here; the alert resolves
//! once the failures stop; and `/slo`'s numbers agree with what Prometheus computes. All on
//! 127.0.0.1, every process stopped when the test ends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use telescope::slo::{Receiver, Routing, Rules, Slo, FAST_BURN_ALERT};

use crate::prometheus::{encode, free_addr, poll, start_prometheus_with, wait_until_up};

/// Receives Alertmanager's webhook calls: every JSON body, in order. Stops when dropped.
struct Webhook {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
}

impl Webhook {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kept, stopped) = (bodies.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                if let Some(body) = read_request_body(&mut stream) {
                    if let Ok(json) = serde_json::from_slice::<Value>(&body) {
                        kept.lock().expect("bodies").push(json);
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self { addr, bodies, stop }
    }

    /// The alerts delivered so far: (status, labels) of each.
    fn alerts(&self) -> Vec<(String, Value)> {
        self.bodies
            .lock()
            .expect("bodies")
            .iter()
            .flat_map(|body| body["alerts"].as_array().cloned().unwrap_or_default())
            .map(|alert| {
                (
                    alert["status"].as_str().unwrap_or_default().to_owned(),
                    alert["labels"].clone(),
                )
            })
            .collect()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The body of one HTTP/1.1 request with a `Content-Length`.
fn read_request_body(stream: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())?;
            while data.len() < end + 4 + length {
                let read = stream.read(&mut chunk).ok()?;
                if read == 0 {
                    return None;
                }
                data.extend_from_slice(&chunk[..read]);
            }
            return Some(data[end + 4..end + 4 + length].to_vec());
        }
        let read = stream.read(&mut chunk).ok()?;
        if read == 0 {
            return None;
        }
        data.extend_from_slice(&chunk[..read]);
    }
}

/// Stops Alertmanager when dropped.
struct Alertmanager {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian names the binary `prometheus-alertmanager`; upstream, `alertmanager`.
fn alertmanager_binary() -> Option<&'static str> {
    ["prometheus-alertmanager", "alertmanager"]
        .into_iter()
        .find(|binary| Command::new(binary).arg("--version").output().is_ok())
}

fn start_alertmanager(binary: &str, config: &str) -> Option<Alertmanager> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alertmanager.yml");
    std::fs::write(&path, config).expect("config");
    let addr = free_addr();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", path.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Alertmanager {
        child,
        addr,
        _dir: dir,
    })
}

/// Records requests to `/checkout` in the recorder until stopped, half of them failing while
/// `failing` is set.
fn traffic(
    recorder: telescope::recorder::TelescopeRecorder,
    failing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            metrics::with_local_recorder(&recorder, || {
                for _ in 0..20 {
                    sent += 1;
                    let status = if failing.load(Ordering::Relaxed) && sent.is_multiple_of(2) {
                        "500"
                    } else {
                        "200"
                    };
                    metrics::histogram!(
                        "http_server_request_duration_seconds",
                        "method" => "POST", "route" => "/checkout", "status" => status
                    )
                    .record(0.01);
                }
            });
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// Waits (at most `limit`) until `found` holds for the delivered alerts.
fn wait_for(
    webhook: &Webhook,
    limit: Duration,
    what: &str,
    found: impl Fn(&[(String, Value)]) -> bool,
) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if found(&webhook.alerts()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what} never arrived; delivered: {:?}", webhook.alerts());
}

fn is_page(labels: &Value) -> bool {
    labels["alertname"] == FAST_BURN_ALERT
        && labels["severity"] == "page"
        && labels["slo"] == "checkout"
        && labels["team"] == "payments"
}

#[test]
fn a_failing_service_pages_through_prometheus_and_alertmanager_and_resolves() {
    let Some(binary) = alertmanager_binary() else {
        eprintln!(
            "skipped: Alertmanager is not installed (apt-get install prometheus-alertmanager)"
        );
        return;
    };
    let slos = vec![Slo::http_availability("checkout", 0.99)
        .and_then(|slo| slo.label("team", "payments"))
        .expect("valid")
        .route("/checkout")];
    let telemetry = telescope::builder()
        .admin_address("127.0.0.1:0")
        .log_writer(std::io::sink())
        .slos(slos.clone())
        .slo_sample_interval(Duration::from_millis(200))
        .build()
        .map(|(_, telemetry)| telemetry)
        .expect("builds");
    let target = telemetry.admin_addr().expect("listening");

    let webhook = Webhook::start();
    let routing = Routing::new(
        Receiver::webhook("test", &format!("http://{}/", webhook.addr)).expect("valid"),
    )
    .timing(
        Duration::from_secs(1),
        Duration::from_secs(1),
        Duration::from_secs(3_600),
    );
    let alertmanager =
        start_alertmanager(binary, &routing.alertmanager_config()).expect("alertmanager starts");
    let rules = Rules::new(&slos, &[]).time_scale(60).prometheus_rules();
    let prometheus = start_prometheus_with(
        target,
        &format!(
            "rule_files:\n  - rules.yml\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\n",
            alertmanager.addr
        ),
        &[("rules.yml", &rules)],
    );

    let failing = Arc::new(AtomicBool::new(true));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = traffic(telemetry.metrics_recorder(), failing.clone(), stop.clone());
    wait_until_up(&prometheus);

    // Half the requests fail: 50 times the budget of a 99% SLO, over 14.4 in both windows.
    wait_for(
        &webhook,
        Duration::from_secs(120),
        "the firing page",
        |alerts| {
            alerts
                .iter()
                .any(|(status, labels)| status == "firing" && is_page(labels))
        },
    );
    failing.store(false, Ordering::Relaxed);
    wait_for(
        &webhook,
        Duration::from_secs(180),
        "the page's resolution",
        |alerts| {
            alerts
                .iter()
                .any(|(status, labels)| status == "resolved" && is_page(labels))
        },
    );

    // No more traffic: Prometheus's ratio over all scraped events and /slo's over all sampled
    // events are the same events.
    stop.store(true, Ordering::Relaxed);
    sender.join().expect("the traffic thread");
    std::thread::sleep(Duration::from_secs(3));
    let query =
        "sum(http_server_request_duration_seconds_count{route=\"/checkout\",status=~\"5..\"}) \
                 / sum(http_server_request_duration_seconds_count{route=\"/checkout\"})";
    let from_prometheus: f64 = poll(
        &prometheus,
        &format!("/api/v1/query?query={}", encode(query)),
        |data| data["result"][0]["value"][1].as_str()?.parse().ok(),
    );
    let status = telemetry.slo_monitor().expect("SLOs given").status();
    let in_process = 1.0 - status[0].sli.expect("events were sampled");
    assert!(
        (from_prometheus - in_process).abs() < 1e-9,
        "Prometheus says {from_prometheus} of the events failed, /slo says {in_process}"
    );
    assert!(
        from_prometheus > 0.0 && from_prometheus < 0.5,
        "{from_prometheus}"
    );
}
