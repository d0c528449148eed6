//! The reservoirs fed span by span, as the ring feeds them.

use std::sync::Arc;

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::trace::SpanData;
use proptest::prelude::*;

use super::*;

fn trace_id(trace: u64) -> TraceId {
    let mut bytes = [0x11; 16];
    bytes[8..].copy_from_slice(&trace.to_be_bytes());
    TraceId::from_bytes(bytes)
}

fn span_id(id: u64) -> SpanId {
    SpanId::from_bytes((id + 1).to_be_bytes())
}

/// A span `id` of trace `trace` under `parent` (none: a root), from `start_ms` to `end_ms`;
/// named `op-<trace % 3>` when a root, `child` otherwise.
pub(crate) fn span_in(
    trace: u64,
    id: u64,
    parent: Option<u64>,
    start_ms: u64,
    end_ms: u64,
) -> SpanData {
    let name = if parent.is_none() {
        format!("op-{}", trace % 3)
    } else {
        "child".to_owned()
    };
    telescope_test_support::span_data::finished_span(
        trace_id(trace).to_bytes(),
        span_id(id).to_bytes(),
        parent.map(|p| span_id(p).to_bytes()),
        name,
        start_ms,
        end_ms,
    )
}

/// [`span_in`] with small numbers.
pub(crate) fn span(trace: u8, id: u8, parent: Option<u8>, start_ms: u64, end_ms: u64) -> SpanData {
    span_in(
        trace.into(),
        id.into(),
        parent.map(u64::from),
        start_ms,
        end_ms,
    )
}

fn failing(mut span: SpanData) -> SpanData {
    span.status = Status::error("declined");
    span
}

fn named(mut span: SpanData, name: &str) -> SpanData {
    span.name = name.to_owned().into();
    span
}

/// Feeds `spans` in order; returns how many spans were let go.
fn feed(retained: &mut Retained, spans: impl IntoIterator<Item = SpanData>) -> usize {
    let mut freed = Vec::new();
    for span in spans {
        retained.offer(&Arc::new(span), &mut freed);
    }
    freed.len()
}

/// A two-span trace (a child, then its root) starting at `start_ms`, taking `ms`.
fn quick_trace(trace: u64, start_ms: u64, ms: u64) -> [SpanData; 2] {
    [
        span_in(trace, 1, Some(0), start_ms, start_ms + ms),
        span_in(trace, 0, None, start_ms, start_ms + ms),
    ]
}

fn kept_ids(retained: &Retained) -> Vec<TraceId> {
    let mut ids: Vec<TraceId> = retained.retained().iter().map(|t| t.trace_id).collect();
    ids.sort_by_key(|id| id.to_bytes());
    ids
}

#[test]
fn an_error_trace_outlives_a_hundred_thousand_later_spans() {
    let mut retained = Retained::new(TraceRetention::default());
    feed(
        &mut retained,
        [
            span_in(0, 1, Some(0), 0, 5),
            failing(span_in(0, 2, Some(0), 5, 9)),
            span_in(0, 0, None, 0, 10),
        ],
    );
    // 50,000 two-span traces over the next minutes, all quick and fine.
    for trace in 1..=50_000 {
        feed(&mut retained, quick_trace(trace, 10 + trace * 10, 1));
    }
    let kept = retained.get(trace_id(0)).expect("the error trace is kept");
    assert!(kept.reasons.error);
    assert_eq!(kept.spans.len(), 3, "whole: both children and the root");
    assert_eq!(&*kept.operation, "op-0");
    let stats = retained.stats();
    assert!(stats.bytes <= stats.max_bytes);
    // Slowest per operation are bounded: 3 operations × 20, plus the error trace.
    assert!(stats.kept_traces <= 61, "{stats:?}");
}

#[test]
fn the_slowest_stay_for_the_window_then_go() {
    let mut retained = Retained::new(TraceRetention::default().slowest_per_operation(2));
    feed(&mut retained, quick_trace(3, 0, 900));
    for trace in 4..5_000u64 {
        // op-0, op-1, op-2 in turn; op-0 traces are 3, 6, 9, ...
        feed(&mut retained, quick_trace(trace, trace * 10, 1 + trace % 7));
    }
    let kept = retained.get(trace_id(3)).expect("the slow trace is kept");
    assert!(kept.reasons.slow && !kept.reasons.error);
    // Within the window, 14 minutes later, a faster trace of op-0 does not replace it.
    feed(&mut retained, quick_trace(6_000, 14 * 60_000, 5));
    assert!(retained.get(trace_id(3)).is_some());
    // 16 minutes after it finished, it is out of the window.
    feed(&mut retained, quick_trace(6_003, 16 * 60_000, 5));
    assert!(retained.get(trace_id(3)).is_none());
    assert!(
        retained.get(trace_id(6_003)).is_some(),
        "the newest is kept"
    );
}

