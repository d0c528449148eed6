//! Memory per series and the cost of creating one: telescope's recorder against
//! metrics-exporter-prometheus 0.18 (fixed-bucket mode), each measurement in a process of its
//! own, on the same workload.
//!
//! ```text
//! cargo run --release --example metrics_memory
//! ```
//!
//! Two workloads:
//! - **per series**: 200,000 label values of one counter (or one histogram, Prometheus'
//!   11 default buckets) under a raised cardinality limit, each incremented (recorded) 5 times
//!   from one thread; resident memory growth per series after the records and after one render,
//!   and the mean time to create a series. telescope runs twice: with the shard count of this
//!   machine and with the 64 shards of a 64-CPU box (`shards(64)`).
//! - **folded**: 200,000 label values of one histogram under the default cardinality limit
//!   (2,000): past it, telescope folds new label sets into one overflow series; the peer has
//!   no limit.

use std::process::Command;
use std::time::Instant;

use metrics::{Key, Label, Metadata, Recorder};

const LABEL_VALUES: u32 = 200_000;
static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

/// A `/proc/self/status` field in KiB (`VmRSS`: now, `VmHWM`: peak).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What one child process measures.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Histogram,
}

/// Creates the series, records into them, renders, and prints
/// `create_ns_per_series growth_kib growth_after_render_kib exposition_bytes`.
fn measure(recorder: &dyn Recorder, kind: Kind, render: &dyn Fn() -> usize) {
    let keys: Vec<Key> = (0..LABEL_VALUES)
        .map(|i| Key::from_parts("requests", vec![Label::new("user", i.to_string())]))
        .collect();
    let before = status_kib("VmRSS:");
    let started = Instant::now();
    for key in &keys {
        match kind {
            Kind::Counter => drop(recorder.register_counter(key, &METADATA)),
            Kind::Histogram => drop(recorder.register_histogram(key, &METADATA)),
        }
    }
    let create_ns = started.elapsed().as_nanos() as f64 / f64::from(LABEL_VALUES);
    for (i, key) in (0u32..).zip(&keys) {
        match kind {
            Kind::Counter => {
                let counter = recorder.register_counter(key, &METADATA);
                for _ in 0..5 {
                    counter.increment(1);
                }
            }
            Kind::Histogram => {
                let histogram = recorder.register_histogram(key, &METADATA);
                for n in 0..5 {
                    histogram.record(f64::from((i + n) % 1000) / 1000.0);
                }
            }
        }
    }
    let recorded = status_kib("VmRSS:");
    let exposition = render();
    let rendered = status_kib("VmRSS:");
    println!(
        "{create_ns} {} {} {exposition}",
        recorded.saturating_sub(before),
        rendered.saturating_sub(before),
    );
}

fn telescope_builder() -> telescope::recorder::TelescopeRecorderBuilder {
    telescope::recorder::TelescopeRecorder::builder()
        .cardinality_limit(LABEL_VALUES as usize)
        .series_limit(LABEL_VALUES as usize)
}

fn run_one(which: &str, kind: Kind) {
    let telescope = |builder: telescope::recorder::TelescopeRecorderBuilder| {
        let (recorder, handle) = builder.build();
        measure(&recorder, kind, &|| {
            handle.render(telescope::recorder::Format::Prometheus).len()
        });
    };
    match which {
        "telescope" => telescope(telescope_builder()),
        "telescope64" => telescope(telescope_builder().shards(64)),
        "telescope_folded" => telescope(telescope::recorder::TelescopeRecorder::builder()),
        "peer" => {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&telescope::recorder::DEFAULT_BUCKETS)
                .expect("buckets")
                .build_recorder();
            let handle = recorder.handle();
            measure(&recorder, kind, &|| handle.render().len());
        }
        other => eprintln!("unknown recorder {other:?}"),
    }
}

/// Runs one measurement in a fresh process; `None` (after saying why) if it failed.
fn child(which: &str, kind: &str) -> Option<[f64; 4]> {
    let me = std::env::current_exe().ok()?;
    let output = match Command::new(me).args([which, kind]).output() {
        Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
        Err(error) => {
            eprintln!("{which} {kind}: {error}");
            return None;
        }
    };
    let numbers: Vec<f64> = output
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    numbers.try_into().ok()
}

fn main() {
    let mut args = std::env::args().skip(1);
    if let (Some(which), Some(kind)) = (args.next(), args.next()) {
        let kind = if kind == "counter" {
            Kind::Counter
        } else {
            Kind::Histogram
        };
        run_one(&which, kind);
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    println!(
        "{LABEL_VALUES} label values of one metric, 5 updates each, then one render ({cpus} CPUs):"
    );
    println!(
        "{:<11} {:<40} {:>12} {:>14} {:>14} {:>12}",
        "kind", "recorder", "create ns", "B/series", "B/series+render", "scrape MB"
    );
    for kind in ["counter", "histogram"] {
        for (which, label) in [
            ("telescope", "telescope (this machine's shards)"),
            ("telescope64", "telescope (shards(64): a 64-CPU box)"),
            ("peer", "metrics-exporter-prometheus"),
        ] {
            if let Some([create_ns, recorded, rendered, bytes]) = child(which, kind) {
                let per_series = |kib: f64| kib * 1024.0 / f64::from(LABEL_VALUES);
                println!(
                    "{kind:<11} {label:<40} {create_ns:>12.0} {:>14.0} {:>14.0} {:>12.1}",
                    per_series(recorded),
                    per_series(rendered),
                    bytes / 1e6
                );
            }
        }
    }
    println!("\none histogram, {LABEL_VALUES} label values, default limits:");
    println!(
        "{:<40} {:>14} {:>14}",
        "recorder", "RSS growth MiB", "scrape MB"
    );
    for (which, label) in [
        ("telescope_folded", "telescope (limit 2000, then folded)"),
        ("peer", "metrics-exporter-prometheus (no limit)"),
    ] {
        if let Some([_, _, rendered, bytes]) = child(which, "histogram") {
            println!(
                "{label:<40} {:>14.1} {:>14.1}",
                rendered / 1024.0,
                bytes / 1e6
            );
        }
    }
}
