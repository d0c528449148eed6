//! The subscriber's filter: spans by one set of directives, events by another.
//!
//! A span is the unit of context: it carries the trace id that `inject_context` forwards, the
//! parent of every client span, the ids on log lines, the span metrics and exemplars. So
//! whether a span exists must not depend on how many *log lines* the operator wants: with a
//! single `RUST_LOG=warn` filter an INFO server span disappears, and with it propagation.
//! Here the span directives (default `info`) decide which spans exist, and the log directives
//! (`RUST_LOG`) decide which events are recorded, by every layer alike; sampling then decides
//! which spans are exported.
//!
//! One global filter rather than a per-layer filter on each layer: every layer sees the same
//! spans (a log line inside a span filtered out for the log layer would lose its trace id),
//! and a callsite's interest is still decided once, so a disabled `info!` stays a load and a
//! branch.

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Spans pass by `spans`, events by `events`.
///
/// Both filters see every span's callsite and life (creation, records, enter, exit, close), so
/// that span directives in the log filter (`warn,[request]=debug`: debug events inside
/// `request` spans) follow the spans they match. Such a directive selects events only: whether
/// the span itself exists is the span filter's decision alone.
///
/// A filter without span directives (no `[`) is told nothing of spans' lives: `EnvFilter`
/// takes a lock for each, and most services have none.
#[derive(Debug)]
pub(crate) struct SignalFilter {
    spans: EnvFilter,
    events: EnvFilter,
    /// Whether each filter has span directives, and so follows spans.
    spans_follow: bool,
    events_follow: bool,
}

/// Directives in `RUST_LOG` syntax as a filter, or the parser's message.
pub(crate) fn parse_directives(directives: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder()
        .parse(directives)
        .map_err(|error| error.to_string())
}

/// The most verbose level an event can pass at under these directives (what the `log` crate
/// bridge may skip below); `TRACE` for directives that do not parse.
pub(crate) fn events_level(directives: &str) -> LevelFilter {
    parse_directives(directives)
        .ok()
        .and_then(|filter| filter.max_level_hint())
        .unwrap_or(LevelFilter::TRACE)
}

impl SignalFilter {
    /// The filter for these span and event directives (`RUST_LOG` syntax).
    ///
    /// # Errors
    /// The parser's message for directives that do not parse.
    pub(crate) fn parse(spans: &str, events: &str) -> Result<Self, String> {
        Ok(Self {
            spans: parse_directives(spans)?,
            events: parse_directives(events)?,
            // Span and field directives are the bracketed ones.
            spans_follow: spans.contains('['),
            events_follow: events.contains('['),
        })
    }

    fn for_callsite(&self, metadata: &Metadata<'_>) -> &EnvFilter {
        if metadata.is_span() {
            &self.spans
        } else {
            &self.events
        }
    }
}

impl<S> Layer<S> for SignalFilter
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.is_span() {
            // The log filter learns the span callsites its span directives match; only the
            // span filter's answer counts.
            let _ = Layer::<S>::register_callsite(&self.events, metadata);
        }
        Layer::<S>::register_callsite(self.for_callsite(metadata), metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        Layer::<S>::enabled(self.for_callsite(metadata), metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // `None` (anything may pass) wins.
        Some(
            Layer::<S>::max_level_hint(&self.spans)?.max(Layer::<S>::max_level_hint(&self.events)?),
        )
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if self.spans_follow {
            self.spans.on_new_span(attrs, id, ctx.clone());
        }
        if self.events_follow {
            self.events.on_new_span(attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if self.spans_follow {
            self.spans.on_record(id, values, ctx.clone());
        }
        if self.events_follow {
            self.events.on_record(id, values, ctx);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if self.spans_follow {
            self.spans.on_enter(id, ctx.clone());
        }
        if self.events_follow {
            self.events.on_enter(id, ctx);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if self.spans_follow {
            self.spans.on_exit(id, ctx.clone());
        }
        if self.events_follow {
            self.events.on_exit(id, ctx);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if self.spans_follow {
            self.spans.on_close(id.clone(), ctx.clone());
        }
        if self.events_follow {
            self.events.on_close(id, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// What reached the layers below the filter: span names and event messages.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
        fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
            self.push(format!("span {}", attrs.metadata().name()));
        }

        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let parent = ctx
                .event_span(event)
                .map_or("-".to_owned(), |span| span.name().to_owned());
            self.push(format!("event {} in {parent}", event.metadata().level()));
        }
    }

    impl Seen {
        fn push(&self, line: String) {
            self.0.lock().expect("not poisoned").push(line);
        }

        fn lines(&self) -> Vec<String> {
            self.0.lock().expect("not poisoned").clone()
        }
    }

    fn seen_with(spans: &str, events: &str, work: impl FnOnce()) -> Vec<String> {
        let seen = Seen::default();
        let filter = SignalFilter::parse(spans, events).expect("valid directives");
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(seen.clone());
        tracing::subscriber::with_default(subscriber, work);
        seen.lines()
    }

    fn request() {
        let server = tracing::info_span!("server");
        let _entered = server.enter();
        tracing::debug_span!("detail").in_scope(|| tracing::debug!("fine detail"));
        tracing::info!("handled");
        tracing::warn!("slow");
    }

    #[test]
    fn a_quiet_log_level_keeps_the_spans() {
        assert_eq!(
            seen_with("info", "warn", request),
            ["span server", "event WARN in server"]
        );
    }

    #[test]
    fn a_verbose_log_level_adds_events_not_spans() {
        assert_eq!(
            seen_with("info", "debug", request),
            [
                "span server",
                "event DEBUG in server",
                "event INFO in server",
                "event WARN in server"
            ]
        );
    }

    #[test]
    fn span_directives_of_the_log_filter_still_select_events_inside_spans() {
        let lines = seen_with("info", "warn,[server]=debug", || {
            request();
            tracing::info!("outside");
        });
        assert_eq!(
            lines,
            [
                "span server",
                "event DEBUG in server",
                "event INFO in server",
                "event WARN in server"
            ]
        );
    }

    #[test]
    fn spans_off_leaves_events_without_spans() {
        assert_eq!(
            seen_with("off", "info", request),
            ["event INFO in -", "event WARN in -"]
        );
    }

    #[test]
    fn the_hint_is_the_more_verbose_of_the_two() {
        let filter = SignalFilter::parse("info", "warn").expect("valid");
        let hint = Layer::<tracing_subscriber::Registry>::max_level_hint(&filter);
        assert_eq!(hint, Some(LevelFilter::INFO));
        assert_eq!(events_level("warn"), LevelFilter::WARN);
        let filter = SignalFilter::parse("error", "debug").expect("valid");
        let hint = Layer::<tracing_subscriber::Registry>::max_level_hint(&filter);
        assert_eq!(hint, Some(LevelFilter::DEBUG));
    }
}
