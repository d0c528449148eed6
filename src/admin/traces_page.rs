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
    let total = trace.duration.as_secs_f64();
    if total <= 0.0 {
        return (0.0, 100.0);
    }
    let offset = span
        .start_time
        .duration_since(trace.start)
        .unwrap_or_default()
        .as_secs_f64();
    let left = (offset / total * 100.0).clamp(0.0, 100.0);
    let width = (duration(span).as_secs_f64() / total * 100.0).clamp(0.5, 100.0 - left);
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
