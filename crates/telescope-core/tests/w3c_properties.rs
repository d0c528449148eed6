//! Property tests for the W3C Trace Context codec: whatever we write parses back to the same
//! value, and no input, however broken, makes a parser panic.

use proptest::prelude::*;
use telescope_core::{SpanId, TraceFlags, TraceId, TraceParent, TraceState, MAX_HEADER_LEN};

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_*/-]{0,20}",
        "[a-z0-9][a-z0-9_*/-]{0,10}@[a-z][a-z0-9_*/-]{0,13}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    "[!-+\\--<>-~ ]{0,40}[!-+\\--<>-~]"
}

proptest! {
    #[test]
    fn ids_round_trip(high in any::<u128>(), low in 1u64..) {
        let trace = TraceId::from_u128(high);
        let span = SpanId::from_u64(low);
        prop_assert_eq!(span.to_string().parse::<SpanId>(), Ok(span));
        if trace.is_valid() {
            prop_assert_eq!(trace.to_string().parse::<TraceId>(), Ok(trace));
        } else {
            prop_assert!(trace.to_string().parse::<TraceId>().is_err());
        }
    }

    #[test]
    fn traceparent_round_trips(trace in 1u128.., span in 1u64.., flags in 0u8..4) {
        let parent = TraceParent {
            version: 0,
            trace_id: TraceId::from_u128(trace),
            parent_id: SpanId::from_u64(span),
            flags: TraceFlags::from_u8(flags),
        };
        let text = parent.to_string();
        prop_assert_eq!(text.len(), 55);
        prop_assert_eq!(TraceParent::parse(&text), Ok(parent));
    }

    #[test]
    fn traceparent_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = TraceParent::parse(&text);
    }

    #[test]
    fn traceparent_never_panics_on_near_misses(
        text in "[0-9a-fA-F-]{50,60}",
    ) {
        if let Ok(parsed) = TraceParent::parse(&text) {
            prop_assert!(parsed.trace_id.is_valid() && parsed.parent_id.is_valid());
            prop_assert_ne!(parsed.version, 0xff);
        }
    }

    #[test]
    fn tracestate_round_trips(members in proptest::collection::btree_map(key(), value(), 0..12)) {
        let header: Vec<String> = members.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let state = TraceState::from_header(&header.join(" , ")).expect("valid members");
        prop_assert!(state.header().len() <= MAX_HEADER_LEN);
        let reparsed = TraceState::from_header(state.header()).expect("canonical form parses");
        prop_assert_eq!(&reparsed, &state);
        if header.join(",").len() <= MAX_HEADER_LEN {
            prop_assert_eq!(state.len(), members.len());
            for (k, v) in &members {
                prop_assert_eq!(state.get(k), Some(v.as_str()));
            }
        }
    }

    #[test]
    fn tracestate_never_panics(text in "\\PC{0,600}") {
        if let Ok(state) = TraceState::from_header(&text) {
            prop_assert!(state.header().len() <= MAX_HEADER_LEN);
        }
    }
}
