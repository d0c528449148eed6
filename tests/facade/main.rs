//! The facade: what `builder()`/`try_init()` install, end to end.

use std::io::{self, Write};

use std::time::Duration;

use serde_json::Value;
use telescope::{InitError, LogFormat};

#[path = "../support/capture.rs"]
mod capture;

use capture::Capture;

#[test]
fn json_lines_carry_the_service_resource_and_are_flushed_by_the_guard() {
    let out = Capture::default();
    let (dispatch, telemetry) = telescope::builder()
        .service_name("checkout")
        .service_version("1.4.2")
        .deployment_environment("staging")
        .log_format(LogFormat::Json)
        .log_filter("debug")
        .and_then(|b| b.log_writer(out.clone()).build())
        .expect("valid settings");
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("request", user_id = 7);
        let _entered = span.enter();
        tracing::debug!(password = "hunter2", "debug passes the filter");
        tracing::trace!("trace does not");
    });
    drop(telemetry);
    let text = out.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = &lines[0];
    assert_eq!(line["service.name"], "checkout");
    assert_eq!(line["service.version"], "1.4.2");
    assert_eq!(line["deployment.environment.name"], "staging");
    assert_eq!(line["password"], "[REDACTED]");
    assert_eq!(line["span"]["user_id"], 7);
}

#[test]
fn flush_writes_everything_recorded_so_far() {
    let out = Capture::default();
    let (dispatch, telemetry) = telescope::builder()
        .service_name("svc")
        .log_writer(out.clone())
        .build()
        .expect("valid settings");
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..500 {
            tracing::info!(n, "line");
        }
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    assert_eq!(out.text().lines().count(), 500);
    assert_eq!(telemetry.log_stats().written, 500);
    // Any timeout a caller may give is fine, the largest included (no `Instant` overflow).
    assert!(telemetry.flush(Duration::MAX));
}

#[test]
fn pretty_format_redacts_too() {
    let out = Capture::default();
    let (dispatch, mut telemetry) = telescope::builder()
        .log_format(LogFormat::Pretty)
        .log_writer(out.clone())
        .build()
        .expect("valid settings");
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(api_key = "sk-live-123", user = "alice", "calling the API");
    });
    telemetry.shutdown();
    let text = out.text();
    assert!(text.contains("api_key=[REDACTED]"), "{text}");
    assert!(text.contains("user=\"alice\""), "{text}");
    assert!(!text.contains("sk-live-123"), "{text}");
    assert_eq!(
        telemetry.log_stats().written,
        1,
        "final counts survive shutdown"
    );
}

#[test]
fn installing_twice_is_a_clear_error() {
    let first = telescope::builder().log_writer(io::sink()).try_init();
    assert!(first.is_ok(), "{first:?}");
    let second = telescope::builder().log_writer(io::sink()).try_init();
    assert!(
        matches!(second, Err(InitError::AlreadyInitialized)),
        "{second:?}"
    );
    let message = second.expect_err("second install").to_string();
    assert!(message.contains("only once"), "{message}");
}

#[test]
fn the_built_subscriber_traces_and_its_log_lines_carry_the_span_ids() {
    let out = Capture::default();
    let (dispatch, telemetry) = telescope::builder()
        .service_name("checkout")
        .log_writer(out.clone())
        .build()
        .expect("valid settings");
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("request").in_scope(|| tracing::info!("inside"));
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let spans = telemetry.traces().ring().spans();
    let request = spans
        .iter()
        .find(|s| s.name == "request")
        .expect("the span is in the ring with no collector configured");
    let line: Value =
        serde_json::from_str(out.text().lines().next().expect("a line")).expect("JSON");
    assert_eq!(
        line["trace_id"],
        request.span_context.trace_id().to_string()
    );
    assert_eq!(line["span_id"], request.span_context.span_id().to_string());
    assert_eq!(telemetry.traces().stats().processed, 1);
}

#[test]
fn audit_events_reach_the_audit_file_whatever_the_log_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let (dispatch, mut telemetry) = telescope::builder()
        .log_writer(io::sink())
        .without_admin_server()
        .audit_file(&path)
        .log_filter("error")
        .and_then(telescope::TelemetryBuilder::build)
        .expect("valid settings");
    assert!(telemetry.audit().is_some());
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(target: "audit", r#type = "authentication", action = "login",
            outcome = "success", actor = "alice", password = "hunter2");
        tracing::info!(target: "app", "filtered out as before");
    });
    telemetry.shutdown();
    let text = std::fs::read_to_string(&path).expect("audit file");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .filter(|r: &Value| r["action"] == "login")
        .collect();
    assert_eq!(records.len(), 1, "{text}");
    assert_eq!(records[0]["actor"], "alice");
    assert!(
        !text.contains("hunter2"),
        "sensitive fields are hashed: {text}"
    );
    let report = telescope::logs::audit::verify_files(&[path], &Default::default())
        .expect("the sealed log verifies");
    assert!(report.records >= 1);
}

