//! The trace view over a real socket: retention (an error trace and a slow trace outlive
//! 100,000 later spans, every exemplar on `/metrics` opens, the byte budget holds), the
//! waterfall's geometry for a known trace, the log lines, and escaping.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SpanData;
use serde_json::Value;
use telescope::admin::AdminServer;
use telescope::otlp::{SpanRing, SpanSink, TraceRetention};

use super::{get, local_builder};

fn json(addr: std::net::SocketAddr, path: &str) -> Value {
    let (status, head, body) = get(addr, path, &[]);
    assert_eq!(status, 200, "{path}: {head}{body}");
    serde_json::from_str(&body).expect("JSON")
}

#[test]
fn an_error_trace_and_a_slow_trace_outlive_a_hundred_thousand_later_spans() {
    let (dispatch, telemetry) = local_builder().build().expect("builds");
    let addr = telemetry.admin_addr().expect("listening");
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("POST /pay").in_scope(|| {
            tracing::info_span!("charge")
                .in_scope(|| tracing::error!(card = "visa", "card declined"));
        });
        tracing::info_span!("GET /report")
            .in_scope(|| std::thread::sleep(Duration::from_millis(40)));
    });
    assert!(telemetry.flush(Duration::from_secs(5)));
    let first = json(addr, "/debug/traces?format=json");
    let id_of = |root: &str| -> String {
        first["traces"]
            .as_array()
            .expect("traces")
            .iter()
            .find(|t| t["root"] == root)
            .and_then(|t| t["trace_id"].as_str())
            .expect("listed")
            .to_owned()
    };
    let (failed, slow) = (id_of("POST /pay"), id_of("GET /report"));

    // 50,000 two-span traces: 100,000 spans, 49 rings' worth, of the same operations and
    // of others, all fine and fast.
    tracing::dispatcher::with_default(&dispatch, || {
        for round in 0..50_000u32 {
            let root = match round % 3 {
                0 => tracing::info_span!("GET /report"),
                1 => tracing::info_span!("POST /pay"),
                _ => tracing::info_span!("GET /fast"),
            };
            root.in_scope(|| tracing::info_span!("db.query").in_scope(|| {}));
            drop(root);
            if round % 500 == 499 {
                assert!(telemetry.flush(Duration::from_secs(10)));
            }
        }
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let listing = json(addr, "/debug/traces?format=json&limit=1");
    assert_eq!(
        listing["span_count"], 2048,
        "the ring turned over many times"
    );

    let failed_trace = json(
        addr,
        &format!("/debug/traces?format=json&trace_id={failed}"),
    );
    let trace = &failed_trace["traces"][0];
    assert_eq!(trace["retained"][0], "error");
    assert_eq!(
        trace["span_count"], 2,
        "whole: the root and its failed child"
    );
    assert_eq!(trace["logs"][0]["message"], "card declined");
    assert_eq!(trace["logs"][0]["level"], "ERROR");
    assert_eq!(trace["logs"][0]["fields"]["card"], "visa");
    assert_eq!(trace["logs"][0]["span_name"], "charge");

    let slow_trace = json(addr, &format!("/debug/traces?format=json&trace_id={slow}"));
    let retained = slow_trace["traces"][0]["retained"]
        .as_array()
        .expect("reasons");
    assert!(retained.iter().any(|r| r == "slow"), "{retained:?}");

    // The page opens with the error path expanded and says what it keeps.
    let (status, _, html) = get(addr, &format!("/debug/traces?trace_id={failed}"), &[]);
    assert_eq!(status, 200);
    assert!(
        html.contains("class=\"sp err leaf\""),
        "the failed span is marked"
    );
    assert!(html.contains("<span class=\"tag error\">error</span>"));
    let stats = &listing["retention"];
    assert!(stats["bytes"].as_u64() <= stats["max_bytes"].as_u64());
    assert_eq!(stats["max_bytes"], 16 << 20);
}

#[test]
fn every_exemplar_on_metrics_opens_its_trace() {
    let (dispatch, telemetry) = local_builder()
        .exemplar_interval(Some(Duration::from_millis(1)))
        .build()
        .expect("builds");
    let addr = telemetry.admin_addr().expect("listening");
    let recorder = telemetry.metrics_recorder();
    // Not installed globally: the span metrics go to this thread's recorder.
    metrics::with_local_recorder(&recorder, || {
        tracing::dispatcher::with_default(&dispatch, || {
            for round in 0..6_000u32 {
                let root = if round % 2 == 0 {
                    tracing::info_span!("GET /a")
                } else {
                    tracing::info_span!("GET /b")
                };
                root.in_scope(|| {
                    if round % 1_000 == 0 {
                        // A few slower ones, in buckets of their own.
                        std::thread::sleep(Duration::from_millis(6 + u64::from(round / 1_000)));
                    }
                    tracing::info_span!("step").in_scope(|| {});
                });
                drop(root);
                if round % 500 == 499 {
                    assert!(telemetry.flush(Duration::from_secs(10)));
                }
            }
        })
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    // Then other operations turn the ring over many times, leaving those exemplars as they
    // are: fast traces, kept by no other reservoir.
    metrics::with_local_recorder(&recorder, || {
        tracing::dispatcher::with_default(&dispatch, || {
            for round in 0..5_000u32 {
                tracing::info_span!("GET /other")
                    .in_scope(|| tracing::info_span!("other.step").in_scope(|| {}));
                if round % 500 == 499 {
                    assert!(telemetry.flush(Duration::from_secs(10)));
                }
            }
        })
    });
    assert!(telemetry.flush(Duration::from_secs(10)));
    let (status, _, scrape) = get(
        addr,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert_eq!(status, 200);
    let exemplars: Vec<&str> = scrape
        .lines()
        .filter(|line| {
            line.starts_with("telescope_span_duration_seconds_bucket") && !line.contains("other")
        })
        .filter_map(|line| line.split("trace_id=\"").nth(1))
        .filter_map(|rest| rest.get(..32))
        .collect();
    // GET /a and GET /b in the first bucket, GET /a's slower ones, and the child's.
    assert!(exemplars.len() >= 4, "{scrape}");
    for trace_id in &exemplars {
        let (status, _, body) = get(
            addr,
            &format!("/debug/traces?format=json&trace_id={trace_id}"),
            &[],
        );
        assert_eq!(status, 200, "exemplar trace {trace_id}: {body}");
    }
}

/// A server span of trace `[1; 16]`: `id` under `parent`, from `start_ms` to `end_ms`.
fn span(id: u8, parent: Option<u8>, start_ms: u64, end_ms: u64, name: &str) -> SpanData {
    let mut span = telescope_test_support::span_data::finished_span(
        [1; 16],
        [id; 8],
        parent.map(|p| [p; 8]),
        name.to_owned(),
        start_ms,
        end_ms,
    );
    span.span_kind = SpanKind::Server;
    span
}

fn serve(ring: &SpanRing) -> AdminServer {
    AdminServer::builder()
        .address("127.0.0.1:0")
        .service_name("checkout")
        .traces(ring.clone())
        .start()
        .expect("starts")
}

#[test]
fn the_waterfall_of_a_known_trace() {
    let ring = SpanRing::new(100);
    // root [0, 200]; a [0, 50] and b [0, 50] start together; z [120, 120] takes no time;
    // late [150, 400] ends after its parent; its child fails.
    let mut failing = span(6, Some(5), 300, 350, "late.child");
    failing.status = Status::error("boom");
    for data in [
        span(2, Some(1), 0, 50, "a"),
        span(3, Some(1), 0, 50, "b"),
        span(4, Some(1), 120, 120, "z"),
        failing,
        span(5, Some(1), 150, 400, "late"),
        span(1, None, 0, 200, "root"),
    ] {
        ring.on_end(Arc::new(data));
    }
    let server = serve(&ring);
    let listing = json(server.local_addr(), "/debug/traces?format=json");
    let trace = &listing["traces"][0];
    assert_eq!(trace["duration_ms"], 400.0);
    let rows: Vec<(String, u64, f64, f64, bool)> = trace["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name").to_owned(),
                s["depth"].as_u64().expect("depth"),
                s["left_pct"].as_f64().expect("left"),
                s["width_pct"].as_f64().expect("width"),
                s["error_path"].as_bool().expect("path"),
            )
        })
        .collect();
    let expected = [
        ("root", 0, 0.0, 50.0, true),
        ("a", 1, 0.0, 12.5, false),
        ("b", 1, 0.0, 12.5, false),
        ("z", 1, 30.0, 0.5, false),
        ("late", 1, 37.5, 62.5, true),
        ("late.child", 2, 75.0, 12.5, true),
    ];
    let expected: Vec<(String, u64, f64, f64, bool)> = expected
        .iter()
        .map(|(n, d, l, w, e)| ((*n).to_owned(), *d, *l, *w, *e))
        .collect();
    assert_eq!(rows, expected);
    assert_eq!(trace["spans"][4]["offset_ms"], 150.0);
    assert_eq!(trace["spans"][0]["service"], "checkout");
    assert_eq!(trace["spans"][0]["kind"], "server");

    let (_, _, html) = get(
        server.local_addr(),
        "/debug/traces?trace_id=01010101010101010101010101010101",
        &[],
    );
    // The same geometry on the page, and the error path open.
    assert!(
        html.contains("<i style=\"left:37.500%;width:62.500%\">"),
        "{html}"
    );
    assert!(html.contains("<i style=\"left:30.000%;width:0.500%\">"));
    for id in ["0101010101010101", "0505050505050505", "0606060606060606"] {
        assert!(
            html.contains(&format!("id=\"span-{id}\" open>")),
            "{id} expanded"
        );
    }
    // A sibling off the error path, in a failed trace, is collapsed.
    assert!(html.contains("id=\"span-0202020202020202\">"));
    // The axis: quarters of 400 ms.
    assert!(html.contains(">100.00 ms</span>") && html.contains(">400.00 ms</span>"));
    server.shutdown();
}

#[test]
fn the_budget_bounds_the_kept_traces() {
    let ring = SpanRing::with_retention(64, TraceRetention::default().max_bytes(64 * 1024));
    for n in 0..2_000u32 {
        let mut root = span(
            1,
            None,
            u64::from(n),
            u64::from(n) + 1,
            &format!("op-{}", n % 200),
        );
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_be_bytes());
        id[15] = 1;
        root.span_context = SpanContext::new(
            TraceId::from_bytes(id),
            SpanId::from_bytes([1; 8]),
            TraceFlags::SAMPLED,
            false,
            opentelemetry::trace::TraceState::NONE,
        );
        root.status = Status::error("failed");
        root.attributes
            .push(KeyValue::new("payload", "x".repeat(1_000)));
        ring.on_end(Arc::new(root));
    }
    let server = serve(&ring);
    let listing = json(server.local_addr(), "/debug/traces?format=json&limit=5000");
    let stats = &listing["retention"];
    let bytes = stats["bytes"].as_u64().expect("bytes");
    assert!(bytes <= 64 * 1024, "{stats}");
    assert!(
        stats["evicted_traces"].as_u64().expect("evicted") > 0,
        "{stats}"
    );
    let kept = stats["kept_traces"].as_u64().expect("kept");
    assert!(kept > 10, "{stats}");
    // The newest failed trace is there; the budget let the oldest go.
    let newest = format!("{:08x}{}01", 1_999, "0".repeat(22));
    assert_eq!(
        get(
            server.local_addr(),
            &format!("/debug/traces?trace_id={newest}"),
            &[]
        )
        .0,
        200
    );
    let oldest = format!("{:08x}{}01", 0, "0".repeat(22));
    let (status, _, gone) = get(
        server.local_addr(),
        &format!("/debug/traces?trace_id={oldest}"),
        &[],
    );
    assert_eq!(status, 404);
    assert!(
        gone.contains("65536 bytes"),
        "the page says the budget: {gone}"
    );
    let (_, _, html) = get(server.local_addr(), "/debug/traces", &[]);
    assert!(html.contains("of 64.0 KiB"), "the cap is shown");
    server.shutdown();
}

