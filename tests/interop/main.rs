//! Interoperability with real peers that must be installed: `promtool` (Debian's
//! `prometheus` package, which `.ci/run` installs). Behind the `interop` feature.

#[cfg(feature = "interop")]
mod promtool;
#[cfg(feature = "interop")]
#[path = "../support/promtool.rs"]
mod promtool_support;
