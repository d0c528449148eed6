//! OTLP log export to receivers on 127.0.0.1 that decode the official protobufs: what a record
//! carries (time, severity, body, attributes, trace context, resource, scope) over both
//! transports, redaction, limits, `log` crate records, and the accounting of every record.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use telescope_otlp::{
    LogPipeline, OtlpExport, OtlpExportConfig, OtlpLayer, OtlpLogLayer, OtlpProtocol, OtlpSignal,
    PipelineConfig,
};
use telescope_test_support::otlp_receiver::{free_port, Receiver, Reply};
use tracing_subscriber::layer::SubscriberExt;

fn quick(export_timeout: Duration) -> PipelineConfig {
    PipelineConfig {
        schedule_delay: Duration::from_millis(20),
        export_timeout,
        ..PipelineConfig::logs_default()
    }
}

fn http_config(port: u16) -> OtlpExportConfig {
    OtlpExportConfig::new(
        format!("http://127.0.0.1:{port}/v1/logs"),
        OtlpProtocol::HttpProtobuf,
    )
}

/// Runs `work` under a span layer (for trace contexts) and a log layer exporting with
/// `config`; returns the log pipeline, flushed, and the spans' ring.
fn run(
    layer: OtlpLogLayer,
    work: impl FnOnce(),
) -> (
    LogPipeline,
    Vec<std::sync::Arc<opentelemetry_sdk::trace::SpanData>>,
) {
    let spans = OtlpLayer::builder().build();
    let (logs, traces) = (layer.pipeline(), spans.pipeline());
    let subscriber = tracing_subscriber::registry().with(spans).with(layer);
    tracing::subscriber::with_default(subscriber, work);
    assert!(logs.force_flush(Duration::from_secs(30)));
    assert!(traces.force_flush(Duration::from_secs(30)));
    (logs, traces.ring().spans())
}

fn exporting(config: OtlpExportConfig) -> OtlpLogLayer {
    OtlpLogLayer::builder()
        .exporter(OtlpExport::new(config))
        .pipeline(quick(Duration::from_secs(10)))
        .build()
}

fn attribute<'a>(record: &'a LogRecord, key: &str) -> Option<&'a Value> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text<'a>(record: &'a LogRecord, key: &str) -> Option<&'a str> {
    match attribute(record, key) {
        Some(Value::StringValue(text)) => Some(text),
        _ => None,
    }
}

fn body(record: &LogRecord) -> Option<&str> {
    match record.body.as_ref()?.value.as_ref()? {
        Value::StringValue(text) => Some(text),
        _ => None,
    }
}

/// A value recorded with `?`: only its `Debug` output is read.
struct Order {
    id: u32,
}

impl std::fmt::Debug for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Order {{ id: {} }}", self.id)
    }
}

