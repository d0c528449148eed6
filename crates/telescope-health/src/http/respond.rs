//! Answering `/livez`, `/readyz`, `/startupz`, `/healthz` and `/<probe>/<check>`.

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Method, Response, StatusCode, Uri};
use http_body_util::Full;

use crate::report::{ProbeReport, Target};
use crate::{Health, Probe, Status, HEALTH_JSON};

/// What `?verbose` and `?exclude=` asked for.
#[derive(Debug, Default)]
struct Query {
    verbose: bool,
    exclude: Vec<String>,
}

fn parse_query(query: Option<&str>) -> Query {
    let mut parsed = Query::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "verbose" => parsed.verbose = !matches!(value, "false" | "0"),
            "exclude" => parsed.exclude.extend(percent_decode(value)),
            _ => {}
        }
    }
    parsed
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| {
            accept.split(',').any(|item| {
                let media = item.split(';').next().unwrap_or("").trim();
                media.eq_ignore_ascii_case(HEALTH_JSON)
                    || media.eq_ignore_ascii_case("application/json")
            })
        })
}

fn target_of(segment: &str) -> Option<Target> {
    match segment {
        "livez" => Some(Target::Probe(Probe::Liveness)),
        "readyz" => Some(Target::Probe(Probe::Readiness)),
        "startupz" => Some(Target::Probe(Probe::Startup)),
        "healthz" => Some(Target::All),
        _ => None,
    }
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
    head: bool,
) -> Response<Full<Bytes>> {
    let body = if head { Bytes::new() } else { body.into() };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn not_found(head: bool) -> Response<Full<Bytes>> {
    response(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        "not found\n",
        head,
    )
}

fn render(report: &ProbeReport, verbose: bool, json: bool, head: bool) -> Response<Full<Bytes>> {
    let status = if report.status() == Status::Fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    if json {
        response(
            status,
            HEALTH_JSON,
            report.to_health_json().to_string(),
            head,
        )
    } else {
        response(
            status,
            "text/plain; charset=utf-8",
            report.to_text(verbose),
            head,
        )
    }
}

/// The response to one request. Never runs a check: it reads the latest results.
/// Whether `path` is one of the endpoints [`respond`] answers (`/livez`, `/readyz`,
/// `/startupz`, `/healthz`, or one check below them), for routing in a server of your own.
///
/// ```
/// assert!(telescope_health::is_endpoint("/readyz/database"));
/// assert!(!telescope_health::is_endpoint("/metrics"));
/// ```
pub fn is_endpoint(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    target_of(first).is_some()
}

/// The answer of `health`'s endpoints to a request: the probe's status (200 or 503) as text or
/// `application/health+json` by `Accept`, `?verbose`, `?exclude=<check>`, 404 for an unknown
/// path, 405 for methods other than `GET` and `HEAD`. [`HealthService`](crate::HealthService)
/// and [`HealthServer`](crate::HealthServer) answer with it; call it to serve the endpoints
/// from a server of your own.
///
/// ```
/// let health = telescope_health::Health::new();
/// let uri: http::Uri = "/livez".parse().unwrap();
/// let response = telescope_health::respond(&health, &http::Method::GET, &uri, &http::HeaderMap::new());
/// assert_eq!(response.status(), 200);
/// ```
pub fn respond(
    health: &Health,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    let head = method == Method::HEAD;
    if method != Method::GET && !head {
        let mut refused = response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "method not allowed\n",
            false,
        );
        refused
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return refused;
    }
    let path = uri.path().trim_end_matches('/');
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let Some(target) = segments.next().and_then(target_of) else {
        return not_found(head);
    };
    let query = parse_query(uri.query());
    let json = wants_json(headers);
    let exclude: Vec<&str> = query.exclude.iter().map(String::as_str).collect();
    match segments.next() {
        None => render(
            &health.report_for(target, &exclude),
            query.verbose,
            json,
            head,
        ),
        Some(check) => {
            // One check, as it counts for this probe; conditions such as draining do not apply.
            let report = health.report_for(target, &[]);
            match report.single(check) {
                Some(single) => render(&single, query.verbose, json, head),
                None => not_found(head),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let query = parse_query(Some("verbose&exclude=db&exclude=cache%2Dv2&other=1"));
        assert!(query.verbose);
        assert_eq!(query.exclude, ["db", "cache-v2"]);
        assert!(!parse_query(Some("verbose=false")).verbose);
        assert!(!parse_query(None).verbose);
        assert!(parse_query(Some("exclude=%zz")).exclude.is_empty());
    }

    #[test]
    fn accept_negotiation() {
        let mut headers = HeaderMap::new();
        assert!(!wants_json(&headers));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("text/plain, application/health+json;q=0.9"),
        );
        assert!(wants_json(&headers));
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!wants_json(&headers));
    }
}
