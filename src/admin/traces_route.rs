//! `/debug/traces`: reads the query (filters, limit, one trace by id), gathers the traces from
//! the ring and answers with the page or its JSON.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use opentelemetry::trace::TraceId;
use telescope_otlp::SpanRing;

use super::query::Query;
use super::trace_filter::TraceFilter;
use super::{text, trace_json, traces, traces_page};

/// How many traces `/debug/traces` lists unless `?limit=` says otherwise.
const DEFAULT_TRACE_LIMIT: usize = 100;

fn bad_request(message: &str) -> Response<Full<Bytes>> {
    text(
        StatusCode::BAD_REQUEST,
        "text/plain; charset=utf-8",
        format!("{message}\n"),
    )
}

/// What the query asks for.
struct Wanted {
    filter: TraceFilter,
    limit: usize,
    /// One trace, as an exemplar on /metrics points at it.
    trace_id: Option<TraceId>,
    json: bool,
}

/// The query read, or what is wrong with it.
fn read_query(query: Option<&str>) -> Result<Wanted, String> {
    let query = Query::parse(query);
    let filter = TraceFilter::from_query(&query).map_err(|e| e.to_string())?;
    let limit = match query.get("limit").map(str::parse::<usize>) {
        None => DEFAULT_TRACE_LIMIT,
        Some(Ok(limit)) => limit,
        Some(Err(_)) => return Err("limit must be a whole number".to_owned()),
    };
    let trace_id = match query.get("trace_id") {
        None => None,
        Some(hex) => match TraceId::from_hex(hex) {
            Ok(id) if hex.len() == 32 && id != TraceId::INVALID => Some(id),
            _ => return Err("trace_id must be 32 hex digits, not all zero".to_owned()),
        },
    };
    Ok(Wanted {
        filter,
        limit,
        trace_id,
        json: query.get("format") == Some("json"),
    })
}

/// The answer to `/debug/traces?<query>`.
pub(super) fn respond(
    ring: &SpanRing,
    service: &str,
    query: Option<&str>,
) -> Response<Full<Bytes>> {
    let wanted = match read_query(query) {
        Ok(wanted) => wanted,
        Err(problem) => return bad_request(&problem),
    };
    let contents = ring.contents();
    let holdings = trace_json::Holdings {
        service,
        span_count: contents.recent.len(),
        ring_capacity: ring.capacity(),
        retention: contents.stats,
    };
    let traces = match wanted.trace_id {
        Some(id) => {
            let found = ring.trace(id);
            if found.spans.is_empty() {
                return text(
                    StatusCode::NOT_FOUND,
                    "text/plain; charset=utf-8",
                    gone_message(id, &holdings),
                );
            }
            vec![traces::TraceView::new(
                id,
                found.spans,
                found.reasons,
                found.dropped_spans,
            )]
        }
        None => traces::traces(contents, &wanted.filter, wanted.limit),
    };
    if wanted.json {
        let json = trace_json::to_json(&traces, &holdings);
        text(StatusCode::OK, "application/json", json.to_string())
    } else {
        let page = traces_page::render(
            &traces,
            &holdings,
            &wanted.filter,
            wanted.trace_id.is_some(),
        );
        text(StatusCode::OK, "text/html; charset=utf-8", page)
    }
}

/// Why trace `id` cannot be shown.
fn gone_message(id: TraceId, holdings: &trace_json::Holdings<'_>) -> String {
    let stats = &holdings.retention;
    format!(
        "trace {id} is not kept: the ring holds the latest {} finished sampled spans, and beyond \
         them are kept, per operation, the last {} failed traces and the {} slowest of the last \
         {} s, and the traces exemplars point at ({} traces in {} of {} bytes). Older traces are \
         gone, and unsampled ones were never kept.\n",
        holdings.ring_capacity,
        stats.errors_per_operation,
        stats.slowest_per_operation,
        stats.slow_window.as_secs(),
        stats.kept_traces,
        stats.bytes,
        stats.max_bytes,
    )
}
