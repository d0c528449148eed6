//! [`BackgroundServer`]: a small HTTP/1.1 server on a thread and tokio runtime of its own, so
//! that it answers in applications without tokio and when the application's runtime is busy
//! or blocked. telescope's `/metrics`, health and admin servers are all this, each with its
//! own handler.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::Response;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Whether an `Authorization` header value carries `token` as a bearer credential: the scheme
/// in any case (`Bearer`, `bearer`, as HTTP schemes are case-insensitive), spaces, then exactly
/// the token, compared in constant time (the time taken does not tell how much of a guess was
/// right). Every token check of telescope's servers goes through here.
///
/// ```
/// use telescope_core::server::bearer_token_matches;
/// assert!(bearer_token_matches(Some(b"Bearer s3cret"), "s3cret"));
/// assert!(bearer_token_matches(Some(b"bearer  s3cret"), "s3cret"));
/// assert!(!bearer_token_matches(Some(b"Bearer s3cre"), "s3cret"));
/// assert!(!bearer_token_matches(Some(b"Basic s3cret"), "s3cret"));
/// assert!(!bearer_token_matches(None, "s3cret"));
/// ```
pub fn bearer_token_matches(header: Option<&[u8]>, token: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let Some(header) = header else {
        return false;
    };
    let Some(space) = header.iter().position(|byte| *byte == b' ') else {
        return false;
    };
    let (scheme, rest) = header.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return false;
    }
    let start = rest
        .iter()
        .position(|byte| *byte != b' ')
        .unwrap_or(rest.len());
    let end = rest
        .iter()
        .rposition(|byte| !matches!(byte, b' ' | b'\t'))
        .map_or(start, |last| last + 1);
    let given = rest.get(start..end).unwrap_or_default();
    !token.is_empty() && bool::from(given.ct_eq(token.as_bytes()))
}

