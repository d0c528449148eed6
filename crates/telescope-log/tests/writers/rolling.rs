//! `RollingFileWriter`: rotation by size and time, retention, and surviving a broken disk.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use telescope_log::{RollingConfigError, RollingFileWriter, RotationPeriod};

/// Log files in `dir`, rotated ones first (oldest first by their stamp and sequence), the
/// active `app.log` last.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<((String, u32), PathBuf)> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            let middle = name.strip_prefix("app.")?.strip_suffix(".log")?.to_owned();
            let (stamp, sequence) = match middle.split_once('-') {
                Some((stamp, n)) => (stamp.to_owned(), n.parse().ok()?),
                None => (middle, 0),
            };
            Some(((stamp, sequence), path))
        })
        .collect();
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, path)| path).collect();
    let active = dir.join("app.log");
    if active.exists() {
        files.push(active);
    }
    files
}

fn line(n: usize) -> Vec<u8> {
    format!("{{\"n\":{n:04},\"pad\":\"{}\"}}\n", "x".repeat(30)).into_bytes()
}

fn clock_at(seconds: Arc<AtomicU64>) -> impl Fn() -> SystemTime + Send + Sync + 'static {
    move || UNIX_EPOCH + Duration::from_secs(seconds.load(Ordering::SeqCst))
}

#[test]
fn rotates_by_size_and_keeps_the_newest_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line_len = line(0).len() as u64;
    let mut writer = RollingFileWriter::builder(dir.path(), "app")
        .max_bytes(line_len * 4)
        .max_files(3)
        .build()
        .expect("build");
    for n in 0..40 {
        writer.write_all(&line(n)).expect("write");
    }
    let files = log_files(dir.path());
    assert_eq!(files.len(), 3, "{files:?}");
    let mut kept = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read");
        assert!(
            text.len() as u64 <= line_len * 4,
            "{} is {} bytes",
            file.display(),
            text.len()
        );
        kept.extend(text.lines().map(|l| l[5..9].parse::<usize>().expect("n")));
    }
    // Oldest file first, active last: the retained lines are the newest, in order.
    let expected: Vec<usize> = (40 - kept.len()..40).collect();
    assert_eq!(kept, expected);
    assert_eq!(kept.len(), 12);
}

#[test]
fn retention_is_enforced_at_startup() {
    let dir = tempfile::tempdir().expect("tempdir");
    for day in 10..16 {
        fs::write(
            dir.path().join(format!("app.202611{day}T000000Z.log")),
            "old\n",
        )
        .expect("seed");
    }
    fs::write(dir.path().join("app.log"), "current\n").expect("seed");
    fs::write(dir.path().join("unrelated.txt"), "keep me\n").expect("seed");
    let _writer = RollingFileWriter::builder(dir.path(), "app")
        .max_files(3)
        .build()
        .expect("build");
    let names: Vec<String> = log_files(dir.path())
        .iter()
        .map(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .expect("name")
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "app.20261114T000000Z.log",
            "app.20261115T000000Z.log",
            "app.log"
        ]
    );
    assert!(dir.path().join("unrelated.txt").exists());
}

#[test]
fn rotates_at_period_boundaries_on_the_injected_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Arc::new(AtomicU64::new(1_795_305_600 + 10)); // 2026-11-22T00:00:10Z
    let mut writer = RollingFileWriter::builder(dir.path(), "app")
        .period(RotationPeriod::Minutely)
        .clock(clock_at(now.clone()))
        .build()
        .expect("build");
    writer.write_all(b"first minute a\n").expect("write");
    now.fetch_add(40, Ordering::SeqCst); // 00:00:50, same minute
    writer.write_all(b"first minute b\n").expect("write");
    now.fetch_add(15, Ordering::SeqCst); // 00:01:05, next minute
    writer.write_all(b"second minute\n").expect("write");
    let files = log_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(
        fs::read_to_string(&files[0]).expect("read"),
        "first minute a\nfirst minute b\n"
    );
    assert_eq!(
        files[0].file_name().and_then(|n| n.to_str()),
        Some("app.20261122T000105Z.log")
    );
    assert_eq!(
        fs::read_to_string(&files[1]).expect("read"),
        "second minute\n"
    );
}

#[test]
fn a_deleted_file_is_recreated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = RollingFileWriter::builder(dir.path(), "app")
        .reopen_check(Duration::ZERO)
        .build()
        .expect("build");
    writer.write_all(b"before\n").expect("write");
    fs::remove_file(writer.active_path()).expect("delete the log file");
    writer.write_all(b"after\n").expect("write");
    assert_eq!(
        fs::read_to_string(writer.active_path()).expect("recreated"),
        "after\n"
    );
}

#[test]
fn an_unusable_directory_fails_writes_until_it_is_back() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("logs");
    let mut writer = RollingFileWriter::builder(&dir, "app")
        .reopen_check(Duration::ZERO)
        .build()
        .expect("build");
    writer.write_all(b"one\n").expect("write");
    // Replace the directory with a plain file: nothing can be created under it (this works
    // even as root, which file permissions would not stop).
    fs::remove_dir_all(&dir).expect("remove dir");
    fs::write(&dir, "not a directory").expect("block the path");
    assert!(writer.write_all(b"lost\n").is_err());
    assert!(writer.write_all(b"lost too\n").is_err());
    fs::remove_file(&dir).expect("unblock");
    writer.write_all(b"two\n").expect("write after recovery");
    assert_eq!(
        fs::read_to_string(dir.join("app.log")).expect("read"),
        "two\n"
    );
}

