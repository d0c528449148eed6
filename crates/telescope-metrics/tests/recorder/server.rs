//! The `/metrics` server over real sockets on 127.0.0.1.

use std::io::Read;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use telescope_metrics::{MetricsServer, TelescopeRecorder};

use telescope_test_support::http_client::Reply;

async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> Reply {
    telescope_test_support::http_client::request_async(addr, method, path, extra, b"").await
}

fn recorded() -> (
    telescope_metrics::TelescopeRecorder,
    telescope_metrics::MetricsHandle,
) {
    let (recorder, handle) = TelescopeRecorder::builder().build();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..2000 {
            metrics::counter!("requests_total", "path" => format!("/item/{i}")).increment(1);
        }
    });
    (recorder, handle)
}

#[tokio::test]
async fn serves_both_formats_gzip_and_404() {
    let (_recorder, handle) = recorded();
    let server = MetricsServer::builder()
        .address("127.0.0.1:0")
        .start(handle)
        .expect("start");
    let addr = server.local_addr();

    let plain = request(addr, "GET", "/metrics", &[]).await;
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(plain.bytes).expect("utf8");
    assert!(text.contains("requests_total{path=\"/item/7\"} 1"));

    let open = request(
        addr,
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )],
    )
    .await;
    assert_eq!(
        open.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(open.body.ends_with("# EOF\n"));

    let zipped = request(addr, "GET", "/metrics", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(
        zipped.bytes.len() < text.len() / 3,
        "{} vs {}",
        zipped.bytes.len(),
        text.len()
    );
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(zipped.bytes.as_slice())
        .read_to_string(&mut unzipped)
        .expect("gunzip");
    assert!(unzipped.contains("requests_total{path=\"/item/7\"} 1"));

    assert_eq!(request(addr, "GET", "/", &[]).await.status, 404);
    assert_eq!(
        request(addr, "GET", "/metrics/extra", &[]).await.status,
        404
    );
    assert_eq!(request(addr, "POST", "/metrics", &[]).await.status, 405);
}

#[tokio::test]
async fn a_bearer_token_is_required_when_configured() {
    let (_recorder, handle) = recorded();
    let server = MetricsServer::builder()
        .address("127.0.0.1:0")
        .bearer_token("s3cret")
        .start(handle)
        .expect("start");
    let addr = server.local_addr();
    let refused = request(addr, "GET", "/metrics", &[]).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        request(
            addr,
            "GET",
            "/metrics",
            &[("Authorization", "Bearer wrong")]
        )
        .await
        .status,
        401
    );
    // The scheme is case-insensitive (RFC 9110); the token is compared whole.
    for (header, status) in [
        ("Bearer s3cret", 200),
        ("bearer s3cret", 200),
        ("BEARER  s3cret", 200),
        ("Bearer s3cre", 401),
        ("Bearer s3crett", 401),
        ("Basic s3cret", 401),
        ("s3cret", 401),
    ] {
        assert_eq!(
            request(addr, "GET", "/metrics", &[("Authorization", header)])
                .await
                .status,
            status,
            "{header}"
        );
    }
}

#[tokio::test]
async fn a_scraper_that_hangs_up_mid_response_does_not_hurt_the_server() {
    let (_recorder, handle) = recorded();
    let server = MetricsServer::builder()
        .address("127.0.0.1:0")
        .start(handle)
        .expect("start");
    let addr = server.local_addr();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("send");
        let mut first = [0u8; 64];
        let _ = stream.read(&mut first).await;
        drop(stream); // hang up with most of the body unread
    }
    let after = request(addr, "GET", "/metrics", &[]).await;
    assert_eq!(after.status, 200);
    assert!(after.body.contains("requests_total"));
}

#[test]
fn a_busy_port_is_an_error_at_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("addr").to_string();
    let (_recorder, handle) = TelescopeRecorder::builder().build();
    let error = MetricsServer::builder()
        .address(address.clone())
        .start(handle)
        .expect_err("port taken");
    assert!(error.to_string().contains(&address), "{error}");
}

/// Responses whose clients never read them hold their bodies: past eight bodies alive, a
/// scrape that needs a fresh render is refused with 503 and `Retry-After` instead of holding
/// one more; a body read (dropped) frees its place.
#[test]
fn bodies_held_by_unread_responses_are_bounded() {
    let (recorder, handle) = TelescopeRecorder::builder().build();
    metrics::with_local_recorder(&recorder, || {
        for n in 0..100 {
            metrics::counter!("requests_total", "n" => n.to_string()).increment(1);
        }
    });
    let scrape =
        || telescope_metrics::scrape_response(&handle, &http::Method::GET, &http::HeaderMap::new());
    let unread: Vec<_> = (0..8).map(|_| scrape()).collect();
    assert!(unread.iter().all(|response| response.status() == 200));
    let refused = scrape();
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    drop(unread);
    assert_eq!(scrape().status(), 200);
}

/// Over real sockets: clients that send `GET /metrics` and never read the answer hold at
/// most eight rendered bodies (each larger than what the kernel's socket buffers absorb); the
/// next scrape that needs a render is refused at once with 503 and `Retry-After`, and once
/// a client goes away its body is freed and scrapes answer 200 again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_hold_at_most_eight_bodies() {
    let (recorder, handle) = TelescopeRecorder::builder()
        .cardinality_limit(10_000)
        .build();
    metrics::with_local_recorder(&recorder, || {
        for user in 0..10_000 {
            metrics::histogram!("request_seconds", "user" => format!("{user:05}")).record(0.1);
        }
    });
    let body_bytes = handle.render(telescope_metrics::Format::Prometheus).len();
    assert!(
        body_bytes > 6_000_000,
        "{body_bytes} bytes: larger than a 4 MiB send buffer"
    );
    let server = MetricsServer::builder()
        .address("127.0.0.1:0")
        .start(handle)
        .expect("start");
    let addr = server.local_addr();

    // A client that sends the request, reads the status line only, and keeps the
    // connection open with a tiny receive buffer.
    let stalled = || async move {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("small receive buffer");
        let mut stream = socket.connect(addr).await.expect("connect");
        let head = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        stream.write_all(head.as_bytes()).await.expect("send");
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).await.expect("status line");
        (stream, String::from_utf8_lossy(&status).into_owned())
    };
    let mut unread = Vec::new();
    for _ in 0..8 {
        let (stream, status) = stalled().await;
        assert_eq!(status, "HTTP/1.1 200");
        unread.push(stream);
    }
    for _ in 0..2 {
        let refused = request(addr, "GET", "/metrics", &[]).await;
        assert_eq!(refused.status, 503, "a ninth body is not rendered");
        assert_eq!(refused.header("retry-after"), Some("1"));
    }

    // One client leaves: its connection fails on the next write and its body is dropped.
    drop(unread.pop());
    let mut answered = 0;
    for _ in 0..200 {
        let reply = request(addr, "GET", "/metrics", &[]).await;
        if reply.status == 200 {
            answered = reply.body.len();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        answered > 6_000_000,
        "a freed place serves a whole scrape again"
    );
    drop(unread);
    server.shutdown();
}
