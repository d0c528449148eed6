//! Failure policies on a full disk (`/dev/full` answers every write with ENOSPC), and the
//! tracing path under a slow disk.

use std::io;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telescope_log::audit::{
    AuditError, AuditLayer, AuditLog, AuditSink, CheckpointSink, FailurePolicy,
};
use tracing_subscriber::layer::SubscriberExt;

use crate::support::login;

fn full_disk(policy: FailurePolicy) -> AuditLog {
    AuditLog::builder("/dev/full")
        .on_failure(policy)
        .checkpoint_sink(CheckpointSink::None)
        .open()
        .expect("open /dev/full")
}

#[test]
fn return_error_refuses_the_record() {
    let log = full_disk(FailurePolicy::ReturnError);
    let result = log.record(login(1));
    match result {
        Err(AuditError::Write(message)) => assert!(message.contains("No space left"), "{message}"),
        other => panic!("expected a write error, got {other:?}"),
    }
    assert!(log.record(login(2)).is_err(), "still refused");
    log.shutdown();
}

#[test]
fn block_and_retry_keeps_the_caller_waiting() {
    let log = full_disk(FailurePolicy::BlockAndRetry {
        interval: Duration::from_millis(20),
    });
    let waiting = {
        let log = log.clone();
        std::thread::spawn(move || log.record(login(1)))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !waiting.is_finished(),
        "the record is neither written nor given up on"
    );
    // The thread stays blocked on the full disk; the test process ends with it.
}

const ABORT_CHILD_ENV: &str = "TELESCOPE_AUDIT_ABORT_CHILD";

#[test]
fn abort_child() {
    if std::env::var(ABORT_CHILD_ENV).is_err() {
        return;
    }
    let log = full_disk(FailurePolicy::Abort);
    let _ = log.record(login(1));
    unreachable!("the process aborts before the record returns");
}

#[test]
fn abort_stops_the_process() {
    use std::os::unix::process::ExitStatusExt;
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "failures::abort_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ABORT_CHILD_ENV, "1")
        .output()
        .expect("run the child");
    assert_eq!(output.status.signal(), Some(6), "SIGABRT: {output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("policy is to abort"),
        "{output:?}"
    );
}

/// A disk that takes 5 ms per write.
#[derive(Clone, Default)]
struct SlowDisk(Arc<Mutex<Vec<u8>>>);

impl AuditSink for SlowDisk {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        std::thread::sleep(Duration::from_millis(5));
        self.0.lock().expect("disk").extend_from_slice(bytes);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_tracing_path_loses_nothing_under_a_slow_disk() {
    let disk = SlowDisk::default();
    let log = AuditLog::builder("unused")
        .checkpoint_sink(CheckpointSink::None)
        .open_sink(disk.clone());
    let subscriber = tracing_subscriber::registry().with(AuditLayer::new(log.clone()));
    tracing::subscriber::with_default(subscriber, || {
        for n in 0..500 {
            tracing::info!(target: "audit", r#type = "data_access", action = "read", outcome = "success",
                           actor = "svc", resource = format!("/items/{n}"));
        }
    });
    log.flush().expect("flush");
    log.shutdown();
    let text = String::from_utf8(disk.0.lock().expect("disk").clone()).expect("utf8");
    let seqs: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("seq").and_then(serde_json::Value::as_u64))
        .collect();
    assert_eq!(seqs, (1..=500).collect::<Vec<_>>());
    for n in 0..500 {
        assert!(
            text.contains(&format!("\"resource\":\"/items/{n}\"")),
            "item {n} lost"
        );
    }
}
