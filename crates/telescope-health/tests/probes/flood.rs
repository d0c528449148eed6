//! A flood of probes while a check hangs: every request is answered, nothing extra runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use telescope_health::{check_fn, CheckConfig, CheckResult, Health, HealthServer};

use crate::support::{eventually, get, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_probes_while_a_check_hangs_run_no_check() {
    let executions = Arc::new(AtomicU64::new(0));
    let health = Health::new();
    let counted = executions.clone();
    health
        .register(
            check_fn("hung", move || {
                counted.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<CheckResult>()
            }),
            CheckConfig::readiness()
                .timeout(Duration::from_secs(600))
                .interval(Duration::from_secs(600)),
        )
        .expect("register");
    health
        .register(
            check_fn("ok", || async { CheckResult::pass() }),
            CheckConfig::readiness(),
        )
        .expect("register");
    assert!(
        eventually(PATIENCE, || executions.load(Ordering::SeqCst) == 1
            && health.runs("ok") == Some(1))
        .await
    );
    let server = HealthServer::start("127.0.0.1:0", health.clone()).expect("start");
    let addr = server.local_addr();

    let requests: Vec<_> = (0..1000)
        .map(|_| tokio::spawn(async move { get(addr, "/readyz?verbose").await }))
        .collect();
    let mut answered = 0;
    for request in requests {
        let reply = request.await.expect("request task");
        assert_eq!(reply.status, 503);
        assert!(
            reply.body.contains("[-]hung failed: not run yet"),
            "{}",
            reply.body
        );
        assert!(reply.body.contains("[+]ok ok"), "{}", reply.body);
        answered += 1;
    }
    assert_eq!(answered, 1000);
    assert_eq!(
        executions.load(Ordering::SeqCst),
        1,
        "probes never run a check"
    );
    assert_eq!(
        health.runs("hung"),
        Some(0),
        "the hung run has not finished"
    );
}
