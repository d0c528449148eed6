//! End to end: the quickstart's router behind `init()`-installed telemetry, exporting to an OTLP
//! receiver built from the official protobufs, served and scraped over real sockets. Behind
//! the `interop` feature, a real Prometheus server scrapes the admin server.

#[path = "../../examples/quickstart/api.rs"]
mod api;
#[path = "../support/capture.rs"]
mod capture;
use telescope_test_support::http_client;
#[path = "../../examples/quickstart/inventory.rs"]
#[allow(dead_code)] // the demo's flapping is not used here
mod inventory;
mod setup;

#[cfg(feature = "interop")]
mod alerting;
#[cfg(feature = "interop")]
#[path = "../support/hostile_metrics.rs"]
mod hostile_metrics;
#[cfg(feature = "interop")]
mod prometheus;
#[cfg(feature = "interop")]
#[path = "../support/promtool.rs"]
mod promtool_support;
mod quickstart;
