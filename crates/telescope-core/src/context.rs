//! The trace context that telescope's layers keep in each span's extensions.

use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::{SpanId, TraceFlags, TraceParent, TraceState};

/// The trace context of one span: the type the OTLP layer stores in every span's
/// extensions (sampled or not), and that the log layers read to put `trace_id` and `span_id`
/// on each line.
///
/// ```
/// use telescope_core::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// let context = SpanContext::new(
///     TraceId::from_u128(1),
///     SpanId::from_u64(2),
///     TraceFlags::SAMPLED,
///     TraceState::EMPTY,
/// );
/// assert!(context.is_sampled());
/// assert_eq!(
///     context.traceparent().to_string(),
///     "00-00000000000000000000000000000001-0000000000000002-01"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpanContext {
    trace_id: crate::TraceId,
    span_id: SpanId,
    flags: TraceFlags,
    trace_state: TraceState,
    is_remote: bool,
}

impl SpanContext {
    /// A local span's context.
    pub fn new(
        trace_id: crate::TraceId,
        span_id: SpanId,
        flags: TraceFlags,
        trace_state: TraceState,
    ) -> Self {
        Self {
            trace_id,
            span_id,
            flags,
            trace_state,
            is_remote: false,
        }
    }

    /// The context a remote caller sent, from its parsed `traceparent` and `tracestate`.
    pub fn remote(parent: TraceParent, trace_state: TraceState) -> Self {
        Self {
            trace_id: parent.trace_id,
            span_id: parent.parent_id,
            flags: parent.flags,
            trace_state,
            is_remote: true,
        }
    }

    /// The trace id.
    pub fn trace_id(&self) -> crate::TraceId {
        self.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace flags.
    pub fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// Whether this span is sampled (recorded and exported).
    pub fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }

    /// The tracestate carried with the trace.
    pub fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// Whether the context came from another process.
    pub fn is_remote(&self) -> bool {
        self.is_remote
    }

    /// The `traceparent` to send downstream with this span as the parent.
    pub fn traceparent(&self) -> TraceParent {
        TraceParent {
            version: 0,
            trace_id: self.trace_id,
            parent_id: self.span_id,
            flags: self.flags,
        }
    }

    /// The context of `span`, or of its nearest ancestor that has one. Clones the context
    /// (a reference-count bump for the tracestate); see [`find_ids`] for just the ids.
    pub fn find<'a, S>(span: &SpanRef<'a, S>) -> Option<Self>
    where
        S: LookupSpan<'a>,
    {
        span.scope()
            .find_map(|ancestor| ancestor.extensions().get::<Self>().cloned())
    }
}

/// The trace and span id of `span`'s context, or of its nearest ancestor's. Copies only
/// the two ids, so a log layer can call it on every event.
pub fn find_ids<'a, S>(span: &SpanRef<'a, S>) -> Option<(crate::TraceId, SpanId)>
where
    S: LookupSpan<'a>,
{
    span.scope().find_map(|ancestor| {
        ancestor
            .extensions()
            .get::<SpanContext>()
            .map(|cx| (cx.trace_id, cx.span_id))
    })
}

/// The trace and span id of the current span (or its nearest traced ancestor) in the current
/// dispatcher, when that dispatcher is built on `tracing_subscriber::Registry`. For code that
/// is not a layer, such as a typed audit API, to stamp records with the trace they belong to.
pub fn current_ids() -> Option<(crate::TraceId, SpanId)> {
    tracing_core::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let current = tracing_core::Subscriber::current_span(registry);
        let span = registry.span(current.id()?)?;
        find_ids(&span)
    })
}

/// Ids an observation should point at as its exemplar.
type ExemplarIds = Option<(crate::TraceId, SpanId)>;

thread_local! {
    /// Set while [`with_exemplar_ids`] runs: `Some(ids)` stands for the current span.
    static EXEMPLAR_IDS: std::cell::Cell<Option<ExemplarIds>> = const { std::cell::Cell::new(None) };
}

/// Runs `record` with `ids` standing for the current span in [`current_sampled_ids`]: for an
/// observation about a span that is no longer current, such as its duration recorded when it
/// closes, so that the exemplar points at that span's trace. `None` means no exemplar.
///
/// ```
/// use telescope_core::{current_sampled_ids, with_exemplar_ids, SpanId, TraceId};
/// let ids = (TraceId::from_u128(1), SpanId::from_u64(2));
/// with_exemplar_ids(Some(ids), || assert_eq!(current_sampled_ids(), Some(ids)));
/// assert_eq!(current_sampled_ids(), None);
/// ```
pub fn with_exemplar_ids<R>(ids: ExemplarIds, record: impl FnOnce() -> R) -> R {
    /// Puts back what was there, also when `record` panics.
    struct Restore(Option<ExemplarIds>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0;
            let _ = EXEMPLAR_IDS.try_with(|slot| slot.set(previous));
        }
    }
    let previous = EXEMPLAR_IDS
        .try_with(|slot| slot.replace(Some(ids)))
        .ok()
        .flatten();
    let _restore = Restore(previous);
    record()
}

