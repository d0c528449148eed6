//! The quickstart: a small shop API instrumented with telescope, and a built-in load generator
//! calling it, so that there is something to look at straight away.
//!
//! ```text
//! cargo run --release --example quickstart                # until Ctrl-C
//! cargo run --release --example quickstart -- --seconds 3 # stop after 3 s
//! TELESCOPE_LOG_FORMAT=pretty cargo run --release --example quickstart
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 cargo run --release --example quickstart
//! ```
//!
//! It needs no collector: JSON logs go to stdout, and stderr says where the admin server shows
//! metrics, health and recent traces. The simulated inventory dependency goes down now and
//! then, so readiness flips to 503 and some orders fail; some requests are slow, some cards
//! are declined, and every login attempt is an audit record.

mod api;
mod audit_trail;
mod inventory;
mod load;
mod slos;

use std::process::ExitCode;
use std::time::Duration;

use inventory::Inventory;

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

/// Where the API listens: 127.0.0.1:8080, or any free port if that one is taken.
async fn bind_api() -> std::io::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind("127.0.0.1:8080").await {
        Ok(listener) => Ok(listener),
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await,
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
    let (shop_slos, shop_alerts) = match slos::shop_slos() {
        Ok(declared) => declared,
        Err(error) => {
            eprintln!("quickstart: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = telescope::builder().service_version(env!("CARGO_PKG_VERSION"));
    // Named in code only when the environment does not name it (OTEL_SERVICE_NAME wins).
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        builder = builder.service_name("quickstart");
    }
    builder = builder
        // Watch the injected failures burn the error budget on /slo.
        .slos(shop_slos)
        .alerts(shop_alerts)
        .slo_sample_interval(Duration::from_secs(5));
    // Unless told otherwise, a keyed, signed audit trail in a fresh directory, keys beside it.
    let trail = match std::env::var_os("TELESCOPE_AUDIT_FILE") {
        Some(_) => None,
        None => match audit_trail::open(
            &std::env::temp_dir().join(format!("telescope-quickstart-{}", std::process::id())),
        ) {
            Ok(trail) => Some(trail),
            Err(error) => {
                eprintln!("quickstart: cannot set up the audit trail: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    if let Some(trail) = &trail {
        builder = builder.audit_log(trail.log.clone());
    }
    let audit_file = trail.as_ref().map(|trail| trail.path.clone());
    let mut telemetry = match builder.try_init() {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("quickstart: {error}");
            return ExitCode::FAILURE;
        }
    };

    // What the shop's own metrics mean, for every scrape's # HELP lines.
    metrics::describe_counter!(
        "orders_total",
        "Orders by outcome (placed, declined, unavailable, out_of_stock)."
    );
    metrics::describe_counter!("logins_total", "Login attempts by outcome.");
    metrics::describe_gauge!("inventory_stock_units", "Units in stock, by product.");
    metrics::describe_histogram!("order_value_dollars", "Value of placed orders, in dollars.");
    let inventory = Inventory::new(5);
    if let Err(error) = inventory.register_check(telemetry.health()) {
        eprintln!("quickstart: {error}");
        return ExitCode::FAILURE;
    }
    inventory.start_flapping();
    let listener = match bind_api().await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("quickstart: cannot listen: {error}");
            return ExitCode::FAILURE;
        }
    };
    let api_addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("quickstart: {error}");
            return ExitCode::FAILURE;
        }
    };
    let app = api::router(api::AppState { inventory });

    eprintln!(
        "quickstart: JSON logs on stdout{}",
        run_for
            .map(|d| format!(", for {d:?}"))
            .unwrap_or_else(|| "; Ctrl-C to stop".to_owned())
    );
    eprintln!("  API            http://{api_addr}/products  (a load generator is calling it)");
    match telemetry.admin_addr() {
        Some(admin) => {
            eprintln!("  operations     http://{admin}/debug/overview");
            eprintln!("  traces         http://{admin}/debug/traces");
            eprintln!("  metrics        http://{admin}/metrics");
            eprintln!("  readiness      http://{admin}/readyz?verbose");
            eprintln!("  SLOs           http://{admin}/slo");
        }
        None => match std::env::var("TELESCOPE_ADMIN_ADDR") {
            Ok(setting)
                if ["off", "none", "disabled", "false", "0"]
                    .iter()
                    .any(|word| setting.trim().eq_ignore_ascii_case(word)) =>
            {
                eprintln!("  (no admin server: TELESCOPE_ADMIN_ADDR=off)");
            }
            _ => eprintln!("  (admin server not running: see the message above)"),
        },
    }
    if let Some(path) = telemetry.audit().and(audit_file.as_ref()) {
        eprintln!("  audit trail    {}", path.display());
    }
    tracing::info!(pid = std::process::id(), api = %api_addr, "quickstart started");

    let serve = async {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the API server stopped");
        }
    };
    let deadline = async {
        match run_for {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    let reason = tokio::select! {
        () = deadline => "deadline",
        result = tokio::signal::ctrl_c() => match result {
            Ok(()) => "ctrl-c",
            Err(_) => "signal handler unavailable",
        },
        () = serve => "server stopped",
        () = load::run(api_addr, 4, 40) => "load generator stopped",
    };
    tracing::info!(reason, "quickstart stopping");
    telemetry.shutdown();
    let logs = telemetry.log_stats();
    let spans = telemetry.traces().stats();
    eprintln!(
        "quickstart: stopped ({reason}); {} log lines written, {} dropped; {} spans finished",
        logs.written, logs.dropped, spans.processed
    );
    if let Some(trail) = &trail {
        eprintln!("  verify the audit trail: {}", trail.verify_command());
    }
    ExitCode::SUCCESS
}
