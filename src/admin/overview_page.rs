//! `/debug/overview` as one self-contained page: a table of operations, sortable by each
//! column (links, no script), each with its latency histogram drawn as inline SVG and the
//! exemplars on its buckets as points that open their traces.

use std::fmt::Write as _;

use super::overview::{Column, OperationStats, Source};
use super::query::encode;
use super::traces_page::{escape, format_bytes, STYLE};
use telescope_otlp::RetentionStats;

/// The histogram's drawing size, in SVG units.
const CHART_WIDTH: f64 = 260.0;
const CHART_HEIGHT: f64 = 44.0;

const OVERVIEW_STYLE: &str = "h2{font-size:1.1em;margin:1.2em 0 0}h2+p{margin:0}table.ops{border-collapse:collapse;font-size:13px;margin-top:.5em}\
table.ops th,table.ops td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;vertical-align:middle}\
table.ops th:first-child,table.ops td:first-child{text-align:left}\
table.ops th a{color:#222;text-decoration:none}th.sorted a{text-decoration:underline}\
td.bad{color:#c00;font-weight:bold}svg.h rect{fill:#8ab}svg.h circle{fill:#147;stroke:#fff}\
svg.h circle.e{fill:#d33}svg.h text{font-size:8px;fill:#888}";

/// What the page is drawn from.
pub(crate) struct Overview<'a> {
    pub(crate) service: &'a str,
    /// Each section's source and operations (already filtered and sorted).
    pub(crate) sections: &'a [(Source, Vec<OperationStats>)],
    /// Kept traces per operation name, for the links to them.
    pub(crate) kept: &'a dyn Fn(&str) -> usize,
    pub(crate) window: String,
    pub(crate) sort: Column,
    pub(crate) ascending: bool,
    /// The name filter, if any.
    pub(crate) name: Option<&'a str>,
    pub(crate) retention: Option<RetentionStats>,
}

fn format_seconds(seconds: Option<f64>) -> String {
    match seconds {
        None => "–".to_owned(),
        Some(s) if s < 1e-3 => format!("{:.0} µs", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.1} ms", s * 1e3),
        Some(s) => format!("{s:.2} s"),
    }
}

/// The page.
pub(crate) fn render(overview: &Overview<'_>) -> String {
    let rows: usize = overview.sections.iter().map(|(_, ops)| ops.len()).sum();
    let mut page = String::with_capacity(4096 + rows * 2048);
    let service = escape(overview.service);
    let _ = write!(
        page,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\"><title>overview · {service}</title>\
         <style>{STYLE}{OVERVIEW_STYLE}</style></head><body><h1>Operations · {service}</h1>\
         <p>Rates, errors and latency {}, from every request and span, sampled or not. \
         Points on a histogram are exemplars: each opens its trace. \
         <a href=\"?{}\">JSON</a> · <a href=\"/debug/traces\">traces</a> · <a href=\"/\">admin</a></p>",
        escape(&overview.window),
        escape(&query(overview, overview.sort, overview.ascending, true)),
    );
    if let Some(stats) = &overview.retention {
        let _ = write!(
            page,
            "<p>Traces kept: {} ({} of {}).</p>",
            stats.kept_traces,
            format_bytes(stats.bytes),
            format_bytes(stats.max_bytes)
        );
    }
    let _ = write!(
        page,
        "<form method=get class=filter>operation contains <input name=name value=\"{}\" size=24>\
         <input type=hidden name=sort value=\"{}\"><input type=hidden name=order value=\"{}\"> \
         <button>filter</button></form>",
        escape(overview.name.unwrap_or("")),
        overview.sort.key(),
        if overview.ascending { "asc" } else { "desc" },
    );
    for (source, operations) in overview.sections {
        let _ = write!(
            page,
            "<h2>{}</h2><p><code>{}</code></p>",
            source.title, source.metric
        );
        if operations.is_empty() {
            page.push_str("<p>Nothing recorded yet.</p>");
            continue;
        }
        page.push_str("<table class=ops><tr>");
        for column in Column::ALL {
            render_heading(&mut page, overview, column);
        }
        page.push_str("<th>latency histogram · exemplars</th><th>traces</th></tr>");
        for stats in operations {
            render_operation(&mut page, stats, (overview.kept)(&stats.name));
        }
        page.push_str("</table>");
    }
    page.push_str("</body></html>\n");
    page
}

