//! The writer thread: numbers and chains records, writes them, makes them durable as the
//! policy says, acknowledges them, writes checkpoints, and handles failures by policy.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ed25519_dalek::SigningKey;
use telescope_core::metric_names::{
    AUDIT_INCOMPLETE_TOTAL, AUDIT_RECORDS_TOTAL, AUDIT_WRITE_FAILURES_TOTAL,
};

use super::chain::{to_hex, ChainValue, Chainer};
use super::checkpoint::Checkpoint;
use super::record::{canonical_body, link_body, record_time, AuditRecord, Context};
use super::store::Store;
use super::{AuditError, CheckpointSink, CheckpointWitness, Durability, FailurePolicy, Receipt};

/// The most records committed together.
const MAX_BATCH: usize = 1024;
/// How long a record that must not be lost waits before another try.
const RETRY_INTERVAL: Duration = Duration::from_millis(100);

/// What callers send to the writer.
pub(crate) enum Request {
    Record {
        record: Box<AuditRecord>,
        time: SystemTime,
        /// `None`: nobody waits (the tracing path), and the record is retried until written.
        ack: Option<SyncSender<Result<Receipt, AuditError>>>,
    },
    Flush(SyncSender<Result<(), AuditError>>),
}

/// A record waiting to be committed.
struct Pending {
    record: AuditRecord,
    time: SystemTime,
    ack: Option<SyncSender<Result<Receipt, AuditError>>>,
}

pub(crate) struct Writer {
    pub(crate) requests: Receiver<Request>,
    pub(crate) store: Store,
    pub(crate) chainer: Chainer,
    pub(crate) context: Context,
    pub(crate) signing_key: Option<SigningKey>,
    pub(crate) durability: Durability,
    pub(crate) on_failure: FailurePolicy,
    pub(crate) checkpoint_records: u64,
    pub(crate) checkpoint_interval: Duration,
    pub(crate) checkpoint_sink: CheckpointSink,
    pub(crate) witnesses: Vec<Arc<dyn CheckpointWitness>>,
    pub(crate) seq: u64,
    pub(crate) head: ChainValue,
    pub(crate) clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
}