/// The trace and span id of the current span (or its nearest traced ancestor) when its trace
/// is sampled: what a metric observation can point at as an exemplar. Copies only the ids.
/// Inside [`with_exemplar_ids`], the ids given there.
pub fn current_sampled_ids() -> Option<(crate::TraceId, SpanId)> {
    if let Ok(Some(ids)) = EXEMPLAR_IDS.try_with(std::cell::Cell::get) {
        return ids;
    }
    tracing_core::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let current = tracing_core::Subscriber::current_span(registry);
        let span = registry.span(current.id()?)?;
        span.scope().find_map(|ancestor| {
            let extensions = ancestor.extensions();
            let context = extensions.get::<SpanContext>()?;
            Some(
                context
                    .is_sampled()
                    .then_some((context.trace_id, context.span_id)),
            )
        })?
    })
}

/// The full trace context of the current span (or its nearest traced ancestor), for
/// propagating it; see [`current_ids`] for when it is available.
pub fn current_context() -> Option<SpanContext> {
    tracing_core::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let current = tracing_core::Subscriber::current_span(registry);
        let span = registry.span(current.id()?)?;
        SpanContext::find(&span)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TraceId;
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::Layer;

    /// Puts a context on spans named `traced`, and on nothing else.
    struct MarkTraced;

    impl<S> Layer<S> for MarkTraced
    where
        S: tracing_core::Subscriber + for<'a> LookupSpan<'a>,
    {
        fn on_new_span(
            &self,
            attrs: &tracing_core::span::Attributes<'_>,
            id: &tracing_core::span::Id,
            ctx: Context<'_, S>,
        ) {
            let flags = match attrs.metadata().name() {
                "traced" => TraceFlags::SAMPLED,
                "unsampled" => TraceFlags::default(),
                _ => return,
            };
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(SpanContext::new(
                    TraceId::from_u128(7),
                    SpanId::from_u64(id.into_u64()),
                    flags,
                    TraceState::EMPTY,
                ));
            }
        }
    }

    type Seen = std::sync::Arc<std::sync::Mutex<Vec<Option<(TraceId, SpanId)>>>>;

    /// Records what `find_ids` says for the span current when an event fires.
    struct Probe(Seen);

    impl<S> Layer<S> for Probe
    where
        S: tracing_core::Subscriber + for<'a> LookupSpan<'a>,
    {
        fn on_event(&self, event: &tracing_core::Event<'_>, ctx: Context<'_, S>) {
            let found = ctx.event_span(event).and_then(|span| find_ids(&span));
            self.0.lock().expect("probe").push(found);
        }
    }

    #[test]
    fn current_ids_reads_the_current_span_of_a_layered_registry() {
        let subscriber = tracing_subscriber::registry().with(MarkTraced);
        tracing::subscriber::with_default(subscriber, || {
            assert_eq!(current_ids(), None);
            let span = tracing::info_span!("traced");
            let _entered = span.enter();
            let (trace_id, _) = current_ids().expect("inside a traced span");
            assert_eq!(trace_id, TraceId::from_u128(7));
        });
        assert_eq!(current_ids(), None, "no registry, no ids");
    }

    #[test]
    fn sampled_ids_only_inside_a_sampled_trace() {
        let subscriber = tracing_subscriber::registry().with(MarkTraced);
        tracing::subscriber::with_default(subscriber, || {
            assert_eq!(current_sampled_ids(), None);
            tracing::info_span!("unsampled").in_scope(|| {
                assert_eq!(current_sampled_ids(), None, "not sampled");
                assert!(current_ids().is_some(), "but traced");
            });
            tracing::info_span!("traced").in_scope(|| {
                tracing::info_span!("plain").in_scope(|| {
                    let (trace_id, _) = current_sampled_ids().expect("sampled ancestor");
                    assert_eq!(trace_id, TraceId::from_u128(7));
                });
            });
        });
    }

    #[test]
    fn finds_the_nearest_ancestor_context() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry()
            .with(MarkTraced)
            .with(Probe(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            let outer = tracing::info_span!("traced");
            let _outer = outer.enter();
            let inner = tracing::info_span!("plain");
            let _inner = inner.enter();
            tracing::info!("inside");
        });
        let seen = seen.lock().expect("probe");
        assert_eq!(seen[0], None);
        let (trace_id, _) = seen[1].expect("inherited from the traced ancestor");
        assert_eq!(trace_id, TraceId::from_u128(7));
    }
}
