//! Audit records per second, acknowledged as durable: fsync per record, group commit with 4
//! threads (each waiting for every record, and each keeping 32 in flight), and the tracing
//! path. Real files on this machine's disk.
//!
//! Run: `cargo bench --bench audit` (criterion reports time per record; records/s = 1/time).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use telescope::logs::audit::{
    AuditLayer, AuditLog, AuditRecord, CheckpointSink, Durability, Outcome,
};
use tracing_subscriber::layer::SubscriberExt;

fn record(n: u64) -> AuditRecord {
    AuditRecord::new("data_access", "read", Outcome::Success)
        .actor("svc-reporting")
        .resource(format!("/items/{n}"))
}

fn open(dir: &tempfile::TempDir, durability: Durability) -> AuditLog {
    AuditLog::builder(dir.path().join("audit.jsonl"))
        .key(b"bench key".to_vec())
        .durability(durability)
        .checkpoint_sink(CheckpointSink::File(dir.path().join("checkpoints.jsonl")))
        .max_file_bytes(1 << 30)
        .open()
        .expect("open")
}

/// Wall time for `total` records split over `threads`, each keeping `in_flight` unacknowledged.
fn run(log: &Arc<AuditLog>, threads: u64, in_flight: usize, total: u64) -> Duration {
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut pending = std::collections::VecDeque::new();
                for n in 0..total / threads {
                    pending.push_back(log.submit(record(thread * 1_000_000 + n)).expect("submit"));
                    if pending.len() >= in_flight {
                        pending.pop_front().map(|p| p.wait().expect("written"));
                    }
                }
                for p in pending {
                    p.wait().expect("written");
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    started.elapsed()
}

fn audit(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let cases: [(&str, Durability, u64, usize); 4] = [
        ("fsync_every_record_1_thread", Durability::EveryRecord, 1, 1),
        (
            "group_commit_4_threads_waiting",
            Durability::GroupCommit {
                linger: Duration::ZERO,
            },
            4,
            1,
        ),
        (
            "group_commit_4_threads_32_in_flight",
            Durability::GroupCommit {
                linger: Duration::ZERO,
            },
            4,
            32,
        ),
        ("os_buffered_1_thread", Durability::OsBuffered, 1, 1),
    ];
    for (name, durability, threads, in_flight) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(open(&dir, durability));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| run(&log, threads, in_flight, iters.max(threads)) / 1);
        });
        log.shutdown();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = open(
        &dir,
        Durability::GroupCommit {
            linger: Duration::ZERO,
        },
    );
    let subscriber = tracing_subscriber::registry().with(AuditLayer::new(log.clone()));
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing_event_group_commit", |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for n in 0..iters {
                    tracing::info!(target: "audit", r#type = "data_access", action = "read", outcome = "success",
                                   actor = "svc-reporting", resource = n);
                }
                log.flush().expect("flush");
                started.elapsed()
            });
        });
    });
    log.shutdown();
    group.finish();
}

criterion_group!(benches, audit);
criterion_main!(benches);
