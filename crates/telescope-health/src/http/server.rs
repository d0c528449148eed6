//! [`HealthServer`]: the endpoints on a thread and runtime of their own, so that they answer
//! even when the application's runtime is busy or blocked; [`serve`] for your own runtime.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use telescope_core::server::{BackgroundServer, ServerError};
use tokio::net::TcpListener;

use crate::Health;

/// A running health server; stops when [`shutdown`](Self::shutdown) is called or it is
/// dropped.
///
/// ```
/// use telescope_health::{Health, HealthServer};
/// let server = HealthServer::start("127.0.0.1:0", Health::new())?;
/// println!("probes at http://{}/readyz", server.local_addr());
/// server.shutdown();
/// # Ok::<(), telescope_health::ServerError>(())
/// ```
pub struct HealthServer {
    server: BackgroundServer,
}

impl fmt::Debug for HealthServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthServer")
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl HealthServer {
    /// Binds `addr` now (so a busy port is an error here) and serves on a new thread.
    ///
    /// # Errors
    /// [`ServerError::Bind`] if the address does not resolve or cannot be bound,
    /// [`ServerError::Start`] if the thread or its runtime cannot start.
    pub fn start(
        addr: impl ToSocketAddrs + fmt::Debug,
        health: Health,
    ) -> Result<HealthServer, ServerError> {
        let server = telescope_core::server::start_server(
            "health server",
            addr,
            "telescope-health-http",
            move |request| super::respond(&health, &request.method, &request.uri, &request.headers),
        )?;
        Ok(HealthServer { server })
    }

    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops accepting and waits for the server thread to end (dropping does the same).
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}

/// Serves the endpoints on `listener` on the current tokio runtime, until the future is
/// dropped. Each connection is served on a task of its own.
pub async fn serve(listener: TcpListener, health: Health) {
    telescope_core::server::serve(listener, move |request: &http::request::Parts| {
        super::respond(&health, &request.method, &request.uri, &request.headers)
    })
    .await;
}
