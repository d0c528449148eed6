//! Metrics recording and rendering: telescope's `TelescopeRecorder` against
//! `metrics-exporter-prometheus` 0.18's `PrometheusRecorder`, same workload, one run.
//!
//! Run: `cargo bench --bench metrics`

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::PrometheusBuilder;
use telescope::recorder::{Format, TelescopeRecorder, DEFAULT_BUCKETS};

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

/// The recorders compared, built fresh for each case.
#[derive(Clone, Copy)]
enum Peer {
    Telescope,
    Prometheus,
}

impl Peer {
    const BOTH: [Peer; 2] = [Peer::Telescope, Peer::Prometheus];

    fn name(self) -> &'static str {
        match self {
            Peer::Telescope => "telescope",
            Peer::Prometheus => "metrics_exporter_prometheus",
        }
    }

    /// The recorder, and a function that renders it.
    fn build(self) -> (Arc<dyn Recorder + Send + Sync>, Box<dyn Fn() -> String>) {
        match self {
            Peer::Telescope => {
                let (recorder, handle) = TelescopeRecorder::builder()
                    .cardinality_limit(100_000)
                    .build();
                (
                    Arc::new(recorder),
                    Box::new(move || handle.render(Format::Prometheus)),
                )
            }
            Peer::Prometheus => {
                // Its fixed-bucket mode, the comparable one (its default renders summaries).
                let recorder = PrometheusBuilder::new()
                    .set_buckets(&DEFAULT_BUCKETS)
                    .expect("buckets")
                    .build_recorder();
                let handle = recorder.handle();
                (Arc::new(recorder), Box::new(move || handle.render()))
            }
        }
    }
}

fn recording(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics/record");
    for peer in Peer::BOTH {
        let (recorder, _render) = peer.build();
        metrics::with_local_recorder(&*recorder, || {
            group.bench_function(BenchmarkId::new("counter_macro_2_labels", peer.name()), |b| {
                b.iter(|| metrics::counter!("http_requests_total", "method" => "GET", "status" => "200").increment(1));
            });
            let held = metrics::counter!("held_total");
            group.bench_function(BenchmarkId::new("counter_held_handle", peer.name()), |b| {
                b.iter(|| held.increment(1))
            });
            group.bench_function(
                BenchmarkId::new("histogram_macro_1_label", peer.name()),
                |b| {
                    b.iter(|| {
                        metrics::histogram!("request_seconds", "route" => "/orders")
                            .record(black_box(0.042))
                    });
                },
            );
            group.bench_function(BenchmarkId::new("gauge_macro_set", peer.name()), |b| {
                b.iter(|| metrics::gauge!("queue_depth").set(black_box(17.0)));
            });
        });
    }
    group.finish();
}

/// `threads` threads share `iters` operations on one counter and one histogram (held
/// handles); returns the wall time, so time per operation shows total throughput.
fn hammer(recorder: &Arc<dyn Recorder + Send + Sync>, threads: u64, iters: u64) -> Duration {
    let counter = recorder.register_counter(&Key::from_name("contended_total"), &METADATA);
    let histogram = recorder.register_histogram(&Key::from_name("contended_seconds"), &METADATA);
    let start = Arc::new(Barrier::new(threads as usize + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (counter, histogram, start) = (counter.clone(), histogram.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for n in 0..iters / threads {
                    counter.increment(1);
                    histogram.record((n & 7) as f64 * 0.01);
                }
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    for worker in workers {
        let _ = worker.join();
    }
    began.elapsed()
}

fn contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics/one_series");
    for peer in Peer::BOTH {
        for threads in [1u64, 2] {
            let (recorder, _render) = peer.build();
            group.bench_function(
                BenchmarkId::new(format!("{threads}_threads"), peer.name()),
                |b| {
                    b.iter_custom(|iters| hammer(&recorder, threads, iters.max(threads) * 64) / 64);
                },
            );
        }
    }
    group.finish();
}

/// A recorder with no practical series limit, so that every registration creates a series.
fn unlimited(peer: Peer) -> Arc<dyn Recorder + Send + Sync> {
    match peer {
        Peer::Telescope => Arc::new(
            TelescopeRecorder::builder()
                .cardinality_limit(usize::MAX)
                .series_limit(usize::MAX)
                .build()
                .0,
        ),
        Peer::Prometheus => Arc::new(
            PrometheusBuilder::new()
                .set_buckets(&DEFAULT_BUCKETS)
                .expect("buckets")
                .build_recorder(),
        ),
    }
}

/// Registering a key never seen before: `iters` distinct label values of one name, into a
/// fresh recorder (the keys are made before the clock starts).
fn creation(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics/create_series");
    for peer in Peer::BOTH {
        for kind in ["counter", "histogram"] {
            group.bench_function(BenchmarkId::new(kind, peer.name()), |b| {
                b.iter_custom(|iters| {
                    let recorder = unlimited(peer);
                    let keys: Vec<Key> = (0..iters)
                        .map(|i| {
                            Key::from_parts("requests", vec![Label::new("user", i.to_string())])
                        })
                        .collect();
                    let began = Instant::now();
                    for key in &keys {
                        if kind == "counter" {
                            drop(black_box(recorder.register_counter(key, &METADATA)));
                        } else {
                            drop(black_box(recorder.register_histogram(key, &METADATA)));
                        }
                    }
                    let elapsed = began.elapsed();
                    // Freed outside the measurement.
                    drop(recorder);
                    elapsed
                });
            });
        }
    }
    group.finish();
}

fn rendering(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics/render");
    for counters in [1_000u32, 10_000] {
        for peer in Peer::BOTH {
            let (recorder, render) = peer.build();
            for i in 0..counters {
                let labels = vec![
                    Label::new("path", format!("/item/{i}")),
                    Label::new("method", "GET"),
                ];
                recorder
                    .register_counter(&Key::from_parts("requests_total", labels), &METADATA)
                    .increment(u64::from(i));
            }
            for i in 0..100 {
                let histogram = recorder.register_histogram(
                    &Key::from_parts(
                        "latency_seconds",
                        vec![Label::new("route", format!("/r{i}"))],
                    ),
                    &METADATA,
                );
                for n in 0..100 {
                    histogram.record(f64::from(n) * 0.003);
                }
            }
            group.bench_function(
                BenchmarkId::new(format!("{counters}_counters_100_histograms"), peer.name()),
                |b| {
                    b.iter(|| black_box(render()).len());
                },
            );
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
    targets = recording, contention, creation, rendering
}
criterion_main!(benches);
