//! `/debug/overview`: reads the query (sort, order, name filter), measures every operation
//! over the rate window, counts the kept traces per name, and answers with the page or its
//! JSON.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value as Json};
use telescope_metrics::MetricsHandle;
use telescope_otlp::{RingContents, SpanRing};

use super::overview::{self, Column, OperationStats, Source};
use super::query::Query;
use super::rate_window::{Counts, RateWindow};
use super::{overview_page, text, trace_json};

/// What the overview reads.
pub(super) struct Sources<'a> {
    pub(super) metrics: &'a MetricsHandle,
    pub(super) traces: Option<&'a SpanRing>,
    pub(super) rate_window: &'a Mutex<RateWindow>,
    pub(super) service: &'a str,
}

/// How the operations are listed.
struct Listing<'q> {
    sort: Column,
    ascending: bool,
    name: Option<&'q str>,
}

fn bad_request(message: &str) -> Response<Full<Bytes>> {
    text(
        StatusCode::BAD_REQUEST,
        "text/plain; charset=utf-8",
        format!("{message}\n"),
    )
}

/// The listing the query asks for, or what is wrong with it.
fn read_listing(query: &Query) -> Result<Listing<'_>, &'static str> {
    let sort = match query.non_empty("sort") {
        None => Column::Rate,
        Some(key) => Column::parse(key.trim())
            .ok_or("sort must be one of name, rate, error_rate, p50, p90, p99")?,
    };
    let ascending = match query.non_empty("order").map(str::trim) {
        None => sort == Column::Name,
        Some("asc") => true,
        Some("desc") => false,
        Some(_) => return Err("order must be asc or desc"),
    };
    Ok(Listing {
        sort,
        ascending,
        name: query.non_empty("name"),
    })
}

/// Each section's operations over the window ending now, the window in words and seconds;
/// the counts of now are kept as a sample for later windows.
fn measure(sources: &Sources<'_>) -> (Vec<(Source, Vec<OperationStats>)>, String, f64) {
    let wanted = [overview::ROUTES, overview::SPANS];
    let families: Vec<_> = wanted
        .iter()
        .map(|source| sources.metrics.snapshot_of(source.metric))
        .collect();
    let now = Instant::now();
    let mut samples = sources
        .rate_window
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let baseline = samples.baseline(now);
    let sections = wanted
        .iter()
        .zip(&families)
        .map(|(source, family)| {
            (
                *source,
                overview::operations(source, family.as_ref(), &baseline),
            )
        })
        // The span section always shows; routes only in a service that serves HTTP.
        .filter(|(source, operations)| {
            !operations.is_empty() || source.metric == overview::SPANS.metric
        })
        .collect();
    let words = overview::window_words(&baseline);
    let seconds = overview::window_seconds(&baseline);
    let mut counts = Counts::default();
    for (source, family) in wanted.iter().zip(&families) {
        overview::count_into(&mut counts, source, family.as_ref());
    }
    samples.record(now, &counts);
    (sections, words, seconds)
}

/// Kept traces per name: those kept for that operation or holding a span of that name.
fn kept_by_name(contents: Option<&RingContents>) -> HashMap<String, usize> {
    let mut kept: HashMap<String, usize> = HashMap::new();
    for trace in contents.iter().flat_map(|c| c.retained.iter()) {
        let mut names: Vec<&str> = trace.spans.iter().map(|span| span.name.as_ref()).collect();
        names.push(&trace.operation);
        names.sort_unstable();
        names.dedup();
        for name in names {
            *kept.entry(name.to_owned()).or_default() += 1;
        }
    }
    kept
}

/// The answer to `/debug/overview?<query>`.
pub(super) fn respond(sources: &Sources<'_>, query: Option<&str>) -> Response<Full<Bytes>> {
    let query = Query::parse(query);
    let listing = match read_listing(&query) {
        Ok(listing) => listing,
        Err(problem) => return bad_request(problem),
    };
    let (mut sections, window, window_seconds) = measure(sources);
    for (_, operations) in &mut sections {
        operations.retain(|stats| listing.name.is_none_or(|name| stats.name.contains(name)));
        overview::sort(operations, listing.sort, listing.ascending);
    }
    let contents = sources.traces.map(SpanRing::contents);
    let kept = kept_by_name(contents.as_ref());
    let kept_of = |name: &str| kept.get(name).copied().unwrap_or(0);
    if query.get("format") == Some("json") {
        let sections: Vec<Json> = sections
            .iter()
            .map(|(source, operations)| {
                json!({
                    "title": source.title,
                    "metric": source.metric,
                    "operations": operations
                        .iter()
                        .map(|stats| overview::operation_json(stats, kept_of(&stats.name)))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let json = json!({
            "service": sources.service,
            "window_s": window_seconds,
            "window": window,
            "sort": listing.sort.key(),
            "order": if listing.ascending { "asc" } else { "desc" },
            "retention": contents.as_ref().map(|c| trace_json::retention_json(&c.stats)),
            "sections": sections,
        });
        return text(StatusCode::OK, "application/json", json.to_string());
    }
    let page = overview_page::render(&overview_page::Overview {
        service: sources.service,
        sections: &sections,
        kept: &kept_of,
        window,
        sort: listing.sort,
        ascending: listing.ascending,
        name: listing.name,
        retention: contents.as_ref().map(|c| c.stats),
    });
    text(StatusCode::OK, "text/html; charset=utf-8", page)
}
