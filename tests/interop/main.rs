//! Interoperability with real peers that must be installed: `promtool` (Debian's
//! `prometheus` package) and prometheus_client's parsers (Python, in a virtual environment
//! named by `TELESCOPE_PYTHON`) and the Etsy StatsD daemon (node, `TELESCOPE_STATSD_DAEMON`),
//! all set up by `.ci/run`. Behind the `interop` feature.

#[cfg(feature = "interop")]
#[path = "../support/hostile_metrics.rs"]
mod hostile_metrics;
#[cfg(feature = "interop")]
mod parsers;
#[cfg(feature = "interop")]
mod promtool;
#[cfg(feature = "interop")]
#[path = "../support/promtool.rs"]
mod promtool_support;
#[cfg(feature = "interop")]
mod statsd;
