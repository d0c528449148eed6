//! One process-wide setup shared by the tests: telemetry installed globally (the API runs on
//! tokio worker threads, which only the global subscriber reaches), an OTLP receiver, and the
//! quickstart's API on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use telescope::otlp::{OtlpExportConfig, OtlpProtocol};
use telescope::Telemetry;

use crate::inventory::Inventory;
use crate::receiver::Receiver;

use crate::capture::Capture;

/// What the tests share.
pub(crate) struct Setup {
    pub(crate) telemetry: Mutex<Telemetry>,
    pub(crate) receiver: Receiver,
    pub(crate) logs: Capture,
    pub(crate) api: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) inventory: Inventory,
    pub(crate) audit_file: std::path::PathBuf,
    /// Held by each test for its whole run: they share the API and its dependency.
    pub(crate) serial: Mutex<()>,
    _runtime: tokio::runtime::Runtime,
    _audit_dir: tempfile::TempDir,
}

/// The setup, made on first use.
pub(crate) fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let receiver = Receiver::http(0, &[]);
        let endpoint = format!("http://{}/v1/traces", receiver.addr);
        let logs = Capture::default();
        let audit_dir = tempfile::tempdir().expect("tempdir");
        let audit_file = audit_dir.path().join("audit.jsonl");
        let telemetry = telescope::builder()
            .service_name("e2e")
            .admin_address("127.0.0.1:0")
            .otlp_export(OtlpExportConfig::new(endpoint, OtlpProtocol::HttpProtobuf))
            .audit_file(&audit_file)
            .log_writer(logs.clone())
            .try_init()
            .expect("the only init in this process");
        let admin = telemetry.admin_addr().expect("admin server");
        let inventory = Inventory::new(5);
        inventory
            .register_check(telemetry.health())
            .expect("registers");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let api = listener.local_addr().expect("addr");
        let app = crate::api::router(crate::api::AppState {
            inventory: inventory.clone(),
        });
        runtime.spawn(async move { axum::serve(listener, app).await });
        Setup {
            telemetry: Mutex::new(telemetry),
            receiver,
            logs,
            api,
            admin,
            inventory,
            audit_file,
            serial: Mutex::new(()),
            _runtime: runtime,
            _audit_dir: audit_dir,
        }
    })
}

/// A response as text.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Reply {
    /// The value of response header `name` (lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// One HTTP/1.1 request over a new connection.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        text.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}
