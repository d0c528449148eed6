//! The audit writer's counters, read through a global recorder (its own test binary, since the
//! writer thread records them).

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use telescope_log::audit::{AuditLog, AuditRecord, CheckpointSink, FailurePolicy, Outcome};

#[test]
fn failures_records_incomplete_and_torn_lines_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder in this binary");
    // A snapshot drains counters, so each phase reads everything it needs at once.
    let counters = || {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| (key.key().name().to_owned(), value))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let record = || {
        AuditRecord::new("authentication", "login", Outcome::Success)
            .actor("a")
            .resource("r")
    };

    let full = AuditLog::builder("/dev/full")
        .on_failure(FailurePolicy::ReturnError)
        .checkpoint_sink(CheckpointSink::None)
        .open()
        .expect("open");
    assert!(full.record(record()).is_err());
    assert!(full.record(record()).is_err());
    full.shutdown();
    let seen = counters();
    assert!(
        matches!(seen.get("telescope_audit_write_failures_total"), Some(DebugValue::Counter(n)) if *n >= 2),
        "{seen:?}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::builder(&path).open().expect("open");
    log.record(record()).expect("record");
    log.record(AuditRecord::new(
        "authentication",
        "logout",
        Outcome::Success,
    ))
    .expect("incomplete");
    log.shutdown();
    let seen = counters();
    assert_eq!(
        seen.get("telescope_audit_records_total"),
        Some(&DebugValue::Counter(2)),
        "{seen:?}"
    );
    assert_eq!(
        seen.get("telescope_audit_incomplete_total"),
        Some(&DebugValue::Counter(1)),
        "{seen:?}"
    );

    let mut bytes = std::fs::read(&path).expect("read");
    bytes.extend_from_slice(b"{\"seq\":3,\"ti");
    std::fs::write(&path, bytes).expect("tear");
    AuditLog::builder(&path)
        .open()
        .expect("recovers")
        .shutdown();
    let seen = counters();
    assert_eq!(
        seen.get("telescope_audit_torn_lines_total"),
        Some(&DebugValue::Counter(1)),
        "{seen:?}"
    );
}
