//! Building what the settings describe: the subscriber's layers, the metrics recorder, the
//! admin server, the audit log, and the guard that stops them.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

use telescope_health::Health;
use telescope_log::audit::{AuditLayer, AuditLog};
use telescope_log::{JsonLayer, NonBlockingBuilder, Redaction};
use telescope_metrics::TelescopeRecorder;
use telescope_otlp::{OtlpExport, OtlpLayer, OtlpLogLayer, ZipkinExport};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

use super::resolve::{AdminSetting, Resolved, DEFAULT_FILTER};
use super::{LogFormat, TelemetryBuilder};
use crate::admin::{AdminServer, DEFAULT_ADMIN_ADDRESS};
use crate::metrics_push::{MetricsPush, PushSchedule};
use crate::signal_filter::SignalFilter;
use crate::slo::sampler::SloSampler;
use crate::slo::{Rules, SloMonitor};
use crate::statsd::StatsdSink;

/// How often SLO events are sampled unless the builder says otherwise.
const DEFAULT_SLO_SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
use crate::telemetry::Parts;
use crate::{InitError, SpanMetricsLayer, Telemetry};

/// `tracing-subscriber`'s default field format (`message` bare, others `name=value`), with
/// fields of secret names written as `name=[REDACTED]` and every other value through the value
/// scanner, so the pretty format leaks no more than JSON.
fn redacting_fields(
    redaction: Redaction,
) -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(move |writer, field, value| {
        if redaction.matches(field.name()) {
            return write!(writer, "{field}=[REDACTED]");
        }
        let text = format!("{value:?}");
        let text = redaction.scrub(&text);
        if field.name() == "message" {
            write!(writer, "{text}")
        } else {
            write!(writer, "{field}={text}")
        }
    })
    .delimited(" ")
}

/// Gives every metric telescope records a `# HELP` text.
fn describe_own_metrics(recorder: &TelescopeRecorder) {
    use metrics::Recorder;
    use telescope_core::metric_names::{MetricKind, DESCRIPTIONS};
    for (name, kind, help) in DESCRIPTIONS {
        let (name, help) = (
            metrics::KeyName::from_const_str(name),
            metrics::SharedString::const_str(help),
        );
        match kind {
            MetricKind::Counter => recorder.describe_counter(name, None, help),
            MetricKind::Gauge => recorder.describe_gauge(name, None, help),
            MetricKind::Histogram => {
                recorder.describe_histogram(name, Some(metrics::Unit::Seconds), help)
            }
        }
    }
}

/// The metric pushes the settings ask for: OTLP, StatsD, each on its own thread.
fn start_metric_pushes(
    resolved: &mut Resolved,
    metrics: &telescope_metrics::MetricsHandle,
) -> Result<Vec<MetricsPush>, InitError> {
    let thread_error = |source| InitError::Thread {
        what: "metrics push",
        source,
    };
    let mut pushes = Vec::new();
    if let Some((config, schedule)) = resolved.metrics_push.take() {
        let config = config.resource(resolved.resource.clone());
        let sink = Box::new(OtlpExport::new(config));
        pushes.push(MetricsPush::start(metrics.clone(), sink, schedule).map_err(thread_error)?);
    }
    if let Some(config) = resolved.statsd.take() {
        let schedule = PushSchedule {
            interval: config.interval,
            timeout: config.interval,
            // StatsD aggregates what it is sent: it wants increases.
            temporality: telescope_otlp::Temporality::Delta,
            exponential: false,
        };
        let address = config.address.clone();
        let sink =
            StatsdSink::connect(config).map_err(|source| InitError::Statsd { address, source })?;
        pushes.push(
            MetricsPush::start(metrics.clone(), Box::new(sink), schedule).map_err(thread_error)?,
        );
    }
    Ok(pushes)
}

/// Whether a global `tracing` subscriber is installed. `has_been_set` also counts scoped
/// defaults, so look from a fresh thread, where only the global one can be current.
pub(super) fn global_subscriber_exists() -> bool {
    std::thread::spawn(|| {
        tracing::dispatcher::get_default(|current| {
            !current.is::<tracing::subscriber::NoSubscriber>()
        })
    })
    .join()
    .unwrap_or(false)
}

impl TelemetryBuilder {
    fn open_audit(&mut self, resolved: &Resolved) -> Result<Option<AuditLog>, InitError> {
        if let Some(log) = self.audit_log.take() {
            return Ok(Some(log));
        }
        let Some(files) = &resolved.audit else {
            return Ok(None);
        };
        let mut builder = AuditLog::builder(&files.path).service(resolved.service_name.clone());
        if let Some(key_file) = &files.key_file {
            builder = builder.key_file(key_file)?;
        }
        if let Some(signing_key_file) = &files.signing_key_file {
            builder = builder.signing_key_file(signing_key_file)?;
        }
        Ok(Some(builder.open()?))
    }

