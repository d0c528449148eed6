//! SLOs given to the builder: `/slo` and `/slo/rules.yml` on the admin server over a real
//! socket, the burn-rate gauges on `/metrics`, and a latency threshold that is no bucket bound
//! refused when the builder finishes.

use std::time::{Duration, Instant};

use telescope::slo::{Alert, Slo, SloError};

use telescope_test_support::http_client;
#[path = "../../examples/quickstart/slos.rs"]
mod shop;

fn slos() -> Vec<Slo> {
    vec![
        Slo::http_availability("checkout-availability", 0.99)
            .expect("valid")
            .route("/checkout"),
        Slo::http_latency("checkout-latency", 0.9, 0.25)
            .expect("valid")
            .route("/checkout"),
    ]
}

#[test]
fn the_admin_server_shows_status_rules_and_burn_rates() {
    let telemetry = telescope::builder()
        .admin_address("127.0.0.1:0")
        .log_writer(std::io::sink())
        .slos(slos())
        .alerts([Alert::new("SlowCheckout", "vector(0) > 1").expect("valid")])
        .slo_sample_interval(Duration::from_millis(20))
        .build()
        .map(|(_, telemetry)| telemetry)
        .expect("builds");
    let address = telemetry.admin_addr().expect("listening");
    metrics::with_local_recorder(&telemetry.metrics_recorder(), || {
        for (status, seconds, times) in [("200", 0.1, 90), ("503", 0.5, 10)] {
            for _ in 0..times {
                metrics::histogram!(
                    "http_server_request_duration_seconds",
                    "method" => "POST", "route" => "/checkout", "status" => status
                )
                .record(seconds);
            }
        }
        // Another route: not part of these SLOs.
        metrics::histogram!(
            "http_server_request_duration_seconds",
            "method" => "GET", "route" => "/health", "status" => "500"
        )
        .record(9.0);
    });

    // The sampler runs every 20 ms: wait (boundedly) for a sample that saw the requests.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = http_client::request(address, "GET", "/slo", &[], "");
        if page.body.contains("<td>90.000% (over") || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("checkout-availability"), "{}", page.body);
    // 10% bad against a 1% budget: SLI 90%, burn 10, budget overspent.
    assert!(page.body.contains("<td>90.000% (over"), "{}", page.body);
    assert!(page.body.contains("<td>10.00×</td>"), "{}", page.body);
    assert!(page.body.contains("tr class=bad"), "{}", page.body);

    let rules = http_client::request(address, "GET", "/slo/rules.yml", &[], "");
    assert_eq!(rules.status, 200);
    assert!(rules
        .body
        .contains("record: \"slo:sli_error:ratio_rate5m\""));
    assert!(
        rules.body.contains("alert: \"SlowCheckout\""),
        "{}",
        rules.body
    );

    let scrape = http_client::request(address, "GET", "/metrics", &[], "");
    let burn: f64 = scrape
        .body
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                r#"telescope_slo_burn_rate{slo="checkout-availability",window="5m"} "#,
            )
        })
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no burn-rate gauge:\n{}", scrape.body));
    assert!((burn - 10.0).abs() < 1e-9, "{burn}");

    let index = http_client::request(address, "GET", "/", &[], "");
    assert!(index.body.contains("href=\"/slo\""), "{}", index.body);
    let status = telemetry.slo_monitor().expect("SLOs given").status();
    assert_eq!(status.len(), 2);
}

#[test]
fn a_threshold_that_is_no_bucket_bound_is_refused_at_build() {
    let result = telescope::builder()
        .without_admin_server()
        .log_writer(std::io::sink())
        .slos([Slo::http_latency("odd", 0.99, 0.3).expect("valid")])
        .build();
    match result {
        Err(telescope::InitError::Slo(SloError::ThresholdNotABucket { threshold, .. })) => {
            assert_eq!(threshold, 0.3);
        }
        Err(other) => panic!("expected ThresholdNotABucket, got {other}"),
        Ok(_) => panic!("expected ThresholdNotABucket, got telemetry"),
    }
}

#[test]
fn without_slos_the_pages_are_not_there() {
    let telemetry = telescope::builder()
        .admin_address("127.0.0.1:0")
        .log_writer(std::io::sink())
        .build()
        .map(|(_, telemetry)| telemetry)
        .expect("builds");
    let address = telemetry.admin_addr().expect("listening");
    assert_eq!(
        http_client::request(address, "GET", "/slo", &[], "").status,
        404
    );
    assert!(telemetry.slo_monitor().is_none());
}

#[test]
fn the_shop_file_declares_what_the_shop_code_does() {
    let file = telescope::slo::SloFile::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/quickstart/slos.toml"
    ))
    .expect("a valid SLO file");
    let (slos, alerts) = shop::shop_slos().expect("valid declarations");
    assert_eq!(file.slos, slos);
    assert_eq!(file.alerts, alerts);
    assert!(file.routing.is_some());
}

/// Runs the `telescope-slo` command.
fn telescope_slo(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_telescope-slo"))
        .args(args)
        .output()
        .expect("the command runs")
}

#[test]
fn the_command_writes_rules_tests_and_routing_and_says_what_is_wrong() {
    let help = telescope_slo(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: telescope-slo"));

    let out = tempfile::tempdir().expect("tempdir");
    let shop = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart/slos.toml");
    let written = telescope_slo(&[shop, out.path().to_str().expect("utf-8 path")]);
    assert!(written.status.success(), "{written:?}");
    for file in ["rules.yml", "tests.yml", "alertmanager.yml"] {
        let text = std::fs::read_to_string(out.path().join(file)).expect(file);
        assert!(text.starts_with("# Generated by telescope::slo"), "{file}");
    }

    let bad = out.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[slo]]\nname = \"x\"\nkind = \"http_latency\"\nobjective = 0.99\nthreshold = 0.3\n",
    )
    .expect("write");
    let refused = telescope_slo(&[
        bad.to_str().expect("utf-8"),
        out.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("threshold 0.3 is not a bucket bound"),
        "{message}"
    );
    let usage = telescope_slo(&["only-one-argument"]);
    assert_eq!(usage.status.code(), Some(2));
}
