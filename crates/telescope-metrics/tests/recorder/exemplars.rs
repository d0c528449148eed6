//! Exemplars on histogram buckets: OpenMetrics only, the observation's own bucket, and only
//! when a trace is current.

use std::cell::Cell;
use std::time::Duration;

use telescope_core::{SpanId, TraceId};
use telescope_metrics::{Format, TelescopeRecorder};

thread_local! {
    static CURRENT: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

fn current() -> Option<(TraceId, SpanId)> {
    CURRENT.with(Cell::get)
}

fn in_trace(trace: u128, span: u64, f: impl FnOnce()) {
    CURRENT.with(|c| c.set(Some((TraceId::from_u128(trace), SpanId::from_u64(span)))));
    f();
    CURRENT.with(|c| c.set(None));
}

#[test]
fn an_observation_in_a_trace_marks_its_bucket_in_openmetrics_only() {
    let (recorder, handle) = TelescopeRecorder::builder()
        .buckets(&[0.1, 1.0])
        .expect("valid")
        .exemplars(Duration::from_secs(3600), current)
        .build();
    metrics::with_local_recorder(&recorder, || {
        metrics::histogram!("latency_seconds").record(0.05); // no trace: no exemplar
        in_trace(0xfeed, 0xbeef, || {
            metrics::histogram!("latency_seconds").record(0.5)
        });
        in_trace(0xf00d, 0xcafe, || {
            metrics::histogram!("latency_seconds").record(7.0)
        });
        // Within the interval, the bucket keeps its first exemplar.
        in_trace(0x1, 0x2, || {
            metrics::histogram!("latency_seconds").record(0.6)
        });
    });
    let text = handle.render(Format::OpenMetrics);
    let line = |le: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("latency_seconds_bucket{{le=\"{le}\"}}")))
            .unwrap_or_else(|| panic!("no le={le} bucket in:\n{text}"))
            .to_owned()
    };
    assert_eq!(
        line("0.1"),
        "latency_seconds_bucket{le=\"0.1\"} 1",
        "{text}"
    );
    let one = line("1.0");
    let (count, exemplar) = one.split_once(" # ").expect("an exemplar on le=1.0");
    assert_eq!(count, "latency_seconds_bucket{le=\"1.0\"} 3");
    assert!(
        exemplar.starts_with(
            "{trace_id=\"0000000000000000000000000000feed\",span_id=\"000000000000beef\"} 0.5 "
        ),
        "{exemplar}"
    );
    let timestamp: f64 = exemplar
        .rsplit(' ')
        .next()
        .and_then(|t| t.parse().ok())
        .expect("a timestamp");
    assert!(timestamp > 1.6e9, "unix seconds: {timestamp}");
    assert!(
        line("+Inf").contains("trace_id=\"0000000000000000000000000000f00d\""),
        "{text}"
    );
    assert!(
        !handle.render(Format::Prometheus).contains(" # {"),
        "the Prometheus text format has no exemplars"
    );
}

#[test]
fn without_exemplars_configured_nothing_is_looked_up() {
    let (recorder, handle) = TelescopeRecorder::builder().build();
    metrics::with_local_recorder(&recorder, || {
        in_trace(0xfeed, 0xbeef, || {
            metrics::histogram!("latency_seconds").record(0.5)
        });
    });
    assert!(!handle.render(Format::OpenMetrics).contains(" # {"));
}

/// Each thread's observations carry its own trace id and a value only it records, so a torn
/// or misplaced exemplar would show as a value outside its bucket or a foreign trace.
fn thread_trace() -> Option<(TraceId, SpanId)> {
    CURRENT.with(Cell::get)
}

#[test]
fn eight_threads_taking_exemplars_lose_no_counts_and_tear_no_exemplar() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 50_000;
    let bounds = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let (recorder, handle) = TelescopeRecorder::builder()
        .buckets(&bounds)
        .expect("valid")
        .exemplars(Duration::from_millis(1), thread_trace)
        .build();
    crate::threads::on_threads(&recorder, THREADS, |thread, start| {
        let histogram = metrics::histogram!("work_seconds");
        CURRENT.with(|c| {
            c.set(Some((
                TraceId::from_u128(u128::from(thread) + 1),
                SpanId::from_u64(thread + 1),
            )))
        });
        start.wait();
        for _ in 0..PER_THREAD {
            // Thread t records only t + 0.5: bucket le=t+1 (le=+Inf for t=7).
            histogram.record(thread as f64 + 0.5);
        }
    });
    let text = handle.render(Format::OpenMetrics);
    let count_line = text
        .lines()
        .find(|l| l.starts_with("work_seconds_count"))
        .expect("count");
    assert_eq!(
        count_line,
        format!("work_seconds_count {}", THREADS * PER_THREAD)
    );
    let mut exemplars = 0;
    for line in text
        .lines()
        .filter(|l| l.starts_with("work_seconds_bucket"))
    {
        let Some((_, exemplar)) = line.split_once(" # ") else {
            continue;
        };
        exemplars += 1;
        let trace: u64 = u64::from_str_radix(&exemplar[11..43], 16).expect("hex trace id");
        let value: f64 = exemplar
            .split(' ')
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("value");
        assert_eq!(
            value,
            (trace - 1) as f64 + 0.5,
            "exemplar from another thread: {line}"
        );
        let le = line
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("le");
        let expected_le = bounds
            .get(trace as usize - 1)
            .map_or("+Inf".to_owned(), |b| format!("{b:.1}"));
        assert_eq!(le, expected_le, "{line}");
    }
    assert_eq!(
        exemplars, THREADS as usize,
        "one per bucket, every bucket hit:\n{text}"
    );
}
