//! One process-wide setup shared by the tests: telemetry installed globally (the API runs on
//! tokio worker threads, which only the global subscriber reaches), an OTLP receiver, and the
//! quickstart's API on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};

use telescope::otlp::{OtlpExportConfig, OtlpProtocol};
use telescope::Telemetry;

use crate::inventory::Inventory;
use telescope_test_support::otlp_receiver::Receiver;

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
