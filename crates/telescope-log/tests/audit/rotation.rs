//! Rotation keeps one chain across files; concurrent writers give one valid chain.

use std::collections::HashSet;
use std::sync::Arc;

use telescope_log::audit::{verify_files, AuditLog, Damage};

use crate::support::{damage_of, login, options, KEY};

fn audit_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("audit.") && name.ends_with(".jsonl")
        })
        .collect();
    // Rotated files (audit.<stamp>-<seq>.jsonl) sort before the active audit.jsonl.
    files.sort();
    files
}

#[test]
fn the_chain_spans_rotated_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::builder(&path)
        .key(KEY.to_vec())
        .max_file_bytes(4096)
        .checkpoint_sink(telescope_log::audit::CheckpointSink::File(
            dir.path().join("checkpoints.jsonl"),
        ))
        .open()
        .expect("open");
    for n in 1..=200 {
        log.record(login(n)).expect("record");
    }
    log.shutdown();
    let files = audit_files(dir.path());
    assert!(files.len() >= 5, "rotation happened: {files:?}");
    let mut options = options(dir.path());
    options.public_key = None;
    let report = verify_files(&files, &options).expect("the whole chain verifies");
    assert_eq!(report.records, 200);
    // Each later file alone verifies from its link only when a missing head is allowed, and
    // says so; a missing middle file is caught.
    for (index, file) in files.iter().enumerate() {
        let mut alone = telescope_log::audit::VerifyOptions {
            key: Some(KEY.to_vec()),
            ..Default::default()
        };
        if index > 0 {
            assert_eq!(
                damage_of(std::slice::from_ref(file), &alone),
                Some(Damage::Deleted { seq: 1 }),
                "{}",
                file.display()
            );
        }
        alone.allow_missing_head = true;
        let report = verify_files(std::slice::from_ref(file), &alone)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));

        assert_eq!(
            report
                .not_verified
                .iter()
                .any(|n| matches!(n, telescope_log::audit::NotVerified::MissingHead { .. })),
            index > 0,
            "{}: {:?}",
            file.display(),
            report.not_verified
        );
    }
    let mut without_one = files.clone();
    without_one.remove(2);
    assert!(matches!(
        damage_of(&without_one, &options),
        Some(Damage::Deleted { .. })
    ));
}

#[test]
fn eight_concurrent_writers_make_one_valid_chain_without_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let log = Arc::new(
        AuditLog::builder(&path)
            .key(KEY.to_vec())
            .open()
            .expect("open"),
    );
    let threads: Vec<_> = (0..8u64)
        .map(|thread| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..250u64)
                    .map(|n| log.record(login(thread * 1000 + n)).expect("record").seq)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs = HashSet::new();
    for thread in threads {
        for seq in thread.join().expect("join") {
            assert!(seqs.insert(seq), "sequence {seq} handed out twice");
        }
    }
    log.shutdown();
    assert_eq!(seqs.len(), 2000);
    let report = verify_files(
        std::slice::from_ref(&path),
        &telescope_log::audit::VerifyOptions {
            key: Some(KEY.to_vec()),
            ..Default::default()
        },
    )
    .expect("one valid chain");
    assert_eq!(report.records, 2000);
    let text = std::fs::read_to_string(&path).expect("read");
    for thread in 0..8u64 {
        for n in 0..250u64 {
            assert!(
                text.contains(&format!("\"actor\":\"user-{}\"", thread * 1000 + n)),
                "record {thread}/{n} lost"
            );
        }
    }
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = crate::support::written_log(dir.path(), 10);
    let log = AuditLog::builder(&path)
        .key(KEY.to_vec())
        .signing_key(crate::support::SIGNING_SECRET)
        .open()
        .expect("reopen");
    assert_eq!(log.record(login(11)).expect("record").seq, 11);
    log.shutdown();
    let report = verify_files(&[path], &options(dir.path())).expect("verifies");
    assert_eq!(report.last_seq, 11);
    // Opening with the wrong key is refused rather than extending a chain it cannot check.
    let wrong = AuditLog::builder(dir.path().join("audit.jsonl"))
        .key(b"wrong".to_vec())
        .open();
    assert!(
        matches!(wrong, Err(telescope_log::audit::AuditError::Damaged { .. })),
        "{wrong:?}"
    );
}

/// A rotated log (checkpoints every 10 records, files of 2 KiB), shut down after `records`.
fn rotated_log(dir: &std::path::Path, records: u64) -> std::path::PathBuf {
    let path = dir.join("audit.jsonl");
    let log = builder(&path).open().expect("open");
    for n in 1..=records {
        log.record(login(n)).expect("record");
    }
    log.shutdown();
    path
}

