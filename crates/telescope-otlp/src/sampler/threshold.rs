//! OpenTelemetry consistent probability sampling: a 56-bit threshold `T` compared with 56 bits
//! of randomness `R` from the trace id; sampled when `R >= T`; `T` travels in
//! `tracestate` as `ot=th:<hex>` so that anyone downstream knows the probability.

use std::cell::RefCell;

use telescope_core::{TraceId, TraceState};

/// `2^56`: the size of the randomness space.
pub const MAX_THRESHOLD: u64 = 1 << 56;

/// The threshold for sampling probability `p` (clamped to `[0, 1]`): `2^56 - round(p * 2^56)`
/// (computed on the probability side, where an `f64` keeps every digit that matters).
/// `0` samples everything; [`MAX_THRESHOLD`] samples nothing.
pub fn threshold_for(probability: f64) -> u64 {
    let p = if probability.is_nan() {
        0.0
    } else {
        probability.clamp(0.0, 1.0)
    };
    MAX_THRESHOLD - ((p * MAX_THRESHOLD as f64).round() as u64).min(MAX_THRESHOLD)
}

/// The probability a threshold stands for.
pub fn probability_of(threshold: u64) -> f64 {
    (MAX_THRESHOLD - threshold.min(MAX_THRESHOLD)) as f64 / MAX_THRESHOLD as f64
}

/// The randomness of a trace: the explicit `rv` in the `ot` tracestate entry when present,
/// else the trace id's rightmost 56 bits (random by the W3C Level 2 `random` flag, and with
/// our own ids).
pub fn randomness(trace_id: TraceId, trace_state: &TraceState) -> u64 {
    ot_value(trace_state, "rv")
        .and_then(|rv| u64::from_str_radix(rv, 16).ok().filter(|_| rv.len() == 14))
        .unwrap_or_else(|| (trace_id.to_u128() as u64) & (MAX_THRESHOLD - 1))
}

/// Whether a trace with this randomness is sampled at `threshold`.
pub fn is_sampled(randomness: u64, threshold: u64) -> bool {
    threshold < MAX_THRESHOLD && randomness >= threshold
}

/// `th` as written: up to 14 lowercase hex digits, trailing zeros removed (`0` for always).
pub fn encode_threshold(threshold: u64) -> String {
    ThresholdText::new(threshold).value().to_owned()
}

/// The `th:<hex>` sub-value of a threshold, formatted on the stack: deciding a span must not
/// allocate to compare it with the parent's.
struct ThresholdText {
    bytes: [u8; 17],
    len: usize,
}

impl ThresholdText {
    fn new(threshold: u64) -> Self {
        let mut bytes = *b"th:00000000000000";
        let threshold = threshold.min(MAX_THRESHOLD - 1);
        for (index, byte) in bytes[3..].iter_mut().enumerate() {
            let shift = 4 * (13 - index);
            *byte = telescope_core::hex::digit((threshold >> shift) as u8);
        }
        // Trailing zeros are dropped, but one digit always stays (`th:0`).
        let digits = bytes[3..]
            .iter()
            .rposition(|b| *b != b'0')
            .map_or(1, |last| last + 1);
        Self {
            bytes,
            len: 3 + digits,
        }
    }

    /// `th:<hex>`.
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("th:0")
    }

    /// `<hex>`.
    fn value(&self) -> &str {
        &self.as_str()[3..]
    }
}

/// Parses `th` (1 to 14 hex digits, right-padded with zeros).
pub fn decode_threshold(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 14 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{text:0<14}");
    u64::from_str_radix(&padded, 16).ok()
}

/// The sub-value `key` of the `ot` tracestate entry (`ot=th:c;rv:…`).
pub fn ot_value<'a>(trace_state: &'a TraceState, key: &str) -> Option<&'a str> {
    trace_state.get("ot")?.split(';').find_map(|part| {
        part.split_once(':')
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
    })
}