#[test]
fn an_audit_file_that_cannot_be_opened_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_directory = dir.path().join("file");
    std::fs::write(&not_a_directory, b"x").expect("write");
    let result = telescope::builder()
        .log_writer(io::sink())
        .without_admin_server()
        .audit_file(not_a_directory.join("audit.jsonl"))
        .build();
    assert!(
        matches!(result, Err(InitError::Audit(_))),
        "{:?}",
        result.map(|_| ())
    );
}

/// A writer stuck forever, as on a hung disk or a full pipe nobody reads.
struct Stuck;

impl Write for Stuck {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        loop {
            std::thread::park();
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn shutdown_returns_when_the_log_destination_hangs_and_counts_what_is_lost() {
    let (dispatch, mut telemetry) = telescope::builder()
        .without_admin_server()
        .log_writer(Stuck)
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .expect("valid settings");
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..10 {
            tracing::info!(n, "cannot be written");
        }
    });
    telemetry.shutdown(); // returns: the test would hang otherwise
    let stats = telemetry.log_stats();
    assert_eq!(stats.written, 0);
    assert!(
        stats.dropped >= 9,
        "lines stranded in the queue are counted: {stats:?}"
    );
}

#[test]
fn otlp_log_records_match_the_json_lines_they_come_with() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use telescope::otlp::{OtlpExportConfig, OtlpProtocol};
    use telescope_test_support::otlp_receiver::Receiver;

    let receiver = Receiver::http(0, &[]);
    let out = Capture::default();
    let endpoint = format!("http://127.0.0.1:{}/v1/logs", receiver.addr.port());
    let (dispatch, telemetry) = telescope::builder()
        .service_name("checkout")
        .without_admin_server()
        .log_filter("info")
        .and_then(|b| {
            b.log_writer(out.clone())
                .otlp_logs(OtlpExportConfig::new(endpoint, OtlpProtocol::HttpProtobuf))
                .build()
        })
        .expect("valid settings");
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("request").in_scope(|| {
            tracing::info!(password = "hunter2", order = 42, "order placed");
            tracing::debug!("the filter keeps this out of both");
        });
    });
    assert!(telemetry.flush(Duration::from_secs(30)));
    let exported = telemetry.log_export().expect("on").stats().exported;
    drop(telemetry);
    assert_eq!(exported, 1);
    let line: Value =
        serde_json::from_str(out.text().lines().next().expect("a line")).expect("JSON");
    let requests = receiver.log_requests();
    let resource = requests[0].resource_logs[0]
        .resource
        .clone()
        .expect("a resource");
    assert!(resource.attributes.iter().any(|kv| kv.key == "service.name"
        && kv.value.as_ref().and_then(|v| v.value.clone())
            == Some(Any::StringValue("checkout".to_owned()))));
    let records = receiver.log_records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(line["trace_id"], hex(&record.trace_id));
    assert_eq!(line["span_id"], hex(&record.span_id));
    let attribute = |key: &str| {
        record
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.clone())
    };
    assert_eq!(line["password"], "[REDACTED]");
    assert_eq!(
        attribute("password"),
        Some(Any::StringValue("[REDACTED]".to_owned()))
    );
    assert_eq!(attribute("order"), Some(Any::IntValue(42)));
}

/// `name{labels}` → value, from a Prometheus text scrape.
fn scrape_samples(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// A series as a scrape names it: `name{a="x",b="y"}` (labels in the given order).
fn scrape_name(name: &str, labels: &[(String, String)], extra: Option<(&str, &str)>) -> String {
    let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    if let Some((k, v)) = extra {
        pairs.push(format!("{k}=\"{v}\""));
    }
    if pairs.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", pairs.join(","))
    }
}

fn pushed_metrics(
    temporality: telescope::otlp::Temporality,
    record: impl Fn(),
    rounds: usize,
) -> (
    Vec<opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest>,
    String,
) {
    pushed_metrics_to(
        telescope_test_support::otlp_receiver::Receiver::http(0, &[]),
        temporality,
        record,
        rounds,
    )
}

