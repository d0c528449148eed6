//! The shop's SLOs and alerts: monitored by the quickstart on `/slo`, and turned into
//! Prometheus rules and their tests by `examples/slo_rules.rs`.

use std::time::Duration;

use telescope::slo::{Alert, Slo, SloError};

/// The API's availability and latency, orders placed, and two plain alerts.
pub(crate) fn shop_slos() -> Result<(Vec<Slo>, Vec<Alert>), SloError> {
    let slos = vec![
        Slo::http_availability("shop-availability", 0.995)?
            .label("team", "shop")?
            .runbook("https://runbooks.example/shop/availability"),
        Slo::http_latency("products-latency", 0.99, 0.25)?
            .route("/products")
            .label("team", "shop")?,
        Slo::http_latency("orders-latency", 0.95, 1.0)?
            .route("/orders")
            .window(Duration::from_secs(7 * 86_400))?
            .label("team", "payments")?,
        Slo::counters("orders-placed", 0.99, "orders_total", "orders_total")?
            .errors_where("outcome", "unavailable")?
            .label("team", "payments")?,
    ];
    let alerts = vec![
        Alert::new(
            "HighErrorRate",
            "sum(rate(http_server_request_duration_seconds_count{status=~\"5..\"}[5m])) / sum(rate(http_server_request_duration_seconds_count[5m])) > 0.05",
        )?
        .for_duration(Duration::from_secs(300))
        .severity("page")
        .annotation("summary", "More than 5% of requests fail: {{ $value | humanizePercentage }}"),
        Alert::new(
            "SlowResponses",
            "histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m]))) > 1",
        )?
        .for_duration(Duration::from_secs(600))
        .annotation("summary", "p99 latency above 1 s"),
    ];
    Ok((slos, alerts))
}
