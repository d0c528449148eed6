//! [`HealthServer`]: a small HTTP/1.1 server for the endpoints, on a thread and runtime of
//! its own, so that it answers even when the application's runtime is busy or blocked.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::Health;

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// A running health server; stops when [`shutdown`](Self::shutdown) is called or it is
/// dropped.
///
/// ```
/// use telescope_health::{Health, HealthServer};
/// let server = HealthServer::start("127.0.0.1:0", Health::new())?;
/// println!("probes at http://{}/readyz", server.local_addr());
/// server.shutdown();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct HealthServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for HealthServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl HealthServer {
    /// Binds `addr` now (so a busy port is an error here) and serves on a new thread.
    ///
    /// # Errors
    /// The bind error, or a failure to start the thread or its runtime.
    pub fn start(addr: impl ToSocketAddrs, health: Health) -> io::Result<HealthServer> {
        let listener = StdListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("telescope-health-http".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => {
                            tokio::select! {
                                () = serve(listener, health) => {}
                                _ = stopped => {}
                            }
                        }
                        Err(error) => eprintln!("telescope: health server cannot listen: {error}"),
                    }
                });
            })?;
        Ok(HealthServer {
            local_addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and waits for the server thread to end.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Serves the endpoints on `listener` on the current tokio runtime, until the future is
/// dropped. Each connection is served on a task of its own.
pub async fn serve(listener: TcpListener, health: Health) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(target: "telescope_health", %error, "health server accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let health = health.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let response =
                    super::respond(&health, request.method(), request.uri(), request.headers());
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            // A client that goes away mid-request is its own business.
            let _ = connection.await;
        });
    }
}
