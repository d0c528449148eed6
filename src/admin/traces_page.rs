//! `/debug/traces` as one self-contained HTML page: no scripts, no external assets. Each trace
//! is a `<details>` element that opens into its waterfall (one row per span on the trace's
//! time axis, the path to every failed span expanded) and its log lines in time order.

use std::fmt::Write as _;
use std::time::Duration;

use opentelemetry_sdk::trace::SpanData;

use super::trace_filter::TraceFilter;
use super::trace_json::Holdings;
use super::traces::{display_value, is_field, kind_name, log_lines, retained_words, TraceView};
use super::waterfall::{rows, ticks, Row};

/// Deeper spans are drawn at this depth, so that a pathological trace cannot nest the page's
/// elements without end.
const MAX_NESTING: usize = 64;

pub(crate) const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.3em}code{font-size:12px;color:#555}a{color:#1558b0}\
details.trace{border:1px solid #ddd;border-radius:4px;margin:.3em 0;padding:.2em .5em}\
details.trace.failed{border-color:#d33;background:#fff8f8}\
details.trace>summary{cursor:pointer}.dur{display:inline-block;min-width:6em;text-align:right;font-variant-numeric:tabular-nums}\
.err{color:#c00;font-weight:bold}.tag{font-size:11px;border:1px solid #bbb;border-radius:3px;padding:0 3px;margin-left:3px;color:#555}\
.tag.error{border-color:#d33;color:#c00}\
.wf{font-size:12px;margin:.4em 0;background:#fff}\
.wf summary{display:flex;align-items:center;cursor:pointer;list-style:none;border-bottom:1px solid #f0f0f0}\
.wf summary::-webkit-details-marker{display:none}\
.nm{flex:0 0 38%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\
.nm small{color:#888}.sp.err>summary .nm b{color:#c00}\
.nm::before{content:'\\25B8';display:inline-block;width:1em;color:#888}\
details[open]>summary .nm::before{content:'\\25BE'}.leaf>summary .nm::before{content:'\\00B7'}\
.tl{flex:1;position:relative;height:16px;background:repeating-linear-gradient(90deg,#e4e4e4 0 1px,transparent 1px 25%)}\
.tl i{position:absolute;top:4px;height:8px;min-width:2px;background:#4a8;border-radius:1px}\
.sp.err>summary .tl i{background:#d33}\
.tl .d{position:absolute;top:1px;font-size:11px;color:#666;white-space:nowrap}\
.axis{display:flex;font-size:11px;color:#666;border-bottom:1px solid #bbb}\
.axis .tl{background:none}.axis .tl span{position:absolute}\
.info{margin:2px 0 4px;padding:3px 8px;background:#fafafa;border-left:3px solid #ccc}\
.info.e{border-left-color:#d33}\
table{border-collapse:collapse;font-size:12px;margin:.2em 0}td,th{padding:1px .6em 1px 0;vertical-align:top;text-align:left}\
.info td:first-child{color:#666}.ev{margin:.1em 0}\
table.logs{width:100%;margin-top:.5em}table.logs th{border-bottom:1px solid #ccc;color:#555}\
tr.lv-ERROR td{color:#c00}tr.lv-WARN td{color:#a60}form.filter{margin:.5em 0 1em}";

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

/// A duration for reading: µs, ms or s.
pub(crate) fn format_duration(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

/// A window for reading: whole minutes as minutes.
fn format_window(window: Duration) -> String {
    let seconds = window.as_secs();
    if seconds >= 60 && seconds.is_multiple_of(60) && window.subsec_nanos() == 0 {
        format!("{} min", seconds / 60)
    } else {
        format_duration(window)
    }
}

/// A byte count for reading.
pub(crate) fn format_bytes(bytes: usize) -> String {
    let bytes = bytes as f64;
    if bytes < 1024.0 {
        format!("{bytes} B")
    } else if bytes < 1024.0 * 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    }
}

/// The page for `traces` (already filtered, grouped and ordered).
pub(crate) fn render(
    traces: &[TraceView],
    holdings: &Holdings<'_>,
    filter: &TraceFilter,
    one_trace: bool,
) -> String {
    let mut page = String::with_capacity(8192 + traces.len() * 4096);
    let service = escape(holdings.service);
    let json_query = match filter.to_query() {
        kept if kept.is_empty() => "format=json".to_owned(),
        kept => format!("format=json&{kept}"),
    };
    let stats = &holdings.retention;
    let _ = write!(
        page,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\"><title>traces · {service}</title>\
         <style>{STYLE}</style></head><body><h1>Traces · {service}</h1>\
         <p>{} trace{}: from the {} most recent sampled spans (ring of {}) and the {} traces kept \
         beyond them ({} of {}: per operation the last {} failed and the {} slowest of {}, and \
         each exemplar's trace); failed first, then slowest. \
         <a href=\"?{}\">JSON</a> · <a href=\"/debug/overview\">overview</a> · <a href=\"/\">admin</a></p>",
        traces.len(),
        if traces.len() == 1 { "" } else { "s" },
        holdings.span_count,
        holdings.ring_capacity,
        stats.kept_traces,
        format_bytes(stats.bytes),
        format_bytes(stats.max_bytes),
        stats.errors_per_operation,
        stats.slowest_per_operation,
        format_window(stats.slow_window),
        escape(&json_query),
    );
    render_filter_form(&mut page, filter);
    if traces.is_empty() && holdings.span_count == 0 && stats.kept_traces == 0 {
        page.push_str("<p>No finished sampled spans yet. Spans appear here when they close.</p>");
    } else if traces.is_empty() {
        page.push_str("<p>No trace in the ring matches the filter.</p>");
    }
    for trace in traces {
        render_trace(&mut page, trace, holdings.service, one_trace);
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

/// One trace: its summary line, then its waterfall and log lines; opened when it is the only
/// one asked for.
fn render_trace(page: &mut String, trace: &TraceView, service: &str, open: bool) {
    let class = if trace.failed {
        "trace failed"
    } else {
        "trace"
    };
    let _ = write!(
        page,
        "<details class=\"{class}\"{}><summary><span class=dur>{}</span> <b>{}</b>{} \
         <a href=\"?trace_id={id}\"><code>{id}</code></a> · {} spans · {}",
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
    for word in retained_words(trace.retained) {
        let _ = write!(page, " <span class=\"tag {word}\">{word}</span>");
    }
    if trace.dropped_spans > 0 {
        let _ = write!(
            page,
            " <span class=tag>{} spans left out</span>",
            trace.dropped_spans
        );
    }
    page.push_str("</summary>");
    render_waterfall(page, trace, service);
    render_logs(page, trace);
    page.push_str("</details>");
}

/// The time axis and one row per span, nested so that each span's children collapse with it.
fn render_waterfall(page: &mut String, trace: &TraceView, service: &str) {
    page.push_str(
        "<div class=wf><div class=axis><span class=nm>span · kind · service</span><span class=tl>",
    );
    let marks = ticks(trace.duration);
    for (quarter, at) in marks.iter().enumerate() {
        let position = match quarter {
            0 => "left:0".to_owned(),
            4 => "right:0".to_owned(),
            _ => format!("left:{}%;transform:translateX(-50%)", quarter * 25),
        };
        let _ = write!(
            page,
            "<span style=\"{position}\">{}</span>",
            if quarter == 0 {
                "0".to_owned()
            } else {
                format_duration(*at)
            }
        );
    }
    page.push_str("</span></div>");
    let rows = rows(trace);
    let mut open_depths: Vec<usize> = Vec::new();
    for row in &rows {
        let depth = row.depth.min(MAX_NESTING);
        while open_depths.last().is_some_and(|open| *open >= depth) {
            open_depths.pop();
            page.push_str("</details>");
        }
        render_row(page, row, trace, service);
        open_depths.push(depth);
    }
    for _ in open_depths {
        page.push_str("</details>");
    }
    page.push_str("</div>");
}

/// A span's row: opened when it is a root or on the path to a failed span (and, in a trace
/// that did not fail, for the first two levels).
fn render_row(page: &mut String, row: &Row<'_>, trace: &TraceView, service: &str) {
    let span = row.span;
    let open = row.depth == 0 || row.error_path || (!trace.failed && row.depth < 2);
    let mut class = String::from("sp");
    if row.error {
        class.push_str(" err");
    }
    if row.children == 0 {
        class.push_str(" leaf");
    }
    let end = row.left + row.width;
    let label_at = if end > 80.0 {
        format!("right:calc({:.3}% + 4px)", 100.0 - row.left)
    } else {
        format!("left:calc({end:.3}% + 4px)")
    };
    let _ = write!(
        page,
        "<details class=\"{class}\" id=\"span-{id}\"{open}><summary>\
         <span class=nm style=\"padding-left:{indent}px\"><b>{name}</b> <small>{kind} · {service}</small></span>\
         <span class=tl><i style=\"left:{left:.3}%;width:{width:.3}%\"></i>\
         <span class=d style=\"{label_at}\">{duration}</span></span></summary>",
        id = span.span_context.span_id(),
        open = if open { " open" } else { "" },
        indent = row.depth.min(MAX_NESTING) * 14,
        name = escape(&span.name),
        kind = kind_name(&span.span_kind),
        service = escape(service),
        left = row.left,
        width = row.width,
        duration = format_duration(super::traces::duration(span)),
    );
    render_info(page, row);
}

/// The span's details: status, attributes, events, links; open for a failed span.
fn render_info(page: &mut String, row: &Row<'_>) {
    let span: &SpanData = row.span;
    let _ = write!(
        page,
        "<details class=\"info{}\"{}><summary>+{} · {} attributes · {} events · {} links · <code>{}</code></summary>",
        if row.error { " e" } else { "" },
        if row.error { " open" } else { "" },
        format_duration(row.offset),
        span.attributes.len(),
        span.events.len(),
        span.links.len(),
        span.span_context.span_id(),
    );
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
    for link in span.links.iter() {
        let _ = write!(
            page,
            "<div class=ev>link <a href=\"?trace_id={trace}\"><code>{trace}</code></a> span <code>{}</code></div>",
            link.span_context.span_id(),
            trace = link.span_context.trace_id(),
        );
    }
    page.push_str("</details>");
}

/// The trace's log lines (its spans' events) in time order.
fn render_logs(page: &mut String, trace: &TraceView) {
    let lines = log_lines(trace);
    if lines.is_empty() {
        return;
    }
    let _ = write!(
        page,
        "<table class=logs><tr><th>time</th><th>level</th><th>span</th><th>message</th><th>fields</th></tr>"
    );
    for line in lines {
        let level = line.level.as_deref().unwrap_or("");
        let offset = line
            .event
            .timestamp
            .duration_since(trace.start)
            .unwrap_or_default();
        let _ = write!(
            page,
            "<tr class=\"lv-{level}\"><td>+{}</td><td>{}</td><td><a href=\"#span-{}\">{}</a></td><td>{}</td><td>",
            format_duration(offset),
            escape(level),
            line.span.span_context.span_id(),
            escape(&line.span.name),
            escape(&line.event.name),
            level = escape(level),
        );
        for kv in line
            .event
            .attributes
            .iter()
            .filter(|kv| is_field(kv.key.as_str()))
        {
            let _ = write!(
                page,
                "{}=<code>{}</code> ",
                escape(kv.key.as_str()),
                escape(&display_value(&kv.value))
            );
        }
        page.push_str("</td></tr>");
    }
    page.push_str("</table>");
}
