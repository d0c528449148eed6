//! Span cost: telescope's `OtlpLayer` against `tracing-opentelemetry` 0.34 with
//! `opentelemetry_sdk` 0.33's batch span processor, both handing finished spans to a no-op
//! exporter, on the same workloads, in one run. The bare registry is the floor.
//!
//! Run: `cargo bench --bench traces`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler as SdkSampler, SdkTracerProvider, SpanData, SpanExporter,
};
use telescope::otlp::sampler::{AlwaysOff, AlwaysOn, ConsistentProbability, ParentBased};
use telescope::otlp::{Accepted, ExportError, OtlpLayer, SpanExport};
use tracing::Dispatch;
use tracing_subscriber::layer::{Identity, SubscriberExt};

/// Drops what it is given: the export cost is not what is measured.
#[derive(Debug, Clone, Copy)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

impl SpanExport for NoopExporter {
    fn export(&self, batch: &[std::sync::Arc<SpanData>]) -> Result<Accepted, ExportError> {
        black_box(batch);
        Ok(Accepted::all())
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Sampling {
    All,
    OnePercent,
    None,
}

/// The subscribers compared, and what must live as long as they do.
fn dispatch(which: &str, sampling: Sampling) -> (Dispatch, Option<SdkTracerProvider>) {
    match which {
        "telescope" => {
            let builder = OtlpLayer::builder().exporter(NoopExporter);
            let layer = match sampling {
                Sampling::All => builder.sampler(ParentBased::new(AlwaysOn)),
                Sampling::OnePercent => {
                    builder.sampler(ParentBased::new(ConsistentProbability::new(0.01)))
                }
                Sampling::None => builder.sampler(ParentBased::new(AlwaysOff)),
            }
            .build();
            (
                Dispatch::new(tracing_subscriber::registry().with(layer)),
                None,
            )
        }
        "tracing_opentelemetry" => {
            let sampler = match sampling {
                Sampling::All => SdkSampler::ParentBased(Box::new(SdkSampler::AlwaysOn)),
                Sampling::OnePercent => {
                    SdkSampler::ParentBased(Box::new(SdkSampler::TraceIdRatioBased(0.01)))
                }
                Sampling::None => SdkSampler::ParentBased(Box::new(SdkSampler::AlwaysOff)),
            };
            let provider = SdkTracerProvider::builder()
                .with_span_processor(BatchSpanProcessor::builder(NoopExporter).build())
                .with_sampler(sampler)
                .build();
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
            (
                Dispatch::new(tracing_subscriber::registry().with(layer)),
                Some(provider),
            )
        }
        // The floor: the registry under a layer that does nothing. (A `Registry` used on its
        // own never frees closed spans: it only does so when a `Layered` above it closes
        // them, so alone it measures its slab growing, not a span's cost.)
        _ => (
            Dispatch::new(tracing_subscriber::registry().with(Identity::new())),
            None,
        ),
    }
}

const PEERS: [&str; 3] = ["telescope", "tracing_opentelemetry", "bare_registry"];

fn root_with_event() {
    let span = tracing::info_span!(
        "GET /orders",
        user_id = black_box(42u64),
        route = "/orders",
        cached = false
    );
    let _entered = span.enter();
    tracing::info!(items = black_box(3i64), "order loaded");
}

fn parent_with_ten_children() {
    let parent = tracing::info_span!("batch", size = 10);
    let _entered = parent.enter();
    for i in 0..10 {
        tracing::info_span!("item", index = black_box(i)).in_scope(|| {});
    }
}

fn bench(c: &mut Criterion, group_name: &str, sampling: Sampling, body: fn()) {
    let mut group = c.benchmark_group(format!("traces/{group_name}"));
    for peer in PEERS {
        let (dispatch, provider) = dispatch(peer, sampling);
        tracing::dispatcher::with_default(&dispatch, || {
            group.bench_function(BenchmarkId::from_parameter(peer), |b| b.iter(body));
        });
        if let Some(provider) = provider {
            let _ = provider.shutdown();
        }
    }
    group.finish();
}

fn traces(c: &mut Criterion) {
    bench(
        c,
        "sampled_root_3_attributes_1_event",
        Sampling::All,
        root_with_event,
    );
    bench(
        c,
        "root_3_attributes_1_event_at_1_percent",
        Sampling::OnePercent,
        root_with_event,
    );
    bench(
        c,
        "unsampled_root_3_attributes_1_event",
        Sampling::None,
        root_with_event,
    );
    bench(
        c,
        "sampled_parent_with_10_children",
        Sampling::All,
        parent_with_ten_children,
    );

    // An event inside an already open unsampled span.
    let mut group = c.benchmark_group("traces/event_in_unsampled_span");
    for peer in PEERS {
        let (dispatch, provider) = dispatch(peer, Sampling::None);
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("unsampled", route = "/orders");
            let _entered = span.enter();
            group.bench_function(BenchmarkId::from_parameter(peer), |b| {
                b.iter(|| tracing::info!(items = black_box(3i64), user = "alice", "order loaded"));
            });
        });
        if let Some(provider) = provider {
            let _ = provider.shutdown();
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = traces
}
criterion_main!(benches);