/// `trace_state` with `ot=th:<threshold>` set (other `ot` sub-values kept), or with `th`
/// removed when `threshold` is `None` (an unsampled or unknown-probability decision).
pub fn with_threshold(trace_state: &TraceState, threshold: Option<u64>) -> TraceState {
    // The common cases share the tracestate they are given or a cached one (a reference
    // count), since this runs for every span: a child decided at its parent's threshold, a
    // root with no tracestate, a decision without a threshold where there is none to remove.
    match threshold {
        Some(threshold) => {
            let text = ThresholdText::new(threshold);
            let first = trace_state.members().next();
            if first == Some(("ot", text.as_str())) {
                return trace_state.clone();
            }
            if first.is_none() {
                return root_trace_state(threshold, &text);
            }
        }
        None if trace_state.get("ot").is_none() => return trace_state.clone(),
        None => {}
    }
    let others: Vec<&str> = trace_state
        .get("ot")
        .map(|ot| {
            ot.split(';')
                .filter(|part| !part.starts_with("th:") && !part.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut parts: Vec<String> = threshold
        .map(|t| format!("th:{}", encode_threshold(t)))
        .into_iter()
        .collect();
    parts.extend(others.iter().map(|p| (*p).to_owned()));
    if parts.is_empty() {
        return trace_state.remove("ot");
    }
    // The value grammar is simple ASCII; a malformed old `ot` is replaced by ours.
    trace_state
        .insert("ot", &parts.join(";"))
        .unwrap_or_else(|_| trace_state.remove("ot"))
}

/// How many root tracestates (`ot=th:<hex>` alone) each thread keeps built: a fixed sampler
/// needs one, the adaptive sampler one per threshold it is using.
const CACHED_ROOT_STATES: usize = 8;

/// Recently built root tracestates by threshold, and where the next one goes.
type RootStates = ([Option<(u64, TraceState)>; CACHED_ROOT_STATES], usize);

thread_local! {
    static ROOT_STATES: RefCell<RootStates> =
        const { RefCell::new(([const { None }; CACHED_ROOT_STATES], 0)) };
}

/// `ot=th:<threshold>` alone, built once per thread and threshold.
fn root_trace_state(threshold: u64, text: &ThresholdText) -> TraceState {
    let build = || {
        TraceState::EMPTY
            .insert("ot", text.as_str())
            .unwrap_or_default()
    };
    ROOT_STATES
        .try_with(|cache| {
            let (entries, next) = &mut *cache.borrow_mut();
            if let Some((_, state)) = entries.iter().flatten().find(|(t, _)| *t == threshold) {
                return state.clone();
            }
            let state = build();
            entries[*next % CACHED_ROOT_STATES] = Some((threshold, state.clone()));
            *next = next.wrapping_add(1);
            state
        })
        .unwrap_or_else(|_| build())
}

/// The adjusted count a sampled span with this threshold represents: `2^56 / (2^56 - T)`.
pub fn adjusted_count(threshold: u64) -> f64 {
    MAX_THRESHOLD as f64 / (MAX_THRESHOLD - threshold.min(MAX_THRESHOLD - 1)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_spec_examples() {
        assert_eq!(encode_threshold(threshold_for(1.0)), "0");
        assert_eq!(encode_threshold(threshold_for(0.5)), "8");
        assert_eq!(encode_threshold(threshold_for(0.25)), "c");
        assert_eq!(encode_threshold(threshold_for(0.01)), "fd70a3d70a3d71");
        assert_eq!(decode_threshold("8"), Some(MAX_THRESHOLD / 2));
        assert_eq!(decode_threshold("c"), Some(3 * MAX_THRESHOLD / 4));
        assert_eq!(
            decode_threshold("123456789abcdef"),
            None,
            "at most 14 digits"
        );
        assert_eq!(decode_threshold("xyz"), None);
        assert!((adjusted_count(threshold_for(0.25)) - 4.0).abs() < 1e-9);
    }

    #[test]
    fn the_decision_is_consistent_across_thresholds() {
        let state = TraceState::EMPTY;
        for id in 1..2000u128 {
            let trace =
                TraceId::from_u128(id.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834));
            let r = randomness(trace, &state);
            // Sampled at a lower probability implies sampled at every higher one.
            if is_sampled(r, threshold_for(0.1)) {
                assert!(is_sampled(r, threshold_for(0.5)));
            }
        }
        assert!(is_sampled(0, 0), "probability 1 samples everything");
        assert!(
            !is_sampled(MAX_THRESHOLD - 1, MAX_THRESHOLD),
            "probability 0 samples nothing"
        );
    }

    #[test]
    fn tracestate_keeps_other_ot_values_and_vendors() {
        let state = TraceState::from_header("ot=rv:0123456789abcd;th:0,vendor=x").expect("valid");
        assert_eq!(
            randomness(TraceId::from_u128(1), &state),
            0x0001_2345_6789_abcd
        );
        let updated = with_threshold(&state, Some(threshold_for(0.5)));
        assert_eq!(updated.get("ot"), Some("th:8;rv:0123456789abcd"));
        assert_eq!(updated.get("vendor"), Some("x"));
        assert_eq!(
            with_threshold(&updated, None).get("ot"),
            Some("rv:0123456789abcd")
        );
        assert_eq!(with_threshold(&TraceState::EMPTY, None), TraceState::EMPTY);
    }

    #[test]
    fn shared_tracestates_are_the_ones_the_spec_asks_for() {
        let half = threshold_for(0.5);
        // A root: `ot=th` alone, the same for every root at that threshold.
        let root = with_threshold(&TraceState::EMPTY, Some(half));
        assert_eq!(root.header(), "ot=th:8");
        assert_eq!(with_threshold(&TraceState::EMPTY, Some(half)), root);
        assert_eq!(
            with_threshold(&TraceState::EMPTY, Some(0)).header(),
            "ot=th:0"
        );
        // A child at its parent's threshold keeps the parent's tracestate.
        let parent = TraceState::from_header("ot=th:8,vendor=x").expect("valid");
        assert_eq!(with_threshold(&parent, Some(half)), parent);
        // The same `ot` entry, but not first: it moves to the front, as an update must.
        let behind = TraceState::from_header("vendor=x,ot=th:8").expect("valid");
        assert_eq!(
            with_threshold(&behind, Some(half)).header(),
            "ot=th:8,vendor=x"
        );
        // A different threshold replaces the old one.
        assert_eq!(
            with_threshold(&parent, Some(0)).header(),
            "ot=th:0,vendor=x"
        );
        // No threshold and no `ot` entry: unchanged.
        let vendor_only = TraceState::from_header("vendor=x").expect("valid");
        assert_eq!(with_threshold(&vendor_only, None), vendor_only);
        assert_eq!(with_threshold(&parent, None).header(), "vendor=x");
    }

    #[test]
    fn thresholds_are_written_like_the_spec_writes_them() {
        for (threshold, text) in [
            (0, "0"),
            (threshold_for(0.5), "8"),
            (threshold_for(0.25), "c"),
            (threshold_for(0.01), "fd70a3d70a3d71"),
            (1, "00000000000001"),
            (MAX_THRESHOLD - 1, "ffffffffffffff"),
        ] {
            assert_eq!(encode_threshold(threshold), text);
            assert_eq!(decode_threshold(text), Some(threshold));
        }
    }
}
