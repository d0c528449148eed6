//! The real Etsy StatsD daemon (npm package `statsd`, run with node; `.ci/run` installs it and
//! names its `stats.js` in `TELESCOPE_STATSD_DAEMON`) receives what telescope pushes and
//! aggregates it: counters summed per flush, gauges kept, DogStatsD tags read as its own
//! `;key=value` tags, histograms as count, sum and per-bucket counters.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use telescope::statsd::StatsdConfig;

/// The daemon, killed on drop, and the flushes it printed.
struct Daemon {
    child: Child,
    flushes: Arc<Mutex<Vec<Value>>>,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .map(|address| address.port())
        .expect("a free UDP port")
}

fn start_daemon() -> Daemon {
    let stats_js = std::env::var("TELESCOPE_STATSD_DAEMON").expect(
        "TELESCOPE_STATSD_DAEMON names the statsd daemon's stats.js (`.ci/run` installs it \
         with npm: `npm install statsd@0.9.0`)",
    );
    let port = free_udp_port();
    let management = free_udp_port();
    let backend = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/statsd_json_backend.js");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("config.js");
    std::fs::write(
        &config,
        format!(
            r#"{{ port: {port}, address: "127.0.0.1", mgmt_port: {management},
               mgmt_address: "127.0.0.1", flushInterval: 200,
               backends: [{backend:?}] }}"#,
            backend = backend.display().to_string()
        ),
    )
    .expect("write the daemon's config");
    let mut child = Command::new("node")
        .arg(stats_js)
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs the statsd daemon");
    let stdout = child.stdout.take().expect("stdout");
    let flushes = Arc::new(Mutex::new(Vec::new()));
    let collected = flushes.clone();
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _dir = dir;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("server is up") {
                let _ = up_tx.send(());
            }
            if let Ok(flush) = serde_json::from_str::<Value>(&line) {
                collected.lock().expect("lock").push(flush);
            }
        }
    });
    up_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the daemon says it is up");
    let daemon = Daemon {
        child,
        flushes,
        port,
    };
    // "server is up" can come before its UDP socket is bound, and a datagram sent before that
    // is lost: probe until a flush shows one arrived.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("a probe socket");
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.counter("telescope_probe") <= 0.0 && Instant::now() < deadline {
        let _ = probe.send_to(b"telescope_probe:1|c", ("127.0.0.1", port));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        daemon.counter("telescope_probe") > 0.0,
        "the daemon received no datagram within 30 s"
    );
    daemon
}

impl Daemon {
    /// A counter summed over every flush so far.
    fn counter(&self, key: &str) -> f64 {
        self.flushes
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|flush| flush["counters"][key].as_f64())
            .sum()
    }

    /// A gauge's value in the latest flush that has it.
    fn gauge(&self, key: &str) -> Option<f64> {
        self.flushes
            .lock()
            .expect("lock")
            .iter()
            .rev()
            .find_map(|flush| flush["gauges"][key].as_f64())
    }

    /// Waits (without asserting on time) until `done` holds or a generous deadline passes.
    fn wait_for(&self, done: impl Fn(&Daemon) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn the_etsy_daemon_aggregates_what_telescope_pushes() {
    let daemon = start_daemon();
    let (dispatch, telemetry) = telescope::builder()
        .without_admin_server()
        .log_writer(std::io::sink())
        .statsd(
            StatsdConfig::new(format!("127.0.0.1:{}", daemon.port))
                .prefix("svc")
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .expect("valid settings");
    let recorder = telemetry.metrics_recorder();
    let record = |emails: u64| {
        tracing::dispatcher::with_default(&dispatch, || {
            metrics::with_local_recorder(&recorder, || {
                metrics::counter!("jobs_total", "queue" => "emails").increment(emails);
                metrics::gauge!("temperature").set(-4.5);
                metrics::histogram!("job_seconds").record(0.2);
            });
        });
    };
    record(3);
    assert!(telemetry.flush(Duration::from_secs(10)));
    record(4);
    assert!(telemetry.flush(Duration::from_secs(10)));
    let emails = "svc.jobs_total;queue=emails";
    daemon.wait_for(|d| d.counter(emails) >= 7.0 && d.gauge("svc.temperature").is_some());
    assert_eq!(daemon.counter(emails), 7.0, "deltas, summed by the daemon");
    assert_eq!(
        daemon.gauge("svc.temperature"),
        Some(-4.5),
        "a negative gauge"
    );
    assert_eq!(daemon.counter("svc.job_seconds.count"), 2.0);
    assert_eq!(daemon.counter("svc.job_seconds.bucket;le=0.25"), 2.0);
    assert!((daemon.counter("svc.job_seconds.sum") - 0.4).abs() < 1e-9);
    assert_eq!(
        daemon.counter("statsd.bad_lines_seen"),
        0.0,
        "every line parsed"
    );
    drop(telemetry);
}