#[test]
fn write_failures_are_counted_once_when_the_json_layer_writes_directly() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tracing_subscriber::layer::SubscriberExt;

    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("logs");
    let writer = RollingFileWriter::builder(&dir, "app")
        .reopen_check(Duration::ZERO)
        .build()
        .expect("build");
    fs::remove_dir_all(&dir).expect("remove dir");
    fs::write(&dir, "not a directory").expect("block the path");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let layer = telescope_log::JsonLayer::builder().writer(writer).build();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::info!("a");
            tracing::info!("b");
        });
    });
    let counted =
        crate::metrics_support::recorded(&snapshotter, "telescope_log_write_errors_total");
    assert_eq!(counted, [DebugValue::Counter(2)]);
}

#[test]
fn an_old_active_file_is_rotated_at_startup() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("app.log"), "from yesterday\n").expect("seed");
    let a_day_later = fs::metadata(dir.path().join("app.log"))
        .and_then(|m| m.modified())
        .expect("mtime")
        + Duration::from_secs(86_400);
    let _writer = RollingFileWriter::builder(dir.path(), "app")
        .period(RotationPeriod::Daily)
        .clock(move || a_day_later)
        .build()
        .expect("build");
    let files = log_files(dir.path());
    assert_eq!(files.len(), 2);
    assert_eq!(
        fs::read_to_string(&files[0]).expect("read"),
        "from yesterday\n"
    );
    assert_eq!(fs::read_to_string(&files[1]).expect("read"), "");
}

#[test]
fn zero_counts_as_one_every_line_in_the_one_file_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = RollingFileWriter::builder(dir.path(), "app")
        .max_bytes(0)
        .max_files(0)
        .build()
        .expect("build");
    for n in 0..3 {
        writer.write_all(&line(n)).expect("write");
    }
    let files = log_files(dir.path());
    assert_eq!(files, [dir.path().join("app.log")], "the active file alone");
    assert_eq!(
        fs::read(&files[0]).expect("read"),
        line(2),
        "a file per line"
    );
}

#[test]
fn bad_settings_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        RollingFileWriter::builder(dir.path(), "").build(),
        Err(RollingConfigError::InvalidPrefix(_))
    ));
    assert!(matches!(
        RollingFileWriter::builder(dir.path(), "a/b").build(),
        Err(RollingConfigError::InvalidPrefix(_))
    ));
    let file = dir.path().join("file");
    fs::write(&file, "x").expect("seed");
    let error = RollingFileWriter::builder(&file, "app")
        .build()
        .expect_err("a file is not a directory");
    assert!(
        error.to_string().contains("cannot open log file"),
        "{error}"
    );
}

/// A real full disk under the non-blocking writer and a rolling file: a 64 KiB tmpfs filled
/// up, then freed, while lines keep coming. Every line in the files is whole JSON (a write the
/// disk cut part-way was cut back, never merged with the next line), every line is either
/// written or counted as dropped, and writing goes on once there is room again. Needs root to
/// mount; skipped with a message otherwise.
#[test]
fn a_real_full_disk_loses_only_counted_whole_lines_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(tmpfs) = crate::tmpfs::SmallTmpfs::mount(dir.path(), "64k") else {
        return;
    };
    let disk = tmpfs.path();
    let filler = disk.join("filler");
    {
        let mut file = fs::File::create(&filler).expect("filler");
        while file.write_all(&[0u8; 1024]).is_ok() {}
        // Two pages of room: the first batch of lines is cut part-way by the full disk.
        let len = file.metadata().expect("filler").len();
        file.set_len(len.saturating_sub(8192)).expect("make room");
    }
    let file = RollingFileWriter::builder(disk, "app")
        .build()
        .expect("rolling file");
    let (writer, guard) = telescope_log::NonBlockingBuilder::default().finish(file);
    let line = |n: u64| format!("{{\"n\":{n},\"pad\":\"{}\"}}\n", "p".repeat(300));
    // The disk fills up: what does not fit is lost, and counted.
    for n in 0..100 {
        (&writer).write_all(line(n).as_bytes()).expect("queued");
    }
    assert!(guard.flush(Duration::from_secs(30)));
    let full = guard.stats();
    assert!(full.dropped > 0, "{full:?}");
    // Room again: writing goes on.
    fs::remove_file(&filler).expect("free the disk");
    for n in 100..150 {
        (&writer).write_all(line(n).as_bytes()).expect("queued");
    }
    assert!(guard.flush(Duration::from_secs(30)));
    let stats = guard.stats();
    assert_eq!(stats.written + stats.dropped, 150, "{stats:?}");
    let text = fs::read_to_string(disk.join("app.log")).expect("log file");
    let mut whole = 0;
    for written in text.lines() {
        serde_json::from_str::<serde_json::Value>(written)
            .unwrap_or_else(|e| panic!("a broken line ({e}): {written:?}"));
        whole += 1;
    }
    assert_eq!(whole, stats.written);
    assert!(
        text.contains("\"n\":149,"),
        "writing went on after the disk had room"
    );
}
