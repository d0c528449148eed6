//! Trace and span ids as the B3 and Jaeger headers write them: lowercase hex, trace ids of 64
//! or 128 bits (widened with leading zeros), never all zeros.

use telescope_core::{SpanId, TraceId};

fn lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A trace id of exactly 16 or 32 lowercase hex digits.
pub(crate) fn trace_id(text: &str) -> Result<TraceId, String> {
    if !(text.len() == 16 || text.len() == 32) || !lower_hex(text) {
        return Err(format!(
            "trace id {text:?} is not 16 or 32 lowercase hex digits"
        ));
    }
    variable_trace_id(text)
}

/// A span id of exactly 16 lowercase hex digits.
pub(crate) fn span_id(text: &str) -> Result<SpanId, String> {
    if text.len() != 16 || !lower_hex(text) {
        return Err(format!("span id {text:?} is not 16 lowercase hex digits"));
    }
    variable_span_id(text)
}

/// A trace id of 1 to 32 hex digits, either case (Jaeger drops leading zeros).
pub(crate) fn variable_trace_id(text: &str) -> Result<TraceId, String> {
    let valid = (1..=32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit());
    match u128::from_str_radix(text, 16) {
        Ok(value) if valid && value != 0 => Ok(TraceId::from_u128(value)),
        _ => Err(format!(
            "trace id {text:?} is not non-zero hex of at most 32 digits"
        )),
    }
}

/// A span id of 1 to 16 hex digits, either case.
pub(crate) fn variable_span_id(text: &str) -> Result<SpanId, String> {
    let valid = (1..=16).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit());
    match u64::from_str_radix(text, 16) {
        Ok(value) if valid && value != 0 => Ok(SpanId::from_u64(value)),
        _ => Err(format!(
            "span id {text:?} is not non-zero hex of at most 16 digits"
        )),
    }
}