fn pushed_metrics_to(
    receiver: telescope_test_support::otlp_receiver::Receiver,
    temporality: telescope::otlp::Temporality,
    record: impl Fn(),
    rounds: usize,
) -> (
    Vec<opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest>,
    String,
) {
    pushed_with(receiver, temporality, false, record, rounds)
}

fn pushed_with(
    receiver: telescope_test_support::otlp_receiver::Receiver,
    temporality: telescope::otlp::Temporality,
    exponential: bool,
    record: impl Fn(),
    rounds: usize,
) -> (
    Vec<opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest>,
    String,
) {
    use telescope::otlp::{OtlpExportConfig, OtlpProtocol};
    let endpoint = format!("http://127.0.0.1:{}/v1/metrics", receiver.addr.port());
    let (dispatch, telemetry) = telescope::builder()
        .service_name("checkout")
        .without_admin_server()
        .log_writer(io::sink())
        .metrics(telescope::recorder::TelescopeRecorder::builder().cardinality_limit(2))
        .exemplar_interval(Some(Duration::from_millis(1)))
        .otlp_metrics(OtlpExportConfig::new(endpoint, OtlpProtocol::HttpProtobuf))
        // Pushed by `flush` only, at moments the test chooses.
        .metric_export_interval(Duration::from_secs(3600))
        .metric_temporality(temporality)
        .exponential_histograms(exponential)
        .build()
        .expect("valid settings");
    let recorder = telemetry.metrics_recorder();
    for _ in 0..rounds {
        tracing::dispatcher::with_default(&dispatch, || {
            metrics::with_local_recorder(&recorder, &record);
        });
        // A refused push is said by `flush` returning false; the test looks at what arrived.
        let _ = telemetry.flush(Duration::from_secs(30));
    }
    let scrape = telemetry
        .metrics()
        .render(telescope::recorder::Format::Prometheus);
    drop(telemetry);
    (receiver.metric_requests(), scrape)
}

fn record_some() {
    for code in ["200", "404", "500"] {
        metrics::counter!("http_requests_total", "code" => code).increment(2);
    }
    metrics::describe_histogram!("request_seconds", metrics::Unit::Seconds, "Request time.");
    tracing::info_span!("request").in_scope(|| {
        for value in [0.003, 0.2, 7.0] {
            metrics::histogram!("request_seconds", "route" => "/orders").record(value);
        }
    });
    metrics::gauge!("queue_depth").set(2.5);
}

