//! Which propagation formats a service reads and writes ([`Propagators`], set from
//! `OTEL_PROPAGATORS`), and the process-wide choice that the HTTP middleware and
//! [`inject_current`](super::inject_current) use.

use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue};
use telescope_core::{Baggage, SpanContext, TraceState};

use super::{b3, count_invalid, jaeger};

/// A propagation format, named as `OTEL_PROPAGATORS` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// W3C Trace Context: `traceparent`, `tracestate` (`tracecontext`).
    TraceContext,
    /// W3C Baggage: `baggage` (`baggage`).
    Baggage,
    /// Zipkin B3, one header: `b3` (`b3`).
    B3,
    /// Zipkin B3, several headers: `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled` (`b3multi`).
    B3Multi,
    /// Jaeger: `uber-trace-id`, baggage in `uberctx-*` (`jaeger`).
    Jaeger,
}

impl Format {
    /// The name `OTEL_PROPAGATORS` uses.
    pub fn name(self) -> &'static str {
        match self {
            Format::TraceContext => "tracecontext",
            Format::Baggage => "baggage",
            Format::B3 => "b3",
            Format::B3Multi => "b3multi",
            Format::Jaeger => "jaeger",
        }
    }

    const ALL: [Format; 5] = [
        Format::TraceContext,
        Format::Baggage,
        Format::B3,
        Format::B3Multi,
        Format::Jaeger,
    ];

    /// Whether `headers` hold this format's headers.
    fn present_in(self, headers: &HeaderMap) -> bool {
        match self {
            Format::TraceContext => headers.contains_key("traceparent"),
            Format::Baggage => headers.contains_key("baggage"),
            Format::B3 => headers.contains_key(b3::SINGLE),
            Format::B3Multi => headers.contains_key(b3::TRACE_ID),
            Format::Jaeger => {
                headers.contains_key(jaeger::HEADER)
                    || headers
                        .keys()
                        .any(|name| name.as_str().starts_with(jaeger::BAGGAGE_PREFIX))
            }
        }
    }

    /// The remote parent this format finds in `headers`: `None` when its headers are absent
    /// or carry no context; an invalid one is counted and gives `None`.
    fn extract_context(self, headers: &HeaderMap) -> Option<SpanContext> {
        let counted = |header: &'static str, parsed: Result<Option<_>, String>| match parsed {
            Ok(parent) => parent.map(|parent| SpanContext::remote(parent, TraceState::EMPTY)),
            Err(_) => {
                count_invalid(header);
                None
            }
        };
        let text = |name: &str| match headers.get(name).map(HeaderValue::to_str) {
            None => None,
            Some(Ok(text)) => Some(Ok(text)),
            Some(Err(_)) => Some(Err("not visible ASCII".to_owned())),
        };
        match self {
            // Missing or invalid (counted there): no context from this format.
            Format::TraceContext => super::extract(headers).ok(),
            Format::Baggage => None,
            Format::B3 => {
                let parsed = text(b3::SINGLE)?.and_then(b3::parse_single);
                counted(b3::SINGLE, parsed)
            }
            Format::B3Multi => counted(b3::TRACE_ID, b3::parse_multi(headers)?),
            Format::Jaeger => {
                let parsed = text(jaeger::HEADER)?.and_then(|text| jaeger::parse(text).map(Some));
                counted(jaeger::HEADER, parsed)
            }
        }
    }
}

/// An `OTEL_PROPAGATORS` name telescope does not know (`xray`, `ottrace`, a typo): ignored,
/// as the OpenTelemetry specification asks, and reported by [`Propagators::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown propagator {0:?} (known: tracecontext, baggage, b3, b3multi, jaeger, none)")]
pub struct UnknownFormat(pub String);

/// What [`Propagators::extract`] found: the remote parent, if a format held a valid one, and
/// the baggage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extracted {
    /// The caller's span, to continue.
    pub context: Option<SpanContext>,
    /// The caller's baggage.
    pub baggage: Baggage,
}

/// The formats a service reads from incoming requests and writes into outgoing ones.
/// Extraction tries the trace formats in order and keeps the first valid context; injection
/// writes every configured format. The default is `tracecontext,baggage`.
///
/// ```
/// use telescope_otlp::propagation::{Format, Propagators};
///
/// let (propagators, unknown) = Propagators::parse("b3multi, tracecontext, xray");
/// assert_eq!(propagators.formats(), [Format::B3Multi, Format::TraceContext]);
/// assert_eq!(unknown.len(), 1, "xray is not known: ignored, and reported");
///
/// let mut incoming = http::HeaderMap::new();
/// incoming.insert("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124".parse().unwrap());
/// incoming.insert("x-b3-spanid", "a2fb4a1d1a96d312".parse().unwrap());
/// incoming.insert("x-b3-sampled", "1".parse().unwrap());
/// let extracted = propagators.extract(&incoming);
/// let parent = extracted.context.expect("a B3 parent");
/// assert_eq!(parent.trace_id().to_string(), "463ac35c9f6413ad48485a3953bb6124");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propagators {
    formats: Vec<Format>,
}