#[test]
fn spans_finishing_after_their_root_join_the_kept_trace() {
    let mut retained = Retained::new(TraceRetention::default().slowest_per_operation(0));
    feed(
        &mut retained,
        [
            span_in(7, 1, Some(0), 0, 3),
            failing(span_in(7, 0, None, 0, 4)),
            // A child outliving its parent (a detached task), arriving later.
            span_in(7, 2, Some(0), 2, 50),
            span_in(7, 3, Some(2), 40, 49),
        ],
    );
    let kept = retained.get(trace_id(7)).expect("kept");
    assert_eq!(kept.spans.len(), 4);
    // A late span of a trace that was not kept is not held anywhere.
    feed(&mut retained, quick_trace(8, 0, 1));
    let before = retained.stats();
    feed(&mut retained, [span_in(8, 2, Some(0), 0, 90)]);
    let stats = retained.stats();
    assert_eq!(
        (stats.pending_traces, stats.bytes),
        (before.pending_traces, before.bytes)
    );
}

#[test]
fn errors_are_the_last_kept_ones_per_operation() {
    let mut retained = Retained::new(TraceRetention::default().errors_per_operation(3));
    for trace in 0..10 {
        feed(
            &mut retained,
            [failing(named(
                span_in(trace, 0, None, trace, trace + 1),
                "pay",
            ))],
        );
    }
    let errors: Vec<TraceId> = retained
        .retained()
        .into_iter()
        .filter(|t| t.reasons.error)
        .map(|t| t.trace_id)
        .collect();
    let mut expected = vec![trace_id(7), trace_id(8), trace_id(9)];
    let mut errors = errors;
    errors.sort_by_key(|id| id.to_bytes());
    expected.sort_by_key(|id| id.to_bytes());
    assert_eq!(errors, expected);
}

#[test]
fn operations_past_the_limit_share_one_reservoir() {
    let mut retained = Retained::new(
        TraceRetention::default()
            .max_operations(2)
            .errors_per_operation(1)
            .slowest_per_operation(0),
    );
    for trace in 0..50 {
        let name = format!("GET /users/{trace}");
        feed(
            &mut retained,
            [failing(named(span_in(trace, 0, None, 0, 1), &name))],
        );
    }
    let stats = retained.stats();
    // Two of their own, and the shared one.
    assert_eq!(stats.operations, 3);
    assert_eq!(stats.kept_traces, 3);
    let other = retained
        .retained()
        .into_iter()
        .find(|t| &*t.operation == OTHER_OPERATIONS)
        .expect("the shared reservoir");
    assert_eq!(other.trace_id, trace_id(49));
}

#[test]
fn the_trace_of_each_exemplar_slot_is_kept_until_a_newer_one_takes_the_slot() {
    let mut retained = Retained::new(
        TraceRetention::default()
            .errors_per_operation(0)
            .slowest_per_operation(0),
    );
    let pin =
        |trace: u64, id: u64| pin_exemplar(trace_id(trace).to_bytes(), span_id(id).to_bytes());
    // Trace numbers of their own: the pins are process-wide.
    let (a, b, c) = (9_000_001, 9_000_002, 9_000_003);
    pin(a, 1);
    feed(&mut retained, quick_trace(a, 0, 30));
    assert!(retained
        .get(trace_id(a))
        .is_some_and(|t| t.reasons.exemplar));
    // Another bucket (3 ms: le=0.005): both kept.
    pin(b, 1);
    feed(&mut retained, quick_trace(b, 100, 3));
    assert_eq!(kept_ids(&retained).len(), 2);
    // The same slot as `a` (child, ok, 30 ms): `a` goes.
    pin(c, 1);
    feed(&mut retained, quick_trace(c, 200, 40));
    assert_eq!(kept_ids(&retained), {
        let mut ids = vec![trace_id(b), trace_id(c)];
        ids.sort_by_key(|id| id.to_bytes());
        ids
    });
    // An unpinned trace is not kept.
    feed(&mut retained, quick_trace(9_000_004, 300, 40));
    assert!(retained.get(trace_id(9_000_004)).is_none());
}

