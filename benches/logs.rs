//! JSON log cost per event: telescope's `JsonLayer` against `tracing_subscriber::fmt().json()`
//! (current span and span list on, as users run it), on the same events, writing to
//! `io::sink`, in one run. The bare registry is the floor; both layers are also measured
//! behind their non-blocking writers.
//!
//! The same event with secrets in it is measured too (redaction does work then).
//!
//! Run: `cargo bench --bench logs`

use std::hint::black_box;
use std::io;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tracing::Dispatch;
use tracing_subscriber::layer::{Identity, SubscriberExt};

/// The subscribers compared.
#[derive(Clone, Copy)]
enum Setup {
    Telescope,
    /// Telescope with the value scanner off (names still redacted): the scanner's cost.
    TelescopeWithoutScan,
    FmtJson,
    BareRegistry,
    TelescopeNonBlocking,
    FmtJsonNonBlocking,
}

impl Setup {
    const ALL: [Setup; 6] = [
        Setup::Telescope,
        Setup::TelescopeWithoutScan,
        Setup::FmtJson,
        Setup::BareRegistry,
        Setup::TelescopeNonBlocking,
        Setup::FmtJsonNonBlocking,
    ];

    fn name(self) -> &'static str {
        match self {
            Setup::Telescope => "telescope",
            Setup::TelescopeWithoutScan => "telescope_without_value_scan",
            Setup::FmtJson => "fmt_json",
            Setup::BareRegistry => "bare_registry",
            Setup::TelescopeNonBlocking => "telescope_non_blocking",
            Setup::FmtJsonNonBlocking => "fmt_json_non_blocking",
        }
    }

    /// The dispatcher, plus whatever must live as long as it (the writers' guards).
    fn dispatch(self) -> (Dispatch, Box<dyn std::any::Any>) {
        match self {
            Setup::Telescope => {
                let layer = telescope_log::JsonLayer::builder().writer(io::sink).build();
                (
                    Dispatch::new(tracing_subscriber::registry().with(layer)),
                    Box::new(()),
                )
            }
            Setup::TelescopeWithoutScan => {
                let layer = telescope_log::JsonLayer::builder()
                    .redaction(telescope_log::Redaction::default().without_value_scan())
                    .writer(io::sink)
                    .build();
                (
                    Dispatch::new(tracing_subscriber::registry().with(layer)),
                    Box::new(()),
                )
            }
            Setup::FmtJson => {
                let subscriber = tracing_subscriber::fmt()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(io::sink)
                    .finish();
                (Dispatch::new(subscriber), Box::new(()))
            }
            // Under a layer that does nothing: a `Registry` alone never frees closed spans.
            Setup::BareRegistry => (
                Dispatch::new(tracing_subscriber::registry().with(Identity::new())),
                Box::new(()),
            ),
            Setup::TelescopeNonBlocking => {
                let (writer, guard) = telescope_log::NonBlocking::new(io::sink());
                let layer = telescope_log::JsonLayer::builder().writer(writer).build();
                (
                    Dispatch::new(tracing_subscriber::registry().with(layer)),
                    Box::new(guard),
                )
            }
            Setup::FmtJsonNonBlocking => {
                let (writer, guard) = tracing_appender::non_blocking(io::sink());
                let subscriber = tracing_subscriber::fmt()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(writer)
                    .finish();
                (Dispatch::new(subscriber), Box::new(guard))
            }
        }
    }
}

/// A 200-byte value with quotes, backslashes, newlines and a control character to escape.
fn needs_escaping() -> String {
    let unit = "say \"hi\"\\\n\tthen\u{1}go; ";
    unit.repeat(200 / unit.len() + 1)[..200].to_owned()
}

/// The event every "3 fields" case emits.
fn order_placed() {
    tracing::info!(
        user_id = black_box(42u64),
        items = black_box(3i64),
        ok = true,
        "order placed"
    );
}

/// The benchmark event again, with secrets in it: a secret field name, and a credential inside
/// the message (which the value scanner finds and replaces; the peer writes both in clear).
fn order_placed_with_secrets() {
    tracing::info!(
        user_id = black_box(42u64),
        password = black_box("hunter2"),
        ok = true,
        "order placed, retried with token=tok_4242abcd"
    );
}

fn bench_case(c: &mut Criterion, case: &str, mut body: impl FnMut(&mut criterion::Bencher<'_>)) {
    let mut group = c.benchmark_group(format!("logs/{case}"));
    for setup in Setup::ALL {
        let (dispatch, guard) = setup.dispatch();
        tracing::dispatcher::with_default(&dispatch, || {
            group.bench_function(BenchmarkId::from_parameter(setup.name()), &mut body);
        });
        drop(guard);
    }
    group.finish();
}

fn logs(c: &mut Criterion) {
    bench_case(c, "event_3_fields_in_1_span", |b| {
        let span = tracing::info_span!("request", method = "GET", path = "/orders");
        let _entered = span.enter();
        b.iter(order_placed);
    });

    bench_case(c, "event_3_fields_in_3_nested_spans", |b| {
        let outer = tracing::info_span!("request", method = "GET", path = "/orders");
        let _outer = outer.enter();
        let middle = tracing::info_span!("handler", route = "/orders", attempt = 1);
        let _middle = middle.enter();
        let inner = tracing::info_span!("db", table = "orders", rows = 10);
        let _inner = inner.enter();
        b.iter(order_placed);
    });

    bench_case(c, "event_with_secrets_in_1_span", |b| {
        let span = tracing::info_span!("request", method = "GET", path = "/orders");
        let _entered = span.enter();
        b.iter(order_placed_with_secrets);
    });

    let text = needs_escaping();
    bench_case(c, "event_200_byte_escaped_string", |b| {
        let span = tracing::info_span!("request", method = "GET", path = "/orders");
        let _entered = span.enter();
        b.iter(|| tracing::info!(body = black_box(text.as_str()), "received"));
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = logs
}
criterion_main!(benches);
