//! Can a TCP connection be opened to a dependency?

use std::time::Instant;

use tokio::net::TcpStream;

use crate::{CheckFuture, CheckResult, HealthCheck};

/// Passes when a TCP connection to `host:port` opens (and closes it at once), like the
/// kubelet's `tcpSocket` probe. Reports the connect time as `connectTime` in ms.
///
/// ```
/// use telescope_health::{checks::TcpCheck, CheckConfig, Health};
/// let health = Health::new();
/// health.register(TcpCheck::new("postgres", "db.internal:5432"), CheckConfig::readiness())?;
/// # Ok::<(), telescope_health::RegisterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TcpCheck {
    name: String,
    address: String,
}

impl TcpCheck {
    /// A check named `name` connecting to `address` (`host:port`, resolved on each run).
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            address: address.into(),
        }
    }
}

impl HealthCheck for TcpCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            match TcpStream::connect(self.address.as_str()).await {
                Ok(_stream) => CheckResult::pass().with_observation(
                    "connectTime",
                    super::millis(started.elapsed()),
                    Some("ms"),
                ),
                Err(error) => {
                    CheckResult::fail(format!("cannot connect to {}: {error}", self.address))
                }
            }
        })
    }
}
