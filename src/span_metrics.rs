//! [`SpanMetricsLayer`]: the duration of every span, sampled or not, as a histogram, so rates,
//! errors and latency percentiles stay exact however few traces are kept.

use std::time::Instant;

use telescope_core::metric_names::SPAN_DURATION_SECONDS;
use telescope_core::SpanContext;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Records `telescope_span_duration_seconds{span_name, status}` when each span closes: from
/// creation to close, `status="error"` when the span recorded an `error` field, an
/// `otel.status_code` of `ERROR`, or an ERROR-level event, else `"ok"`. Labels stay bounded:
/// `span_name` is the callsite's static name (a name set later through `otel.name` is not
/// used), `status` has two values. With a recorder taking exemplars, a sampled span's own
/// trace is the exemplar of its observation.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry().with(telescope::SpanMetricsLayer::new());
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info_span!("checkout").in_scope(|| {});
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanMetricsLayer {
    _private: (),
}

impl SpanMetricsLayer {
    /// The layer; it reports to the global `metrics` recorder.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Kept in each span's extensions.
struct Timing {
    start: Instant,
    failed: bool,
}

/// Finds a failure among recorded fields.
#[derive(Default)]
struct FailureVisitor {
    failed: bool,
}

impl Visit for FailureVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "error" => self.failed = true,
            "otel.status_code" if value.eq_ignore_ascii_case("error") => self.failed = true,
            _ => {}
        }
    }

    fn record_error(&mut self, field: &Field, _: &(dyn std::error::Error + 'static)) {
        if field.name() == "error" {
            self.failed = true;
        }
    }

    fn record_debug(&mut self, field: &Field, _: &dyn std::fmt::Debug) {
        if field.name() == "error" {
            self.failed = true;
        }
    }
}

/// Whether the callsite has a field that can mark a failure; most do not, and are not visited.
fn may_fail(fields: &tracing_core::field::FieldSet) -> bool {
    fields.field("error").is_some() || fields.field("otel.status_code").is_some()
}

impl<S> Layer<S> for SpanMetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = FailureVisitor::default();
        if may_fail(attrs.metadata().fields()) {
            attrs.record(&mut visitor);
        }
        span.extensions_mut().insert(Timing {
            start: Instant::now(),
            failed: visitor.failed,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if !may_fail(span.metadata().fields()) {
            return;
        }
        let mut visitor = FailureVisitor::default();
        values.record(&mut visitor);
        if visitor.failed {
            if let Some(timing) = span.extensions_mut().get_mut::<Timing>() {
                timing.failed = true;
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        if let Some(span) = ctx.event_span(event) {
            if let Some(timing) = span.extensions_mut().get_mut::<Timing>() {
                timing.failed = true;
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(timing) = span.extensions_mut().remove::<Timing>() else {
            return;
        };
        let status = if timing.failed { "error" } else { "ok" };
        let elapsed = timing.start.elapsed().as_secs_f64();
        // The span is no longer current: its own trace is the exemplar, when sampled.
        let ids = span
            .extensions()
            .get::<SpanContext>()
            .filter(|context| context.is_sampled())
            .map(|context| (context.trace_id(), context.span_id()));
        telescope_core::with_exemplar_ids(ids, || {
            metrics::histogram!(SPAN_DURATION_SECONDS, "span_name" => span.name(), "status" => status)
                .record(elapsed);
        });
    }
}
