//! Health probes for a service with a database-like dependency that goes down and comes back.
//!
//! ```text
//! cargo run --example health
//! ```
//!
//! It starts a fake database (a TCP listener), registers a readiness check on it, a liveness
//! watchdog on the service's runtime and a non-critical disk check, serves the probes on a
//! local port, and prints what `GET /readyz?verbose` answers at each step: all up, the
//! database down, the database back, and a drain before shutdown.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use telescope::health::checks::{DiskSpaceCheck, RuntimeWatchdog, TcpCheck};
use telescope::health::{CheckConfig, Health, HealthServer, Probe, Status};

/// A blocking `GET`, to show exactly what a probe sees.
fn get(server: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(server)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or_default().to_owned();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or_default();
    Ok(format!("{status}\n{body}"))
}

/// Waits until readiness reaches `status` (the check runs every 100 ms).
async fn settle(health: &Health, status: Status) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while health.report(Probe::Readiness, &[]).status() != status && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fake database: accepts connections until the task is aborted.
async fn database(addr: SocketAddr) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            drop(connection);
        }
    }))
}

fn show(step: &str, server: SocketAddr) {
    println!("--- {step}: GET /readyz?verbose");
    match get(server, "/readyz?verbose") {
        Ok(answer) => println!("{answer}"),
        Err(error) => println!("request failed: {error}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db_addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await?
        .local_addr()?;
    let mut db = database(db_addr).await?;

    let health = Health::new();
    let every = |config: CheckConfig| config.interval(Duration::from_millis(100));
    health.register(
        TcpCheck::new("database", db_addr.to_string()),
        every(CheckConfig::readiness()),
    )?;
    let watchdog = RuntimeWatchdog::start(
        "runtime",
        &tokio::runtime::Handle::current(),
        Duration::from_millis(50),
        Duration::from_millis(500),
    );
    health.register(watchdog, every(CheckConfig::liveness()))?;
    let disk = DiskSpaceCheck::new("disk", std::env::temp_dir()).warn_below_bytes(512 << 20);
    health.register(disk, every(CheckConfig::readiness()).critical(false))?;
    let server = HealthServer::start("127.0.0.1:0", health.clone())?;
    println!(
        "probes at http://{}/livez, /readyz, /healthz (database at {db_addr})\n",
        server.local_addr()
    );

    settle(&health, Status::Pass).await;
    show("1. everything is up", server.local_addr());

    db.abort();
    let _ = db.await;
    settle(&health, Status::Fail).await;
    show("2. the database went down", server.local_addr());
    println!("--- meanwhile GET /livez (a database outage must not restart the pod)");
    println!("{}", get(server.local_addr(), "/livez?verbose")?);

    db = database(db_addr).await?;
    settle(&health, Status::Pass).await;
    show("3. the database is back", server.local_addr());

    health.set_accepting_traffic(false);
    show("4. draining before shutdown", server.local_addr());

    db.abort();
    server.shutdown();
    Ok(())
}
