//! Every kind of damage the verifier names, done to a real file, is detected and named.

use telescope_log::audit::{Damage, VerifyOptions};

use crate::support::{damage_of, line_of, lines, options, write_lines, written_log};

/// A fresh 50-record log in its own directory, its options, and its lines.
fn fresh() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    VerifyOptions,
    Vec<String>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = written_log(dir.path(), 50);
    let options = options(dir.path());
    let lines = lines(&path);
    (dir, path, options, lines)
}

#[test]
fn an_untouched_log_verifies() {
    let (_dir, path, options, _) = fresh();
    let report = telescope_log::audit::verify_files(&[path], &options).expect("intact");
    assert_eq!(report.records, 50);
    assert_eq!(report.last_seq, 50);
    assert!(report.checkpoints >= 5, "{report:?}");
}

#[test]
fn a_modified_record_is_named() {
    let (_dir, path, options, mut lines) = fresh();
    let at = line_of(&lines, 20);
    lines[at] = lines[at].replace("user-20", "user-99");
    write_lines(&path, &lines);
    assert_eq!(
        damage_of(&[path], &options),
        Some(Damage::Modified { seq: 20 })
    );
}

#[test]
fn a_deleted_record_is_named() {
    let (_dir, path, options, mut lines) = fresh();
    lines.remove(line_of(&lines, 20));
    write_lines(&path, &lines);
    assert_eq!(
        damage_of(&[path], &options),
        Some(Damage::Deleted { seq: 20 })
    );
}

#[test]
fn an_inserted_record_is_named() {
    let (_dir, path, options, mut lines) = fresh();
    let copy = lines[line_of(&lines, 20)].clone();
    lines.insert(line_of(&lines, 25), copy);
    write_lines(&path, &lines);
    assert_eq!(
        damage_of(&[path], &options),
        Some(Damage::Inserted { seq: 20 })
    );
}

#[test]
fn reordered_records_are_named() {
    let (_dir, path, options, mut lines) = fresh();
    let (a, b) = (line_of(&lines, 20), line_of(&lines, 21));
    lines.swap(a, b);
    write_lines(&path, &lines);
    assert_eq!(
        damage_of(&[path], &options),
        Some(Damage::Reordered { seq: 20 })
    );
}

#[test]
fn a_cut_tail_is_caught_by_the_checkpoints_kept_elsewhere() {
    let (_dir, path, options, lines) = fresh();
    let keep = line_of(&lines, 45);
    write_lines(&path, &lines[..keep]);
    assert_eq!(
        damage_of(&[path], &options),
        Some(Damage::Truncated { seq: 45 })
    );
}

#[test]
fn a_torn_last_line_is_truncation() {
    let (_dir, path, options, lines) = fresh();
    let mut text = lines.join("\n");
    text.truncate(text.len() - 30);
    std::fs::write(&path, text).expect("write");
    let damage = damage_of(
        &[path],
        &VerifyOptions {
            checkpoint_files: vec![],
            ..options
        },
    )
    .expect("damaged");
    assert_eq!(damage.kind(), "truncated");
}

#[test]
fn a_replaced_file_is_caught_by_the_external_checkpoints() {
    // The forger rewrites the whole log with a consistent chain under a key of their own;
    // only checkpoints kept elsewhere can tell.
    let (dir, path, options, _) = fresh();
    let forged_dir = tempfile::tempdir().expect("tempdir");
    let forged = telescope_log::audit::AuditLog::builder(forged_dir.path().join("audit.jsonl"))
        .checkpoint_sink(telescope_log::audit::CheckpointSink::None)
        .checkpoints(1_000_000, std::time::Duration::from_secs(3600))
        .open()
        .expect("open");
    for n in 1..=50 {
        forged
            .record(crate::support::login(n + 1000))
            .expect("record");
    }
    forged.shutdown();
    let forged_lines: Vec<String> = lines(&forged_dir.path().join("audit.jsonl"))
        .into_iter()
        .filter(|l| !l.starts_with("{\"checkpoint\""))
        .collect();
    write_lines(&path, &forged_lines);
    // Verified with no key (as the forger hoped): the chain itself is consistent...
    let unkeyed = VerifyOptions::default();
    assert_eq!(damage_of(std::slice::from_ref(&path), &unkeyed), None);
    // ...but the checkpoints kept elsewhere do not match it.
    let with_checkpoints = VerifyOptions {
        checkpoint_files: vec![dir.path().join("checkpoints.jsonl")],
        ..VerifyOptions::default()
    };
    assert_eq!(
        damage_of(std::slice::from_ref(&path), &with_checkpoints),
        Some(Damage::Modified { seq: 10 })
    );
    // And with the key, the first record already fails.
    assert_eq!(
        damage_of(&[path], &options),
        Some(Damage::Modified { seq: 1 })
    );
}

#[test]
fn a_forged_checkpoint_signature_is_named() {
    let (dir, path, options, _) = fresh();
    let sink = dir.path().join("checkpoints.jsonl");
    let mut checkpoints = lines(&sink);
    // Move the signed head of checkpoint 10 to a different value, keeping the signature.
    checkpoints[0] = checkpoints[0].replace("\"count\":10", "\"count\":11");
    write_lines(&sink, &checkpoints);
    assert_eq!(
        damage_of(&[path], &options),
        Some(Damage::BadSignature { seq: 10 })
    );
}

#[test]
fn the_command_line_verifier_reports_and_exits_accordingly() {
    let (dir, path, _options, mut lines) = fresh();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, crate::support::KEY).expect("key");
    let public_key_file = dir.path().join("public.key");
    let public_key = ed25519_dalek::SigningKey::from_bytes(&crate::support::SIGNING_SECRET)
        .verifying_key()
        .to_bytes();
    std::fs::write(&public_key_file, public_key).expect("public key");
    let verify = |path: &std::path::Path, with_public_key: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_telescope-audit"));
        command
            .args(["verify", "--key-file"])
            .arg(&key_file)
            .arg("--checkpoints")
            .arg(dir.path().join("checkpoints.jsonl"));
        if with_public_key {
            command.arg("--public-key").arg(&public_key_file);
        }
        command.arg(path).output().expect("run telescope-audit")
    };
    let run = |path: &std::path::Path| verify(path, true);
    let ok = run(&path);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).starts_with("ok: 50 records and 5 checkpoints"),
        "{ok:?}"
    );
    // Without the public key nothing is damaged, but it is not a plain ok either.
    let partial = verify(&path, false);
    assert_eq!(partial.status.code(), Some(3), "{partial:?}");
    let said = String::from_utf8_lossy(&partial.stdout);
    assert!(
        said.starts_with("NOT FULLY VERIFIED") && said.contains("signatures not checked"),
        "{said}"
    );
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_telescope-audit"))
        .args(["verify", "--help"])
        .output()
        .expect("run");
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("exit status"));
    lines.remove(line_of(&lines, 33));
    write_lines(&path, &lines);
    let bad = run(&path);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&bad.stdout).trim(),
        "DAMAGED: deleted at sequence 33"
    );
    let usage = std::process::Command::new(env!("CARGO_BIN_EXE_telescope-audit"))
        .arg("nonsense")
        .output()
        .expect("run");
    assert_eq!(usage.status.code(), Some(2));
}