    pub(super) fn build_resolved(
        mut self,
        mut resolved: Resolved,
    ) -> Result<(Dispatch, Telemetry), InitError> {
        let audit = self.open_audit(&resolved)?;
        let to_terminal = self.log_writer.is_none() && io::stdout().is_terminal();
        let sink: Box<dyn Write + Send> = self
            .log_writer
            .take()
            .unwrap_or_else(|| Box::new(io::stdout()));
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(resolved.lossy_logs)
            .queue_lines(resolved.log_queue_lines)
            .queue_bytes(resolved.log_queue_bytes)
            .shutdown_timeout(resolved.shutdown_timeout)
            .finish(sink);
        let filter = signal_filter(&resolved, audit.is_some())?;
        // Up to the level the service's own directives reach: `audit=trace` is for the audit
        // layer's events, not a reason to build every `log::trace!` record.
        let log_records = resolved
            .log_records
            .then(|| crate::signal_filter::events_level(&resolved.filter));
        let json =
            (resolved.format == LogFormat::Json).then(|| json_layer(&resolved, writer.clone()));
        let pretty = (resolved.format == LogFormat::Pretty).then(|| {
            tracing_subscriber::fmt::layer()
                .with_ansi(to_terminal)
                .fmt_fields(redacting_fields(resolved.redaction.clone()))
                .with_writer(writer)
        });
        let (recorder, metrics) = self.recorder(&resolved);
        let traces = span_layer(&mut resolved, &metrics);
        let pipeline = traces.pipeline();
        let otlp_logs = resolved.otlp_logs.take().map(|config| {
            let config = config.resource(resolved.resource.clone());
            OtlpLogLayer::builder()
                .exporter(OtlpExport::new(config))
                .pipeline(resolved.log_pipeline)
                .redaction(resolved.redaction.clone())
                .build()
        });
        let log_export = otlp_logs.as_ref().map(OtlpLogLayer::pipeline);
        let metrics_push = start_metric_pushes(&mut resolved, &metrics)?;
        let health = self.health.take().unwrap_or_default();
        let slo = self.start_slo(&metrics, &recorder)?;
        let admin = self.start_admin(&resolved, &metrics, &health, &pipeline, slo.as_ref())?;
        // The OTLP layer sits below the log layers so that a span's ids exist before they
        // are written.
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            // Below the OTLP layer, so that it closes a span first: an exemplar it takes is
            // pinned before the span reaches the ring, which then keeps that trace.
            .with(SpanMetricsLayer::new())
            .with(traces)
            .with(
                audit
                    .clone()
                    .map(|log| AuditLayer::new(log).sensitive(resolved.redaction.clone())),
            )
            .with(json)
            .with(pretty)
            .with(otlp_logs);
        let telemetry = Telemetry::new(Parts {
            logs: guard,
            traces: pipeline,
            log_export,
            metrics_push,
            recorder,
            metrics,
            health,
            admin,
            audit,
            shutdown_timeout: resolved.shutdown_timeout,
            log_records,
            propagators: resolved.propagators.clone(),
            slo,
            redaction: resolved.redaction.clone(),
        });
        Ok((Dispatch::new(subscriber), telemetry))
    }

    /// The metrics recorder: the one given in code or a new one, with the resolved redaction,
    /// limits, exemplars and exponential buckets.
    fn recorder(
        &mut self,
        resolved: &Resolved,
    ) -> (TelescopeRecorder, telescope_metrics::MetricsHandle) {
        let mut recorder = self
            .metrics
            .take()
            .unwrap_or_else(TelescopeRecorder::builder);
        recorder = recorder.redaction(resolved.redaction.clone());
        if let Some(limit) = resolved.cardinality_limit {
            recorder = recorder.cardinality_limit(limit);
        }
        if let Some(limit) = resolved.series_limit {
            recorder = recorder.series_limit(limit);
        }
        if let Some(interval) = resolved.exemplar_interval {
            recorder = recorder.exemplars(interval, pinned_exemplar_ids);
        }
        if resolved
            .metrics_push
            .as_ref()
            .is_some_and(|(_, schedule)| schedule.exponential)
        {
            recorder =
                recorder.exponential_buckets_for(telescope_metrics::Matcher::Prefix(String::new()));
        }
        let (recorder, metrics) = recorder.build();
        describe_own_metrics(&recorder);
        (recorder, metrics)
    }

    /// The SLO monitor and its sampling thread, when SLOs were given; their latency
    /// thresholds checked against the recorder's buckets first.
    fn start_slo(
        &mut self,
        metrics: &telescope_metrics::MetricsHandle,
        recorder: &TelescopeRecorder,
    ) -> Result<Option<(Arc<SloMonitor>, SloSampler)>, InitError> {
        if self.slos.is_empty() {
            return Ok(None);
        }
        let slos = std::mem::take(&mut self.slos);
        Rules::new(&slos, &self.alerts).check_buckets(|metric| metrics.buckets_for(metric))?;
        let monitor = Arc::new(SloMonitor::new(slos, metrics.clone()));
        let interval = self
            .slo_sample_interval
            .unwrap_or(DEFAULT_SLO_SAMPLE_INTERVAL);
        let sampler =
            SloSampler::start(monitor.clone(), recorder.clone(), interval).map_err(|source| {
                InitError::Thread {
                    what: "SLO sampling",
                    source,
                }
            })?;
        Ok(Some((monitor, sampler)))
    }

