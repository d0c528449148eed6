//! Thresholds over real runs, draining, the startup latch, and bad registrations.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use telescope_health::{
    check_fn, CheckConfig, CheckResult, Health, HealthServer, Probe, RegisterError, Status,
};

use crate::support::{eventually, get, PATIENCE};

#[tokio::test]
async fn consecutive_thresholds_flip_state_at_the_right_run() {
    use Status::{Fail, Pass};
    let script = [Pass, Pass, Fail, Fail, Fail, Pass, Fail, Pass, Pass, Pass];
    let health = Health::new();
    // Each run first notes the readiness verdict left by the runs before it.
    let seen: Arc<Mutex<Vec<Status>>> = Arc::default();
    let (observer, log) = (health.clone(), seen.clone());
    let run = Arc::new(Mutex::new(0usize));
    health
        .register(
            check_fn("scripted", move || {
                let mut log = log.lock().expect("log");
                log.push(observer.report(Probe::Readiness, &[]).status());
                let mut run = run.lock().expect("run");
                let status = script.get(*run).copied().unwrap_or(Pass);
                *run += 1;
                async move {
                    match status {
                        Pass => CheckResult::pass(),
                        _ => CheckResult::fail("scripted failure"),
                    }
                }
            }),
            CheckConfig::readiness()
                .interval(Duration::from_millis(5))
                .failure_threshold(3)
                .success_threshold(2),
        )
        .expect("register");
    assert!(eventually(PATIENCE, || seen.lock().expect("log").len() > script.len()).await);
    let seen = seen.lock().expect("log");
    // The verdict before run n reflects runs 0..n.
    let expected = [
        Fail, // nothing has run
        Fail, // 1 pass of 2 needed
        Pass, // 2 passes
        Pass, // 1 failure of 3
        Pass, // 2 failures
        Fail, // 3 failures: flipped
        Fail, // 1 pass of 2
        Fail, // a failure resets
        Fail, // 1 pass
        Pass, // 2 passes: flipped back
        Pass,
    ];
    assert_eq!(&seen[..expected.len()], &expected[..]);
}

#[tokio::test]
async fn readiness_can_be_turned_off_for_a_drain_and_back_on() {
    let health = Health::new();
    health
        .register(
            check_fn("db", || async { CheckResult::pass() }),
            CheckConfig::readiness().interval(Duration::from_millis(20)),
        )
        .expect("register");
    health
        .register(
            check_fn("ping", || async { CheckResult::pass() }),
            CheckConfig::liveness(),
        )
        .expect("register");
    assert!(
        eventually(PATIENCE, || health.report(Probe::Readiness, &[]).status()
            == Status::Pass)
        .await
    );
    let server = HealthServer::start("127.0.0.1:0", health.clone()).expect("start");
    let addr = server.local_addr();
    assert_eq!(get(addr, "/readyz").await.status, 200);

    health.set_accepting_traffic(false);
    let draining = get(addr, "/readyz").await;
    assert_eq!(draining.status, 503);
    assert_eq!(
        draining.body,
        "[+]db ok\n[-]drain failed: shutting down\nreadyz check failed\n"
    );
    assert_eq!(
        get(addr, "/livez").await.status,
        200,
        "draining is not dying"
    );
    assert_eq!(
        get(addr, "/readyz/db").await.status,
        200,
        "the check itself still passes"
    );

    health.set_accepting_traffic(true);
    assert_eq!(get(addr, "/readyz").await.status, 200);
}

