//! Sustained span export throughput: spans created at a fixed rate from application threads,
//! exported over real OTLP (HTTP/protobuf or gRPC) to a receiver on 127.0.0.1 that decodes
//! every request with the official protobufs, for telescope's `OtlpLayer` and for the stack
//! users assemble by hand (`tracing-opentelemetry` + `opentelemetry_sdk`'s `BatchSpanProcessor`
//! + `opentelemetry-otlp`), each at its default settings.
//!
//! ```sh
//! cargo run --release --example export_throughput -- --stack telescope --protocol http --rate 150000 --seconds 60
//! cargo run --release --example export_throughput -- --stack sdk --protocol grpc --rate 60000 --seconds 60
//! ```
//!
//! It prints one line: spans created, spans the receiver decoded, spans lost, and the CPU time
//! the process used. A rate is sustained when nothing is lost. The receiver shares the machine
//! (one runtime thread), as a local collector would.

use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithTonicConfig as _};
use telescope::otlp::{OtlpExport, OtlpExportConfig, OtlpLayer, OtlpProtocol};
use telescope_test_support::otlp_receiver::Receiver;
use tracing_subscriber::layer::SubscriberExt;

struct Options {
    stack: String,
    protocol: OtlpProtocol,
    rate: u64,
    seconds: u64,
    threads: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        stack: "telescope".to_owned(),
        protocol: OtlpProtocol::HttpProtobuf,
        rate: 50_000,
        seconds: 10,
        threads: 2,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: expected a number, got {value:?}"))
        };
        match flag.as_str() {
            "--stack" if value == "telescope" || value == "sdk" => options.stack = value.clone(),
            "--protocol" if value == "http" => options.protocol = OtlpProtocol::HttpProtobuf,
            "--protocol" if value == "grpc" => options.protocol = OtlpProtocol::Grpc,
            "--rate" => options.rate = number()?.max(1),
            "--seconds" => options.seconds = number()?.max(1),
            "--threads" => options.threads = usize::try_from(number()?.clamp(1, 64)).unwrap_or(2),
            _ => {
                return Err(format!(
                    "unknown {flag} {value}; usage: --stack telescope|sdk --protocol http|grpc \
                     --rate SPANS_PER_S --seconds S --threads N"
                ))
            }
        }
    }
    Ok(options)
}

/// One span of the measured shape: a root with three attributes and one event.
fn one_span(index: u64) {
    let span = tracing::info_span!(
        "GET /orders",
        user_id = index,
        route = "/orders",
        cached = false
    );
    let _entered = span.enter();
    tracing::info!(items = 3_i64, "order loaded");
}

/// Creates `rate` spans per second over `threads` threads for `seconds`, paced every
/// millisecond; returns how many it created.
fn generate(dispatch: &tracing::Dispatch, options: &Options) -> u64 {
    let per_thread = options.rate as f64 / options.threads as f64;
    let length = Duration::from_secs(options.seconds);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.threads)
            .map(|_| {
                let dispatch = dispatch.clone();
                scope.spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        let start = Instant::now();
                        let mut created = 0_u64;
                        loop {
                            let elapsed = start.elapsed();
                            if elapsed >= length {
                                break created;
                            }
                            let due = (elapsed.as_secs_f64() * per_thread) as u64;
                            while created < due {
                                one_span(created);
                                created += 1;
                            }
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    })
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or(0))
            .sum()
    })
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc (Linux), in clock ticks of 1/100 s.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let after_name = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = after_name.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some((user + system) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let (receiver, endpoint) = match options.protocol {
        OtlpProtocol::HttpProtobuf => {
            let receiver = Receiver::counting_http(0);
            let endpoint = format!("http://{}/v1/traces", receiver.addr);
            (receiver, endpoint)
        }
        OtlpProtocol::Grpc => {
            let receiver = Receiver::counting_grpc(0);
            let endpoint = format!("http://{}", receiver.addr);
            (receiver, endpoint)
        }
    };
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let (created, detail) = if options.stack == "telescope" {
        let layer = OtlpLayer::builder()
            .exporter(OtlpExport::new(OtlpExportConfig::new(
                endpoint,
                options.protocol,
            )))
            .build();
        let pipeline = layer.pipeline();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let created = generate(&dispatch, &options);
        pipeline.shutdown(Duration::from_secs(30));
        (created, format!("{:?}", pipeline.stats()))
    } else {
        let exporter = match options.protocol {
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .build()?,
            OtlpProtocol::Grpc => {
                // tonic needs a runtime to build its channel; the batch processor's own thread
                // drives the exports.
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()?;
                let _inside = runtime.enter();
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .with_metadata(tonic::metadata::MetadataMap::new())
                    .build()?;
                std::mem::forget(runtime);
                exporter
            }
        };
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_span_processor(
                opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter).build(),
            )
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("throughput"));
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let created = generate(&dispatch, &options);
        let shutdown = provider.shutdown();
        (created, format!("shutdown: {shutdown:?}"))
    };
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    // Whatever is still on its way arrives within the shutdown; give the receiver a moment.
    std::thread::sleep(Duration::from_millis(200));
    let received = receiver.spans();
    println!(
        "stack={} protocol={:?} rate={}/s seconds={} created={created} received={received} \
         lost={} cpu={cpu:.1}s wall={:.1}s ({detail})",
        options.stack,
        options.protocol,
        options.rate,
        options.seconds,
        created.saturating_sub(received),
        elapsed.as_secs_f64(),
    );
    Ok(())
}