#[test]
fn off_keeps_nothing() {
    let mut retained = Retained::new(TraceRetention::off());
    feed(&mut retained, [failing(span_in(1, 0, None, 0, 1))]);
    assert_eq!(retained.stats().kept_traces, 0);
    assert_eq!(retained.stats().bytes, 0);
}

#[test]
fn the_budget_lets_slow_traces_go_before_errors() {
    let mut retained = Retained::new(
        TraceRetention::default()
            .max_bytes(64 * 1024)
            .max_operations(10_000),
    );
    let one = size::span_bytes(&span_in(0, 0, None, 0, 1));
    feed(
        &mut retained,
        [failing(named(span_in(0, 0, None, 0, 1), "pay"))],
    );
    // Distinct operations, each slow trace kept for its operation, until the budget bites.
    let traces = (64 * 1024 / one) as u64 * 2;
    for trace in 1..=traces {
        let name = format!("op{trace}");
        feed(
            &mut retained,
            [named(span_in(trace, 0, None, trace, trace + 5), &name)],
        );
    }
    let stats = retained.stats();
    assert!(stats.bytes <= 48 * 1024, "{stats:?}");
    assert!(stats.evicted_traces > 0);
    assert!(retained.get(trace_id(0)).is_some(), "the error trace stays");
    assert!(
        retained.get(trace_id(1)).is_none(),
        "the oldest slow trace went"
    );
    assert!(
        retained.get(trace_id(traces)).is_some(),
        "the newest slow trace is kept"
    );
}

#[test]
fn a_huge_trace_is_cut_at_its_limit_but_keeps_its_root() {
    let mut retained = Retained::new(TraceRetention::default().max_bytes(1 << 20));
    let spans = (1..5_000).map(|id| span_in(1, id, Some(0), 0, 1));
    feed(&mut retained, spans);
    feed(&mut retained, [failing(span_in(1, 0, None, 0, 2))]);
    let kept = retained.get(trace_id(1)).expect("kept");
    assert!(kept.dropped_spans > 0);
    assert!(kept
        .spans
        .iter()
        .any(|s| s.parent_span_id == SpanId::INVALID));
    let bytes: usize = kept.spans.iter().map(|s| size::span_bytes(s)).sum();
    assert!(bytes <= (1 << 20) / 16 + size::span_bytes(&kept.spans[0]));
}

#[test]
fn unfinished_traces_are_bounded() {
    let mut retained = Retained::new(TraceRetention::default().max_bytes(256 * 1024));
    // Children whose roots never end (a leaked root span).
    for trace in 0..20_000 {
        feed(&mut retained, [span_in(trace, 1, Some(0), 0, 1)]);
    }
    let stats = retained.stats();
    assert!(stats.bytes <= 64 * 1024, "{stats:?}");
    assert!(stats.evicted_pending_traces > 0);
}

proptest! {
    /// Any stream: roots, children, late spans, failures, long and short, many operations;
    /// the bytes held never pass the budget and every kept trace has a reason.
    #[test]
    fn the_budget_always_holds(stream in proptest::collection::vec(
        (0u64..40, 0u64..6, any::<bool>(), any::<bool>(), 0u64..100_000, 0u64..5_000),
        1..400,
    ), budget in 1usize..200_000) {
        let mut retained = Retained::new(
            TraceRetention::default().max_bytes(budget).max_operations(5).errors_per_operation(2).slowest_per_operation(2),
        );
        for (trace, id, root, fail, start, length) in stream {
            let mut data = span_in(trace, id, (!root).then_some(0), start, start + length);
            if fail {
                data = failing(data);
            }
            feed(&mut retained, [data]);
            let stats = retained.stats();
            prop_assert!(stats.bytes <= budget, "{stats:?}");
            prop_assert!(stats.operations <= 6);
        }
        for trace in retained.retained() {
            prop_assert!(trace.reasons.error || trace.reasons.slow || trace.reasons.exemplar);
        }
    }
}
