//! [`OtlpLayer`]: ids and the sampling decision at span start; sampled spans recorded and
//! handed over as `SpanData` when they close.

mod recording;
mod thread_state;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{Event, Link, SpanKind};
use opentelemetry::{InstrumentationScope, KeyValue};
use telescope_core::outcome::SpanOutcome;
use telescope_core::Baggage;
use telescope_core::{IdGenerator, Redaction, SpanContext, TraceFlags};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event as TracingEvent, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub use recording::SpanLimits;
use recording::{EventVisitor, Recording, SpanVisitor};
use thread_state::ThreadState;

use crate::export::SpanExport;
use crate::finished::{to_otel_trace_state, FinishedSpan};
use crate::pipeline::{Pipeline, PipelineConfig, PipelineSink};
use crate::retention::TraceRetention;
use crate::sampler::{AlwaysOn, ParentBased, Sampler, SamplingInput};
use crate::sink::{SpanRing, SpanSink};

/// Configures an [`OtlpLayer`].
#[must_use]
pub struct OtlpLayerBuilder {
    sampler: Box<dyn Sampler>,
    limits: SpanLimits,
    redaction: Redaction,
    ring_capacity: usize,
    retention: TraceRetention,
    sinks: Vec<Arc<dyn SpanSink>>,
    exporters: Vec<Box<dyn SpanExport>>,
    pipeline: PipelineConfig,
    baggage_attributes: Vec<String>,
}

impl std::fmt::Debug for OtlpLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpLayerBuilder")
            .field("sampler", &self.sampler)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl OtlpLayerBuilder {
    /// The sampler (default: parent-based, always on).
    pub fn sampler(mut self, sampler: impl Sampler) -> Self {
        self.sampler = Box::new(sampler);
        self
    }

    /// A boxed sampler, as [`sampler_from_env`](crate::sampler::sampler_from_env) returns.
    pub fn boxed_sampler(mut self, sampler: Box<dyn Sampler>) -> Self {
        self.sampler = sampler;
        self
    }

    /// Limits per span.
    pub fn limits(mut self, limits: SpanLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Which attribute names are secret (default: [`Redaction::default`]): a span or event
    /// field with such a name is recorded as `[REDACTED]`, its value never formatted, so it is
    /// in no span, ring, batch or export. `telescope::try_init` passes the policy of its
    /// builder, the same as its log layer's.
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Baggage keys recorded as attributes of every sampled span whose request carries them
    /// (the span's baggage, or its nearest ancestor's), under the key's own name; a secret
    /// key's value is `[REDACTED]`. None by default.
    pub fn baggage_attributes<K: Into<String>>(
        mut self,
        keys: impl IntoIterator<Item = K>,
    ) -> Self {
        self.baggage_attributes
            .extend(keys.into_iter().map(Into::into));
        self
    }

    /// How many finished spans the in-process ring keeps (default 2048).
    pub fn ring_capacity(mut self, spans: usize) -> Self {
        self.ring_capacity = spans;
        self
    }

    /// What the ring keeps beyond its most recent spans (default: [`TraceRetention::default`],
    /// per operation the last 20 error traces and the 20 slowest of 15 minutes, and the traces
    /// exemplars point at, within 16 MiB).
    pub fn retention(mut self, retention: TraceRetention) -> Self {
        self.retention = retention;
        self
    }

    /// Also hands finished sampled spans to `sink` (an exporter), on the pipeline's collector
    /// thread.
    pub fn sink(mut self, sink: impl SpanSink) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// Also sends finished sampled spans to `exporter` in batches of up to
    /// [`PipelineConfig::max_export_batch_size`], retrying failures for up to
    /// [`PipelineConfig::export_timeout`]; [`OtlpExport`](crate::OtlpExport) is the OTLP one.
    pub fn exporter(mut self, exporter: impl SpanExport) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// The queue and batch settings of the pipeline.
    pub fn pipeline(mut self, config: PipelineConfig) -> Self {
        self.pipeline = config;
        self
    }

    /// The layer, with its pipeline's threads started.
    pub fn build(self) -> OtlpLayer {
        let ring = SpanRing::with_retention(self.ring_capacity, self.retention);
        let (pipeline, queue) = Pipeline::start(self.pipeline, ring, self.sinks, self.exporters);
        OtlpLayer {
            sampler: self.sampler,
            limits: self.limits,
            redaction: self.redaction,
            baggage_attributes: self.baggage_attributes.into(),
            ids: IdGenerator::default(),
            threads: ThreadState::new(),
            pipeline,
            queue,
            scope: InstrumentationScope::builder("telescope")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        }
    }
}

/// A `tracing_subscriber::Layer` that gives every span a trace context (sampled or not) and
/// turns sampled spans into OpenTelemetry `SpanData`.
///
/// Ids and the sampling decision are made in `on_new_span`: children inherit their parent's
/// trace and decision; a root continues a remote parent set with
/// [`propagation::remote_parent`](crate::propagation::remote_parent), or starts a new trace.
/// Every span gets a [`telescope_core::SpanContext`] in its extensions, so logs carry ids and
/// propagation works even for unsampled spans, which record nothing else: their fields and
/// events are never visited.
///
/// A sampled span records typed attributes, events (message, level, fields), status (by the
/// rules of [`telescope_core::outcome`], shared with the span metrics: a true `error` field,
/// ERROR-level events, `otel.status_code` / `otel.status_description`), kind
/// (`otel.kind`), name (`otel.name`, whenever recorded before close) and links (`follows_from`),
/// within [`SpanLimits`], and becomes a `SpanData` when it closes. It then goes through a bounded
/// queue to the [`Pipeline`]'s collector thread, which keeps it in the [`SpanRing`] and gives it to
/// every configured [`SpanSink`]; a full queue drops the span and counts it in
/// `telescope_spans_dropped_total{reason="queue_full"}`.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// let layer = telescope_otlp::OtlpLayer::builder().build();
/// let pipeline = layer.pipeline();
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("checkout", otel.kind = "server", items = 3);
///     let _entered = span.enter();
///     tracing::info!(order = 42, "order placed");
/// });
/// assert!(pipeline.force_flush(std::time::Duration::from_secs(5)));
/// let spans = pipeline.ring().spans();
/// assert_eq!(spans[0].name, "checkout");
/// assert_eq!(spans[0].events.len(), 1);
/// ```
pub struct OtlpLayer {
    sampler: Box<dyn Sampler>,
    limits: SpanLimits,
    redaction: Redaction,
    baggage_attributes: Box<[String]>,
    ids: IdGenerator,
    threads: ThreadState,
    pipeline: Pipeline,
    queue: PipelineSink,
    scope: InstrumentationScope,
}

impl std::fmt::Debug for OtlpLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpLayer")
            .field("sampler", &self.sampler)
            .finish_non_exhaustive()
    }
}

