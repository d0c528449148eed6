//! The attacks of issue #14, each done to a real keyed, signed log with its sidecar, and each
//! caught (or, where no check could catch it, reported as not verified instead of "ok").

use telescope_log::audit::{verify_files, Damage, NotVerified, VerifyOptions};

use crate::support::{damage_of, line_of, lines, options, write_lines, written_log};

fn fresh(records: u64) -> (tempfile::TempDir, std::path::PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = written_log(dir.path(), records);
    let lines = lines(&path);
    (dir, path, lines)
}

#[test]
fn members_appended_after_the_chain_value_are_modification() {
    let (dir, path, original) = fresh(50);
    let at = line_of(&original, 20);
    let line = &original[at];
    let before_brace = &line[..line.len() - 1];
    for edited in [
        // A member after the chain value, which every JSON reader would take.
        format!("{before_brace},\"actor\":\"mallory\",\"outcome\":\"failure\"}}"),
        // A byte after the closing brace.
        format!("{line} "),
        // Whitespace inside the record.
        line.replacen("\"seq\":20", "\"seq\": 20", 1),
        // The same text, escaped differently.
        line.replacen("user-20", "\\u0075ser-20", 1),
        // A member repeated before the chain value.
        line.replacen(",\"chain\"", ",\"actor\":\"mallory\",\"chain\"", 1),
    ] {
        assert_ne!(&edited, line);
        let mut lines = original.clone();
        lines[at] = edited;
        write_lines(&path, &lines);
        assert_eq!(
            damage_of(std::slice::from_ref(&path), &options(dir.path())),
            Some(Damage::Modified { seq: 20 }),
            "{}",
            lines[at]
        );
    }
}

#[test]
fn cutting_the_head_and_forging_a_link_is_caught() {
    let (dir, path, original) = fresh(100);
    let head_of_30 = {
        let line = &original[line_of(&original, 30)];
        let at = line.rfind("\"chain\":\"").expect("chain") + 9;
        line[at..at + 64].to_owned()
    };
    let forged_link = format!(
        "{{\"link\":{{\"previous\":\"audit.x.jsonl\",\"seq\":30,\"head\":\"{head_of_30}\"}},\"chain\":\"{}\"}}",
        "0".repeat(64)
    );
    let mut lines = vec![forged_link];
    lines.extend(original[line_of(&original, 31)..].iter().cloned());
    write_lines(&path, &lines);
    let mut options = options(dir.path());
    // A set that does not start at 1 is refused unless the caller says older files are gone.
    assert_eq!(
        damage_of(std::slice::from_ref(&path), &options),
        Some(Damage::Deleted { seq: 1 })
    );
    // Allowed: the link is chained, and a forged one does not verify.
    options.allow_missing_head = true;
    assert_eq!(
        damage_of(std::slice::from_ref(&path), &options),
        Some(Damage::Modified { seq: 31 })
    );
    // Without any link, the head cut is still refused unless allowed, and then reported, with
    // the sidecar's checkpoints of the removed range.
    write_lines(&path, &original[line_of(&original, 31)..]);
    options.allow_missing_head = false;
    assert_eq!(
        damage_of(std::slice::from_ref(&path), &options),
        Some(Damage::Deleted { seq: 1 })
    );
    options.allow_missing_head = true;
    let report = verify_files(std::slice::from_ref(&path), &options).expect("no damage");
    assert!(!report.fully_verified());
    assert!(report
        .not_verified
        .contains(&NotVerified::MissingHead { first: 31 }));
    assert!(report
        .not_verified
        .contains(&NotVerified::CheckpointsBeforeFiles { count: 3 }));
}

#[test]
fn without_key_public_key_or_sidecar_the_verifier_never_says_ok() {
    let (dir, path, original) = fresh(50);
    std::fs::remove_file(dir.path().join("checkpoints.jsonl")).expect("delete the sidecar");
    let checkpoint = original
        .iter()
        .position(|l| l.starts_with("{\"checkpoint\""))
        .expect("a checkpoint in the file");
    // A flipped signature byte, a removed signature: unnoticed without the public key, but
    // never reported as fully verified.
    let signature_at = original[checkpoint]
        .find("\"signature\":\"")
        .expect("signed")
        + 13;
    let flipped = {
        let mut line = original[checkpoint].clone().into_bytes();
        line[signature_at] = if line[signature_at] == b'0' {
            b'1'
        } else {
            b'0'
        };
        String::from_utf8(line).expect("ascii")
    };
    let unsigned = {
        let line = &original[checkpoint];
        let start = line.find(",\"signature\"").expect("signed");
        format!("{}}}}}", &line[..start])
    };
    let no_witness = VerifyOptions {
        key: Some(crate::support::KEY.to_vec()),
        ..VerifyOptions::default()
    };
    for edited in [flipped, unsigned] {
        let mut lines = original.clone();
        lines[checkpoint] = edited;
        write_lines(&path, &lines);
        let report = verify_files(std::slice::from_ref(&path), &no_witness).expect("no damage");
        assert!(!report.fully_verified(), "{:?}", report.not_verified);
        assert!(report.not_verified.contains(&NotVerified::NoWitness));
        assert!(report.not_verified.iter().any(|n| matches!(
            n,
            NotVerified::SignaturesNotChecked | NotVerified::UnsignedCheckpoints
        )));
        // With the public key, both are bad signatures.
        let mut with_key = no_witness.clone();
        with_key.public_key = options(dir.path()).public_key;
        assert_eq!(
            damage_of(std::slice::from_ref(&path), &with_key),
            Some(Damage::BadSignature { seq: 10 })
        );
    }
    // An edited count, even unsigned, is modification: the writer counts every record.
    let mut lines = original.clone();
    lines[checkpoint] = original[checkpoint].replace("\"count\":10", "\"count\":9");
    write_lines(&path, &lines);
    assert_eq!(
        damage_of(std::slice::from_ref(&path), &no_witness),
        Some(Damage::Modified { seq: 10 })
    );
    // No key at all: an unkeyed check of a keyed chain is not "modified", it needs the key.
    write_lines(&path, &original);
    assert!(matches!(
        verify_files(std::slice::from_ref(&path), &VerifyOptions::default()),
        Err(telescope_log::audit::VerifyError::KeyNeeded { seq: 1 })
    ));
}