/// Why a server (the metrics, health or admin server) could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The address could not be resolved or bound (in use, not local, no permission).
    #[error("the {server} cannot listen on {address}: {source}")]
    Bind {
        /// Which server (`metrics server`, `health server`, `admin server`).
        server: &'static str,
        /// The address asked for.
        address: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Its thread or runtime could not start.
    #[error("cannot start the {server}: {source}")]
    Start {
        /// Which server.
        server: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Resolves `address`, binds it ([`bind`]) and serves it on a new thread ([`BackgroundServer`])
/// named `thread_name`, answering with `handler`; errors name `server` and the address.
///
/// # Errors
/// [`ServerError::Bind`] if the address does not resolve or cannot be bound,
/// [`ServerError::Start`] if the thread or its runtime cannot start.
///
/// ```
/// use telescope_core::server::{start_server, ServerError};
///
/// let taken = start_server("demo server", "127.0.0.1:0", "demo", |_: &http::request::Parts| {
///     http::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(b"hi")))
/// })?;
/// let busy = taken.local_addr().to_string();
/// let refused = start_server("demo server", busy.as_str(), "demo", |_: &http::request::Parts| {
///     http::Response::new(http_body_util::Full::new(bytes::Bytes::new()))
/// });
/// assert!(matches!(refused, Err(ServerError::Bind { .. })));
/// # Ok::<(), ServerError>(())
/// ```
pub fn start_server(
    server: &'static str,
    address: impl ToSocketAddrs + fmt::Debug,
    thread_name: &str,
    handler: impl Handler,
) -> Result<BackgroundServer, ServerError> {
    let shown = format!("{address:?}");
    let bind_error = |source| ServerError::Bind {
        server,
        address: shown.trim_matches('"').to_owned(),
        source,
    };
    let addresses: Vec<SocketAddr> = address.to_socket_addrs().map_err(bind_error)?.collect();
    let listener = bind(&addresses).map_err(bind_error)?;
    BackgroundServer::start(listener, thread_name, handler)
        .map_err(|source| ServerError::Start { server, source })
}

/// Connections the kernel queues for a server before it accepts them (the standard
/// library's 128 overflowed under a flood of probes: clients waited a second for a SYN
/// retransmission, some were reset).
const LISTEN_BACKLOG: i32 = 1024;

/// Binds the first of `addresses` that works, as `std::net::TcpListener::bind` does, but
/// with a listen backlog of 1024 (the standard library listens with 128).
///
/// # Errors
/// The last bind error, or `InvalidInput` when `addresses` is empty.
///
/// ```
/// let listener = telescope_core::server::bind(&["127.0.0.1:0".parse().unwrap()])?;
/// assert!(listener.local_addr()?.port() > 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn bind(addresses: &[SocketAddr]) -> io::Result<StdListener> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to bind");
    for address in addresses {
        let attempt = (|| {
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(*address),
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )?;
            socket.set_reuse_address(true)?;
            socket.bind(&(*address).into())?;
            socket.listen(LISTEN_BACKLOG)?;
            Ok::<_, io::Error>(StdListener::from(socket))
        })();
        match attempt {
            Ok(listener) => return Ok(listener),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Answers one request from its head (the servers built on this read no bodies).
pub trait Handler: Fn(&Parts) -> Response<Full<Bytes>> + Send + Sync + 'static {}

impl<F> Handler for F where F: Fn(&Parts) -> Response<Full<Bytes>> + Send + Sync + 'static {}

/// A running server; stops when [`shutdown`](Self::shutdown) is called or it is dropped.
///
/// ```
/// use telescope_core::server::BackgroundServer;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let server = BackgroundServer::start(listener, "example-http", |_request: &http::request::Parts| {
///     http::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(b"hello\n")))
/// })?;
/// println!("listening on http://{}", server.local_addr());
/// server.shutdown();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct BackgroundServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for BackgroundServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl BackgroundServer {
    /// Serves `listener` (already bound, so a busy port was the caller's error to report) on
    /// a new thread named `thread_name`, answering each request with `handler`.
    ///
    /// # Errors
    /// A failure to configure the listener or to start the thread or its runtime.
    pub fn start(
        listener: StdListener,
        thread_name: &str,
        handler: impl Handler,
    ) -> io::Result<BackgroundServer> {
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel();
        let name = thread_name.to_owned();
        let thread = std::thread::Builder::new()
            .name(thread_name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => {
                            tokio::select! {
                                () = serve(listener, handler) => {}
                                _ = stopped => {}
                            }
                        }
                        Err(error) => eprintln!("telescope: {name} cannot listen: {error}"),
                    }
                });
            })?;
        Ok(BackgroundServer {
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

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Serves `listener` on the current tokio runtime until the future is dropped, each
/// connection on a task of its own, answering each request with `handler` on the runtime's
/// blocking threads (so a slow answer holds up no other request): for serving telescope's
/// endpoints on your own runtime instead of a [`BackgroundServer`]'s thread.
pub async fn serve(listener: TcpListener, handler: impl Handler) {
    serve_shared(listener, Arc::new(handler)).await;
}

async fn serve_shared<H: Handler>(listener: TcpListener, handler: Arc<H>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let handler = Arc::clone(&handler);
        tokio::spawn(async move {
            let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let (parts, _body) = request.into_parts();
                let handler = Arc::clone(&handler);
                async move {
                    // On a blocking thread of its own: a long answer (a large `/metrics`
                    // render) never holds up another request, such as a liveness probe.
                    let response = match tokio::task::spawn_blocking(move || handler(&parts)).await
                    {
                        Ok(response) => response,
                        Err(_) => {
                            let mut failed =
                                Response::new(Full::new(Bytes::from_static(b"internal error\n")));
                            *failed.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                            failed
                        }
                    };
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            // A client that hangs up mid-request only ends its own connection.
            let _ = connection.await;
        });
    }
}