/// The query of this page sorted by `sort`, keeping the name filter.
fn query(overview: &Overview<'_>, sort: Column, ascending: bool, json: bool) -> String {
    let mut pairs: Vec<(&str, std::borrow::Cow<'_, str>)> = Vec::new();
    if json {
        pairs.push(("format", "json".into()));
    }
    if let Some(name) = overview.name {
        pairs.push(("name", name.into()));
    }
    pairs.push(("sort", sort.key().into()));
    pairs.push(("order", if ascending { "asc" } else { "desc" }.into()));
    encode(pairs)
}

/// A heading linking to the page sorted by its column (again: the other direction).
fn render_heading(page: &mut String, overview: &Overview<'_>, column: Column) {
    let sorted = overview.sort == column;
    let ascending = if sorted {
        !overview.ascending
    } else {
        column == Column::Name
    };
    let arrow = match (sorted, overview.ascending) {
        (false, _) => "",
        (true, true) => " ▲",
        (true, false) => " ▼",
    };
    let _ = write!(
        page,
        "<th{}><a href=\"?{}\">{}{arrow}</a></th>",
        if sorted { " class=sorted" } else { "" },
        escape(&query(overview, column, ascending, false)),
        column.title(),
    );
}

fn render_operation(page: &mut String, stats: &OperationStats, kept: usize) {
    let name_query = encode([("name", std::borrow::Cow::Borrowed(stats.name.as_str()))]);
    let _ = write!(
        page,
        "<tr><td><b>{}</b></td><td>{:.2}/s</td><td{}>{:.2}%</td><td>{}</td><td>{}</td><td>{}</td><td>",
        escape(&stats.name),
        stats.rate,
        if stats.errors > 0 { " class=bad" } else { "" },
        stats.error_rate * 100.0,
        format_seconds(stats.p50),
        format_seconds(stats.p90),
        format_seconds(stats.p99),
    );
    render_histogram(page, stats);
    let _ = write!(
        page,
        "</td><td><a href=\"/debug/traces?{q}\">{kept} kept</a> · <a href=\"/debug/traces?{q}&amp;status=error\">failed</a></td></tr>",
        q = escape(&name_query),
    );
}

/// Bars per bucket (the window's counts, heights on a square-root scale so that small buckets
/// show), bound labels under every other bar, exemplar points linked to their traces.
fn render_histogram(page: &mut String, stats: &OperationStats) {
    let buckets = stats.buckets.len().max(1);
    let slot = CHART_WIDTH / buckets as f64;
    let tallest = stats.buckets.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bar_area = CHART_HEIGHT - 10.0;
    let _ = write!(
        page,
        "<svg class=h width=\"{CHART_WIDTH}\" height=\"{CHART_HEIGHT}\" viewBox=\"0 0 {CHART_WIDTH} {CHART_HEIGHT}\" role=img>"
    );
    for (index, count) in stats.buckets.iter().enumerate() {
        let height = (*count as f64 / tallest).sqrt() * bar_area;
        let le = stats
            .bounds
            .get(index)
            .map_or_else(|| "+Inf".to_owned(), |b| format_seconds(Some(*b)));
        let _ = write!(
            page,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\"><title>le {le}: {count}</title></rect>",
            index as f64 * slot + 1.0,
            bar_area - height,
            (slot - 2.0).max(1.0),
        );
        if index % 2 == 0 {
            let _ = write!(
                page,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                index as f64 * slot + 1.0,
                CHART_HEIGHT - 1.0,
                escape(&le)
            );
        }
    }
    for exemplar in &stats.exemplars {
        let count = stats.buckets.get(exemplar.bucket).copied().unwrap_or(0);
        let height = (count as f64 / tallest).sqrt() * bar_area;
        let _ = write!(
            page,
            "<a href=\"/debug/traces?trace_id={id}\"><circle{class} cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\">\
             <title>exemplar {} ({}): trace {id}</title></circle></a>",
            (exemplar.bucket as f64 + 0.5) * slot,
            (bar_area - height).clamp(4.0, bar_area - 2.0),
            format_seconds(Some(exemplar.seconds)),
            if exemplar.failed { "failed" } else { "ok" },
            class = if exemplar.failed { " class=e" } else { "" },
            id = escape(&exemplar.trace_id),
        );
    }
    page.push_str("</svg>");
}
