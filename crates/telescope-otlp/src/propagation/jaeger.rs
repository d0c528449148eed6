//! Jaeger's `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}` header and its
//! `uberctx-{key}` baggage headers, as Jaeger's client libraries wrote them
//! (<https://www.jaegertracing.io/docs/1.21/client-libraries/#propagation-format>).
//!
//! Ids are hex of up to 32 (trace) and 16 (span) digits, leading zeros optional; the value may
//! be URL-encoded (`%3A` for `:`), as some HTTP stacks do. Flags are a hex byte: bit 1 sampled,
//! bit 2 debug (also sampled). The parent span id is deprecated: checked, then ignored.

use http::{HeaderMap, HeaderValue};
use telescope_core::{TraceFlags, TraceParent};

use super::hex_id::{variable_span_id, variable_trace_id};

/// The header's name.
pub(crate) const HEADER: &str = "uber-trace-id";
/// The prefix of baggage headers.
pub(crate) const BAGGAGE_PREFIX: &str = "uberctx-";

/// Parses an `uber-trace-id` value.
pub(crate) fn parse(value: &str) -> Result<TraceParent, String> {
    let decoded = value.trim().replace("%3A", ":").replace("%3a", ":");
    let parts: Vec<&str> = decoded.split(':').collect();
    let [trace, span, parent_id, flags] = parts.as_slice() else {
        return Err("expected {trace-id}:{span-id}:{parent-span-id}:{flags}".to_owned());
    };
    if *parent_id != "0" {
        variable_span_id(parent_id)?;
    }
    let flags = match u8::from_str_radix(flags, 16) {
        Ok(bits) if (1..=2).contains(&flags.len()) => bits,
        _ => return Err(format!("flags {flags:?} are not a hex byte")),
    };
    Ok(TraceParent {
        version: 0,
        trace_id: variable_trace_id(trace)?,
        parent_id: variable_span_id(span)?,
        flags: TraceFlags::NONE.with_sampled(flags & 0b11 != 0),
    })
}

/// Writes the header.
pub(crate) fn inject(parent: &TraceParent, headers: &mut HeaderMap) {
    let flags = if parent.flags.is_sampled() { 1 } else { 0 };
    let value = format!("{}:{}:0:{flags}", parent.trace_id, parent.parent_id);
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(HEADER, value);
    }
}

/// The `uberctx-{key}: value` pairs (values URL-decoded where they decode as UTF-8).
pub(crate) fn baggage(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let key = name.as_str().strip_prefix(BAGGAGE_PREFIX)?;
            let value = value.to_str().ok()?;
            let decoded = super::url_decode(value).unwrap_or_else(|| value.to_owned());
            Some((key.to_owned(), decoded))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_jaeger_clients() {
        let parent = parse("abcdef0123456789:1234567890abcdef:0:1").expect("valid");
        assert_eq!(
            parent.trace_id.to_string(),
            "0000000000000000abcdef0123456789"
        );
        assert_eq!(parent.parent_id.to_string(), "1234567890abcdef");
        assert!(parent.flags.is_sampled());

        let short = parse("a2fb4a1d1a96d312:51:a2fb4a1d1a96d312:0").expect("valid");
        assert_eq!(short.parent_id.to_string(), "0000000000000051");
        assert!(!short.flags.is_sampled());

        let encoded = parse("463ac35c9f6413ad48485a3953bb6124%3A0020000000000001%3A0%3A03")
            .expect("URL-encoded is accepted");
        assert_eq!(
            encoded.trace_id.to_string(),
            "463ac35c9f6413ad48485a3953bb6124"
        );
        assert!(encoded.flags.is_sampled(), "debug (2) | sampled (1)");
        assert!(
            parse("1:2:0:2").expect("valid").flags.is_sampled(),
            "debug alone"
        );
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for bad in [
            "",
            "1:2:0",
            "1:2:0:1:5",
            "0:2:0:1",
            "1:0:0:1",
            "x:2:0:1",
            "1:2:0:zz",
            "1:2:0:123",
            "1:2:q:1",
            "123456789012345678901234567890123:2:0:1",
            "1:12345678901234567:0:1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn injected_headers_parse_back() {
        let parent = parse("463ac35c9f6413ad48485a3953bb6124:a2fb4a1d1a96d312:0:1").expect("valid");
        let mut headers = HeaderMap::new();
        inject(&parent, &mut headers);
        assert_eq!(
            headers[HEADER],
            "463ac35c9f6413ad48485a3953bb6124:a2fb4a1d1a96d312:0:1"
        );
        assert_eq!(parse(headers[HEADER].to_str().expect("ascii")), Ok(parent));
    }

    #[test]
    fn baggage_headers_are_read_and_decoded() {
        let mut headers = HeaderMap::new();
        headers.insert("uberctx-tenant", HeaderValue::from_static("acme%20corp"));
        headers.insert("uberctx-tier", HeaderValue::from_static("gold"));
        headers.insert("x-other", HeaderValue::from_static("no"));
        let mut pairs = baggage(&headers);
        pairs.sort();
        assert_eq!(
            pairs,
            [
                ("tenant".to_owned(), "acme corp".to_owned()),
                ("tier".to_owned(), "gold".to_owned())
            ]
        );
    }
}
