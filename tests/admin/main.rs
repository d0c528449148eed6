//! The admin server started by the builder: `/metrics`, the probes and `/debug/traces` over a
//! real socket on 127.0.0.1, with and without a bearer token.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use telescope::health::{check_fn, CheckConfig, CheckResult};
use telescope::InitError;

use telescope_test_support::http_client;
mod trace_view;

/// `GET path`: the status, the raw head and the body.
fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let reply = http_client::request(addr, "GET", path, headers, "");
    (reply.status, reply.head, reply.body)
}

fn local_builder() -> telescope::TelemetryBuilder {
    telescope::builder()
        .service_name("admin-test")
        .admin_address("127.0.0.1:0")
        .log_writer(std::io::sink())
}

#[test]
fn one_port_serves_metrics_probes_and_traces() {
    let (dispatch, telemetry) = local_builder().build().expect("builds");
    let addr = telemetry.admin_addr().expect("listening");
    let failing = check_fn("payments", || async {
        CheckResult::fail("connection refused")
    });
    telemetry
        .health()
        .register(failing, CheckConfig::readiness())
        .expect("registers");

    metrics::with_local_recorder(&telemetry.metrics_recorder(), || {
        metrics::counter!("orders_total", "status" => "ok").increment(3);
    });
    tracing::dispatcher::with_default(&dispatch, || {
        let fast = tracing::info_span!("GET /fast");
        fast.in_scope(|| {});
        drop(fast);
        let slow = tracing::info_span!("GET /slow <b>");
        slow.in_scope(|| {
            tracing::info_span!("db.query", rows = 3_i64).in_scope(|| {
                std::thread::sleep(Duration::from_millis(20));
                tracing::info!(attempt = 1, "queried");
            });
        });
        drop(slow);
        let failed = tracing::info_span!("POST /pay");
        failed.in_scope(|| tracing::error!("card declined"));
    });
    assert!(telemetry.flush(Duration::from_secs(5)));

    let (status, head, body) = get(addr, "/metrics", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(body.contains("orders_total{status=\"ok\"} 3"), "{body}");

    assert_eq!(get(addr, "/livez", &[]).0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = get(addr, "/readyz?verbose", &[]);
        if status == 503 {
            assert!(body.contains("payments"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness never failed: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (status, head, json) = get(addr, "/debug/traces?format=json", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("application/json"), "{head}");
    let listing: Value = serde_json::from_str(&json).expect("JSON");
    let traces = listing["traces"].as_array().expect("traces");
    let roots: Vec<&str> = traces
        .iter()
        .map(|t| t["root"].as_str().expect("root"))
        .collect();
    assert_eq!(
        roots,
        ["POST /pay", "GET /slow <b>", "GET /fast"],
        "failed first, then slowest"
    );
    assert_eq!(traces[0]["failed"], true);
    let slow = &traces[1];
    assert_eq!(slow["span_count"], 2);
    let spans = slow["spans"].as_array().expect("spans");
    let root_id = spans[0]["span_id"].as_str().expect("id");
    assert_eq!(spans[1]["name"], "db.query");
    assert_eq!(spans[1]["parent_span_id"], root_id);
    assert_eq!(spans[1]["attributes"]["rows"], 3);
    assert_eq!(spans[1]["events"][0]["name"], "queried");
    assert!(spans[1]["duration_ms"].as_f64().expect("ms") >= 20.0);

    let (status, head, html) = get(addr, "/debug/traces", &[]);
    assert_eq!(status, 200);
    assert!(head.contains("text/html"), "{head}");
    assert!(html.contains("GET /slow &lt;b&gt;"), "names are escaped");
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );
    assert!(
        html.find("POST /pay") < html.find("GET /slow"),
        "failed first"
    );

    // One trace by id, as an exemplar names it.
    let slow_id = slow["trace_id"].as_str().expect("trace id");
    let (status, _, one) = get(
        addr,
        &format!("/debug/traces?format=json&trace_id={slow_id}"),
        &[],
    );
    assert_eq!(status, 200);
    let one: Value = serde_json::from_str(&one).expect("JSON");
    assert_eq!(one["traces"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["traces"][0]["trace_id"], slow_id);
    let (_, _, one_html) = get(addr, &format!("/debug/traces?trace_id={slow_id}"), &[]);
    assert!(
        one_html.contains("<details class=\"trace\" open>"),
        "{one_html}"
    );
    assert!(
        html.contains(&format!("href=\"?trace_id={slow_id}\"")),
        "linked from the list"
    );
    assert_eq!(get(addr, "/debug/traces?trace_id=xyz", &[]).0, 400);
    assert_eq!(
        get(
            addr,
            &format!("/debug/traces?trace_id={}", "0".repeat(32)),
            &[]
        )
        .0,
        400
    );
    let (status, _, gone) = get(
        addr,
        "/debug/traces?trace_id=0123456789abcdef0123456789abcdef",
        &[],
    );
    assert_eq!(status, 404);
    assert!(gone.contains("is not kept"), "{gone}");

    let (_, _, limited) = get(addr, "/debug/traces?format=json&limit=1", &[]);
    let limited: Value = serde_json::from_str(&limited).expect("JSON");
    assert_eq!(limited["traces"].as_array().map(Vec::len), Some(1));
    assert_eq!(get(addr, "/debug/traces?limit=many", &[]).0, 400);

    // Filters: status, a name any span of the trace contains (decoded as a form sends it),
    // a least duration; combined with each other and with the limit.
    let listed = |query: &str| -> Vec<Value> {
        let (status, head, json) = get(addr, &format!("/debug/traces?format=json&{query}"), &[]);
        assert_eq!(status, 200, "{query}: {head}");
        let listing: Value = serde_json::from_str(&json).expect("JSON");
        listing["traces"].as_array().expect("traces").clone()
    };
    let roots_of = |traces: &[Value]| -> Vec<String> {
        traces
            .iter()
            .map(|t| t["root"].as_str().expect("root").to_owned())
            .collect()
    };
    assert_eq!(roots_of(&listed("status=error")), ["POST /pay"]);
    assert_eq!(
        roots_of(&listed("status=ok")),
        ["GET /slow <b>", "GET /fast"]
    );
    assert_eq!(
        roots_of(&listed("name=db.q")),
        ["GET /slow <b>"],
        "a child's name"
    );
    assert_eq!(roots_of(&listed("name=GET+%2Fslow")), ["GET /slow <b>"]);
    assert!(listed("name=nothing-like-it").is_empty());
    assert!(listed("name=GET&status=error").is_empty());
    let slow_enough = listed("min_ms=20");
    assert!(
        roots_of(&slow_enough).contains(&"GET /slow <b>".to_owned()),
        "the trace that slept 20 ms"
    );
    assert!(slow_enough
        .iter()
        .all(|t| t["duration_ms"].as_f64().expect("ms") >= 20.0));
    assert_eq!(listed("status=ok&limit=1").len(), 1);
    assert_eq!(
        listed("name=&status=&min_ms=").len(),
        3,
        "an untouched form"
    );
    let (status, _, refusal) = get(addr, "/debug/traces?status=maybe", &[]);
    assert_eq!(status, 400);
    assert!(refusal.contains("status must be error or ok"), "{refusal}");
    assert_eq!(get(addr, "/debug/traces?min_ms=soon", &[]).0, 400);
    let (_, _, filtered_html) = get(addr, "/debug/traces?name=db.q&status=ok", &[]);
    assert!(
        filtered_html.contains("name=name value=\"db.q\""),
        "the form shows the filter"
    );
    assert!(
        filtered_html.contains("<option value=ok selected>"),
        "{filtered_html}"
    );
    assert!(
        filtered_html.contains("href=\"?format=json&amp;name=db.q&amp;status=ok\""),
        "the JSON link keeps the filter"
    );
    assert!(!filtered_html.contains("POST /pay"));
    let (_, _, none_html) = get(addr, "/debug/traces?name=nothing-like-it", &[]);
    assert!(none_html.contains("No trace in the ring matches the filter"));
    assert_eq!(get(addr, "/nowhere", &[]).0, 404);
    let (status, _, index) = get(addr, "/", &[]);
    assert_eq!(status, 200);
    assert!(index.contains("/debug/traces") && index.contains("/metrics"));
}

#[test]
fn the_token_guards_metrics_and_traces_but_not_probes() {
    let (_dispatch, telemetry) = local_builder()
        .admin_token("s3cret")
        .build()
        .expect("builds");
    let addr = telemetry.admin_addr().expect("listening");
    for path in ["/metrics", "/debug/traces", "/"] {
        let (status, head, _) = get(addr, path, &[]);
        assert_eq!(status, 401, "{path}");
        assert!(head.contains("www-authenticate: Bearer"), "{head}");
        assert_eq!(
            get(addr, path, &[("Authorization", "Bearer wrong")]).0,
            401,
            "{path}"
        );
        // The scheme is case-insensitive (RFC 9110); the token is compared whole.
        for (header, status) in [
            ("Bearer s3cret", 200),
            ("bearer s3cret", 200),
            ("Bearer s3cre", 401),
            ("Basic s3cret", 401),
        ] {
            assert_eq!(
                get(addr, path, &[("Authorization", header)]).0,
                status,
                "{path} {header}"
            );
        }
    }
    assert_eq!(get(addr, "/livez", &[]).0, 200, "kubelets send no token");
}

#[test]
fn an_admin_address_that_cannot_be_bound_is_an_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("addr").to_string();
    match local_builder().admin_address(address.clone()).build() {
        Err(InitError::Admin(error)) => {
            assert!(error.to_string().contains(&address), "{error}");
        }
        other => panic!("expected an admin error, got {:?}", other.map(|_| ())),
    }
    match local_builder().admin_address("not an address").build() {
        Err(InitError::Admin(_)) => {}
        other => panic!("expected an admin error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn the_admin_server_can_be_turned_off() {
    let (_dispatch, telemetry) = local_builder()
        .without_admin_server()
        .build()
        .expect("builds");
    assert_eq!(telemetry.admin_addr(), None);
}

#[test]
fn shutdown_stops_the_admin_server() {
    let (_dispatch, mut telemetry) = local_builder().build().expect("builds");
    let addr = telemetry.admin_addr().expect("listening");
    assert_eq!(get(addr, "/livez", &[]).0, 200);
    telemetry.shutdown();
    assert_eq!(telemetry.admin_addr(), None, "no address once stopped");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn a_foreign_metrics_recorder_is_a_clear_error_and_nothing_is_installed() {
    let foreign = metrics_util::debugging::DebuggingRecorder::new();
    metrics::set_global_recorder(foreign).expect("the first recorder in this process");
    let result = local_builder().try_init();
    assert!(
        matches!(result, Err(InitError::MetricsAlreadyInstalled)),
        "{:?}",
        result.map(|_| ())
    );
    assert!(
        !tracing::dispatcher::has_been_set(),
        "no subscriber left behind by a failed init"
    );
}

/// A finished span of one trace: `id` under `parent`, from `start_ms` to `end_ms`.
fn finished_span(
    id: u8,
    parent: Option<u8>,
    start_ms: u64,
    end_ms: u64,
) -> std::sync::Arc<opentelemetry_sdk::trace::SpanData> {
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId};
    let at = |ms: u64| {
        std::time::UNIX_EPOCH
            + Duration::from_secs(1_700_000_000 + ms / 1000)
            + Duration::from_millis(ms % 1000)
    };
    std::sync::Arc::new(opentelemetry_sdk::trace::SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes([7; 16]),
            SpanId::from_bytes([id; 8]),
            TraceFlags::SAMPLED,
            false,
            opentelemetry::trace::TraceState::default(),
        ),
        parent_span_id: parent.map_or(SpanId::INVALID, |p| SpanId::from_bytes([p; 8])),
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: format!("step-{id}").into(),
        start_time: at(start_ms),
        end_time: at(end_ms),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: opentelemetry_sdk::trace::SpanEvents::default(),
        links: opentelemetry_sdk::trace::SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: opentelemetry::InstrumentationScope::builder("test").build(),
    })
}

/// A child that starts after 99.5% of its trace's duration (an ordinary slow order in the
/// quickstart) made the trace page panic, and the server answered with an empty reply.
#[test]
fn the_trace_page_renders_a_child_starting_at_the_end_of_its_trace() {
    use telescope::otlp::SpanSink as _;
    let ring = telescope::otlp::SpanRing::new(100);
    let server = telescope::admin::AdminServer::builder()
        .address("127.0.0.1:0")
        .traces(ring.clone())
        .start()
        .expect("admin server");
    ring.on_end(finished_span(1, None, 0, 1000));
    ring.on_end(finished_span(2, Some(1), 998, 1000));
    ring.on_end(finished_span(3, Some(1), 1000, 1000));
    let (status, _, body) = get(server.local_addr(), "/debug/traces", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("step-2") && body.contains("step-3"), "{body}");
}

/// A liveness probe sent while `/metrics` renders 200,000 series answers before that render
/// is done: probes never wait behind renders (each request is answered on a thread of its
/// own). Before, both were answered on the server's one I/O thread, the probe after the
/// render.
#[test]
fn a_probe_answers_while_a_large_scrape_renders() {
    let (_dispatch, telemetry) = local_builder()
        .metrics(
            telescope::recorder::TelescopeRecorder::builder()
                .cardinality_limit(2_000)
                .series_limit(200_000),
        )
        .build()
        .expect("builds");
    metrics::with_local_recorder(&telemetry.metrics_recorder(), || {
        for family in 0..100 {
            let name = format!("family_{family}_total");
            for series in 0..2_000 {
                metrics::counter!(name.clone(), "series" => format!("{series:06}")).increment(1);
            }
        }
    });
    let addr = telemetry.admin_addr().expect("listening");
    let (finished, order) = std::sync::mpsc::channel();
    let scrape = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            // HEAD renders as GET does, without the time of moving the body.
            let reply = http_client::request(addr, "HEAD", "/metrics", &[], "");
            assert_eq!(reply.status, 200);
            finished.send("metrics").expect("send");
        })
    };
    // Long enough for the render to have begun, far shorter than it takes.
    std::thread::sleep(Duration::from_millis(30));
    let (status, _, _) = get(addr, "/livez", &[]);
    assert_eq!(status, 200);
    finished.send("livez").expect("send");
    scrape.join().expect("scrape");
    assert_eq!(order.recv().expect("first"), "livez");
}
