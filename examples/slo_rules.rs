//! Writes Prometheus rules and their `promtool test rules` tests for the quickstart shop's
//! SLOs into a directory (default `target/slo`):
//!
//! ```text
//! cargo run --example slo_rules -- target/slo
//! promtool check rules target/slo/rules.yml
//! promtool test rules target/slo/tests.yml
//! amtool check-config target/slo/alertmanager.yml
//! ```

use std::path::PathBuf;

use telescope::slo::{Receiver, Routing, Rules, SloError};

#[path = "quickstart/slos.rs"]
mod slos;

/// Pages go to PagerDuty, the payments team's tickets to its Slack channel, the shop team's
/// to e-mail, the rest to a webhook. Secrets stay in files the deployment mounts.
fn shop_routing() -> Result<Routing, SloError> {
    Routing::new(Receiver::webhook(
        "default",
        "http://127.0.0.1:5001/alerts",
    )?)
    .receiver(Receiver::pagerduty(
        "oncall",
        "/etc/alertmanager/secrets/pagerduty-routing-key",
    )?)
    .receiver(Receiver::slack(
        "payments-slack",
        "/etc/alertmanager/secrets/slack-payments-url",
        "#payments-alerts",
    )?)
    .receiver(Receiver::email(
        "shop-mail",
        "shop-team@example.com",
        "alertmanager@example.com",
        "smtp.example.com:587",
        "alertmanager",
        "/etc/alertmanager/secrets/smtp-password",
    )?)
    .receiver(Receiver::webhook_with_token(
        "platform-hook",
        "https://hooks.example.com/alerts",
        "/etc/alertmanager/secrets/platform-hook-token",
    )?)
    .route_severity("page", "oncall")?
    .route_team("payments", "payments-slack")?
    .route_team("shop", "shop-mail")?
    .route_team("platform", "platform-hook")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let directory = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/slo"), PathBuf::from);
    let (slos, alerts) = slos::shop_slos()?;
    let rules = Rules::new(&slos, &alerts);
    rules.check_buckets(|_| telescope::recorder::DEFAULT_BUCKETS.to_vec())?;
    std::fs::create_dir_all(&directory)?;
    std::fs::write(directory.join("rules.yml"), rules.prometheus_rules())?;
    std::fs::write(
        directory.join("tests.yml"),
        rules.promtool_tests("rules.yml"),
    )?;
    std::fs::write(
        directory.join("alertmanager.yml"),
        shop_routing()?.alertmanager_config(),
    )?;
    println!(
        "wrote {0}/rules.yml, {0}/tests.yml and {0}/alertmanager.yml",
        directory.display()
    );
    Ok(())
}
