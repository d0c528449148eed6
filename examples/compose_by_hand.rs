//! The pieces `telescope::init()` puts together, composed by hand: for a service that needs a
//! layer of its own in the stack, another writer, or only some of the pieces.
//!
//! ```text
//! cargo run --example compose_by_hand
//! ```

use std::time::Duration;

use telescope::admin::AdminServer;
use telescope::health::Health;
use telescope::logs::{JsonLayer, NonBlocking};
use telescope::otlp::sampler::{ConsistentProbability, ParentBased};
use telescope::otlp::OtlpLayer;
use telescope::recorder::TelescopeRecorder;
use telescope::SpanMetricsLayer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Metrics: the recorder, with exemplars from sampled spans.
    let metrics = TelescopeRecorder::builder()
        .exemplars(
            Duration::from_secs(1),
            telescope::context::current_sampled_ids,
        )
        .global_label("service", "by-hand")?
        .install()?;

    // Traces: every span gets ids; 25% of new traces are sampled, consistently across services.
    // With an OTLP endpoint: `.exporter(OtlpExport::new(OtlpExportConfig::new(url, protocol)))`.
    let traces = OtlpLayer::builder()
        .sampler(ParentBased::new(ConsistentProbability::new(0.25)))
        .build();
    let pipeline = traces.pipeline();

    // Logs: JSON through the non-blocking writer; the guard flushes when dropped.
    let (writer, log_guard) = NonBlocking::new(std::io::stdout());
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(traces) // below the log layer, so that ids exist before lines are written
        .with(SpanMetricsLayer::new())
        .with(JsonLayer::builder().writer(writer).build())
        .try_init()?;

    // One admin server for all of it, on a free port.
    let health = Health::new();
    let admin = AdminServer::builder()
        .address("127.0.0.1:0")
        .service_name("by-hand")
        .metrics(metrics.clone())
        .health(health)
        .traces(pipeline.ring())
        .start()?;
    eprintln!("admin server on http://{}/", admin.local_addr());

    for order in 0..5 {
        let span = tracing::info_span!("handle_order", order);
        let _entered = span.enter();
        metrics::histogram!("order_seconds").record(0.01 * f64::from(order));
        tracing::info!("order handled");
    }

    // Shut down in order: spans, then logs, then the admin server.
    pipeline.shutdown(Duration::from_secs(2));
    log_guard.shutdown();
    admin.shutdown();
    Ok(())
}