fn builder(path: &std::path::Path) -> telescope_log::audit::AuditLogBuilder {
    AuditLog::builder(path)
        .key(KEY.to_vec())
        .signing_key(crate::support::SIGNING_SECRET)
        .max_file_bytes(2048)
        .checkpoints(10, std::time::Duration::from_secs(3600))
        .checkpoint_sink(telescope_log::audit::CheckpointSink::File(
            path.with_file_name("checkpoints.jsonl"),
        ))
}

/// Reopens the log in whatever state a fault left it, writes five more records, and checks
/// that the whole set verifies with the chain continuing.
fn reopens_and_continues(dir: &std::path::Path, written: u64) {
    let path = dir.join("audit.jsonl");
    let log = builder(&path)
        .open()
        .unwrap_or_else(|e| panic!("a fault at rotation must not stop the log reopening: {e}"));
    for n in 1..=5 {
        let receipt = log.record(login(1000 + n)).expect("record");
        assert_eq!(
            receipt.seq,
            written + n,
            "the chain continues, not restarts"
        );
    }
    log.shutdown();
    let report = verify_files(&audit_files(dir), &options(dir)).expect("the set verifies");
    assert_eq!(report.records, written + 5);
    assert!(report.fully_verified(), "{:?}", report.not_verified);
}

/// The state a crash leaves between rotation's rename and the new file's creation.
fn crash_after_rename(path: &std::path::Path, written: u64) -> std::path::PathBuf {
    let rotated = path.with_file_name(format!("audit.20991231235959-{written:012}.jsonl"));
    std::fs::rename(path, &rotated).expect("rename");
    rotated
}

#[test]
fn a_crash_between_rename_and_create_continues_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = rotated_log(dir.path(), 40);
    crash_after_rename(&path, 40);
    assert!(!path.exists());
    reopens_and_continues(dir.path(), 40);
}

#[test]
fn a_full_disk_or_crash_before_the_link_line_continues_the_chain() {
    // The new file was created but its link line never made it (ENOSPC cut it back to
    // nothing, or the process died first).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = rotated_log(dir.path(), 40);
    crash_after_rename(&path, 40);
    std::fs::write(&path, b"").expect("empty new file");
    reopens_and_continues(dir.path(), 40);
}

#[test]
fn a_crash_during_the_link_line_continues_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = rotated_log(dir.path(), 40);
    crash_after_rename(&path, 40);
    std::fs::write(&path, b"{\"link\":{\"previous\":\"audit.2099").expect("torn link");
    reopens_and_continues(dir.path(), 40);
    assert!(
        dir.path().join("audit.jsonl.torn").exists(),
        "the torn line is kept aside"
    );
}

/// Each step of rotation failing once, in process (ENOSPC from the fault hook): the record that
/// met the fault is refused, the next ones land after the link, the whole set verifies, and the
/// log reopens with the chain continuing.
#[test]
fn a_failure_at_any_step_of_rotation_leaves_a_log_that_continues_and_reopens() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use telescope_log::audit::{FaultHook, FaultPoint};

    for point in [
        FaultPoint::Rename,
        FaultPoint::Create,
        FaultPoint::LinkWrite,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let armed = Arc::new(AtomicBool::new(false));
        let hook: FaultHook = {
            let armed = Arc::clone(&armed);
            Arc::new(move |at| {
                if at == point && armed.swap(false, Ordering::SeqCst) {
                    Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
                } else {
                    Ok(())
                }
            })
        };
        let log = builder(&path).fault_hook(hook).open().expect("open");
        let mut accepted = 0u64;
        for n in 1..=20 {
            accepted = log.record(login(n)).expect("record").seq;
        }
        armed.store(true, Ordering::SeqCst);
        let mut refused = 0;
        let mut n = 20;
        while armed.load(Ordering::SeqCst) {
            n += 1;
            match log.record(login(n)) {
                Ok(receipt) => accepted = receipt.seq,
                Err(_) => refused += 1,
            }
            assert!(n < 1000, "{point:?}: no rotation happened");
        }
        assert_eq!(
            refused, 1,
            "{point:?}: the record that met the fault is refused"
        );
        for n in 1..=20 {
            let receipt = log.record(login(2000 + n)).expect("record after the fault");
            assert_eq!(receipt.seq, accepted + 1, "{point:?}: no gap, no restart");
            accepted = receipt.seq;
        }
        log.shutdown();
        let report = verify_files(&audit_files(dir.path()), &options(dir.path()))
            .unwrap_or_else(|e| panic!("{point:?}: {e}"));
        assert_eq!(report.records, accepted, "{point:?}");
        assert!(
            report.fully_verified(),
            "{point:?}: {:?}",
            report.not_verified
        );
        reopens_and_continues(dir.path(), accepted);
    }
}