#[test]
fn records_carry_time_severity_body_attributes_trace_resource_and_scope() {
    for protocol in [OtlpProtocol::HttpProtobuf, OtlpProtocol::Grpc] {
        let receiver = match protocol {
            OtlpProtocol::HttpProtobuf => Receiver::http(0, &[]),
            OtlpProtocol::Grpc => Receiver::grpc(0, &[]),
        };
        let config = match protocol {
            OtlpProtocol::HttpProtobuf => http_config(receiver.addr.port()),
            OtlpProtocol::Grpc => {
                OtlpExportConfig::new(format!("http://{}", receiver.addr), protocol)
            }
        }
        .resource(vec![("service.name".to_owned(), "checkout".to_owned())]);
        let before = std::time::SystemTime::now();
        let (logs, spans) = run(exporting(config), || {
            tracing::info_span!("request").in_scope(|| {
                tracing::warn!(
                    rows = 3_i64,
                    big = u64::MAX,
                    cached = false,
                    ratio = 0.5_f64,
                    order = ?Order { id: 7 },
                    user = "ada",
                    "slow query"
                );
            });
            tracing::error!(target: "billing", "no span here");
        });
        assert_eq!(logs.stats().exported, 2, "{protocol:?}");
        let requests = receiver.log_requests();
        let resource = requests[0].resource_logs[0]
            .resource
            .as_ref()
            .expect("a resource");
        assert_eq!(resource.attributes[0].key, "service.name");
        let records = receiver.log_records();
        assert_eq!(records.len(), 2, "{protocol:?}");
        let (warn, error) = (&records[0], &records[1]);

        let since_epoch = before
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos() as u64;
        assert!(warn.time_unix_nano >= since_epoch);
        assert_eq!(warn.observed_time_unix_nano, warn.time_unix_nano);
        assert_eq!(
            (warn.severity_number, warn.severity_text.as_str()),
            (13, "WARN")
        );
        assert_eq!(
            (error.severity_number, error.severity_text.as_str()),
            (17, "ERROR")
        );
        assert_eq!(body(warn), Some("slow query"));
        assert_eq!(attribute(warn, "rows"), Some(&Value::IntValue(3)));
        assert_eq!(
            text(warn, "big"),
            Some("18446744073709551615"),
            "too big for int64: text"
        );
        assert_eq!(attribute(warn, "cached"), Some(&Value::BoolValue(false)));
        assert_eq!(attribute(warn, "ratio"), Some(&Value::DoubleValue(0.5)));
        assert_eq!(text(warn, "order"), Some("Order { id: 7 }"));
        assert_eq!(text(warn, "user"), Some("ada"));
        assert_eq!(warn.attributes.len(), 6, "the message is the body only");

        let span = &spans[0].span_context;
        assert_eq!(warn.trace_id, span.trace_id().to_bytes());
        assert_eq!(warn.span_id, span.span_id().to_bytes());
        // The W3C trace flags: sampled, and (level 2) a random trace id.
        assert_eq!(u32::from(span.trace_flags().to_u8()), warn.flags);
        assert_eq!(warn.flags & 1, 1, "sampled");
        assert!(error.trace_id.is_empty() && error.span_id.is_empty());

        let scopes: Vec<&str> = requests
            .iter()
            .flat_map(|r| &r.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.scope.as_ref().map_or("", |scope| scope.name.as_str()))
            .collect();
        assert!(scopes.contains(&"billing"), "{scopes:?}");
        assert!(scopes.contains(&"otlp::logs"), "{scopes:?}");
    }
}

#[test]
fn secrets_never_leave_in_a_record() {
    let receiver = Receiver::http(0, &[]);
    let (logs, _) = run(exporting(http_config(receiver.addr.port())), || {
        tracing::info!(
            password = "hunter2",
            card = 4111_1111_1111_1111_u64,
            header = "Authorization: Bearer abc.def.ghi",
            "login for token=s3cr3tvalue"
        );
    });
    assert_eq!(logs.stats().exported, 1);
    let record = &receiver.log_records()[0];
    assert_eq!(text(record, "password"), Some("[REDACTED]"));
    assert_eq!(text(record, "card"), Some("[REDACTED]"));
    let header = text(record, "header").expect("kept, scrubbed");
    assert!(!header.contains("abc.def.ghi"), "{header}");
    let body = body(record).expect("a body");
    assert!(!body.contains("s3cr3tvalue"), "{body}");
    let everything = format!("{record:?}");
    for secret in ["hunter2", "4111111111111111", "abc.def.ghi", "s3cr3tvalue"] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
}

#[test]
fn attributes_past_the_limit_are_counted_as_dropped() {
    let receiver = Receiver::http(0, &[]);
    let layer = OtlpLogLayer::builder()
        .exporter(OtlpExport::new(http_config(receiver.addr.port())))
        .pipeline(quick(Duration::from_secs(10)))
        .max_attributes(2)
        .build();
    run(layer, || {
        tracing::info!(a = 1, b = 2, c = 3, d = "four", "limited")
    });
    let record = &receiver.log_records()[0];
    assert_eq!(record.attributes.len(), 2);
    assert_eq!(record.dropped_attributes_count, 2);
    assert_eq!(body(record), Some("limited"), "the body is no attribute");
}

#[test]
fn a_log_crate_record_keeps_its_level_and_target() {
    let receiver = Receiver::http(0, &[]);
    run(exporting(http_config(receiver.addr.port())), || {
        tracing_log::format_trace(
            &log::Record::builder()
                .args(format_args!("retrying {}", "upload"))
                .level(log::Level::Error)
                .target("my_lib::client")
                .module_path(Some("my_lib::client"))
                .file(Some("src/client.rs"))
                .line(Some(7))
                .build(),
        )
        .expect("dispatched");
    });
    let requests = receiver.log_requests();
    let scope = &requests[0].resource_logs[0].scope_logs[0];
    assert_eq!(
        scope.scope.as_ref().map(|s| s.name.as_str()),
        Some("my_lib::client")
    );
    let record = &scope.log_records[0];
    assert_eq!(record.severity_number, 17);
    assert_eq!(body(record), Some("retrying upload"));
    assert!(
        record
            .attributes
            .iter()
            .all(|kv| !kv.key.starts_with("log.")),
        "{:?}",
        record.attributes
    );
}

