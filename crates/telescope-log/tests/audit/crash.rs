//! A writer killed with SIGKILL mid-stream: every acknowledged record survives, the chain
//! verifies after restart, and a torn last line is set aside.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use telescope_log::audit::{verify_files, AuditLog, Durability, VerifyOptions};

use crate::support::{login, KEY};

const CHILD_ENV: &str = "TELESCOPE_AUDIT_CRASH_CHILD";

/// Runs only as the child: writes with fsync per record, printing each acknowledged sequence.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let log = AuditLog::builder(&path)
        .key(KEY.to_vec())
        .durability(Durability::EveryRecord)
        .open()
        .expect("open");
    for n in 1.. {
        let receipt = log.record(login(n)).expect("record");
        println!("acked {}", receipt.seq);
    }
}

#[test]
fn every_acknowledged_record_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "crash::crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child writer");
    let mut acked = 0u64;
    let stdout = child.stdout.take().expect("stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(seq) = line.strip_prefix("acked ") {
            acked = seq.parse().expect("seq");
            if acked >= 200 {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(acked >= 200);

    // Simulate the worst case too: a torn half line at the end, as a crash mid-write leaves.
    let mut bytes = std::fs::read(&path).expect("read");
    bytes.extend_from_slice(b"{\"seq\":999999,\"time\":\"2026-11-22T00:00:00.0");
    std::fs::write(&path, &bytes).expect("tear");

    let log = AuditLog::builder(&path)
        .key(KEY.to_vec())
        .open()
        .expect("recovers");
    let next = log.record(login(0)).expect("the chain continues").seq;
    log.shutdown();
    assert!(
        next > acked,
        "every acknowledged record is still there ({next} > {acked})"
    );
    let torn =
        std::fs::read_to_string(dir.path().join("audit.jsonl.torn")).expect("torn line set aside");
    assert!(torn.contains("999999"));
    let report = verify_files(
        &[path],
        &VerifyOptions {
            key: Some(KEY.to_vec()),
            ..Default::default()
        },
    )
    .expect("verifies");
    assert_eq!(report.last_seq, next);
}
