//! `/debug/traces` as one self-contained HTML page: no scripts, no external assets. Each trace
//! is a `<details>` element that opens into its span tree, with a timing bar per span.

use std::fmt::Write as _;
use std::time::Duration;

use opentelemetry::trace::SpanId;
use opentelemetry_sdk::trace::SpanData;

use super::trace_filter::TraceFilter;
use super::traces::{display_value, duration, failed, kind_name, TraceView};

/// Deeper trees are cut here, so that a malformed trace cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.3em}code{font-size:12px;color:#555}\
details.trace{border:1px solid #ddd;border-radius:4px;margin:.3em 0;padding:.2em .5em}\
details.trace.failed{border-color:#d33;background:#fff5f5}\
summary{cursor:pointer}.dur{display:inline-block;min-width:6em;text-align:right;font-variant-numeric:tabular-nums}\
.err{color:#c00;font-weight:bold}ul.tree{list-style:none;padding-left:1.2em;margin:.2em 0}\
.bar{position:relative;height:6px;background:#eee;margin:2px 0 4px;width:100%}\
.bar i{position:absolute;top:0;height:6px;background:#4a8}.failed>summary .bar i,.bar i.e{background:#d33}\
table{border-collapse:collapse;font-size:12px;margin:.2em 0}td{padding:0 .6em 0 0;vertical-align:top}\
td:first-child{color:#666}.ev{font-size:12px;margin:.1em 0}form.filter{margin:.5em 0 1em}";

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn format_duration(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

/// The page for `traces` (already filtered, grouped and ordered).
pub(crate) fn render(
    traces: &[TraceView],
    service: &str,
    span_count: usize,
    ring_capacity: usize,
    filter: &TraceFilter,
    one_trace: bool,
) -> String {
    let mut page = String::with_capacity(4096 + traces.len() * 1024);
    let service = escape(service);
    let json_query = match filter.to_query() {
        kept if kept.is_empty() => "format=json".to_owned(),
        kept => format!("format=json&{kept}"),
    };
    let _ = write!(
        page,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\"><title>traces · {service}</title>\
         <style>{STYLE}</style></head><body><h1>Recent traces · {service}</h1>\
         <p>{} traces from the {span_count} most recent sampled spans kept in process \
         (ring of {ring_capacity}); failed first, then slowest. \
         <a href=\"?{}\">JSON</a> · <a href=\"/\">admin</a></p>",
        traces.len(),
        escape(&json_query),
    );
    render_filter_form(&mut page, filter);
    if traces.is_empty() && span_count == 0 {
        page.push_str("<p>No finished sampled spans yet. Spans appear here when they close.</p>");
    } else if traces.is_empty() {
        page.push_str("<p>No trace in the ring matches the filter.</p>");
    }
    for trace in traces {
        render_trace(&mut page, trace, one_trace);
    }
    page.push_str("</body></html>\n");
    page
}

/// The filter form: a plain GET form, so the filtered page has an address to share.
fn render_filter_form(page: &mut String, filter: &TraceFilter) {
    let selected = |wanted: Option<bool>| {
        if filter.failed == wanted {
            " selected"
        } else {
            ""
        }
    };
    let _ = write!(
        page,
        "<form method=get class=filter>span name contains \
         <input name=name value=\"{}\" size=24> status <select name=status>\
         <option value=\"\"{}>any</option><option value=error{}>failed</option>\
         <option value=ok{}>ok</option></select> at least \
         <input name=min_ms type=number min=0 value=\"{}\" style=\"width:6em\"> ms \
         <button>filter</button>{}</form>",
        escape(filter.name.as_deref().unwrap_or("")),
        selected(None),
        selected(Some(true)),
        selected(Some(false)),
        filter
            .min_duration
            .map(|least| least.as_millis().to_string())
            .unwrap_or_default(),
        if filter.is_empty() {
            ""
        } else {
            " <a href=\"?\">clear</a>"
        },
    );
}

/// One trace; opened when it is the only one asked for.
fn render_trace(page: &mut String, trace: &TraceView, open: bool) {
    let class = if trace.failed {
        "trace failed"
    } else {
        "trace"
    };
    let _ = write!(
        page,
        "<details class=\"{class}\"{}><summary><span class=dur>{}</span> <b>{}</b>{} \
         <a href=\"?trace_id={id}\"><code>{id}</code></a> · {} spans · {}</summary><ul class=tree>",
        if open { " open" } else { "" },
        format_duration(trace.duration),
        escape(trace.root_name()),
        if trace.failed {
            " <span class=err>error</span>"
        } else {
            ""
        },
        trace.spans.len(),
        telescope_core::time::rfc3339(trace.start),
        id = trace.trace_id,
    );
    for root in trace.roots() {
        render_span(page, trace, root, 0);
    }
    page.push_str("</ul></details>");
}

/// Where the span sits in the trace's time range, as percentages for its bar.
fn bar(trace: &TraceView, span: &SpanData) -> (f64, f64) {
    let offset = span
        .start_time
        .duration_since(trace.start)
        .unwrap_or_default()
        .as_secs_f64();
    bar_geometry(
        trace.duration.as_secs_f64(),
        offset,
        duration(span).as_secs_f64(),
    )
}

/// The narrowest bar drawn, in percent, so that an instant span is still seen.
const MIN_BAR_WIDTH: f64 = 0.5;

/// `(left, width)` in percent for a span starting `offset` seconds into a trace of `total`
/// seconds and lasting `length`: always finite, `0 <= left <= 100 - MIN_BAR_WIDTH` and
/// `MIN_BAR_WIDTH <= width <= 100 - left`, whatever the times (a span starting at the very end,
/// outside its trace, with a skewed clock, or a trace of no duration).
fn bar_geometry(total: f64, offset: f64, length: f64) -> (f64, f64) {
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

fn render_span(page: &mut String, trace: &TraceView, span: &SpanData, depth: usize) {
    let (left, width) = bar(trace, span);
    let error = failed(span);
    let _ = write!(
        page,
        "<li><details{}><summary><span class=dur>{}</span> {}{} <code>{} {}</code>\
         <div class=bar><i{} style=\"left:{left:.2}%;width:{width:.2}%\"></i></div></summary>",
        if depth < 2 { " open" } else { "" },
        format_duration(duration(span)),
        escape(&span.name),
        if error {
            " <span class=err>error</span>"
        } else {
            ""
        },
        kind_name(&span.span_kind),
        span.span_context.span_id(),
        if error { " class=e" } else { "" },
    );
    render_details(page, span);
    let id = span.span_context.span_id();
    let children: Vec<_> = trace.children(id).collect();
    if !children.is_empty() && id != SpanId::INVALID {
        page.push_str("<ul class=tree>");
        if depth >= MAX_DEPTH {
            page.push_str("<li>… deeper spans not shown</li>");
        } else {
            for child in children {
                // A span listed as its own parent would otherwise recurse forever.
                if child.span_context.span_id() != id {
                    render_span(page, trace, child, depth + 1);
                }
            }
        }
        page.push_str("</ul>");
    }
    page.push_str("</details></li>");
}

fn render_details(page: &mut String, span: &SpanData) {
    if let opentelemetry::trace::Status::Error { description } = &span.status {
        let _ = write!(page, "<div class=err>{}</div>", escape(description));
    }
    if !span.attributes.is_empty() {
        page.push_str("<table>");
        for kv in &span.attributes {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(kv.key.as_str()),
                escape(&display_value(&kv.value))
            );
        }
        page.push_str("</table>");
    }
    for event in span.events.iter() {
        let offset = event
            .timestamp
            .duration_since(span.start_time)
            .unwrap_or_default();
        let _ = write!(
            page,
            "<div class=ev>+{} <b>{}</b>",
            format_duration(offset),
            escape(&event.name)
        );
        for kv in &event.attributes {
            let _ = write!(
                page,
                " {}=<code>{}</code>",
                escape(kv.key.as_str()),
                escape(&display_value(&kv.value))
            );
        }
        page.push_str("</div>");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId};
    use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
    use proptest::prelude::*;

    use super::*;
    use crate::admin::query::Query;

    /// A span of trace `trace`, with id `id + 1`, under `parent` (an id, maybe its own or none
    /// kept), starting `start_ms` after the epoch and ending `end_ms` after it (before its start
    /// when the clock was skewed).
    fn span(trace: u8, id: u8, parent: Option<u8>, start_ms: u64, end_ms: u64) -> Arc<SpanData> {
        let at = |ms: u64| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
        };
        Arc::new(SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes([trace + 1; 16]),
                SpanId::from_bytes([id + 1; 8]),
                TraceFlags::SAMPLED,
                false,
                opentelemetry::trace::TraceState::default(),
            ),
            parent_span_id: parent.map_or(SpanId::INVALID, |p| SpanId::from_bytes([p + 1; 8])),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: format!("span-{trace}-{id}").into(),
            start_time: at(start_ms),
            end_time: at(end_ms),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: if id.is_multiple_of(3) {
                Status::error("x")
            } else {
                Status::Unset
            },
            instrumentation_scope: opentelemetry::InstrumentationScope::builder("t").build(),
        })
    }

    fn page(spans: Vec<Arc<SpanData>>) -> String {
        let filter = TraceFilter::from_query(&Query::parse(None)).expect("no filter");
        let traces = crate::admin::traces::traces(spans, &filter, 100);
        let _ = crate::admin::traces::to_json(&traces, 0, 100).to_string();
        render(&traces, "svc", 0, 100, &filter, false)
    }

    #[test]
    fn a_child_starting_at_the_very_end_of_its_trace_renders() {
        // The quickstart's slow order: a child starting after 99.5% of the trace (this panicked
        // with "min > max" in `clamp`).
        let html = page(vec![
            span(0, 0, None, 0, 1000),
            span(0, 1, Some(0), 998, 1000),
            span(0, 2, Some(0), 1000, 1000),
        ]);
        assert!(html.contains("span-0-2") && html.ends_with("</body></html>\n"));
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
        /// skewed clocks (an end before the start), parents missing or cyclic, two traces.
        #[test]
        fn any_span_tree_renders(spans in proptest::collection::vec(
            (0u8..2, proptest::option::of(0u8..12), 0u64..1000, 0u64..1000),
            1..12,
        )) {
            let spans: Vec<Arc<SpanData>> = spans
                .into_iter()
                .enumerate()
                .map(|(id, (trace, parent, start, end))| {
                    let id = u8::try_from(id).expect("few spans");
                    span(trace, id, parent, start, end)
                })
                .collect();
            let html = page(spans);
            prop_assert!(html.ends_with("</body></html>\n"));
        }
    }
}