    fn start_admin(
        &self,
        resolved: &Resolved,
        metrics: &telescope_metrics::MetricsHandle,
        health: &Health,
        pipeline: &telescope_otlp::Pipeline,
        slo: Option<&(Arc<SloMonitor>, SloSampler)>,
    ) -> Result<Option<AdminServer>, InitError> {
        let (address, explicit) = match &resolved.admin {
            Some(AdminSetting::Off) => return Ok(None),
            Some(AdminSetting::At(address)) => (address.clone(), true),
            None => (DEFAULT_ADMIN_ADDRESS.to_owned(), false),
        };
        let mut admin = AdminServer::builder()
            .address(address)
            .service_name(resolved.service_name.clone())
            .metrics(metrics.clone())
            .health(health.clone())
            .traces(pipeline.ring());
        if let Some((monitor, _)) = slo {
            let rules = Rules::new(monitor.slos(), &self.alerts).prometheus_rules();
            admin = admin.slo(monitor.clone(), rules);
        }
        if let Some(token) = &resolved.admin_token {
            admin = admin.bearer_token(token.clone());
        }
        match admin.start() {
            Ok(server) => Ok(Some(server)),
            Err(error) if explicit => Err(InitError::Admin(error)),
            Err(error) => {
                eprintln!(
                    "telescope: {error}; continuing without the admin server \
                     (set TELESCOPE_ADMIN_ADDR to another address, or to off)"
                );
                Ok(None)
            }
        }
    }
}

/// Which events and spans exist. The filters were validated when they were set or read;
/// audit events always pass.
fn signal_filter(resolved: &Resolved, auditing: bool) -> Result<SignalFilter, InitError> {
    let directives = if auditing {
        format!("{},audit=trace", resolved.filter)
    } else {
        resolved.filter.clone()
    };
    SignalFilter::parse(&resolved.span_filter, &directives)
        .or_else(|_| SignalFilter::parse(DEFAULT_FILTER, DEFAULT_FILTER))
        .map_err(|reason| InitError::InvalidFilter {
            directives: directives.clone(),
            reason,
        })
}

/// The JSON log layer: schema, redaction, the service's fields, baggage, writing to `writer`.
fn json_layer(
    resolved: &Resolved,
    writer: telescope_log::NonBlocking,
) -> JsonLayer<telescope_log::NonBlocking> {
    let mut layer = JsonLayer::builder()
        .schema(resolved.schema)
        .redaction(resolved.redaction.clone())
        .static_field("service.name", resolved.service_name.clone())
        .baggage_fields(resolved.baggage_fields.iter().cloned());
    if let Some(version) = &resolved.service_version {
        layer = layer.static_field("service.version", version.clone());
    }
    if let Some(environment) = &resolved.environment {
        layer = layer.static_field("deployment.environment.name", environment.clone());
    }
    layer.writer(writer).build()
}

/// The OTLP span layer with its pipeline started: sampler, exporters, retention (its exemplar
/// slots are the span duration histogram's buckets).
fn span_layer(resolved: &mut Resolved, metrics: &telescope_metrics::MetricsHandle) -> OtlpLayer {
    let mut traces = OtlpLayer::builder()
        .pipeline(resolved.pipeline)
        .redaction(resolved.redaction.clone())
        .baggage_attributes(resolved.baggage_fields.iter().cloned())
        .retention(resolved.retention.clone().duration_buckets(
            &metrics.buckets_for(telescope_core::metric_names::SPAN_DURATION_SECONDS),
        ));
    if let Some(sampler) = resolved.sampler.take() {
        traces = traces.boxed_sampler(sampler);
    }
    if let Some(config) = resolved.otlp_export.take() {
        let config = config.resource(resolved.resource.clone());
        traces = traces.exporter(OtlpExport::new(config));
    }
    if let Some(config) = resolved.zipkin.take() {
        traces = traces.exporter(ZipkinExport::new(
            config.resource(resolved.resource.clone()),
        ));
    }
    traces.build()
}

/// The exemplar source: the current sampled span's ids, pinned so that the span ring keeps
/// the trace an exemplar points at when it finishes.
fn pinned_exemplar_ids() -> Option<(telescope_core::TraceId, telescope_core::SpanId)> {
    let (trace_id, span_id) = telescope_core::current_sampled_ids()?;
    telescope_otlp::pin_exemplar(trace_id.to_bytes(), span_id.to_bytes());
    Some((trace_id, span_id))
}
