//! A trace laid out as a waterfall: its spans in tree order (each parent before its children,
//! siblings by start time), each with its depth and its bar on the trace's common time axis,
//! and which spans lie on the path from the root to a failed span. The page and the JSON API
//! both draw from this, so they show the same geometry.

use std::time::Duration;

use opentelemetry::trace::SpanId;
use opentelemetry_sdk::trace::SpanData;
use rustc_hash::FxHashMap;

use super::traces::{duration, failed, TraceView};

/// The narrowest bar drawn, in percent, so that an instant span is still seen.
pub(crate) const MIN_BAR_WIDTH: f64 = 0.5;

/// One span's row.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    pub(crate) span: &'a SpanData,
    /// 0 for a root (or a span whose parent is not kept).
    pub(crate) depth: usize,
    /// From the trace's start to the span's.
    pub(crate) offset: Duration,
    /// The bar's left edge and width, in percent of the trace's duration.
    pub(crate) left: f64,
    pub(crate) width: f64,
    /// The span failed.
    pub(crate) error: bool,
    /// The span failed or has a failed descendant: shown expanded.
    pub(crate) error_path: bool,
    /// How many rows follow that are its children.
    pub(crate) children: usize,
}

/// The rows of `trace`, in tree order.
pub(crate) fn rows(trace: &TraceView) -> Vec<Row<'_>> {
    let spans = &trace.spans;
    let index_of: FxHashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(index, span)| (span.span_context.span_id(), index))
        .collect();
    // Children by parent index; spans are in start order, so children are too.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots: Vec<usize> = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        match index_of.get(&span.parent_span_id) {
            Some(&parent) if parent != index && span.parent_span_id != SpanId::INVALID => {
                children[parent].push(index);
            }
            _ => roots.push(index),
        }
    }
    let error_path = error_paths(spans, &children);
    let total = trace.duration.as_secs_f64();
    let mut rows = Vec::with_capacity(spans.len());
    let mut visited = vec![false; spans.len()];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    // Roots first; then any span a cycle of parents kept from every root, as a root of its own.
    let starts = roots.into_iter().chain(0..spans.len());
    for start in starts {
        if visited[start] {
            continue;
        }
        stack.push((start, 0));
        while let Some((index, depth)) = stack.pop() {
            if std::mem::replace(&mut visited[index], true) {
                continue;
            }
            let span = &*spans[index];
            let offset = span
                .start_time
                .duration_since(trace.start)
                .unwrap_or_default();
            let (left, width) =
                bar_geometry(total, offset.as_secs_f64(), duration(span).as_secs_f64());
            let unvisited: Vec<usize> = children[index]
                .iter()
                .copied()
                .filter(|child| !visited[*child])
                .collect();
            rows.push(Row {
                span,
                depth,
                offset,
                left,
                width,
                error: failed(span),
                error_path: error_path[index],
                children: unvisited.len(),
            });
            // Pushed in reverse so that the earliest child comes out first.
            stack.extend(unvisited.into_iter().rev().map(|child| (child, depth + 1)));
        }
    }
    rows
}

/// For each span, whether it or a descendant failed (a cycle of parents ends the walk).
fn error_paths(spans: &[std::sync::Arc<SpanData>], children: &[Vec<usize>]) -> Vec<bool> {
    let mut on_path: Vec<bool> = spans.iter().map(|span| failed(span)).collect();
    // Parent of each span, to walk up from every failed one.
    let mut parent: Vec<Option<usize>> = vec![None; spans.len()];
    for (index, kids) in children.iter().enumerate() {
        for &kid in kids {
            parent[kid] = Some(index);
        }
    }
    for index in 0..spans.len() {
        if !failed(&spans[index]) {
            continue;
        }
        // Stops where a path is already marked: its ancestors are (or will be) too.
        let mut at = parent[index];
        let mut steps = 0;
        while let Some(up) = at {
            if on_path[up] || steps > spans.len() {
                break;
            }
            on_path[up] = true;
            at = parent[up];
            steps += 1;
        }
    }
    on_path
}