/// A real full disk: a 128 KiB tmpfs filled up, then freed a little at a time while records
/// keep coming, so that writes fail wherever the space runs out (a record, a checkpoint, a link
/// line). Needs root to mount; skipped with a message otherwise.
#[test]
fn a_real_full_disk_during_rotation_leaves_a_log_that_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(tmpfs) = crate::tmpfs::SmallTmpfs::mount(dir.path(), "128k") else {
        return;
    };
    let disk = tmpfs.path();
    let path = disk.join("audit.jsonl");
    let open = || {
        AuditLog::builder(&path)
            .key(KEY.to_vec())
            .signing_key(crate::support::SIGNING_SECRET)
            .max_file_bytes(8 * 1024)
            .checkpoints(10, std::time::Duration::from_secs(3600))
            .checkpoint_sink(telescope_log::audit::CheckpointSink::File(
                dir.path().join("checkpoints.jsonl"),
            ))
            .open()
    };
    let log = open().expect("open");
    // Fill the disk.
    let filler = disk.join("filler");
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&filler).expect("filler");
        while file.write_all(&[0u8; 4096]).is_ok() {}
        let _ = file.sync_all();
    }
    let mut accepted = 0u64;
    let mut refused = 0u64;
    let mut n = 0u64;
    while accepted < 150 {
        n += 1;
        match log.record(login(n)) {
            Ok(receipt) => accepted = receipt.seq,
            Err(_) => {
                refused += 1;
                // Free two pages and go on.
                let len = std::fs::metadata(&filler).expect("filler").len();
                assert!(len > 0, "the disk is full of audit files alone");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&filler)
                    .and_then(|f| f.set_len(len.saturating_sub(8192)))
                    .expect("free space");
            }
        }
        assert!(n < 10_000, "no progress");
    }
    assert!(refused > 0, "the disk never filled up");
    // Room for the final checkpoint, then shut down and check.
    std::fs::remove_file(&filler).expect("free the disk");
    log.shutdown();
    let files = audit_files(disk);
    assert!(files.len() > 3, "rotation happened: {files:?}");
    let report = verify_files(&files, &options(dir.path())).expect("the set verifies");
    assert_eq!(report.records, accepted);
    let reopened = open().expect("the log reopens after a full disk");
    assert_eq!(
        reopened.record(login(n + 1)).expect("record").seq,
        accepted + 1
    );
    reopened.shutdown();
}

/// The newest file alone, with every checkpoint kept elsewhere (one after each record, so one
/// sits exactly at the rotation boundary): the boundary checkpoint matches the head the link
/// names, the older ones are reported as before the files, nothing is damage.
#[test]
fn the_newest_file_alone_verifies_against_every_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::builder(&path)
        .key(KEY.to_vec())
        .signing_key(crate::support::SIGNING_SECRET)
        .max_file_bytes(2048)
        .checkpoints(1, std::time::Duration::from_secs(3600))
        .checkpoint_sink(telescope_log::audit::CheckpointSink::File(
            dir.path().join("checkpoints.jsonl"),
        ))
        .open()
        .expect("open");
    for n in 1..=30 {
        log.record(login(n)).expect("record");
    }
    log.shutdown();
    let files = audit_files(dir.path());
    assert!(files.len() >= 2, "{files:?}");
    let newest = files.last().expect("a file");
    let mut options = options(dir.path());
    options.allow_missing_head = true;
    let report = verify_files(std::slice::from_ref(newest), &options).expect("no damage");
    assert!(
        report.not_verified.iter().any(|n| matches!(
            n,
            telescope_log::audit::NotVerified::CheckpointsBeforeFiles { .. }
        )),
        "{:?}",
        report.not_verified
    );
}

/// Shut down right after a link line failed (no record after it): the final checkpoint never
/// opens the new file, and the log reopens with the chain continuing.
#[test]
fn a_shutdown_right_after_a_failed_link_still_reopens() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use telescope_log::audit::{FaultHook, FaultPoint};

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let armed = Arc::new(AtomicBool::new(false));
    let hook: FaultHook = {
        let armed = Arc::clone(&armed);
        Arc::new(move |at| {
            if at == FaultPoint::LinkWrite && armed.load(Ordering::SeqCst) {
                Err(std::io::Error::from_raw_os_error(28))
            } else {
                Ok(())
            }
        })
    };
    let log = builder(&path).fault_hook(hook).open().expect("open");
    let mut accepted = 0;
    for n in 1..=10 {
        accepted = log.record(login(n)).expect("record").seq;
    }
    armed.store(true, Ordering::SeqCst);
    let mut n = 10;
    while log.record(login(n + 1)).is_ok() {
        n += 1;
        accepted += 1;
        assert!(n < 1000, "no rotation happened");
    }
    // The link keeps failing while the log shuts down.
    log.shutdown();
    armed.store(false, Ordering::SeqCst);
    reopens_and_continues(dir.path(), accepted);
}