impl OtlpLayer {
    /// A builder: parent-based always-on sampling, OpenTelemetry's default limits, a
    /// 2048-span ring.
    pub fn builder() -> OtlpLayerBuilder {
        OtlpLayerBuilder {
            sampler: Box::new(ParentBased::new(AlwaysOn)),
            limits: SpanLimits::default(),
            redaction: Redaction::default(),
            ring_capacity: 2048,
            retention: TraceRetention::default(),
            sinks: Vec::new(),
            exporters: Vec::new(),
            pipeline: PipelineConfig::default(),
            baggage_attributes: Vec::new(),
        }
    }

    /// The in-process ring of recent finished spans (filled by the pipeline's collector).
    pub fn ring(&self) -> SpanRing {
        self.pipeline.ring()
    }

    /// The pipeline: `force_flush`, `shutdown`, counts.
    pub fn pipeline(&self) -> Pipeline {
        self.pipeline.clone()
    }

    fn to_otel(context: &SpanContext) -> opentelemetry::trace::SpanContext {
        Self::with_otel_trace_state(context, to_otel_trace_state(context.trace_state()))
    }

    fn to_otel_without_trace_state(context: &SpanContext) -> opentelemetry::trace::SpanContext {
        Self::with_otel_trace_state(context, opentelemetry::trace::TraceState::NONE)
    }

    fn with_otel_trace_state(
        context: &SpanContext,
        trace_state: opentelemetry::trace::TraceState,
    ) -> opentelemetry::trace::SpanContext {
        opentelemetry::trace::SpanContext::new(
            opentelemetry::trace::TraceId::from_bytes(context.trace_id().to_bytes()),
            opentelemetry::trace::SpanId::from_bytes(context.span_id().to_bytes()),
            opentelemetry::trace::TraceFlags::new(context.flags().to_propagated_u8()),
            context.is_remote(),
            trace_state,
        )
    }
}