/// A value whose `Debug` logs: the record being encoded must not be disturbed.
struct Chatty;

impl std::fmt::Debug for Chatty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::info!("from inside Debug");
        f.write_str("chatty")
    }
}

#[test]
fn a_field_that_logs_while_its_record_is_encoded_does_not_disturb_it() {
    // tracing itself drops an event dispatched from inside another event's dispatch on the
    // same thread; what matters here is that the outer record is whole and nothing hangs.
    let receiver = Receiver::http(0, &[]);
    let (logs, _) = run(exporting(http_config(receiver.addr.port())), || {
        tracing::info!(value = ?Chatty, "outer");
        tracing::info!("next");
    });
    assert_eq!(logs.stats().exported, 2);
    let records = receiver.log_records();
    assert_eq!(body(&records[0]), Some("outer"));
    assert_eq!(text(&records[0], "value"), Some("chatty"));
    assert_eq!(body(&records[1]), Some("next"));
    assert!(
        records[1].attributes.is_empty(),
        "no leftover from the outer record"
    );
}

#[test]
fn every_record_is_exported_or_counted_by_reason() {
    // Refused for good: counted as rejected, sent once.
    let refusing = Receiver::http_then(0, &[], Reply::Refuse(400));
    let (logs, _) = run(exporting(http_config(refusing.addr.port())), || {
        tracing::info!("refused");
    });
    let stats = logs.stats();
    assert_eq!(
        (stats.exported, stats.dropped_rejected),
        (0, 1),
        "{stats:?}"
    );
    // Nobody listening: retried until the export timeout, then counted.
    let layer = OtlpLogLayer::builder()
        .exporter(OtlpExport::new(http_config(free_port())))
        .pipeline(quick(Duration::from_millis(300)))
        .build();
    let (logs, _) = run(layer, || {
        for _ in 0..3 {
            tracing::info!("lost");
        }
    });
    let stats = logs.stats();
    assert_eq!(stats.dropped_export_failed, 3, "{stats:?}");
    assert!(stats.export_errors >= 1);
    // A queue of 4 with a receiver that stalls: the rest is dropped as queue_full, and the
    // logging thread never waits.
    let stalling = Receiver::http_then(0, &[], Reply::Stall(Duration::from_millis(500)));
    let layer = OtlpLogLayer::builder()
        .exporter(OtlpExport::new(http_config(stalling.addr.port())))
        .pipeline(PipelineConfig {
            max_queue_size: 4,
            max_export_batch_size: 4,
            ..quick(Duration::from_secs(10))
        })
        .build();
    let (logs, _) = run(layer, || {
        for index in 0..200 {
            tracing::info!(index, "flood");
        }
    });
    let stats = logs.stats();
    assert!(stats.dropped_queue_full > 0, "{stats:?}");
    assert_eq!(
        stats.exported + stats.dropped_queue_full + stats.dropped_rejected,
        200,
        "{stats:?}"
    );
    assert_eq!(stalling.log_records().len() as u64, stats.exported);
}

#[test]
fn after_shutdown_records_are_counted_not_sent() {
    let receiver = Receiver::http(0, &[]);
    let layer = exporting(http_config(receiver.addr.port()));
    let logs = layer.pipeline();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("before");
        assert!(logs.shutdown(Duration::from_secs(30)));
        tracing::info!("after");
    });
    let stats = logs.stats();
    assert_eq!(
        (stats.exported, stats.dropped_after_shutdown),
        (1, 1),
        "{stats:?}"
    );
}

#[test]
fn the_logs_endpoint_comes_from_the_per_signal_variables() {
    let receiver = Receiver::http(0, &[]);
    let base = format!("http://127.0.0.1:{}", receiver.addr.port());
    let env = |name: &str| (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| base.clone());
    let config = OtlpExportConfig::from_env_for(OtlpSignal::Logs, env)
        .expect("valid")
        .expect("an endpoint");
    assert!(config.endpoint.ends_with("/v1/logs"));
    run(exporting(config), || tracing::info!("routed"));
    assert_eq!(receiver.log_records().len(), 1);
    assert!(receiver.received().is_empty(), "nothing on the traces path");
}

