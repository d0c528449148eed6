//! Each endpoint's status and body for passing, warning, failing, timed-out and excluded
//! checks, in text and in health+json.

use std::time::Duration;

use serde_json::Value;
use telescope_health::{check_fn, CheckConfig, CheckResult, Health, HealthServer};

use crate::support::{eventually, get, request, PATIENCE};

fn fast(config: CheckConfig) -> CheckConfig {
    config.interval(Duration::from_millis(20))
}

/// A registry with one check of each kind, all run at least once, served on a port.
async fn service_with_every_kind_of_check() -> (Health, HealthServer) {
    let health = Health::new();
    macro_rules! register {
        ($check:expr, $config:expr $(,)?) => {
            health.register($check, $config).expect("register")
        };
    }
    register!(
        check_fn("db", || async {
            CheckResult::pass().with_observation("responseTime", 3.5, Some("ms"))
        }),
        fast(CheckConfig::readiness()),
    );
    register!(
        check_fn("cache", || async {
            CheckResult::fail("connection refused")
        }),
        fast(CheckConfig::readiness().critical(false)),
    );
    register!(
        check_fn("queue", || async { CheckResult::warn("backlog 12000") }),
        fast(CheckConfig::readiness())
    );
    register!(
        check_fn("slow", || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            CheckResult::pass()
        }),
        fast(CheckConfig::readiness().timeout(Duration::from_millis(50))),
    );
    register!(
        check_fn("ping", || async { CheckResult::pass() }),
        fast(CheckConfig::liveness())
    );
    let all_ran = eventually(PATIENCE, || {
        health
            .check_names()
            .iter()
            .all(|name| health.runs(name).unwrap_or(0) >= 1)
    })
    .await;
    assert!(all_ran, "every check ran");
    let server = HealthServer::start("127.0.0.1:0", health.clone()).expect("start server");
    (health, server)
}

#[tokio::test]
async fn text_endpoints_follow_kubernetes_conventions() {
    let (_health, server) = service_with_every_kind_of_check().await;
    let addr = server.local_addr();

    let live = get(addr, "/livez").await;
    assert_eq!((live.status, live.body.as_str()), (200, "ok\n"));
    assert_eq!(live.header("cache-control"), Some("no-store"));
    assert_eq!(
        live.header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    let ready = get(addr, "/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.body,
        "[+]db ok\n\
         [+]cache warn: connection refused (non-critical)\n\
         [+]queue warn: backlog 12000\n\
         [-]slow failed: timed out after 50ms\n\
         readyz check failed\n"
    );

    let excluded = get(addr, "/readyz?exclude=slow").await;
    assert_eq!((excluded.status, excluded.body.as_str()), (200, "ok\n"));
    let verbose = get(addr, "/readyz?exclude=slow&exclude=nope&verbose").await;
    assert_eq!(verbose.status, 200);
    assert!(
        verbose.body.contains("[+]slow excluded: ok\n"),
        "{}",
        verbose.body
    );
    assert!(
        verbose.body.contains("no matches for \"nope\""),
        "{}",
        verbose.body
    );
    assert!(
        verbose.body.ends_with("readyz check passed\n"),
        "{}",
        verbose.body
    );

    let all = get(addr, "/healthz?verbose").await;
    assert_eq!(all.status, 503);
    assert!(
        all.body.contains("[+]ping ok\n") && all.body.contains("[-]slow failed"),
        "{}",
        all.body
    );
}

#[tokio::test]
async fn single_checks_unknown_paths_and_methods() {
    let (_health, server) = service_with_every_kind_of_check().await;
    let addr = server.local_addr();
    assert_eq!(get(addr, "/readyz/db").await.status, 200);
    let cache = get(addr, "/readyz/cache").await;
    assert_eq!(
        cache.status, 503,
        "a non-critical check that fails says so on its own path"
    );
    assert_eq!(
        cache.body,
        "[-]cache failed: connection refused\nreadyz check failed\n"
    );
    assert_eq!(get(addr, "/readyz/nope").await.status, 404);
    assert_eq!(
        get(addr, "/livez/db").await.status,
        404,
        "db is not a liveness check"
    );
    assert_eq!(get(addr, "/livez/ping").await.status, 200);
    assert_eq!(get(addr, "/metrics").await.status, 404);
    assert_eq!(get(addr, "/").await.status, 404);
    let post = request(addr, "POST", "/readyz", None).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let head = request(addr, "HEAD", "/readyz", None).await;
    assert_eq!((head.status, head.body.as_str()), (503, ""));
}

#[tokio::test]
async fn health_json_follows_the_ietf_draft() {
    let (_health, server) = service_with_every_kind_of_check().await;
    let addr = server.local_addr();
    let reply = request(
        addr,
        "GET",
        "/readyz?exclude=slow",
        Some("application/health+json"),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/health+json")
    );
    let body: Value = serde_json::from_str(&reply.body).expect("JSON body");
    assert_eq!(body["status"], "warn");
    assert_eq!(body["description"], "readyz");
    let checks = body["checks"].as_object().expect("checks object");
    let keys: Vec<&str> = checks.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for key in ["db:responseTime", "cache", "queue"] {
        assert!(checks.contains_key(key), "{key} in {keys:?}");
    }
    for (key, entries) in checks {
        let entries = entries
            .as_array()
            .unwrap_or_else(|| panic!("{key}: an array"));
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert!(
            ["pass", "warn", "fail"].contains(&entry["status"].as_str().expect("status")),
            "{key}"
        );
        assert_eq!(entry["componentType"], "component");
        let time = entry["time"].as_str().expect("time");
        assert!(
            time.len() == 30 && time.ends_with('Z') && &time[10..11] == "T",
            "RFC 3339: {time}"
        );
    }
    assert_eq!(checks["db:responseTime"][0]["observedValue"], 3.5);
    assert_eq!(checks["db:responseTime"][0]["observedUnit"], "ms");
    assert_eq!(checks["cache"][0]["status"], "warn");
    assert_eq!(
        checks["cache"][0]["output"],
        "connection refused (non-critical)"
    );

    let failing = request(addr, "GET", "/readyz", Some("application/health+json")).await;
    assert_eq!(failing.status, 503);
    let body: Value = serde_json::from_str(&failing.body).expect("JSON body");
    assert_eq!(body["status"], "fail");
    assert_eq!(body["output"], "failing: slow");
    assert_eq!(body["checks"]["slow"][0]["output"], "timed out after 50ms");
}