#[test]
fn pushed_metrics_equal_the_scrape_of_the_same_moment() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
    use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;

    let (requests, scrape) =
        pushed_metrics(telescope::otlp::Temporality::Cumulative, record_some, 1);
    let samples = scrape_samples(&scrape);
    let attributes = |kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
        kvs.iter()
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.clone()) {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(text),
                    ) => text,
                    other => panic!("{other:?}"),
                };
                (kv.key.clone(), value)
            })
            .collect::<Vec<_>>()
    };
    let request = requests.last().expect("a push");
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    let mut compared = 0;
    for metric in metrics {
        match metric.data.as_ref().expect("data") {
            Data::Sum(sum) => {
                assert!(sum.is_monotonic);
                assert_eq!(
                    sum.aggregation_temporality,
                    AggregationTemporality::Cumulative as i32
                );
                for point in &sum.data_points {
                    let Some(Number::AsInt(value)) = point.value else {
                        panic!("{point:?}")
                    };
                    let name = scrape_name(&metric.name, &attributes(&point.attributes), None);
                    assert_eq!(samples.get(&name), Some(&(value as f64)), "{name}");
                    compared += 1;
                }
            }
            Data::Gauge(gauge) => {
                for point in &gauge.data_points {
                    let Some(Number::AsDouble(value)) = point.value else {
                        panic!("{point:?}")
                    };
                    let name = scrape_name(&metric.name, &attributes(&point.attributes), None);
                    assert_eq!(samples.get(&name), Some(&value), "{name}");
                    compared += 1;
                }
            }
            Data::Histogram(histogram) => {
                let request_seconds = metric.name == "request_seconds";
                if request_seconds {
                    assert_eq!(metric.unit, "s");
                    assert_eq!(metric.description, "Request time.");
                }
                for point in &histogram.data_points {
                    let labels = attributes(&point.attributes);
                    let mut cumulative = 0;
                    for (index, count) in point.bucket_counts.iter().enumerate() {
                        cumulative += count;
                        let le = point
                            .explicit_bounds
                            .get(index)
                            .map_or("+Inf".to_owned(), |b| telescope::recorder::bucket_label(*b));
                        let bucket = format!("{}_bucket", metric.name);
                        let name = scrape_name(&bucket, &labels, Some(("le", &le)));
                        assert_eq!(samples.get(&name), Some(&(cumulative as f64)), "{name}");
                        compared += 1;
                    }
                    let count = scrape_name(&format!("{}_count", metric.name), &labels, None);
                    assert_eq!(samples.get(&count), Some(&(point.count as f64)));
                    let sum = scrape_name(&format!("{}_sum", metric.name), &labels, None);
                    assert_eq!(samples.get(&sum).copied(), point.sum);
                    if request_seconds {
                        assert_eq!(point.count, 3);
                        // Observed in a sampled span: exemplars carry its trace.
                        assert!(!point.exemplars.is_empty());
                        assert!(point.exemplars.iter().all(|e| e.trace_id.len() == 16));
                    }
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // 2 counter series and the overflow one, 1 gauge, 12 buckets.
    assert!(compared >= 3 + 1 + 12, "{compared}");
    assert!(
        samples.contains_key(r#"http_requests_total{otel_metric_overflow="true"}"#),
        "the cardinality limit holds for the push too: {scrape}"
    );
}

#[test]
fn delta_pushes_carry_what_changed_since_the_last_accepted_push() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
    use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;

    let (requests, _) = pushed_metrics(
        telescope::otlp::Temporality::Delta,
        || {
            metrics::counter!("jobs_total").increment(5);
            metrics::histogram!("job_seconds").record(0.5);
        },
        3,
    );
    assert_eq!(requests.len(), 3);
    for request in &requests {
        for metric in &request.resource_metrics[0].scope_metrics[0].metrics {
            match metric.data.as_ref().expect("data") {
                Data::Sum(sum) => {
                    assert_eq!(
                        sum.aggregation_temporality,
                        AggregationTemporality::Delta as i32
                    );
                    assert_eq!(
                        sum.data_points[0].value,
                        Some(Number::AsInt(5)),
                        "not 10, 15"
                    );
                }
                Data::Histogram(histogram) => {
                    assert_eq!(histogram.data_points[0].count, 1);
                    assert_eq!(histogram.data_points[0].sum, Some(0.5));
                    let point = &histogram.data_points[0];
                    assert!(point.start_time_unix_nano < point.time_unix_nano);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    // Each delta starts where the previous one ended.
    let times: Vec<(u64, u64)> = requests
        .iter()
        .map(|r| {
            let Data::Sum(sum) = r.resource_metrics[0].scope_metrics[0].metrics[1]
                .data
                .clone()
                .expect("data")
            else {
                panic!("jobs_total is second by name")
            };
            (
                sum.data_points[0].start_time_unix_nano,
                sum.data_points[0].time_unix_nano,
            )
        })
        .collect();
    assert_eq!(times[1].0, times[0].1);
    assert_eq!(times[2].0, times[1].1);
}

#[test]
fn a_refused_delta_push_is_carried_into_the_next_one() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
    use telescope_test_support::otlp_receiver::{Receiver, Reply};

    let refusing_once = Receiver::http_then(0, &[Reply::Refuse(400)], Reply::Accept);
    let (requests, _) = pushed_metrics_to(
        refusing_once,
        telescope::otlp::Temporality::Delta,
        || metrics::counter!("jobs_total").increment(5),
        2,
    );
    // The refused request is not kept by the receiver; the accepted one carries both rounds.
    assert_eq!(requests.len(), 1);
    let Some(Data::Sum(sum)) = requests[0].resource_metrics[0].scope_metrics[0].metrics[0]
        .data
        .clone()
    else {
        panic!("a sum")
    };
    assert_eq!(sum.data_points[0].value, Some(Number::AsInt(10)));
}

/// Datagrams arriving on `socket` until `quiet` passes without one.
fn datagrams(socket: &std::net::UdpSocket, quiet: Duration) -> Vec<String> {
    socket.set_read_timeout(Some(quiet)).expect("timeout");
    let mut buffer = vec![0_u8; 65_536];
    let mut out = Vec::new();
    while let Ok(length) = socket.recv(&mut buffer) {
        out.push(String::from_utf8_lossy(&buffer[..length]).into_owned());
    }
    out
}

#[test]
fn statsd_lines_are_exact_safe_batched_and_only_what_changed() {
    use telescope::statsd::StatsdConfig;
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
    let config = StatsdConfig::new(receiver.local_addr().expect("address").to_string())
        .prefix("svc")
        // Pushed by `flush` only.
        .interval(Duration::from_secs(3600));
    let (dispatch, telemetry) = telescope::builder()
        .without_admin_server()
        .log_writer(io::sink())
        .statsd(StatsdConfig {
            max_packet_bytes: 200,
            ..config
        })
        .build()
        .expect("valid settings");
    let recorder = telemetry.metrics_recorder();
    let record = || {
        tracing::dispatcher::with_default(&dispatch, || {
            metrics::with_local_recorder(&recorder, || {
                metrics::counter!("jobs_total", "queue" => "emails").increment(3);
                metrics::counter!("jobs_total", "queue" => "a|b:c,d#e\nf").increment(1);
                metrics::gauge!("temperature").set(-4.5);
                for value in [0.003, 0.2, 0.2] {
                    metrics::histogram!("job_seconds").record(value);
                }
            });
        });
    };
    record();
    assert!(telemetry.flush(Duration::from_secs(10)));
    let first = datagrams(&receiver, Duration::from_millis(300));
    assert!(first.iter().all(|d| d.len() <= 200), "{first:?}");
    let lines: Vec<&str> = first.iter().flat_map(|d| d.split('\n')).collect();
    for expected in [
        "svc.jobs_total:3|c|#queue:emails",
        // The protocol's characters in a label value cannot break the line.
        "svc.jobs_total:1|c|#queue:a_b_c_d_e_f",
        // A negative gauge: set to zero, then decremented.
        "svc.temperature:0|g",
        "svc.temperature:-4.5|g",
        "svc.job_seconds.count:3|c",
        "svc.job_seconds.sum:0.403|c",
        "svc.job_seconds.bucket:1|c|#le:0.005",
        "svc.job_seconds.bucket:2|c|#le:0.25",
    ] {
        assert!(lines.contains(&expected), "{expected} not in {lines:?}");
    }
    assert!(
        lines.iter().position(|l| *l == "svc.temperature:0|g")
            < lines.iter().position(|l| *l == "svc.temperature:-4.5|g"),
        "zero first"
    );
    // Only what changed goes out the next time: one more email job.
    tracing::dispatcher::with_default(&dispatch, || {
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("jobs_total", "queue" => "emails").increment(1);
        });
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let second = datagrams(&receiver, Duration::from_millis(300));
    let lines: Vec<&str> = second.iter().flat_map(|d| d.split('\n')).collect();
    assert!(
        lines.contains(&"svc.jobs_total:1|c|#queue:emails"),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("svc.job_seconds")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("queue:a_b")),
        "unchanged: left out"
    );
    drop(telemetry);
}

#[test]
fn statsd_without_tags_puts_labels_in_the_name() {
    use telescope::statsd::{StatsdConfig, StatsdTags};
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP port");
    let (dispatch, telemetry) = telescope::builder()
        .without_admin_server()
        .log_writer(io::sink())
        .statsd(
            StatsdConfig::new(receiver.local_addr().expect("address").to_string())
                .tags(StatsdTags::Off)
                .interval(Duration::from_secs(3600)),
        )
        .build()
        .expect("valid settings");
    let recorder = telemetry.metrics_recorder();
    tracing::dispatcher::with_default(&dispatch, || {
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("hits_total", "route" => "/a.b").increment(2);
        });
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let lines = datagrams(&receiver, Duration::from_millis(300)).join("\n");
    assert!(lines.contains("hits_total.route_/a_b:2|c"), "{lines}");
    drop(telemetry);
}

#[test]
fn a_statsd_address_that_does_not_resolve_fails_at_start_up() {
    let result = telescope::builder()
        .without_admin_server()
        .log_writer(io::sink())
        .statsd(telescope::statsd::StatsdConfig::new(
            "no-such-host.invalid:8125",
        ))
        .build();
    assert!(
        matches!(result, Err(InitError::Statsd { .. })),
        "{:?}",
        result.err()
    );
}

/// OpenTelemetry's bucket index at scale 6 by the specification's logarithm method: exact for
/// values away from bucket bounds; powers of two are upper bounds of their buckets.
fn spec_index(magnitude: f64) -> i32 {
    if magnitude.to_bits() & ((1 << 52) - 1) == 0 {
        return magnitude.log2() as i32 * 64 - 1;
    }
    (magnitude.log2() * 64.0).ceil() as i32 - 1
}

#[test]
fn exponential_histograms_are_the_recorders_own_buckets_exactly() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let values: [f64; 13] = [
        0.0, 0.001, 0.0042, 0.5, 1.0, 1.5, 2.0, 3.7, 250.0, 1e6, -3.0, -0.25, 7.77e-3,
    ];
    let (requests, _) = pushed_with(
        telescope_test_support::otlp_receiver::Receiver::http(0, &[]),
        telescope::otlp::Temporality::Cumulative,
        true,
        || {
            tracing::info_span!("request").in_scope(|| {
                for value in values {
                    metrics::histogram!("latency_seconds").record(value);
                }
            });
        },
        1,
    );
    let metric = requests[0].resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == "latency_seconds")
        .expect("pushed");
    let Some(Data::ExponentialHistogram(histogram)) = &metric.data else {
        panic!("an exponential histogram: {:?}", metric.data)
    };
    let point = &histogram.data_points[0];
    assert_eq!(point.scale, 6);
    assert_eq!(point.count, values.len() as u64);
    assert_eq!(point.zero_count, 1, "0.0");
    assert_eq!(point.zero_threshold, 2f64.powi(-48));
    assert_eq!(point.sum, None, "negative values were recorded: no sum");
    let count_at = |buckets: &Option<
        opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets,
    >,
                    index: i32| {
        let buckets = buckets.as_ref().expect("buckets");
        usize::try_from(index - buckets.offset)
            .ok()
            .and_then(|at| buckets.bucket_counts.get(at))
            .copied()
            .unwrap_or(0)
    };
    let mut expected: std::collections::BTreeMap<(bool, i32), u64> = Default::default();
    for value in values.iter().filter(|v| **v != 0.0) {
        *expected
            .entry((*value < 0.0, spec_index(value.abs())))
            .or_default() += 1;
    }
    for ((negative, index), count) in &expected {
        let side = if *negative {
            &point.negative
        } else {
            &point.positive
        };
        assert_eq!(
            count_at(side, *index),
            *count,
            "bucket {index} (negative: {negative})"
        );
    }
    let total: u64 = [&point.positive, &point.negative]
        .iter()
        .filter_map(|side| side.as_ref())
        .flat_map(|side| side.bucket_counts.iter())
        .sum();
    assert_eq!(
        total + point.zero_count,
        point.count,
        "every value in exactly one bucket"
    );
}

#[test]
fn delta_exponential_histograms_carry_only_new_observations() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let (requests, _) = pushed_with(
        telescope_test_support::otlp_receiver::Receiver::http(0, &[]),
        telescope::otlp::Temporality::Delta,
        true,
        || metrics::histogram!("latency_seconds").record(0.3),
        2,
    );
    assert_eq!(requests.len(), 2);
    for request in &requests {
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(Data::ExponentialHistogram(histogram)) = &metric.data else {
            panic!("{metric:?}")
        };
        let point = &histogram.data_points[0];
        assert_eq!(point.count, 1, "one new observation each time");
        assert_eq!(point.sum, Some(0.3));
        let positive = point.positive.as_ref().expect("positive");
        let index = spec_index(0.3);
        assert_eq!(
            positive.bucket_counts[(index - positive.offset) as usize],
            1
        );
    }
}

#[test]
fn a_metrics_receiver_that_never_answers_does_not_hold_up_shutdown() {
    use telescope::otlp::{OtlpExportConfig, OtlpProtocol};
    use telescope_test_support::otlp_receiver::{Receiver, Reply};
    // Were shutdown to wait for this receiver, the test would hang for an hour.
    let stalling = Receiver::http_then(0, &[], Reply::Stall(Duration::from_secs(3600)));
    let mut config = OtlpExportConfig::new(
        format!("http://127.0.0.1:{}/v1/metrics", stalling.addr.port()),
        OtlpProtocol::HttpProtobuf,
    );
    config.timeout = Duration::from_secs(3600);
    let (_dispatch, mut telemetry) = telescope::builder()
        .without_admin_server()
        .log_writer(io::sink())
        .otlp_metrics(config)
        .metric_export_interval(Duration::from_secs(3600))
        .shutdown_timeout(Duration::from_millis(300))
        .build()
        .expect("valid settings");
    metrics::with_local_recorder(&telemetry.metrics_recorder(), || {
        metrics::counter!("jobs_total").increment(1);
    });
    telemetry.shutdown();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stalling.requests() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        stalling.requests(),
        1,
        "the last push was sent, and not waited for"
    );
}
