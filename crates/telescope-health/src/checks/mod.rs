//! Ready-made checks: TCP connect, HTTP GET, free disk space, a runtime watchdog, and task
//! heartbeats.

mod disk;
mod heartbeat;
mod http_get;
mod tcp;
mod watchdog;

pub use disk::DiskSpaceCheck;
pub use heartbeat::{heartbeat, Heartbeat, HeartbeatCheck};
pub use http_get::{HttpCheck, HttpCheckError};
pub use tcp::TcpCheck;
pub use watchdog::RuntimeWatchdog;

/// Milliseconds as a JSON number with microsecond precision.
fn millis(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
