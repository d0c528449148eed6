//! Hostile metric sets, rendered in both formats, read by every parser we know users run:
//! `promtool check metrics` (Prometheus text; its lint findings about naming conventions
//! aside) and prometheus_client's text and OpenMetrics parsers (Python; `.ci/run` installs them into a virtual environment and names its
//! interpreter in `TELESCOPE_PYTHON`).
//!
//! The sets come from a seeded generator (names and labels from alphabets with control
//! characters, unicode, reserved words and suffix collisions; every kind; NaN, infinities,
//! negative and huge values), plus hand-written cases that once broke a parser.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use telescope::recorder::{Format, Matcher, TelescopeRecorder};

use crate::promtool_support::promtool_parses;

/// Names that collide once suffixed or made valid, reserved words, and empties.
const NAME_POOL: &[&str] = &[
    "h",
    "h_bucket",
    "h_sum",
    "h_count",
    "h_created",
    "x",
    "x_total",
    "_total",
    "c_total",
    "c_created",
    "a.b",
    "a_b",
    "a-b",
    "le",
    "quantile",
    "9lives",
    "",
    " ",
    "é",
    "x:y",
    "telescope_metrics_series",
    "telescope_metrics_rejected_total",
    "rpc_summary",
    "req\rtotal",
    "line\nbreak",
    "tab\there",
];
const LABEL_POOL: &[&str] = &[
    "le",
    "quantile",
    "otel_metric_overflow",
    "__name__",
    "",
    "a.b",
    "a_b",
    "job",
    "9x",
    "é",
];
const VALUE_POOL: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    1e308,
    -1e308,
    1e-320,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

fn any_text(rng: &mut fastrand::Rng, max: usize) -> String {
    let length = rng.usize(0..=max);
    (0..length)
        .map(|_| match rng.u8(0..6) {
            0 => rng
                .choice(['\r', '\n', '\t', '\0', '\u{7f}', '\u{85}'])
                .unwrap_or('\r'),
            1 => rng
                .choice(['"', '\\', '=', ',', '{', '}', '#', ' '])
                .unwrap_or('"'),
            2 => char::from_u32(rng.u32(0x80..0x3000)).unwrap_or('ü'),
            _ => rng.alphanumeric(),
        })
        .collect()
}

fn pick_name(rng: &mut fastrand::Rng, pool: &[&str]) -> String {
    if rng.bool() {
        rng.choice(pool)
            .map_or_else(String::new, |name| (*name).to_owned())
    } else {
        any_text(rng, 10)
    }
}

/// One generated metric set, recorded into a fresh recorder; returns both renders.
fn generated(seed: u64) -> (String, String) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (recorder, handle) = TelescopeRecorder::builder()
        .cardinality_limit(4)
        .summary_for(Matcher::Suffix("_summary".into()), &[0.0, 0.5, 0.99, 1.0])
        .expect("valid quantiles")
        .global_label("service", any_text(&mut rng, 8))
        .expect("not a reserved name")
        .build();
    metrics::with_local_recorder(&recorder, || {
        for _ in 0..rng.usize(1..14) {
            let name = pick_name(&mut rng, NAME_POOL);
            let labels: Vec<metrics::Label> = (0..rng.usize(0..4))
                .map(|_| {
                    metrics::Label::new(pick_name(&mut rng, LABEL_POOL), any_text(&mut rng, 12))
                })
                .collect();
            let key = metrics::Key::from_parts(name.clone(), labels);
            let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
            if rng.u8(0..4) == 0 {
                metrics::with_recorder(|r| {
                    r.describe_counter(name.clone().into(), None, any_text(&mut rng, 20).into())
                });
            }
            let value = *rng.choice(VALUE_POOL).unwrap_or(&1.0);
            metrics::with_recorder(|r| match rng.u8(0..3) {
                0 => r
                    .register_counter(&key, &metadata)
                    .increment(rng.u64(0..u64::MAX)),
                1 => r.register_gauge(&key, &metadata).set(value),
                _ => {
                    let histogram = r.register_histogram(&key, &metadata);
                    for _ in 0..rng.usize(0..4) {
                        histogram.record(*rng.choice(VALUE_POOL).unwrap_or(&1.0));
                    }
                }
            });
        }
    });
    (
        handle.render(Format::Prometheus),
        handle.render(Format::OpenMetrics),
    )
}

/// Cases that broke a parser before (see `tests/support/hostile_metrics.rs`).
fn regressions() -> Vec<(String, String)> {
    let (recorder, handle) = TelescopeRecorder::builder()
        .summary_for(Matcher::Full("s_summary".into()), &[0.5])
        .expect("valid quantiles")
        .build();
    metrics::with_local_recorder(&recorder, crate::hostile_metrics::record);
    vec![(
        handle.render(Format::Prometheus),
        handle.render(Format::OpenMetrics),
    )]
}

const PARSE_SCRIPT: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families as text_families
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families

failed = 0
for path in sys.argv[1:]:
    parse = om_families if path.endswith(".om") else text_families
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        for family in parse(text):
            list(family.samples)
    except Exception as error:
        failed += 1
        print(f"{path}: {type(error).__name__}: {error}")
sys.exit(1 if failed else 0)
"#;

/// prometheus_client's parsers on every file (`.prom`: text, `.om`: OpenMetrics): what
/// they rejected, if anything.
fn python_parsers(dir: &Path, files: &[String]) -> Result<(), String> {
    let python = std::env::var("TELESCOPE_PYTHON").map_err(|_| {
        "TELESCOPE_PYTHON names no Python with prometheus_client (.ci/run sets it up)".to_owned()
    })?;
    let output = Command::new(python)
        .arg("-c")
        .arg(PARSE_SCRIPT)
        .args(files.iter().map(|file| dir.join(file)))
        .output()
        .map_err(|error| format!("cannot run Python: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[test]
fn every_parser_reads_every_hostile_exposition() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut cases = regressions();
    cases.extend((0..96u64).map(|seed| generated(0x7e1e_5c09 ^ seed)));
    let mut files = Vec::new();
    let mut promtool_failures = String::new();
    for (index, (text, open)) in cases.iter().enumerate() {
        for (extension, body) in [("prom", text), ("om", open)] {
            let file = format!("case{index}.{extension}");
            std::fs::write(dir.path().join(&file), body).expect("write exposition");
            files.push(file);
        }
        let (ok, said) = promtool_parses(text);
        if !ok {
            let _ = writeln!(promtool_failures, "case {index}: {said}\n{text}");
        }
    }
    assert!(
        promtool_failures.is_empty(),
        "promtool rejected:\n{promtool_failures}"
    );
    if let Err(rejected) = python_parsers(dir.path(), &files) {
        let mut report = rejected.clone();
        for line in rejected.lines().take(3) {
            if let Some(path) = line.split(':').next() {
                if let Ok(body) = std::fs::read_to_string(path) {
                    let _ = writeln!(report, "--- {path}\n{body}");
                }
            }
        }
        panic!("prometheus_client rejected:\n{report}");
    }
}