/// An exporter that logs on every batch, through the same subscriber as the application.
struct LoggingExporter {
    dispatch: std::sync::Arc<std::sync::OnceLock<tracing::Dispatch>>,
    records: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl telescope_otlp::LogExport for LoggingExporter {
    fn export(
        &self,
        batch: &[telescope_otlp::EncodedLog],
    ) -> Result<telescope_otlp::Accepted, telescope_otlp::ExportError> {
        if let Some(dispatch) = self.dispatch.get() {
            tracing::dispatcher::with_default(dispatch, || {
                tracing::info!(records = batch.len(), "exporting a batch");
            });
        }
        self.records
            .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::SeqCst);
        Ok(telescope_otlp::Accepted::all())
    }
}

#[test]
fn events_logged_by_the_export_itself_are_not_exported() {
    let dispatch = std::sync::Arc::new(std::sync::OnceLock::new());
    let records = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let layer = OtlpLogLayer::builder()
        .exporter(LoggingExporter {
            dispatch: dispatch.clone(),
            records: records.clone(),
        })
        .pipeline(quick(Duration::from_secs(10)))
        .build();
    let logs = layer.pipeline();
    let subscriber = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let _ = dispatch.set(subscriber.clone());
    tracing::dispatcher::with_default(&subscriber, || tracing::info!("one"));
    assert!(logs.force_flush(Duration::from_secs(30)));
    // Had the exporter's own event been exported, it would have made another batch, and
    // that batch another event: without end.
    std::thread::sleep(Duration::from_millis(100));
    assert!(logs.force_flush(Duration::from_secs(30)));
    assert_eq!(records.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(logs.stats().processed, 1);
}

/// Decodes every record it is given and checks its body against its attributes.
#[derive(Default)]
struct Checking {
    records: std::sync::atomic::AtomicU64,
    mismatches: std::sync::atomic::AtomicU64,
}

/// The exporter's side of a shared [`Checking`].
struct CheckingExport(std::sync::Arc<Checking>);

impl telescope_otlp::LogExport for CheckingExport {
    fn export(
        &self,
        batch: &[telescope_otlp::EncodedLog],
    ) -> Result<telescope_otlp::Accepted, telescope_otlp::ExportError> {
        use prost::Message as _;
        use std::sync::atomic::Ordering::SeqCst;
        for log in batch {
            let whole = LogRecord::decode(log.encoded()).ok().is_some_and(|record| {
                let thread = match attribute(&record, "thread") {
                    Some(Value::IntValue(thread)) => *thread,
                    _ => return false,
                };
                let index = match attribute(&record, "index") {
                    Some(Value::IntValue(index)) => *index,
                    _ => return false,
                };
                body(&record) == Some(format!("thread {thread} record {index}").as_str())
            });
            if !whole {
                self.0.mismatches.fetch_add(1, SeqCst);
            }
        }
        self.0.records.fetch_add(batch.len() as u64, SeqCst);
        Ok(telescope_otlp::Accepted::all())
    }
}

#[test]
fn many_threads_logging_at_once_get_whole_records_and_exact_counts() {
    use std::sync::atomic::Ordering::SeqCst;
    const THREADS: i64 = 8;
    const PER_THREAD: i64 = 5_000;
    let checking = std::sync::Arc::new(Checking::default());
    let layer = OtlpLogLayer::builder()
        .exporter(CheckingExport(checking.clone()))
        .pipeline(PipelineConfig {
            // Small, so that the queue fills, buffers are reused, and records are dropped.
            max_queue_size: 256,
            max_export_batch_size: 64,
            max_concurrent_exports: 2,
            ..quick(Duration::from_secs(10))
        })
        .build();
    let logs = layer.pipeline();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for index in 0..PER_THREAD {
                        // Bodies of different lengths, so that reused buffers are overwritten
                        // by shorter and longer records.
                        let padding = "x".repeat((index % 7) as usize * 40);
                        tracing::info!(thread, index, padding, "thread {thread} record {index}");
                    }
                });
            });
        }
    });
    assert!(logs.shutdown(Duration::from_secs(30)));
    let stats = logs.stats();
    assert_eq!(
        checking.mismatches.load(SeqCst),
        0,
        "every record decodes whole"
    );
    assert_eq!(checking.records.load(SeqCst), stats.exported);
    assert_eq!(
        stats.exported + stats.dropped_queue_full,
        (THREADS * PER_THREAD) as u64,
        "{stats:?}"
    );
    assert_eq!(stats.pending, 0);
}
