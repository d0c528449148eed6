//! Trace context and baggage over `http::HeaderMap`, in the formats the ecosystem uses: W3C
//! Trace Context and Baggage, Zipkin's B3 (single and multiple headers) and Jaeger, chosen
//! with [`Propagators`] (`OTEL_PROPAGATORS`). A malformed header of any format is ignored
//! (a new trace starts, or the next format is tried) and counted in
//! `telescope_propagation_invalid_total{header}`; it never panics.

mod b3;
mod formats;
mod hex_id;
mod jaeger;

use std::cell::RefCell;

use http::{HeaderMap, HeaderValue};
use telescope_core::{Baggage, SpanContext, TraceParent, TraceState};

pub use formats::{global, set_global, Extracted, Format, Propagators, UnknownFormat};

/// Why no remote parent came from the headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// No `traceparent` header.
    #[error("no traceparent header")]
    Missing,
    /// `traceparent` is malformed (or repeated): a new trace should start.
    #[error("invalid traceparent header: {0}")]
    Invalid(String),
}

/// Decodes `%XX` escapes (Jaeger's URL-encoded values).
fn url_decode(text: &str) -> Option<String> {
    telescope_core::key_values::percent_decode(text)
}

fn count_invalid(header: &'static str) {
    metrics::counter!("telescope_propagation_invalid_total", "header" => header).increment(1);
}

/// The W3C Trace Context remote parent in `headers` (see [`Propagators::extract`] for every
/// configured format). An invalid `tracestate` is dropped (counted) and the `traceparent`
/// kept, as the spec says; several `tracestate` lines are joined.
///
/// # Errors
/// [`ExtractError::Missing`] without `traceparent`; [`ExtractError::Invalid`] (counted) for a
/// malformed or repeated one.
pub fn extract(headers: &HeaderMap) -> Result<SpanContext, ExtractError> {
    let mut traceparents = headers.get_all("traceparent").iter();
    let Some(first) = traceparents.next() else {
        return Err(ExtractError::Missing);
    };
    if traceparents.next().is_some() {
        count_invalid("traceparent");
        return Err(ExtractError::Invalid(
            "more than one traceparent".to_owned(),
        ));
    }
    let parsed = first
        .to_str()
        .map_err(|_| "not visible ASCII".to_owned())
        .and_then(|text| TraceParent::parse(text).map_err(|e| e.to_string()));
    let parent = match parsed {
        Ok(parent) => parent,
        Err(reason) => {
            count_invalid("traceparent");
            return Err(ExtractError::Invalid(reason));
        }
    };
    let joined: Vec<&str> = headers
        .get_all("tracestate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let state = match TraceState::from_header(&joined.join(",")) {
        Ok(state) => state,
        Err(_) => {
            count_invalid("tracestate");
            TraceState::EMPTY
        }
    };
    Ok(SpanContext::remote(parent, state))
}

/// Writes `context` as `traceparent` (and `tracestate` when not empty) into `headers` (see
/// [`Propagators::inject`] for every configured format).
pub fn inject(context: &SpanContext, headers: &mut HeaderMap) {
    let traceparent = context.traceparent().to_bytes();
    if let Ok(value) = HeaderValue::from_bytes(&traceparent) {
        headers.insert("traceparent", value);
    }
    headers.remove("tracestate");
    if !context.trace_state().is_empty() {
        if let Ok(value) = HeaderValue::from_str(context.trace_state().header()) {
            headers.insert("tracestate", value);
        }
    }
}

/// Injects the current span's context and baggage in every format of the [`global`]
/// propagators; returns whether there was a context.
pub fn inject_current(headers: &mut HeaderMap) -> bool {
    match telescope_core::current_context() {
        Some(context) => {
            global().inject(&context, &Baggage::current(), headers);
            true
        }
        None => false,
    }
}

thread_local! {
    static REMOTE_PARENT: RefCell<Option<Extracted>> = const { RefCell::new(None) };
}

/// Makes the context in `headers` (read by the [`global`] propagators) the parent of the next
/// root span created on this thread while the guard lives, and the baggage in them that
/// span's baggage; an invalid or missing header leaves the span a new trace.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// let _parent = telescope_otlp::propagation::remote_parent(&headers);
/// // let span = tracing::info_span!("GET /orders"); // continues trace 4bf92f35…
/// ```
pub fn remote_parent(headers: &HeaderMap) -> RemoteParentGuard {
    let previous = REMOTE_PARENT.with(|slot| slot.replace(Some(global().extract(headers))));
    RemoteParentGuard { previous }
}

/// Restores the previous remote parent when dropped; see [`remote_parent`].
#[derive(Debug)]
#[must_use = "the remote parent applies only while the guard lives"]
pub struct RemoteParentGuard {
    previous: Option<Extracted>,
}

impl Drop for RemoteParentGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        REMOTE_PARENT.with(|slot| *slot.borrow_mut() = previous);
    }
}

/// The pending remote parent and baggage for a root span on this thread, consumed.
pub(crate) fn take_remote_parent() -> Option<Extracted> {
    REMOTE_PARENT
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten()
}
