//! [`SpanMetricsLayer`]: the duration of every span, sampled or not, as a histogram, so rates,
//! errors and latency percentiles stay exact however few traces are kept.

use std::time::Instant;

use telescope_core::metric_names::SPAN_DURATION_SECONDS;
use telescope_core::outcome::{OutcomeFields, SpanOutcome};
use telescope_core::SpanContext;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Records `telescope_span_duration_seconds{span_name, status}` when each span closes: from
/// creation to close, `status="error"` when the span failed by the rules of
/// [`telescope_core::outcome`] (the same that set the exported span's status: a true `error`
/// field, an ERROR-level event, `otel.status_code`), else `"ok"`. Labels stay bounded:
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
    outcome: SpanOutcome,
}

impl<S> Layer<S> for SpanMetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut outcome = SpanOutcome::default();
        if SpanOutcome::reads_any(attrs.metadata().fields()) {
            attrs.record(&mut OutcomeFields(&mut outcome));
        }
        span.extensions_mut().insert(Timing {
            start: Instant::now(),
            outcome,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if !SpanOutcome::reads_any(span.metadata().fields()) {
            return;
        }
        // Read with no lock held (user `Debug` code runs), then merged under the lock.
        let mut recorded = SpanOutcome::default();
        values.record(&mut OutcomeFields(&mut recorded));
        if recorded == SpanOutcome::default() {
            return;
        }
        let mut extensions = span.extensions_mut();
        if let Some(timing) = extensions.get_mut::<Timing>() {
            timing.outcome.merge(recorded);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        if let Some(span) = ctx.event_span(event) {
            if let Some(timing) = span.extensions_mut().get_mut::<Timing>() {
                timing.outcome.record_event(Level::ERROR, None, None);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(timing) = span.extensions_mut().remove::<Timing>() else {
            return;
        };
        let status = if timing.outcome.failed() {
            "error"
        } else {
            "ok"
        };
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
