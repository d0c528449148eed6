//! The metrics hot paths, a fixed number of times each, for counting instructions with
//! callgrind (repeatable where timings on a shared machine are not):
//!
//! ```text
//! cargo build --release --example metrics_hot_paths
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/metrics_hot_paths counter_macro $n 2>&1 | grep Collected
//! done   # (second - first) / 100000 = instructions per operation
//! ```
//!
//! Cases: `counter_macro` (`counter!` with 2 static labels), `held` (a held counter's
//! `increment`), `histogram_macro` (`histogram!` with 1 label), `gauge_macro` (`gauge!` set),
//! `create` (a new label value each time), `summary_histogram_macro` (`histogram!` on a
//! histogram that also keeps exponential buckets).

use metrics::{Key, Label, Metadata};
use telescope::recorder::TelescopeRecorder;

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

fn main() {
    let case = std::env::args().nth(1).unwrap_or_default();
    let times: u64 = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let (recorder, _handle) = TelescopeRecorder::builder()
        .cardinality_limit(usize::MAX)
        .series_limit(usize::MAX)
        .summary_for(
            telescope::recorder::Matcher::Full("summary_seconds".to_owned()),
            &[0.5, 0.99],
        )
        .expect("valid quantiles")
        .build();
    metrics::with_local_recorder(&recorder, || {
        let held = metrics::counter!("held_total");
        for i in 0..times {
            match case.as_str() {
                "counter_macro" => {
                    metrics::counter!("http_requests_total", "method" => "GET", "status" => "200")
                        .increment(1);
                }
                "held" => held.increment(1),
                "histogram_macro" => metrics::histogram!("request_seconds", "route" => "/orders")
                    .record(std::hint::black_box(0.042)),
                // A histogram that keeps the exponential buckets too (summaries, exponential
                // export), with values spread over a few powers of two.
                "summary_histogram_macro" => metrics::histogram!("summary_seconds")
                    .record(std::hint::black_box(0.001 * (1 + i % 1000) as f64)),
                "gauge_macro" => metrics::gauge!("queue_depth").set(std::hint::black_box(17.0)),
                "create" => {
                    let key = Key::from_parts("requests", vec![Label::new("user", i.to_string())]);
                    metrics::with_recorder(|r| drop(r.register_counter(&key, &METADATA)));
                }
                other => {
                    eprintln!("unknown case {other:?}");
                    return;
                }
            }
        }
    });
}
