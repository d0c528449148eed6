//! Zipkin's B3 headers, single (`b3: {trace}-{span}-{sampled}-{parent}`) and multiple
//! (`X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`, `X-B3-Flags`), as specified at
//! <https://github.com/openzipkin/b3-propagation>.
//!
//! Trace ids of 64 bits (16 hex digits) are widened to 128 with leading zeros, as B3 says.
//! The debug flag (`d`, `X-B3-Flags: 1`) means sampled. A sampling decision without ids
//! (`b3: 0`) carries no context to continue and is not an error. Injection writes lowercase
//! 128-bit ids and `1`/`0`.

use http::{HeaderMap, HeaderValue};
use telescope_core::{SpanId, TraceFlags, TraceId, TraceParent};

use super::hex_id::{span_id, trace_id};

/// The single header's name.
pub(crate) const SINGLE: &str = "b3";
/// The multiple headers' names.
pub(crate) const TRACE_ID: &str = "x-b3-traceid";
pub(crate) const SPAN_ID: &str = "x-b3-spanid";
pub(crate) const SAMPLED: &str = "x-b3-sampled";
pub(crate) const FLAGS: &str = "x-b3-flags";
pub(crate) const PARENT_SPAN_ID: &str = "x-b3-parentspanid";

/// What a B3 header said: a parent to continue, nothing to continue, or garbage.
pub(crate) type Parsed = Result<Option<TraceParent>, String>;

fn parent(trace: TraceId, span: SpanId, sampled: bool) -> TraceParent {
    TraceParent {
        version: 0,
        trace_id: trace,
        parent_id: span,
        flags: TraceFlags::NONE.with_sampled(sampled),
    }
}

/// `1`, `d` (debug) sampled; `0` not; absent: not sampled (the caller deferred, and we do
/// not sample children of unknown decisions upward).
fn sampling(text: &str) -> Result<bool, String> {
    match text {
        "1" | "d" => Ok(true),
        "0" => Ok(false),
        other => Err(format!("sampling state {other:?} is not 0, 1 or d")),
    }
}

/// Parses a `b3` header value.
pub(crate) fn parse_single(value: &str) -> Parsed {
    let value = value.trim();
    let parts: Vec<&str> = value.split('-').collect();
    match parts.as_slice() {
        [state] if state.len() == 1 => sampling(state).map(|_| None),
        [trace, span] => Ok(Some(parent(trace_id(trace)?, span_id(span)?, false))),
        [trace, span, state] => Ok(Some(parent(
            trace_id(trace)?,
            span_id(span)?,
            sampling(state)?,
        ))),
        [trace, span, state, parent_id] => {
            span_id(parent_id)?;
            Ok(Some(parent(
                trace_id(trace)?,
                span_id(span)?,
                sampling(state)?,
            )))
        }
        _ => Err("expected {trace}-{span}[-{sampled}[-{parent}]]".to_owned()),
    }
}

/// Reads the multiple headers (`None` when `X-B3-TraceId` is absent).
pub(crate) fn parse_multi(headers: &HeaderMap) -> Option<Parsed> {
    let text = |name: &str| -> Result<Option<&str>, String> {
        headers
            .get(name)
            .map(|value| {
                value
                    .to_str()
                    .map(str::trim)
                    .map_err(|_| format!("{name} is not visible ASCII"))
            })
            .transpose()
    };
    let trace = match text(TRACE_ID) {
        Ok(None) => return None,
        Ok(Some(trace)) => trace,
        Err(error) => return Some(Err(error)),
    };
    Some((|| {
        let span = text(SPAN_ID)?.ok_or_else(|| format!("{TRACE_ID} without {SPAN_ID}"))?;
        let debug = text(FLAGS)? == Some("1");
        let sampled = match text(SAMPLED)? {
            // Older senders wrote `true`/`false`.
            Some("1" | "true") => true,
            Some("0" | "false") | None => false,
            Some(other) => return Err(format!("{SAMPLED} {other:?} is not 0 or 1")),
        };
        if let Some(parent_id) = text(PARENT_SPAN_ID)? {
            span_id(parent_id)?;
        }
        Ok(Some(parent(
            trace_id(trace)?,
            span_id(span)?,
            sampled || debug,
        )))
    })())
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(name, value);
    }
}