#[test]
fn names_attributes_events_and_logs_are_escaped() {
    let ring = SpanRing::new(100);
    let hostile = "<script>alert('x')</script>\"&";
    let mut root = span(1, None, 0, 10, hostile);
    root.attributes.push(KeyValue::new(hostile, hostile));
    root.status = Status::error(hostile);
    root.events.events.push(opentelemetry::trace::Event::new(
        hostile,
        telescope_test_support::span_data::at(0),
        vec![
            KeyValue::new("level", "ERROR"),
            KeyValue::new(hostile, hostile),
        ],
        0,
    ));
    ring.on_end(Arc::new(root));
    let server = serve(&ring);
    let (status, _, html) = get(server.local_addr(), "/debug/traces", &[]);
    assert_eq!(status, 200);
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"));
    let listing = json(server.local_addr(), "/debug/traces?format=json");
    let trace = &listing["traces"][0];
    assert_eq!(trace["root"], hostile);
    assert_eq!(trace["logs"][0]["message"], hostile);
    assert_eq!(trace["logs"][0]["fields"][hostile], hostile);
    assert_eq!(trace["spans"][0]["status_message"], hostile);
    server.shutdown();
}

/// Every field path of `value` (`a.b`, `a[].b`), not descending into maps of attributes or
/// fields.
fn field_paths(value: &Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    const MAPS: [&str; 2] = ["attributes", "fields"];
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                if !MAPS.contains(&key.as_str()) {
                    field_paths(inner, &path, out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                field_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The field paths the table under `## <heading>` of docs/debug-traces.md lists.
fn documented(heading: &str) -> std::collections::BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/debug-traces.md"))
        .expect("docs/debug-traces.md");
    let section = doc
        .split("\n## ")
        .find(|section| section.starts_with(heading))
        .unwrap_or_else(|| panic!("no section {heading}"));
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_json_is_what_docs_debug_traces_md_says() {
    let ring = SpanRing::new(100);
    let mut root = span(1, None, 0, 100, "GET /orders/{id}");
    root.status = Status::error("no stock");
    root.attributes
        .push(KeyValue::new("http.route", "/orders/{id}"));
    root.events.events.push(opentelemetry::trace::Event::new(
        "out of stock",
        telescope_test_support::span_data::at(0),
        vec![
            KeyValue::new("level", "WARN"),
            KeyValue::new("target", "shop"),
            KeyValue::new("sku", 7_i64),
        ],
        0,
    ));
    let mut child = span(2, Some(1), 10, 20, "db.query");
    child.links.links.push(opentelemetry::trace::Link::new(
        SpanContext::new(
            TraceId::from_bytes([9; 16]),
            SpanId::from_bytes([9; 8]),
            TraceFlags::SAMPLED,
            true,
            opentelemetry::trace::TraceState::NONE,
        ),
        vec![KeyValue::new("why", "batch")],
        0,
    ));
    ring.on_end(Arc::new(child));
    ring.on_end(Arc::new(root));
    let (recorder, metrics) = telescope::recorder::TelescopeRecorder::builder()
        .exemplars(Duration::from_millis(1), || {
            Some((
                telescope::context::TraceId::from_bytes([1; 16]),
                telescope::context::SpanId::from_bytes([1; 8]),
            ))
        })
        .build();
    metrics::with_local_recorder(&recorder, || {
        metrics::histogram!("telescope_span_duration_seconds", "span_name" => "db.query", "status" => "ok").record(0.01);
        metrics::histogram!("http_server_request_duration_seconds",
            "method" => "GET", "route" => "/orders/{id}", "status" => "503")
        .record(0.1);
    });
    let server = AdminServer::builder()
        .address("127.0.0.1:0")
        .service_name("checkout")
        .traces(ring)
        .metrics(metrics)
        .start()
        .expect("starts");

    for (path, heading) in [
        ("/debug/traces?format=json", "`/debug/traces?format=json`"),
        (
            "/debug/overview?format=json",
            "`/debug/overview?format=json`",
        ),
    ] {
        let mut seen = std::collections::BTreeSet::new();
        field_paths(&json(server.local_addr(), path), "", &mut seen);
        let listed = documented(heading);
        let undocumented: Vec<_> = seen.difference(&listed).collect();
        let missing: Vec<_> = listed.difference(&seen).collect();
        assert!(
            undocumented.is_empty(),
            "{path}: not in the docs: {undocumented:?}"
        );
        assert!(
            missing.is_empty(),
            "{path}: documented, not in the answer: {missing:?}"
        );
    }

    // The overview's numbers: one failed request on the route, its exemplar linked.
    let overview = json(server.local_addr(), "/debug/overview?format=json");
    let routes = &overview["sections"][0];
    assert_eq!(routes["title"], "HTTP routes");
    let route = &routes["operations"][0];
    assert_eq!(route["name"], "GET /orders/{id}");
    assert_eq!(
        (route["count"].as_u64(), route["errors"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(route["error_rate"], 1.0);
    assert_eq!(route["exemplars"][0]["trace_id"], "01".repeat(16));
    assert_eq!(
        route["kept_traces"], 1,
        "the failed trace of that name is kept"
    );
    let (_, _, html) = get(server.local_addr(), "/debug/overview", &[]);
    assert!(
        html.contains(&format!(
            "href=\"/debug/traces?trace_id={}\"",
            "01".repeat(16)
        )),
        "{html}"
    );
    assert!(html.contains("GET /orders/{id}"));
    server.shutdown();
}

#[test]
fn the_overview_sorts_by_each_column_and_refuses_nonsense() {
    let (recorder, metrics) = telescope::recorder::TelescopeRecorder::builder().build();
    metrics::with_local_recorder(&recorder, || {
        for (name, count, seconds, status) in [
            ("fast", 30, 0.001, "ok"),
            ("slow", 5, 2.0, "ok"),
            ("flaky", 10, 0.05, "error"),
            ("flaky", 10, 0.05, "ok"),
        ] {
            for _ in 0..count {
                metrics::histogram!("telescope_span_duration_seconds", "span_name" => name, "status" => status)
                    .record(seconds);
            }
        }
    });
    let server = AdminServer::builder()
        .address("127.0.0.1:0")
        .metrics(metrics)
        .start()
        .expect("starts");
    let names = |query: &str| -> Vec<String> {
        let overview = json(
            server.local_addr(),
            &format!("/debug/overview?format=json&{query}"),
        );
        overview["sections"][0]["operations"]
            .as_array()
            .expect("operations")
            .iter()
            .map(|op| op["name"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(names(""), ["fast", "flaky", "slow"], "by rate, most first");
    assert_eq!(names("sort=p99"), ["slow", "flaky", "fast"]);
    assert_eq!(names("sort=p99&order=asc"), ["fast", "flaky", "slow"]);
    assert_eq!(names("sort=error_rate"), ["flaky", "fast", "slow"]);
    assert_eq!(names("sort=name"), ["fast", "flaky", "slow"]);
    assert_eq!(names("sort=name&order=desc"), ["slow", "flaky", "fast"]);
    assert_eq!(names("name=fl"), ["flaky"]);
    let flaky = json(
        server.local_addr(),
        "/debug/overview?format=json&name=flaky",
    );
    let flaky = &flaky["sections"][0]["operations"][0];
    assert_eq!(flaky["error_rate"], 0.5);
    // 20 observations of 0.05 s, in (0.025, 0.05]: the median interpolates to its middle.
    assert!(
        (flaky["p50_ms"].as_f64().expect("p50") - 37.5).abs() < 1e-9,
        "{flaky}"
    );
    for bad in ["sort=bogus", "order=sideways"] {
        let (status, _, body) = get(server.local_addr(), &format!("/debug/overview?{bad}"), &[]);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (_, _, html) = get(server.local_addr(), "/debug/overview?sort=p99", &[]);
    assert!(
        html.contains("<th class=sorted><a href=\"?sort=p99&amp;order=asc\">p99 ▼</a></th>"),
        "{html}"
    );
    server.shutdown();
}