impl Default for Propagators {
    fn default() -> Self {
        Self::new([Format::TraceContext, Format::Baggage])
    }
}

impl Propagators {
    /// These formats, in this order (a repeated one counts once).
    pub fn new(formats: impl IntoIterator<Item = Format>) -> Self {
        let mut unique = Vec::new();
        for format in formats {
            if !unique.contains(&format) {
                unique.push(format);
            }
        }
        Self { formats: unique }
    }

    /// No propagation at all (`OTEL_PROPAGATORS=none`).
    pub fn none() -> Self {
        Self {
            formats: Vec::new(),
        }
    }

    /// Reads an `OTEL_PROPAGATORS` value: names separated by commas, any case, spaces
    /// ignored; `none` alone means no propagation. Unknown names are left out and returned.
    pub fn parse(text: &str) -> (Self, Vec<UnknownFormat>) {
        let mut formats = Vec::new();
        let mut unknown = Vec::new();
        for name in text
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            if name.eq_ignore_ascii_case("none") {
                continue;
            }
            match Format::ALL
                .into_iter()
                .find(|format| format.name().eq_ignore_ascii_case(name))
            {
                Some(format) => formats.push(format),
                None => unknown.push(UnknownFormat(name.to_owned())),
            }
        }
        (Self::new(formats), unknown)
    }

    /// The formats, in order.
    pub fn formats(&self) -> &[Format] {
        &self.formats
    }

    /// Whether `headers` hold anything a configured format reads: a request that continues
    /// a trace or brings baggage.
    pub fn carries_context(&self, headers: &HeaderMap) -> bool {
        self.formats.iter().any(|format| format.present_in(headers))
    }

    /// The remote parent (the first format, in order, with a valid one) and the baggage
    /// (`baggage`, and Jaeger's `uberctx-*` when Jaeger is configured).
    pub fn extract(&self, headers: &HeaderMap) -> Extracted {
        let context = self
            .formats
            .iter()
            .find_map(|format| format.extract_context(headers));
        let mut baggage = Baggage::new();
        if self.formats.contains(&Format::Baggage) {
            let joined: Vec<&str> = headers
                .get_all("baggage")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .collect();
            let parsed = Baggage::parse(&joined.join(","));
            let unreadable = headers.get_all("baggage").iter().count() > joined.len();
            if parsed.invalid > 0 || parsed.over_limit > 0 || unreadable {
                count_invalid("baggage");
            }
            baggage = parsed.baggage;
        }
        if self.formats.contains(&Format::Jaeger) {
            for (key, value) in jaeger::baggage(headers) {
                match baggage.with(&key, &value) {
                    Ok(more) => baggage = more,
                    Err(_) => count_invalid(jaeger::BAGGAGE_PREFIX),
                }
            }
        }
        Extracted { context, baggage }
    }

    /// Writes `context` and `baggage` in every configured format (an empty baggage writes no
    /// `baggage` header, and removes one already there).
    pub fn inject(&self, context: &SpanContext, baggage: &Baggage, headers: &mut HeaderMap) {
        let parent = context.traceparent();
        for format in &self.formats {
            match format {
                Format::TraceContext => super::inject(context, headers),
                Format::Baggage => {
                    headers.remove("baggage");
                    if !baggage.is_empty() {
                        if let Ok(value) = HeaderValue::from_str(&baggage.header()) {
                            headers.insert("baggage", value);
                        }
                    }
                }
                Format::B3 => b3::inject_single(&parent, headers),
                Format::B3Multi => b3::inject_multi(&parent, headers),
                Format::Jaeger => jaeger::inject(&parent, headers),
            }
        }
    }
}

static GLOBAL: OnceLock<Propagators> = OnceLock::new();

/// Sets the process-wide propagators, once (`telescope::try_init` sets them from the builder
/// or `OTEL_PROPAGATORS`).
///
/// # Errors
/// Gives `propagators` back if they were already set.
pub fn set_global(propagators: Propagators) -> Result<(), Propagators> {
    GLOBAL.set(propagators)
}