/// Writes the single header.
pub(crate) fn inject_single(parent: &TraceParent, headers: &mut HeaderMap) {
    let sampled = if parent.flags.is_sampled() { "1" } else { "0" };
    insert(
        headers,
        SINGLE,
        format!("{}-{}-{sampled}", parent.trace_id, parent.parent_id),
    );
}

/// Writes the multiple headers.
pub(crate) fn inject_multi(parent: &TraceParent, headers: &mut HeaderMap) {
    insert(headers, TRACE_ID, parent.trace_id.to_string());
    insert(headers, SPAN_ID, parent.parent_id.to_string());
    let sampled = if parent.flags.is_sampled() { "1" } else { "0" };
    insert(headers, SAMPLED, sampled.to_owned());
    headers.remove(FLAGS);
    headers.remove(PARENT_SPAN_ID);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of the B3 specification's README.
    #[test]
    fn examples_of_the_specification() {
        let full =
            parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")
                .expect("valid")
                .expect("a context");
        assert_eq!(
            full.trace_id.to_string(),
            "80f198ee56343ba864fe8b2a57d3eff7"
        );
        assert_eq!(full.parent_id.to_string(), "e457b5a2e4d86bd1");
        assert!(full.flags.is_sampled());

        let short = parse_single("64fe8b2a57d3eff7-e457b5a2e4d86bd1-d")
            .expect("valid")
            .expect("a context");
        assert_eq!(
            short.trace_id.to_string(),
            "000000000000000064fe8b2a57d3eff7"
        );
        assert!(short.flags.is_sampled(), "debug means sampled");

        let deferred = parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1")
            .expect("valid")
            .expect("a context");
        assert!(!deferred.flags.is_sampled());

        assert_eq!(parse_single("0"), Ok(None), "deny: nothing to continue");
        assert_eq!(parse_single("d"), Ok(None));
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for bad in [
            "",
            "x",
            "2",
            "80f198ee56343ba864fe8b2a57d3eff7",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-2",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-xyz",
            "80F198EE56343BA864FE8B2A57D3EFF7-e457b5a2e4d86bd1-1",
            "00000000000000000000000000000000-e457b5a2e4d86bd1-1",
            "80f198ee56343ba864fe8b2a57d3eff7-0000000000000000-1",
            "80f198ee56343ba864fe8b2a57d3ef-e457b5a2e4d86bd1-1",
            "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90-extra",
        ] {
            assert!(parse_single(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn multiple_headers_round_trip() {
        let mut headers = HeaderMap::new();
        headers.insert(
            TRACE_ID,
            HeaderValue::from_static("463ac35c9f6413ad48485a3953bb6124"),
        );
        headers.insert(SPAN_ID, HeaderValue::from_static("a2fb4a1d1a96d312"));
        headers.insert(PARENT_SPAN_ID, HeaderValue::from_static("0020000000000001"));
        headers.insert(SAMPLED, HeaderValue::from_static("1"));
        let parent = parse_multi(&headers)
            .expect("present")
            .expect("valid")
            .expect("a context");
        assert_eq!(
            parent.trace_id.to_string(),
            "463ac35c9f6413ad48485a3953bb6124"
        );
        assert!(parent.flags.is_sampled());

        let mut written = HeaderMap::new();
        inject_multi(&parent, &mut written);
        assert_eq!(parse_multi(&written), Some(Ok(Some(parent))));
        let mut single = HeaderMap::new();
        inject_single(&parent, &mut single);
        assert_eq!(
            single[SINGLE],
            "463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-1"
        );
        let value = single[SINGLE].to_str().expect("ascii");
        assert_eq!(parse_single(value), Ok(Some(parent)));

        headers.insert(SAMPLED, HeaderValue::from_static("0"));
        headers.insert(FLAGS, HeaderValue::from_static("1"));
        let debug = parse_multi(&headers)
            .expect("present")
            .expect("valid")
            .expect("a context");
        assert!(debug.flags.is_sampled(), "X-B3-Flags: 1 is debug: sampled");

        headers.remove(SPAN_ID);
        assert!(parse_multi(&headers).expect("present").is_err());
        assert_eq!(parse_multi(&HeaderMap::new()), None);
    }
}
