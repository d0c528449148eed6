//! Resident memory when a histogram gets 200,000 distinct label values: telescope's recorder
//! (default cardinality limit) against metrics-exporter-prometheus 0.18 (no limit), each in a
//! process of its own.
//!
//! ```text
//! cargo run --release --example metrics_memory
//! ```

use std::process::Command;

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

/// Records, renders, and prints `growth_kib peak_kib exposition_bytes`.
fn measure(recorder: &dyn Recorder, render: &dyn Fn() -> usize) {
    let before = status_kib("VmRSS:");
    for i in 0..LABEL_VALUES {
        let key = Key::from_parts("request_seconds", vec![Label::new("user", i.to_string())]);
        let histogram = recorder.register_histogram(&key, &METADATA);
        for n in 0..5 {
            histogram.record(f64::from((i + n) % 1000) / 1000.0);
        }
    }
    let exposition = render();
    let after = status_kib("VmRSS:");
    println!(
        "{} {} {}",
        after.saturating_sub(before),
        status_kib("VmHWM:").saturating_sub(before),
        exposition
    );
}

fn run_one(which: &str) {
    match which {
        "telescope" => {
            let (recorder, handle) = telescope::metrics::TelescopeRecorder::builder().build();
            measure(&recorder, &|| {
                handle.render(telescope::metrics::Format::Prometheus).len()
            });
        }
        "peer" => {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&telescope::metrics::DEFAULT_BUCKETS)
                .expect("buckets")
                .build_recorder();
            let handle = recorder.handle();
            measure(&recorder, &|| handle.render().len());
        }
        other => eprintln!("unknown recorder {other:?}"),
    }
}

fn main() {
    if let Some(which) = std::env::args().nth(1) {
        run_one(&which);
        return;
    }
    let Ok(me) = std::env::current_exe() else {
        eprintln!("cannot find this executable");
        return;
    };
    println!("{LABEL_VALUES} distinct label values, 5 records each, then one render:");
    println!(
        "{:<32} {:>14} {:>14} {:>16}",
        "recorder", "RSS growth MiB", "peak MiB", "exposition MB"
    );
    for (which, label) in [
        ("telescope", "telescope (limit 2000)"),
        ("peer", "metrics-exporter-prometheus"),
    ] {
        let output = match Command::new(&me).arg(which).output() {
            Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
            Err(error) => {
                eprintln!("{which}: {error}");
                continue;
            }
        };
        let numbers: Vec<f64> = output
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [growth, peak, bytes] = numbers[..] {
            println!(
                "{label:<32} {:>14.1} {:>14.1} {:>16.1}",
                growth / 1024.0,
                peak / 1024.0,
                bytes / 1e6
            );
        }
    }
}
