//! The trace view's cost: `/debug/traces` and `/debug/overview` answering over a real socket
//! with a full ring (2,048 recent spans) and full reservoirs (20 operations, each with its 20
//! failed and 20 slowest traces kept), and what retention adds to each finished span on the
//! pipeline's collector thread (the ring with retention on against off, same spans).
//!
//! No peer crate serves a trace view in process; the figure to meet is issue #20's: the page
//! answers within 50 ms for a full ring.
//!
//! Run: `cargo bench --bench trace_view`

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use telescope::admin::AdminServer;
use telescope::otlp::{SpanRing, SpanSink, TraceRetention};

const OPERATIONS: u64 = 20;

/// Trace `n`'s five spans (a root of operation `n % OPERATIONS` and four children, each with
/// attributes, two with a log event), children first as they finish; one trace in ten fails.
fn trace(n: u64) -> Vec<Arc<SpanData>> {
    let start =
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000) + Duration::from_millis(n);
    let length = Duration::from_micros(200 + (n * 7919) % 50_000);
    let failed = n % 10 == 3;
    let mut trace_id = [7u8; 16];
    trace_id[..8].copy_from_slice(&n.to_be_bytes());
    let span = |id: u64, parent: Option<u64>, name: String, offset: u32, share: u32| {
        let begin = start + length * offset / 10;
        let mut data = SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes(trace_id),
                SpanId::from_bytes((id + 1).to_be_bytes()),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: parent.map_or(SpanId::INVALID, |p| {
                SpanId::from_bytes((p + 1).to_be_bytes())
            }),
            parent_span_is_remote: false,
            span_kind: if parent.is_none() {
                SpanKind::Server
            } else {
                SpanKind::Internal
            },
            name: name.into(),
            start_time: begin,
            end_time: begin + length * share / 10,
            attributes: vec![
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.route", "/orders/{id}"),
                KeyValue::new("product_id", (n % 97) as i64),
                KeyValue::new("request_id", format!("{n:032x}")),
            ],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: opentelemetry::InstrumentationScope::builder("shop").build(),
        };
        if id % 2 == 1 {
            data.events.events.push(Event::new(
                "charging card",
                begin,
                vec![
                    KeyValue::new("level", "INFO"),
                    KeyValue::new("target", "shop::api"),
                    KeyValue::new("card_token", "[REDACTED]"),
                ],
                0,
            ));
        }
        data
    };
    let mut children: Vec<SpanData> = (1..5)
        .map(|id| {
            span(
                id,
                Some(if id == 4 { 3 } else { 0 }),
                format!("step-{id}"),
                id as u32 * 2,
                3,
            )
        })
        .collect();
    if failed {
        children[3].status = Status::error("card declined");
    }
    let root = span(0, None, format!("POST /op-{}", n % OPERATIONS), 0, 10);
    children.into_iter().chain([root]).map(Arc::new).collect()
}

/// A ring as a busy service leaves it: recent spans full, every reservoir full.
fn full_ring() -> SpanRing {
    let ring = SpanRing::new(2048);
    for n in 0..20_000 {
        for span in trace(n) {
            ring.on_end(span);
        }
    }
    ring
}

fn get(addr: SocketAddr, path: &str) -> usize {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut body = Vec::with_capacity(1 << 20);
    stream.read_to_end(&mut body).expect("read");
    assert!(
        body.starts_with(b"HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    body.len()
}

fn pages(c: &mut Criterion) {
    let ring = full_ring();
    let stats = ring.retention_stats();
    let (recorder, metrics) = telescope::recorder::TelescopeRecorder::builder().build();
    metrics::with_local_recorder(&recorder, || {
        for n in 0..20_000u64 {
            for span in trace(n) {
                let seconds = span
                    .end_time
                    .duration_since(span.start_time)
                    .unwrap_or_default()
                    .as_secs_f64();
                let status = if matches!(span.status, Status::Error { .. }) {
                    "error"
                } else {
                    "ok"
                };
                metrics::histogram!("telescope_span_duration_seconds", "span_name" => span.name.to_string(), "status" => status)
                    .record(seconds);
            }
        }
    });
    let server = AdminServer::builder()
        .address("127.0.0.1:0")
        .service_name("shop")
        .traces(ring.clone())
        .metrics(metrics)
        .start()
        .expect("starts");
    let addr = server.local_addr();
    let one = {
        let mut id = [7u8; 16];
        // The latest failed trace of its operation: kept.
        id[..8].copy_from_slice(&19_993u64.to_be_bytes());
        TraceId::from_bytes(id).to_string()
    };
    eprintln!(
        "full ring: {} recent spans, {} kept traces, {} bytes kept; page {} bytes, JSON {} bytes",
        ring.spans().len(),
        stats.kept_traces,
        stats.bytes,
        get(addr, "/debug/traces"),
        get(addr, "/debug/traces?format=json"),
    );
    let mut group = c.benchmark_group("trace view (full ring and reservoirs)");
    group.sample_size(20);
    group.bench_function("/debug/traces", |b| b.iter(|| get(addr, "/debug/traces")));
    group.bench_function("/debug/traces?format=json", |b| {
        b.iter(|| get(addr, "/debug/traces?format=json"))
    });
    let path = format!("/debug/traces?trace_id={one}");
    group.bench_function("/debug/traces?trace_id=…", |b| {
        b.iter(|| get(addr, &path))
    });
    group.bench_function("/debug/overview", |b| {
        b.iter(|| get(addr, "/debug/overview"))
    });
    group.finish();
    server.shutdown();
}

/// What retention adds per finished span: 1,000 spans (200 traces) into a full ring, with the
/// default retention and with none.
fn keeping(c: &mut Criterion) {
    let mut group = c.benchmark_group("span ring: 1,000 spans kept");
    for (name, retention) in [
        ("retention on (default)", TraceRetention::default()),
        ("retention off", TraceRetention::off()),
    ] {
        let ring = SpanRing::with_retention(2048, retention);
        let mut next = 0u64;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let batch: Vec<Arc<SpanData>> = (next..next + 200).flat_map(trace).collect();
                    next += 200;
                    batch
                },
                |batch| {
                    for span in batch {
                        ring.on_end(span);
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, pages, keeping);
criterion_main!(benches);