#[test]
fn checkpoints_in_the_file_and_the_sidecar_are_counted_once() {
    let (dir, path, _) = fresh(50);
    let report = verify_files(&[path], &options(dir.path())).expect("intact");
    assert_eq!(report.checkpoints, 5);
    assert!(report.fully_verified(), "{:?}", report.not_verified);
}

#[test]
fn records_after_the_last_checkpoint_are_reported_as_not_covered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let log = telescope_log::audit::AuditLog::builder(&path)
        .key(crate::support::KEY.to_vec())
        .signing_key(crate::support::SIGNING_SECRET)
        .checkpoints(10, std::time::Duration::from_secs(3600))
        .checkpoint_sink(telescope_log::audit::CheckpointSink::File(
            dir.path().join("checkpoints.jsonl"),
        ))
        .open()
        .expect("open");
    for n in 1..=15 {
        log.record(crate::support::login(n)).expect("record");
    }
    // Still running: the last five records have no checkpoint yet.
    let report = verify_files(std::slice::from_ref(&path), &options(dir.path())).expect("intact");
    assert_eq!(
        report.not_verified,
        [NotVerified::TailNotCovered { from: 11, to: 15 }]
    );
    log.shutdown();
    // Shutdown seals the log with a final checkpoint.
    let report = verify_files(&[path], &options(dir.path())).expect("intact");
    assert!(report.fully_verified(), "{:?}", report.not_verified);
}

/// Keeps checkpoints in a file the attacker of these tests does not touch (standing for a
/// remote store).
struct FileWitness(std::path::PathBuf);

impl telescope_log::audit::CheckpointWitness for FileWitness {
    fn witness(&self, checkpoint: &str) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)?;
        writeln!(file, "{checkpoint}")
    }
}

#[test]
fn cutting_the_tail_with_the_sidecar_shows_against_a_witness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let sidecar = dir.path().join("checkpoints.jsonl");
    let remote = dir.path().join("remote-witness.jsonl");
    let log = telescope_log::audit::AuditLog::builder(&path)
        .key(crate::support::KEY.to_vec())
        .signing_key(crate::support::SIGNING_SECRET)
        .checkpoints(10, std::time::Duration::from_secs(3600))
        .checkpoint_sink(telescope_log::audit::CheckpointSink::File(sidecar.clone()))
        .checkpoint_witness(FileWitness(remote.clone()))
        .open()
        .expect("open");
    for n in 1..=100 {
        log.record(crate::support::login(n)).expect("record");
    }
    log.shutdown();
    assert_eq!(
        lines(&remote),
        lines(&sidecar),
        "the witness saw every checkpoint"
    );

    // The attacker cuts the log back to checkpoint 60, and the sidecar with it.
    let original = lines(&path);
    let cut_at = original
        .iter()
        .position(|l| l.starts_with("{\"checkpoint\":{\"seq\":60,"))
        .expect("checkpoint 60");
    write_lines(&path, &original[..=cut_at]);
    let kept: Vec<String> = lines(&sidecar)
        .into_iter()
        .filter(|l| {
            !["70", "80", "90", "100"]
                .iter()
                .any(|s| l.contains(&format!("\"seq\":{s},")))
        })
        .collect();
    write_lines(&sidecar, &kept);
    // Against the local files alone the cut is undetectable (the documented limit)...
    let report =
        verify_files(std::slice::from_ref(&path), &options(dir.path())).expect("no damage");
    assert_eq!(report.last_seq, 60);
    // ...against the witness it is truncation.
    let mut with_witness = options(dir.path());
    with_witness.checkpoint_files.push(remote);
    assert_eq!(
        damage_of(&[path], &with_witness),
        Some(Damage::Truncated { seq: 61 })
    );
}