/// The process-wide propagators: what [`set_global`] set, else the default
/// (`tracecontext,baggage`).
pub fn global() -> &'static Propagators {
    GLOBAL.get_or_init(Propagators::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    const W3C: (&str, &str) = (
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    const B3: (&str, &str) = ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1");
    const JAEGER: (&str, &str) = (
        "uber-trace-id",
        "463ac35c9f6413ad48485a3953bb6124:a2fb4a1d1a96d312:0:1",
    );

    fn trace_of(
        propagators: &Propagators,
        pairs: &[(&'static str, &'static str)],
    ) -> Option<String> {
        propagators
            .extract(&headers(pairs))
            .context
            .map(|context| context.trace_id().to_string())
    }

    #[test]
    fn the_first_valid_format_in_order_wins() {
        let all = Propagators::parse("jaeger,b3,tracecontext").0;
        assert_eq!(
            trace_of(&all, &[W3C, B3, JAEGER]).as_deref(),
            Some("463ac35c9f6413ad48485a3953bb6124")
        );
        let w3c_first = Propagators::parse("tracecontext,b3").0;
        assert_eq!(
            trace_of(&w3c_first, &[W3C, B3]).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            trace_of(&w3c_first, &[("traceparent", "garbage"), B3]).as_deref(),
            Some("80f198ee56343ba864fe8b2a57d3eff7"),
            "an invalid traceparent falls through to B3"
        );
        assert_eq!(
            trace_of(&Propagators::default(), &[B3, JAEGER]),
            None,
            "formats not configured are not read"
        );
        assert_eq!(trace_of(&Propagators::none(), &[W3C]), None);
    }

    #[test]
    fn otel_propagators_names() {
        let (parsed, unknown) = Propagators::parse(" TraceContext ,baggage,b3, B3MULTI,jaeger,b3");
        assert_eq!(
            parsed.formats(),
            [
                Format::TraceContext,
                Format::Baggage,
                Format::B3,
                Format::B3Multi,
                Format::Jaeger
            ]
        );
        assert!(unknown.is_empty());
        let (none, unknown) = Propagators::parse("none");
        assert_eq!(none, Propagators::none());
        assert!(unknown.is_empty());
        let (_, unknown) = Propagators::parse("xray,ottrace");
        assert_eq!(
            unknown,
            [
                UnknownFormat("xray".to_owned()),
                UnknownFormat("ottrace".to_owned())
            ]
        );
    }

    #[test]
    fn inject_writes_every_format_and_each_reads_back() {
        let all = Propagators::parse("tracecontext,baggage,b3,b3multi,jaeger").0;
        let incoming = all.extract(&headers(&[W3C, ("baggage", "tenant=acme")]));
        let context = incoming.context.expect("a parent");
        let mut outgoing = HeaderMap::new();
        all.inject(&context, &incoming.baggage, &mut outgoing);
        for name in [
            "traceparent",
            "baggage",
            "b3",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-b3-sampled",
            "uber-trace-id",
        ] {
            assert!(outgoing.contains_key(name), "{name}: {outgoing:?}");
        }
        for format in Format::ALL.into_iter().filter(|f| *f != Format::Baggage) {
            let one = Propagators::new([format, Format::Baggage]);
            let back = one.extract(&outgoing);
            let parent = back.context.unwrap_or_else(|| panic!("{format:?}"));
            assert_eq!(parent.trace_id(), context.trace_id(), "{format:?}");
            assert_eq!(parent.span_id(), context.span_id(), "{format:?}");
            assert_eq!(parent.is_sampled(), context.is_sampled(), "{format:?}");
            assert_eq!(back.baggage.get("tenant"), Some("acme"), "{format:?}");
        }
        let mut emptied = outgoing.clone();
        all.inject(&context, &Baggage::new(), &mut emptied);
        assert!(!emptied.contains_key("baggage"), "stale baggage is removed");
    }

    #[test]
    fn baggage_from_several_headers_and_from_jaeger() {
        let propagators = Propagators::parse("tracecontext,baggage,jaeger").0;
        let extracted = propagators.extract(&headers(&[
            ("baggage", "a=1"),
            ("baggage", "b=2,bad member"),
            ("uberctx-c", "3"),
        ]));
        let pairs: Vec<_> = extracted.baggage.iter().collect();
        assert_eq!(pairs, [("a", "1"), ("b", "2"), ("c", "3")]);
        assert!(propagators.carries_context(&headers(&[("uberctx-c", "3")])));
        assert!(!Propagators::default().carries_context(&headers(&[B3])));
    }
}