impl Writer {
    pub(crate) fn run(mut self) {
        let warned = AtomicBool::new(false);
        let mut since_checkpoint = 0u64;
        let mut last_checkpoint = Instant::now();
        while let Ok(first) = self.requests.recv() {
            let mut batch = vec![first];
            if let Durability::GroupCommit { linger } = self.durability {
                let deadline = telescope_core::time::deadline_after(linger);
                while batch.len() < MAX_BATCH && !linger.is_zero() {
                    match self
                        .requests
                        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    {
                        Ok(request) => batch.push(request),
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
            while batch.len() < MAX_BATCH {
                match self.requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            // Records are committed in order; a flush acknowledges once those before it are.
            let mut records = Vec::new();
            for request in batch {
                match request {
                    Request::Record { record, time, ack } => records.push(Pending {
                        record: *record,
                        time,
                        ack,
                    }),
                    Request::Flush(ack) => {
                        self.commit_all(
                            std::mem::take(&mut records),
                            &mut since_checkpoint,
                            &mut last_checkpoint,
                            &warned,
                        );
                        let result = self
                            .store
                            .sync()
                            .map_err(|e| AuditError::Write(e.to_string()));
                        let _ = ack.send(result);
                    }
                }
            }
            self.commit_all(
                records,
                &mut since_checkpoint,
                &mut last_checkpoint,
                &warned,
            );
        }
        // Every handle is gone: seal the log with a final checkpoint.
        if since_checkpoint > 0 {
            self.commit_checkpoint_only(&warned);
        }
        let _ = self.store.sync();
    }

    fn commit_all(
        &mut self,
        records: Vec<Pending>,
        since_checkpoint: &mut u64,
        last_checkpoint: &mut Instant,
        warned: &AtomicBool,
    ) {
        if records.is_empty() {
            return;
        }
        match self.durability {
            Durability::EveryRecord => {
                for record in records {
                    self.commit(vec![record], since_checkpoint, last_checkpoint, warned);
                }
            }
            Durability::GroupCommit { .. } | Durability::OsBuffered => {
                self.commit(records, since_checkpoint, last_checkpoint, warned);
            }
        }
    }

    /// Writes `records` as one unit, retrying or failing them by policy.
    // One function (~120 lines): the durability protocol in the order it must happen (write,
    // flush, sync, then acknowledge or retry by policy, then checkpoint); spread over helpers,
    // a reader could no longer check that order at a glance, and crash tests depend on it.
    fn commit(
        &mut self,
        mut records: Vec<Pending>,
        since_checkpoint: &mut u64,
        last_checkpoint: &mut Instant,
        warned: &AtomicBool,
    ) {
        loop {
            let now = (self.clock)();
            // Rotate (and write a pending link) first, so that a failure below cuts back only
            // the records of this batch; the chain continues through the link.
            let rotated = self.start_file_if_needed(now);
            let (seq, head) = (self.seq, self.head);
            let len = self.store.len();
            let mut lines = Vec::with_capacity(records.len() * 300);
            let mut receipts = Vec::with_capacity(records.len());
            let mut incomplete = 0u64;
            for pending in &records {
                self.seq += 1;
                let chainer = &self.chainer;
                let body = canonical_body(
                    &pending.record,
                    self.seq,
                    &record_time(pending.time),
                    &self.context,
                    &|v| chainer.hash_value(v),
                );
                let chain = self.chainer.next(&self.head, &body);
                self.head = chain;
                lines.extend_from_slice(&body);
                lines.extend_from_slice(b",\"chain\":\"");
                lines.extend_from_slice(to_hex(&chain).as_bytes());
                lines.extend_from_slice(b"\"}\n");
                receipts.push(Receipt {
                    seq: self.seq,
                    chain: to_hex(&chain),
                });
                incomplete += u64::from(!pending.record.missing().is_empty());
            }
            let due = *since_checkpoint + records.len() as u64 >= self.checkpoint_records
                || last_checkpoint.elapsed() >= self.checkpoint_interval;
            let checkpoint = due.then(|| {
                Checkpoint::new(
                    self.seq,
                    self.seq,
                    self.head,
                    now,
                    self.signing_key.as_ref(),
                )
            });
            if let Some(checkpoint) = &checkpoint {
                lines.extend_from_slice(checkpoint.line().as_bytes());
            }
            let result = rotated
                .and_then(|()| self.store.append(&lines))
                .and_then(|()| {
                    if self.durability == Durability::OsBuffered && checkpoint.is_none() {
                        Ok(())
                    } else {
                        self.store.sync()
                    }
                });
            match result {
                Ok(()) => {
                    let written = self.seq - seq;
                    metrics::counter!(AUDIT_RECORDS_TOTAL).increment(written);
                    if incomplete > 0 {
                        metrics::counter!(AUDIT_INCOMPLETE_TOTAL).increment(incomplete);
                    }
                    for (pending, receipt) in records.into_iter().zip(receipts) {
                        if let Some(ack) = pending.ack {
                            let _ = ack.send(Ok(receipt));
                        }
                    }
                    match checkpoint {
                        Some(checkpoint) => {
                            self.publish_checkpoint(&checkpoint);
                            *since_checkpoint = 0;
                            *last_checkpoint = Instant::now();
                        }
                        None => *since_checkpoint += written,
                    }
                    return;
                }
                Err(error) => {
                    (self.seq, self.head) = (seq, head);
                    self.store.truncate(len);
                    metrics::counter!(AUDIT_WRITE_FAILURES_TOTAL).increment(1);
                    if !warned.swap(true, Ordering::Relaxed) {
                        eprintln!("telescope: writing the audit log failed: {error}; failures are counted in {AUDIT_WRITE_FAILURES_TOTAL}");
                    }
                    match self.on_failure {
                        FailurePolicy::Abort => {
                            eprintln!("telescope: audit log unwritable ({error}) and the policy is to abort the process");
                            std::process::abort();
                        }
                        FailurePolicy::ReturnError => {
                            let message = error.to_string();
                            // Callers who wait get the error; records nobody waits for must not
                            // be lost, so they are tried again.
                            records.retain_mut(|pending| match pending.ack.take() {
                                Some(ack) => {
                                    let _ = ack.send(Err(AuditError::Write(message.clone())));
                                    false
                                }
                                None => true,
                            });
                            if records.is_empty() {
                                return;
                            }
                            std::thread::sleep(RETRY_INTERVAL);
                        }
                        FailurePolicy::BlockAndRetry { interval } => std::thread::sleep(interval),
                    }
                }
            }
        }
    }

    /// Starts a new file when the current one is full, and writes the link line a new file
    /// begins with (again, if writing it failed before: a record never lands in a new file
    /// before its link).
    fn start_file_if_needed(&mut self, now: SystemTime) -> std::io::Result<()> {
        if self.store.is_full() {
            self.store.start_new_file(self.seq, now)?;
        }
        let Some(previous) = self.store.link_needed() else {
            return Ok(());
        };
        let body = link_body(&previous, self.seq, &to_hex(&self.head));
        let chain = self.chainer.next(&self.head, &body);
        let mut line = body;
        line.extend_from_slice(b",\"chain\":\"");
        line.extend_from_slice(to_hex(&chain).as_bytes());
        line.extend_from_slice(b"\"}\n");
        self.store.write_link(&line)?;
        self.head = chain;
        Ok(())
    }

    /// A checkpoint with no new record (at the end).
    fn commit_checkpoint_only(&mut self, warned: &AtomicBool) {
        // A new file whose link could not be written yet gets it first: a checkpoint must
        // never open a file.
        if self.store.link_needed().is_some() {
            let now = (self.clock)();
            if let Err(error) = self.start_file_if_needed(now) {
                metrics::counter!(AUDIT_WRITE_FAILURES_TOTAL).increment(1);
                if !warned.swap(true, Ordering::Relaxed) {
                    eprintln!("telescope: writing the audit log's link line failed: {error}; the final checkpoint is not written");
                }
                return;
            }
        }
        let checkpoint = Checkpoint::new(
            self.seq,
            self.seq,
            self.head,
            (self.clock)(),
            self.signing_key.as_ref(),
        );
        let written = self
            .store
            .append(checkpoint.line().as_bytes())
            .and_then(|()| self.store.sync());
        match written {
            Ok(()) => self.publish_checkpoint(&checkpoint),
            Err(error) => {
                metrics::counter!(AUDIT_WRITE_FAILURES_TOTAL).increment(1);
                if !warned.swap(true, Ordering::Relaxed) {
                    eprintln!("telescope: writing the final audit checkpoint failed: {error}");
                }
            }
        }
    }

    /// Sends a checkpoint to the second sink.
    fn publish_checkpoint(&self, checkpoint: &Checkpoint) {
        let line = checkpoint.line();
        let result = match &self.checkpoint_sink {
            CheckpointSink::None => Ok(()),
            CheckpointSink::Stderr => {
                eprint!("{line}");
                Ok(())
            }
            CheckpointSink::File(path) => append_synced(path, line.as_bytes()),
        };
        if let Err(error) = result {
            metrics::counter!(AUDIT_WRITE_FAILURES_TOTAL).increment(1);
            eprintln!("telescope: writing an audit checkpoint to its second sink failed: {error}");
        }
        for witness in &self.witnesses {
            if let Err(error) = witness.witness(line.trim_end()) {
                metrics::counter!(AUDIT_WRITE_FAILURES_TOTAL).increment(1);
                eprintln!("telescope: handing an audit checkpoint to its witness failed: {error}");
            }
        }
    }
}

fn append_synced(path: &PathBuf, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_data()
}