#[tokio::test]
async fn startup_latches_and_gates_readiness() {
    let health = Health::new();
    let warming = Arc::new(Mutex::new(true));
    let gate = warming.clone();
    health
        .register(
            check_fn("warmup", move || {
                let warming = *gate.lock().expect("gate");
                async move {
                    if warming {
                        CheckResult::fail("loading caches")
                    } else {
                        CheckResult::pass()
                    }
                }
            }),
            CheckConfig::startup().interval(Duration::from_millis(20)),
        )
        .expect("register");
    health
        .register(
            check_fn("db", || async { CheckResult::pass() }),
            CheckConfig::readiness().interval(Duration::from_millis(20)),
        )
        .expect("register");
    let server = HealthServer::start("127.0.0.1:0", health.clone()).expect("start");
    let addr = server.local_addr();
    assert!(
        eventually(PATIENCE, || health.runs("warmup").unwrap_or(0) >= 1
            && health.runs("db").unwrap_or(0) >= 1)
        .await
    );
    assert_eq!(get(addr, "/startupz").await.status, 503);
    let ready = get(addr, "/readyz").await;
    assert_eq!(ready.status, 503);
    assert!(
        ready
            .body
            .contains("[-]startup failed: startup checks have not passed yet"),
        "{}",
        ready.body
    );

    *warming.lock().expect("gate") = false;
    assert!(eventually(PATIENCE, || health.startup_complete()).await);
    assert_eq!(get(addr, "/startupz").await.status, 200);
    assert_eq!(get(addr, "/readyz").await.status, 200);

    // Once passed, startup stays passed even if its check fails again.
    *warming.lock().expect("gate") = true;
    assert!(
        eventually(PATIENCE, || {
            health.report(Probe::Startup, &[]).checks()[0].check_status == Status::Fail
        })
        .await
    );
    assert_eq!(get(addr, "/startupz").await.status, 200);
    assert_eq!(get(addr, "/readyz").await.status, 200);
}

#[tokio::test]
async fn bad_registrations_are_refused_with_the_reason() {
    let health = Health::new();
    let ok = || check_fn("db", || async { CheckResult::pass() });
    health
        .register(ok(), CheckConfig::readiness())
        .expect("first");
    assert_eq!(
        health.register(ok(), CheckConfig::readiness()),
        Err(RegisterError::DuplicateName("db".into()))
    );
    let spaced = check_fn("has space", || async { CheckResult::pass() });
    assert_eq!(
        health.register(spaced, CheckConfig::readiness()),
        Err(RegisterError::InvalidName("has space".into()))
    );
    // Zero where at least one is needed counts as the least that works (CONTRIBUTING.md).
    let zero = check_fn("zero", || async { CheckResult::pass() });
    let clamped = CheckConfig::readiness()
        .timeout(Duration::ZERO)
        .interval(Duration::ZERO)
        .failure_threshold(0)
        .success_threshold(0);
    assert_eq!(health.register(zero, clamped), Ok(()));
}

#[tokio::test]
async fn a_panicking_check_fails_instead_of_dying() {
    let health = Health::new();
    health
        .register(
            check_fn("boom", || async { panic!("bug in a check") }),
            CheckConfig::readiness().interval(Duration::from_millis(20)),
        )
        .expect("register");
    assert!(
        eventually(PATIENCE, || health.runs("boom").unwrap_or(0) >= 2).await,
        "it keeps running"
    );
    let report = health.report(Probe::Readiness, &[]);
    assert_eq!(
        report.checks()[0].reason.as_deref(),
        Some("the check panicked")
    );
}

#[tokio::test]
async fn a_check_whose_runtime_is_stuck_cannot_report_a_stale_pass() {
    // Checks run on the application's runtime here, which then gets blocked.
    let app = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let handle = app.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let _ = app.block_on(stopped);
    });
    let health = Health::on_runtime(handle.clone());
    let config = CheckConfig::readiness()
        .interval(Duration::from_millis(20))
        .timeout(Duration::from_millis(100));
    health
        .register(check_fn("db", || async { CheckResult::pass() }), config)
        .expect("register");
    assert!(
        eventually(PATIENCE, || health.report(Probe::Readiness, &[]).status()
            == Status::Pass)
        .await
    );

    // Block the runtime longer than the staleness limit (2 intervals + timeout + 1 s).
    handle.spawn(async { std::thread::sleep(Duration::from_millis(2500)) });
    assert!(
        eventually(PATIENCE, || health.report(Probe::Readiness, &[]).status()
            == Status::Fail)
        .await
    );
    let reason = health.report(Probe::Readiness, &[]).checks()[0]
        .reason
        .clone()
        .unwrap_or_default();
    assert!(reason.starts_with("stale: the last result is"), "{reason}");
    assert!(
        eventually(PATIENCE, || health.report(Probe::Readiness, &[]).status()
            == Status::Pass)
        .await,
        "recovers"
    );
    let _ = stop.send(());
    thread.join().expect("app thread");
}
