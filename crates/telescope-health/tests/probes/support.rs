//! Test support: requests as a kubelet sends them (telescope-test-support's client), and
//! waiting for a condition.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub(crate) use telescope_test_support::http_client::Reply;

/// Sends `method path` as a kubelet does, with an optional `Accept` header, and reads the
/// whole response.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    accept: Option<&str>,
) -> Reply {
    let mut headers = vec![("User-Agent", "kube-probe/1.31")];
    if let Some(accept) = accept {
        headers.push(("Accept", accept));
    }
    telescope_test_support::http_client::request_async(addr, method, path, &headers, b"").await
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, None).await
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns whether it held.
/// The limit is generous: it only stops a broken test from hanging.
pub(crate) async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) const PATIENCE: Duration = Duration::from_secs(20);