/// `(left, width)` in percent for a span starting `offset` seconds into a trace of `total`
/// seconds and lasting `length`: always finite, `0 <= left <= 100 - MIN_BAR_WIDTH` and
/// `MIN_BAR_WIDTH <= width <= 100 - left`, whatever the times (a span starting at the very end,
/// outside its trace, with a skewed clock, or a trace of no duration).
pub(crate) fn bar_geometry(total: f64, offset: f64, length: f64) -> (f64, f64) {
    if !(total.is_finite() && total > 0.0) {
        return (0.0, 100.0);
    }
    let percent = |seconds: f64| {
        let share = seconds / total * 100.0;
        if share.is_finite() {
            share
        } else {
            0.0
        }
    };
    let left = percent(offset).clamp(0.0, 100.0 - MIN_BAR_WIDTH);
    let width = percent(length).clamp(MIN_BAR_WIDTH, 100.0 - left);
    (left, width)
}

/// The times at the quarter marks of a trace of `total` (0, ¼, ½, ¾, the end), as the axis
/// labels them.
pub(crate) fn ticks(total: Duration) -> [Duration; 5] {
    [0, 1, 2, 3, 4].map(|quarter| total * quarter / 4)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opentelemetry::trace::{SpanId, Status};
    use opentelemetry_sdk::trace::SpanData;
    use proptest::prelude::*;

    use super::*;

    /// Span `id` (named `s<id>`) of trace `trace` under `parent` (none: a root), from
    /// `start_ms` to `end_ms` (an end before the start is a skewed clock); failed when `failed`.
    fn span(
        trace: u8,
        id: u8,
        parent: Option<u8>,
        start_ms: u64,
        end_ms: u64,
        failed: bool,
    ) -> Arc<SpanData> {
        let mut span = telescope_test_support::span_data::finished_span(
            [trace + 1; 16],
            [id + 1; 8],
            parent.map(|p| [p + 1; 8]),
            format!("s{id}"),
            start_ms,
            end_ms,
        );
        if failed {
            span.status = Status::error("x");
        }
        Arc::new(span)
    }

    fn trace(spans: Vec<Arc<SpanData>>) -> TraceView {
        let id = spans[0].span_context.trace_id();
        TraceView::new(id, spans, None, 0)
    }

    /// `(name, depth, left, width, error_path)` of each row.
    fn layout(trace: &TraceView) -> Vec<(String, usize, f64, f64, bool)> {
        rows(trace)
            .iter()
            .map(|row| {
                (
                    row.span.name.to_string(),
                    row.depth,
                    row.left,
                    row.width,
                    row.error_path,
                )
            })
            .collect()
    }

    #[test]
    fn a_known_trace_is_laid_out_on_one_axis() {
        // s0 [0, 100]; s1 [10, 30] under s0; s2 [30, 30] (zero length) under s1;
        // s3 [90, 140] under s0, ending after its parent (the axis runs to 140);
        // s4 [10, 20] under s0, starting with s1; s5 failed under s3.
        let view = trace(vec![
            span(0, 2, Some(1), 30, 30, false),
            span(0, 1, Some(0), 10, 30, false),
            span(0, 4, Some(0), 10, 20, false),
            span(0, 5, Some(3), 100, 120, true),
            span(0, 3, Some(0), 90, 140, false),
            span(0, 0, None, 0, 100, false),
        ]);
        assert_eq!(view.duration, Duration::from_millis(140));
        let pct = |ms: f64| ms / 140.0 * 100.0;
        let rows = layout(&view);
        let expected = [
            ("s0", 0, 0.0, pct(100.0), true),
            // Equal starts: in the order they finished.
            ("s1", 1, pct(10.0), pct(20.0), false),
            ("s2", 2, pct(30.0), MIN_BAR_WIDTH, false),
            ("s4", 1, pct(10.0), pct(10.0), false),
            ("s3", 1, pct(90.0), pct(50.0), true),
            ("s5", 2, pct(100.0), pct(20.0), true),
        ];
        assert_eq!(rows.len(), expected.len());
        for (row, want) in rows.iter().zip(expected) {
            assert_eq!(row.0, want.0);
            assert_eq!(row.1, want.1, "{}", want.0);
            assert!(
                (row.2 - want.2).abs() < 1e-9,
                "{} left {} != {}",
                want.0,
                row.2,
                want.2
            );
            assert!(
                (row.3 - want.3).abs() < 1e-9,
                "{} width {} != {}",
                want.0,
                row.3,
                want.3
            );
            assert_eq!(row.4, want.4, "{} error path", want.0);
        }
    }

    #[test]
    fn orphans_and_cycles_are_still_shown_once() {
        let view = trace(vec![
            span(0, 0, None, 0, 10, false),
            // Parent 9 is not kept: a root of its own.
            span(0, 1, Some(9), 1, 2, false),
            // 2 and 3 are each other's parent; 4 is its own.
            span(0, 2, Some(3), 2, 3, true),
            span(0, 3, Some(2), 3, 4, false),
            span(0, 4, Some(4), 4, 5, false),
        ]);
        let names: Vec<String> = layout(&view).into_iter().map(|r| r.0).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, ["s0", "s1", "s2", "s3", "s4"]);
    }

    #[test]
    fn a_trace_of_no_duration_fills_the_axis() {
        let view = trace(vec![
            span(0, 0, None, 5, 5, false),
            span(0, 1, Some(0), 5, 5, false),
        ]);
        for row in layout(&view) {
            assert_eq!((row.2, row.3), (0.0, 100.0));
        }
        assert_eq!(ticks(Duration::from_millis(8))[2], Duration::from_millis(4));
    }

    proptest! {
        #[test]
        fn bars_stay_inside_the_axis(total in any::<f64>(), offset in any::<f64>(), length in any::<f64>()) {
            let (left, width) = bar_geometry(total, offset, length);
            prop_assert!(left.is_finite() && width.is_finite());
            prop_assert!((0.0..=100.0 - MIN_BAR_WIDTH).contains(&left) || (left, width) == (0.0, 100.0));
            prop_assert!(width >= MIN_BAR_WIDTH && left + width <= 100.0 + 1e-9);
        }

        /// Random span trees: zero durations, equal starts, children outside their parent,
        /// skewed clocks, parents missing or cyclic: every span gets exactly one row, a
        /// child's row comes after its parent's, and the path to every failure is marked.
        #[test]
        fn any_span_tree_lays_out(spans in proptest::collection::vec(
            (proptest::option::of(0u8..12), 0u64..1000, 0u64..1000, any::<bool>()),
            1..12,
        )) {
            let spans: Vec<Arc<SpanData>> = spans
                .into_iter()
                .enumerate()
                .map(|(id, (parent, start, end, failed))| {
                    span(0, u8::try_from(id).expect("few"), parent, start, end, failed)
                })
                .collect();
            let view = trace(spans);
            let rows = rows(&view);
            prop_assert_eq!(rows.len(), view.spans.len());
            let position: FxHashMap<SpanId, usize> = rows
                .iter()
                .enumerate()
                .map(|(i, row)| (row.span.span_context.span_id(), i))
                .collect();
            prop_assert_eq!(position.len(), rows.len());
            for (i, row) in rows.iter().enumerate() {
                if row.depth > 0 {
                    let parent = position[&row.span.parent_span_id];
                    prop_assert!(parent < i);
                    prop_assert_eq!(rows[parent].depth + 1, row.depth);
                    if row.error_path {
                        prop_assert!(rows[parent].error_path);
                    }
                }
                prop_assert!(!row.error || row.error_path);
            }
            let html = {
                let holdings = crate::admin::trace_json::Holdings {
                    service: "svc",
                    span_count: 0,
                    ring_capacity: 1,
                    retention: telescope_otlp::RetentionStats::default(),
                };
                crate::admin::traces_page::render(&[view], &holdings, &crate::admin::trace_filter::TraceFilter::default(), true)
            };
            prop_assert!(html.ends_with("</body></html>\n"));
            prop_assert_eq!(html.matches("<details").count(), html.matches("</details>").count());
        }
    }
}
