//! The quickstart: a small service doing instrumented work in a loop, logging JSON to stdout.
//!
//! ```text
//! cargo run --release --example quickstart                # until Ctrl-C
//! cargo run --release --example quickstart -- --seconds 3 # stop after 3 s
//! RUST_LOG=debug TELESCOPE_LOG_FORMAT=pretty cargo run --example quickstart -- --seconds 1
//! ```
//!
//! It needs no collector or other service. On stop it flushes every queued line and prints a
//! summary to stderr.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use tracing::{debug, error, info, info_span, instrument, warn, Instrument};

/// Why an order could not be placed.
#[derive(Debug, thiserror::Error)]
enum OrderError {
    #[error("card declined by the payment provider")]
    Declined,
    #[error("inventory service timed out after {0:?}")]
    InventoryTimeout(Duration),
}

/// Checks stock for the cart; now and then the (simulated) inventory service is slow.
#[instrument(skip(items))]
async fn reserve_inventory(order_id: u64, items: &[&str]) -> Result<(), OrderError> {
    let latency = Duration::from_millis(fastrand::u64(1..8));
    tokio::time::sleep(latency).await;
    debug!(
        items = items.len(),
        latency_ms = latency.as_millis() as u64,
        "inventory reserved"
    );
    if fastrand::u8(..100) < 3 {
        return Err(OrderError::InventoryTimeout(Duration::from_millis(250)));
    }
    Ok(())
}

/// Charges the customer; the card token is redacted from logs automatically.
#[instrument(skip(card_token), fields(amount_cents))]
async fn charge(order_id: u64, amount_cents: u64, card_token: &str) -> Result<(), OrderError> {
    tracing::Span::current().record("amount_cents", amount_cents);
    info!(card_token, "charging card");
    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..5))).await;
    if fastrand::u8(..100) < 5 {
        return Err(OrderError::Declined);
    }
    Ok(())
}

/// One request through the service.
async fn handle_order(order_id: u64, user_id: u64) {
    let span = info_span!(
        "request",
        method = "POST",
        route = "/orders",
        user_id,
        status = tracing::field::Empty
    );
    async {
        let started = Instant::now();
        let items = ["book", "lamp", "mug"];
        let count = 1 + (order_id % 3) as usize;
        let outcome = match reserve_inventory(order_id, &items[..count]).await {
            Ok(()) => charge(order_id, 1299 * count as u64, "tok_visa_4242").await,
            Err(e) => Err(e),
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(()) => {
                tracing::Span::current().record("status", 201);
                info!(order_id, elapsed_ms, "order placed");
            }
            Err(error @ OrderError::Declined) => {
                tracing::Span::current().record("status", 402);
                warn!(
                    order_id,
                    error = &error as &dyn std::error::Error,
                    "order refused"
                );
            }
            Err(error) => {
                tracing::Span::current().record("status", 503);
                error!(
                    order_id,
                    error = &error as &dyn std::error::Error,
                    "order failed"
                );
            }
        }
        if elapsed_ms > 10 {
            warn!(elapsed_ms, threshold_ms = 10, "slow request");
        }
    }
    .instrument(span)
    .await;
}

/// `--seconds N`, if given.
fn parse_seconds(args: &[String]) -> Result<Option<Duration>, String> {
    match args {
        [] => Ok(None),
        [flag, value] if flag == "--seconds" => value
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Some(Duration::from_secs_f64(s)))
            .ok_or_else(|| format!("--seconds needs a non-negative number, got {value:?}")),
        _ => Err("usage: quickstart [--seconds N]".to_owned()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run_for = match parse_seconds(&args) {
        Ok(run_for) => run_for,
        Err(message) => {
            eprintln!("quickstart: {message}");
            return ExitCode::from(2);
        }
    };
    let mut telemetry = match telescope::builder()
        .service_name("quickstart")
        .service_version(env!("CARGO_PKG_VERSION"))
        .try_init()
    {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("quickstart: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "quickstart: logging to stdout{}; press Ctrl-C to stop",
        run_for.map(|d| format!(" for {d:?}")).unwrap_or_default()
    );
    info!(pid = std::process::id(), "quickstart started");

    let deadline = async {
        match run_for {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    let work = async {
        let mut order_id = 0u64;
        loop {
            order_id += 1;
            handle_order(order_id, 1000 + fastrand::u64(..50)).await;
        }
    };
    let orders = tokio::select! {
        () = deadline => "deadline",
        result = tokio::signal::ctrl_c() => match result {
            Ok(()) => "ctrl-c",
            Err(_) => "signal handler unavailable",
        },
        () = work => unreachable!("the work loop never ends"),
    };
    info!(reason = orders, "quickstart stopping");
    telemetry.shutdown();
    let stats = telemetry.log_stats();
    eprintln!(
        "quickstart: stopped ({orders}); {} log lines written, {} dropped, {} write errors",
        stats.written, stats.dropped, stats.write_errors
    );
    ExitCode::SUCCESS
}
