//! Shared helpers: a keyed, signed log in a temporary directory, and file surgery.

use std::path::{Path, PathBuf};
use std::time::Duration;

use telescope_log::audit::{
    verify_files, AuditLog, AuditRecord, Damage, Outcome, VerifyError, VerifyOptions,
};

pub(crate) const KEY: &[u8] = b"test-audit-key";
pub(crate) const SIGNING_SECRET: [u8; 32] = [42; 32];

pub(crate) fn login(n: u64) -> AuditRecord {
    AuditRecord::new("authentication", "login", Outcome::Success)
        .actor(format!("user-{n}"))
        .resource("session")
        .source("203.0.113.9")
}

/// A log at `dir/audit.jsonl` with the test key, signed checkpoints every 10 records, the
/// second sink at `dir/checkpoints.jsonl`; `count` records written, then shut down.
pub(crate) fn written_log(dir: &Path, count: u64) -> PathBuf {
    let path = dir.join("audit.jsonl");
    let log = AuditLog::builder(&path)
        .key(KEY.to_vec())
        .signing_key(SIGNING_SECRET)
        .checkpoints(10, Duration::from_secs(3600))
        .checkpoint_sink(telescope_log::audit::CheckpointSink::File(
            dir.join("checkpoints.jsonl"),
        ))
        .open()
        .expect("open");
    for n in 1..=count {
        log.record(login(n)).expect("record");
    }
    log.shutdown();
    path
}

pub(crate) fn options(dir: &Path) -> VerifyOptions {
    VerifyOptions {
        key: Some(KEY.to_vec()),
        public_key: Some(telescope_log::audit::PublicKey::from_secret(
            &SIGNING_SECRET,
        )),
        checkpoint_files: vec![dir.join("checkpoints.jsonl")],
        allow_missing_head: false,
    }
}

pub(crate) fn damage_of(files: &[PathBuf], options: &VerifyOptions) -> Option<Damage> {
    match verify_files(files, options) {
        Ok(_) => None,
        Err(VerifyError::Damaged(damage)) => Some(damage),
        Err(other) => panic!("verification failed to run: {other}"),
    }
}

pub(crate) fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("write");
}

/// The index of the line holding record `seq`.
pub(crate) fn line_of(lines: &[String], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| l.starts_with(&format!("{{\"seq\":{seq},")))
        .expect("record present")
}
