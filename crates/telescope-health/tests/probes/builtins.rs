//! The ready-made checks against real listeners, disks and runtimes.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use telescope_health::checks::{heartbeat, DiskSpaceCheck, HttpCheck, RuntimeWatchdog, TcpCheck};
use telescope_health::{CheckConfig, Health, HealthCheck, Probe, Status};

use crate::support::{eventually, PATIENCE};

fn fast(config: CheckConfig) -> CheckConfig {
    config.interval(Duration::from_millis(20))
}

fn status_of(health: &Health, probe: Probe, name: &str) -> Option<Status> {
    health
        .report(probe, &[])
        .checks()
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.check_status)
}

#[tokio::test]
async fn tcp_check_follows_a_listener_that_starts_and_stops() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepting = tokio::spawn(async move {
        loop {
            let _ = listener.accept().await;
        }
    });
    let health = Health::new();
    health
        .register(
            TcpCheck::new("upstream", addr.to_string()),
            fast(CheckConfig::readiness()),
        )
        .expect("register");
    assert!(
        eventually(PATIENCE, || status_of(
            &health,
            Probe::Readiness,
            "upstream"
        ) == Some(Status::Pass))
        .await
    );
    let report = health.report(Probe::Readiness, &[]);
    let observation = report.checks()[0]
        .observation
        .as_ref()
        .expect("connect time");
    assert_eq!(
        (
            observation.measurement.as_str(),
            observation.unit.as_deref()
        ),
        ("connectTime", Some("ms"))
    );

    accepting.abort();
    let _ = accepting.await; // the listener is closed with the task
    assert!(
        eventually(PATIENCE, || status_of(
            &health,
            Probe::Readiness,
            "upstream"
        ) == Some(Status::Fail))
        .await
    );
    let reason = health.report(Probe::Readiness, &[]).checks()[0]
        .reason
        .clone()
        .unwrap_or_default();
    assert!(
        reason.starts_with(&format!("cannot connect to {addr}")),
        "{reason}"
    );
}

/// A tiny HTTP server answering every request with the status in `status`.
async fn http_server(
    status: Arc<AtomicU16>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let status = status.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 2048];
                let _ = stream.read(&mut buffer).await;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn http_check_judges_status_codes_and_a_dead_server() {
    let status = Arc::new(AtomicU16::new(204));
    let (addr, server) = http_server(status.clone()).await;
    let health = Health::new();
    let check = HttpCheck::new("payments", &format!("http://{addr}/health?deep=1"))
        .expect("url")
        .expect_status(200..300);
    health
        .register(check, fast(CheckConfig::readiness()))
        .expect("register");
    assert!(
        eventually(PATIENCE, || status_of(
            &health,
            Probe::Readiness,
            "payments"
        ) == Some(Status::Pass))
        .await
    );

    status.store(500, Ordering::SeqCst);
    assert!(
        eventually(PATIENCE, || status_of(
            &health,
            Probe::Readiness,
            "payments"
        ) == Some(Status::Fail))
        .await
    );
    let reason = health.report(Probe::Readiness, &[]).checks()[0]
        .reason
        .clone()
        .unwrap_or_default();
    assert!(
        reason.contains("answered 500, expected 200-299"),
        "{reason}"
    );

    server.abort();
    let _ = server.await;
    assert!(
        eventually(PATIENCE, || {
            let reason = health.report(Probe::Readiness, &[]).checks()[0]
                .reason
                .clone()
                .unwrap_or_default();
            reason.starts_with("cannot connect to")
        })
        .await
    );
}

#[tokio::test]
async fn disk_check_thresholds_against_a_real_filesystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = DiskSpaceCheck::new("disk", dir.path());
    let result = plain.check().await;
    assert_eq!(result.status(), Status::Pass);
    let free = result
        .observation()
        .and_then(|o| o.value.as_u64())
        .expect("free bytes");
    assert!(free > 0);

    let warn = DiskSpaceCheck::new("disk", dir.path())
        .warn_below_bytes(u64::MAX)
        .fail_below_bytes(1);
    assert_eq!(warn.check().await.status(), Status::Warn);
    let fail = DiskSpaceCheck::new("disk", dir.path())
        .warn_below_bytes(u64::MAX)
        .fail_below_bytes(u64::MAX);
    let failed = fail.check().await;
    assert_eq!(failed.status(), Status::Fail);
    assert!(
        failed.message().unwrap_or_default().contains("bytes free"),
        "{failed:?}"
    );
    let roomy = DiskSpaceCheck::new("disk", dir.path())
        .warn_below_bytes(free / 4)
        .fail_below_bytes(free / 8);
    assert_eq!(roomy.check().await.status(), Status::Pass);
    let missing = DiskSpaceCheck::new("disk", dir.path().join("does/not/exist"));
    assert_eq!(missing.check().await.status(), Status::Fail);
}

#[tokio::test]
async fn watchdog_catches_a_deliberately_blocked_runtime() {
    // The application's runtime, on a thread of its own.
    let app = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app_handle = app.handle().clone();
    let (stop_app, app_stopped) = tokio::sync::oneshot::channel::<()>();
    let app_thread = std::thread::spawn(move || {
        let _ = app.block_on(app_stopped);
    });

    let health = Health::new();
    let watchdog = RuntimeWatchdog::start(
        "runtime",
        &app_handle,
        Duration::from_millis(20),
        Duration::from_millis(200),
    );
    health
        .register(watchdog, fast(CheckConfig::liveness()))
        .expect("register");
    assert!(
        eventually(PATIENCE, || health.report(Probe::Liveness, &[]).status()
            == Status::Pass
            && health.runs("runtime").unwrap_or(0) >= 3)
        .await
    );

    // Block the application's only thread.
    app_handle.spawn(async { std::thread::sleep(Duration::from_millis(1500)) });
    assert!(
        eventually(PATIENCE, || health.report(Probe::Liveness, &[]).status()
            == Status::Fail)
        .await,
        "liveness fails while the runtime is blocked"
    );
    let reason = health.report(Probe::Liveness, &[]).checks()[0]
        .reason
        .clone()
        .unwrap_or_default();
    assert!(reason.contains("blocked or starved"), "{reason}");
    assert!(
        eventually(PATIENCE, || health.report(Probe::Liveness, &[]).status()
            == Status::Pass)
        .await,
        "and recovers when it runs again"
    );
    let _ = stop_app.send(());
    app_thread.join().expect("app thread");
}

#[tokio::test]
async fn heartbeat_fails_when_the_task_stops_beating() {
    let (beat, check) = heartbeat("consumer", Duration::from_millis(150));
    let health = Health::new();
    health
        .register(check, fast(CheckConfig::liveness()))
        .expect("register");
    let beating = tokio::spawn(async move {
        loop {
            beat.beat();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert!(
        eventually(PATIENCE, || status_of(&health, Probe::Liveness, "consumer")
            == Some(Status::Pass))
        .await
    );
    beating.abort();
    assert!(
        eventually(PATIENCE, || status_of(&health, Probe::Liveness, "consumer")
            == Some(Status::Fail))
        .await
    );
    let reason = health.report(Probe::Liveness, &[]).checks()[0]
        .reason
        .clone()
        .unwrap_or_default();
    assert!(reason.starts_with("no heartbeat from consumer"), "{reason}");
}