/// The context of a span in this registry.
fn context_of<S>(ctx: &Context<'_, S>, id: &Id) -> Option<SpanContext>
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    ctx.span(id)?.extensions().get::<SpanContext>().cloned()
}

impl OtlpLayer {
    /// The configured baggage keys that `baggage` holds, as attributes (redacted by name and
    /// scanned like any attribute text).
    fn record_baggage(&self, recording: &mut Recording, baggage: &Baggage) {
        for key in self.baggage_attributes.iter() {
            let Some(value) = baggage.get(key) else {
                continue;
            };
            let value = if self.redaction.matches(key) {
                telescope_core::REDACTED.to_owned()
            } else {
                self.redaction.scrub(value).into_owned()
            };
            recording.set_attribute_owned(key.clone(), value, self.limits.max_attributes);
        }
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let local_parent = if attrs.is_root() {
            None
        } else if let Some(parent) = attrs.parent() {
            context_of(&ctx, parent)
        } else {
            ctx.lookup_current()
                .and_then(|parent| parent.extensions().get::<SpanContext>().cloned())
        };
        // A root continues the remote parent the HTTP layer extracted, and takes its baggage.
        let remote = match local_parent {
            None => crate::propagation::take_remote_parent(),
            Some(_) => None,
        };
        let (remote_parent, baggage) = match remote {
            Some(extracted) => (extracted.context, extracted.baggage),
            None => (None, telescope_core::Baggage::new()),
        };
        let parent = local_parent.or(remote_parent);
        let (trace_id, random) = match &parent {
            Some(parent) => (parent.trace_id(), parent.flags().is_random()),
            None => (self.ids.trace_id(), true),
        };
        let name = attrs.metadata().name();
        let decision = self.sampler.should_sample(&SamplingInput {
            parent: parent.as_ref(),
            trace_id,
            name,
        });
        let flags = TraceFlags::NONE
            .with_sampled(decision.sampled)
            .with_random(random);
        let context = SpanContext::new(trace_id, self.ids.span_id(), flags, decision.trace_state);
        self.threads.remember(id, decision.sampled);
        // The fields are read (user code may run, and may log) before any lock is taken.
        let recording = decision.sampled.then(|| {
            let mut recording = Recording {
                name: Cow::Borrowed(name),
                kind: SpanKind::Internal,
                start: SystemTime::now(),
                attributes: Vec::with_capacity(attrs.metadata().fields().len()),
                dropped_attributes: 0,
                events: Vec::new(),
                dropped_events: 0,
                links: Vec::new(),
                dropped_links: 0,
                outcome: SpanOutcome::default(),
                parent_span_id: parent
                    .as_ref()
                    .map_or(opentelemetry::trace::SpanId::INVALID, |p| {
                        opentelemetry::trace::SpanId::from_bytes(p.span_id().to_bytes())
                    }),
                parent_is_remote: parent.as_ref().is_some_and(SpanContext::is_remote),
            };
            attrs.record(&mut SpanVisitor::unshared(
                &mut recording,
                self.limits.max_attributes,
                &self.redaction,
            ));
            if !self.baggage_attributes.is_empty() {
                let inherited = || span.parent().and_then(|parent| Baggage::find(&parent));
                let baggage = (!baggage.is_empty())
                    .then(|| baggage.clone())
                    .or_else(inherited);
                if let Some(baggage) = baggage {
                    self.record_baggage(&mut recording, &baggage);
                }
            }
            recording
        });
        let mut extensions = span.extensions_mut();
        if let Some(recording) = recording {
            extensions.insert(recording);
        }
        extensions.insert(context);
        if !baggage.is_empty() {
            extensions.insert(baggage);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if span.extensions().get::<Recording>().is_none() {
            return;
        }
        // Read the values with no lock held (a `Debug` that logs must not deadlock), then
        // apply them under the write lock, where no user code runs.
        let mut visitor = SpanVisitor::staged(&self.redaction, values.len());
        values.record(&mut visitor);
        let fields = visitor.into_fields();
        let mut extensions = span.extensions_mut();
        if let Some(recording) = extensions.get_mut::<Recording>() {
            fields.apply(recording, self.limits.max_attributes);
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(followed) = context_of(&ctx, follows) else {
            return;
        };
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(recording) = extensions.get_mut::<Recording>() {
            if recording.links.len() < self.limits.max_links {
                recording
                    .links
                    .push(Link::with_context(OtlpLayer::to_otel(&followed)));
            } else {
                recording.dropped_links += 1;
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.threads.entered(id, || {
            ctx.span(id)
                .is_some_and(|span| span.extensions().get::<Recording>().is_some())
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        self.threads.exited(id);
    }

    // One function (~90 lines): the per-event hot path, with its early returns for unsampled
    // spans first; kept together so that the cheap exits are visible before the costly work.
    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        // The common case, an event in the innermost entered span, when that span is not
        // sampled: nothing to look up.
        let innermost = if event.is_contextual() {
            self.threads.innermost()
        } else {
            None
        };
        let known_sampled = innermost.is_some();
        let span = match innermost {
            Some((_, false)) => return,
            // The innermost entered span is the event's: no need to ask the registry.
            Some((id, true)) => ctx.span(&id),
            None => ctx.event_span(event),
        };
        let Some(span) = span else {
            return;
        };
        // A span not known to be sampled is looked at first (under the read lock), so that
        // an unsampled span's event fields are never visited. A known sampled one (the common
        // case) goes straight on: its limit is checked once, under the write lock below.
        if !known_sampled {
            let full = match span.extensions().get::<Recording>() {
                None => return,
                Some(recording) => recording.events.len() >= self.limits.max_events,
            };
            if full {
                if let Some(recording) = span.extensions_mut().get_mut::<Recording>() {
                    recording.dropped_events += 1;
                    // Dropped as an event, still counted as a failure.
                    let level = event
                        .normalized_metadata()
                        .map_or(*event.metadata().level(), |n| *n.level());
                    recording.outcome.record_event(level, None, None);
                }
                return;
            }
        }
        let metadata = event.metadata();
        // A record of the `log` crate (bridged by tracing-log) has its real level and target
        // in the normalized metadata, and its `log.*` fields are left out.
        let normalized = event.normalized_metadata();
        let mut visitor = EventVisitor {
            name: None,
            attributes: Vec::with_capacity(metadata.fields().len() + 2),
            dropped: 0,
            error: None,
            max_attributes: self.limits.max_event_attributes,
            from_log: normalized.is_some(),
            redaction: &self.redaction,
        };
        let level = normalized
            .as_ref()
            .map_or(*metadata.level(), |n| *n.level());
        visitor
            .attributes
            .push(KeyValue::new("level", level.as_str()));
        visitor.attributes.push(match &normalized {
            Some(record) => KeyValue::new("target", record.target().to_owned()),
            None => KeyValue::new("target", metadata.target()),
        });
        // Fields are formatted (user code runs, and may log) with no lock held.
        event.record(&mut visitor);
        let mut extensions = span.extensions_mut();
        // Closed meanwhile (on another thread): the event has no span left to join.
        let Some(recording) = extensions.get_mut::<Recording>() else {
            return;
        };
        recording
            .outcome
            .record_event(level, visitor.error.as_deref(), visitor.name.as_deref());
        if recording.events.len() >= self.limits.max_events {
            recording.dropped_events += 1;
            return;
        }
        let name = visitor.name.map_or(Cow::Borrowed("event"), Cow::Owned);
        // Most spans that have events have one: room for exactly one at first keeps the
        // allocation small (glibc frees small blocks across threads without taking a lock);
        // later events grow the vector as usual.
        if recording.events.capacity() == 0 {
            recording.events.reserve_exact(1);
        }
        recording.events.push(Event::new(
            name,
            SystemTime::now(),
            visitor.attributes,
            visitor.dropped,
        ));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // Unsampled spans (most of them, under sampling) leave without a lookup when this
        // thread created them, or under a read lock otherwise.
        let remembered = self.threads.take_recalled(&id);
        if remembered == Some(false) {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        // Not known here (created on another thread): check under the read lock first, so
        // that closing an unsampled span never takes the write lock.
        if remembered.is_none() && span.extensions().get::<Recording>().is_none() {
            return;
        }
        let mut extensions = span.extensions_mut();
        let Some(recording) = extensions.remove::<Recording>() else {
            return;
        };
        let Some(context) = extensions.get_mut::<SpanContext>() else {
            return;
        };
        // The tracestate is converted to OpenTelemetry's type on the pipeline's collector.
        let trace_state = context.trace_state().clone();
        let data = recording.into_span_data(
            OtlpLayer::to_otel_without_trace_state(context),
            SystemTime::now(),
            self.scope.clone(),
        );
        drop(extensions);
        self.queue.submit(FinishedSpan {
            data: Arc::new(data),
            trace_state,
        });
    }
}
