//! A tamper-evident audit trail that loses nothing.
//!
//! Records come in two ways: `tracing` events with target `audit` (through [`AuditLayer`]),
//! and the typed API, [`AuditLog::record`], which returns only once the record is as durable as
//! the [`Durability`] policy says, so that a caller can refuse an operation it cannot audit
//! (fail-closed, as Vault does).
//!
//! The file holds JSON lines. Each record carries a sequence number and a chain value over the
//! previous chain value and the record's bytes: HMAC-SHA256 with a key (see
//! [`AuditLogBuilder::key_file`]), plain SHA-256 without one, which anyone can recompute and so
//! is weaker. Every N records or T seconds a checkpoint (sequence, head, count, time; signed with
//! Ed25519 when a signing key is set) is written into the log and to a second sink, so that a
//! cut tail or a replaced file is detectable. The `telescope-audit verify` command (and
//! [`verify_files`]) checks all of it.
//!
//! ```
//! use telescope_log::audit::{AuditLog, AuditRecord, Outcome};
//! # let dir = tempfile::tempdir()?;
//! let log = AuditLog::builder(dir.path().join("audit.jsonl")).service("accounts").open()?;
//! let receipt = log.record(AuditRecord::new("authentication", "login", Outcome::Success).actor("alice").resource("session"))?;
//! assert_eq!(receipt.seq, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chain;
mod checkpoint;
mod layer;
mod record;
mod store;
mod verify;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use ed25519_dalek::SigningKey;

pub use layer::AuditLayer;
pub use record::{AuditRecord, Outcome};
pub use store::AuditSink;
#[cfg(feature = "fault-injection")]
pub use store::{FaultHook, FaultPoint};
pub use verify::{verify_files, Damage, NotVerified, VerifyError, VerifyOptions, VerifyReport};

use chain::{from_hex, Chainer};
use record::Context;
use store::{FileStore, Store};
use writer::{Request, Writer};

/// When a record counts as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Each record is synced to disk before it is acknowledged.
    EveryRecord,
    /// Records that arrive together are written and synced once, then all acknowledged; the
    /// writer waits up to `linger` for more before syncing (zero: it takes what is there).
    GroupCommit {
        /// The longest the writer waits to gather a batch.
        linger: Duration,
    },
    /// Records are acknowledged once the operating system has them (synced at checkpoints
    /// and flushes); a machine crash can lose the last ones.
    OsBuffered,
}

/// What happens when the audit file cannot be written (disk full, I/O error). Every failure
/// is counted in `telescope_audit_write_failures_total` and announced once on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// The typed API returns [`AuditError::Write`]; records from the tracing path, which
    /// nobody can be told about, are retried until written.
    ReturnError,
    /// Keep retrying every `interval`; callers wait.
    BlockAndRetry {
        /// The pause between attempts.
        interval: Duration,
    },
    /// Abort the process (auditd's `disk_full_action = halt`).
    Abort,
}

/// Where checkpoints go besides the log itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointSink {
    /// Nowhere else (a cut tail after the last in-file checkpoint goes unnoticed).
    None,
    /// Appended, synced, to this file: keep it on other storage than the log.
    File(PathBuf),
    /// Printed to stderr, for a log collector to keep.
    Stderr,
}

/// A place beyond the local disk that keeps every checkpoint: a remote log store, syslog, a
/// transparency log. Someone who can rewrite the audit files *and* the local sidecar can cut
/// the log back to an earlier checkpoint unnoticed; against the checkpoints a witness kept
/// (given to the verifier with `--checkpoints`), the cut shows as truncation.
///
/// ```
/// use std::sync::Mutex;
/// use telescope_log::audit::{AuditLog, CheckpointWitness};
///
/// #[derive(Default)]
/// struct Remote(Mutex<Vec<String>>);
///
/// impl CheckpointWitness for Remote {
///     fn witness(&self, checkpoint: &str) -> std::io::Result<()> {
///         // Send it somewhere the audit host cannot rewrite.
///         self.0.lock().unwrap_or_else(|e| e.into_inner()).push(checkpoint.to_owned());
///         Ok(())
///     }
/// }
/// # let dir = tempfile::tempdir()?;
/// let log = AuditLog::builder(dir.path().join("audit.jsonl"))
///     .checkpoint_witness(Remote::default())
///     .open()?;
/// # drop(log);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait CheckpointWitness: Send + Sync + 'static {
    /// Keeps one checkpoint line (a JSON object, without its newline).
    ///
    /// # Errors
    /// Any failure; it is counted in `telescope_audit_write_failures_total` and reported on
    /// stderr, and the records stay written.
    fn witness(&self, checkpoint: &str) -> std::io::Result<()>;
}

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log file could not be opened or recovered.
    #[error("cannot open audit log {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The existing log does not verify; it must be looked at before anything is appended.
    #[error("audit log {path} is damaged ({damage}); investigate before writing to it")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What was found.
        damage: Damage,
    },
    /// A key file could not be read or has the wrong form.
    #[error("cannot use key file {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The record was not written (the failure policy returned the error).
    #[error("audit record not written: {0}")]
    Write(String),
    /// The log has been shut down.
    #[error("the audit log is shut down")]
    Closed,
}

/// Proof that a record was written: its sequence number and chain value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The record's sequence number.
    pub seq: u64,
    /// The record's chain value (hex).
    pub chain: String,
}

/// A record submitted but not yet acknowledged; see [`AuditLog::submit`].
#[derive(Debug)]
#[must_use = "the record is only known to be written once `wait` returns Ok"]
pub struct PendingReceipt(Receiver<Result<Receipt, AuditError>>);

impl PendingReceipt {
    /// Waits until the record is written as the durability policy says.
    ///
    /// # Errors
    /// [`AuditError::Write`] if the failure policy gave up on it, [`AuditError::Closed`] if
    /// the writer stopped.
    pub fn wait(self) -> Result<Receipt, AuditError> {
        self.0.recv().unwrap_or(Err(AuditError::Closed))
    }
}

/// Configures an [`AuditLog`].
#[must_use]
pub struct AuditLogBuilder {
    path: PathBuf,
    key: Option<Vec<u8>>,
    signing_key: Option<SigningKey>,
    durability: Durability,
    on_failure: FailurePolicy,
    checkpoint_records: u64,
    checkpoint_interval: Duration,
    checkpoint_sink: Option<CheckpointSink>,
    witnesses: Vec<Arc<dyn CheckpointWitness>>,
    max_file_bytes: Option<u64>,
    #[cfg(feature = "fault-injection")]
    faults: Option<store::FaultHook>,
    service: String,
    host: String,
    queue: usize,
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
}

impl fmt::Debug for AuditLogBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLogBuilder")
            .field("path", &self.path)
            .field("keyed", &self.key.is_some())
            .field("signed", &self.signing_key.is_some())
            .field("durability", &self.durability)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, AuditError> {
    let bytes = std::fs::read(path).map_err(|e| AuditError::Key {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if bytes.is_empty() {
        return Err(AuditError::Key {
            path: path.to_owned(),
            reason: "the file is empty".into(),
        });
    }
    Ok(bytes)
}

/// A 32-byte Ed25519 key from a file holding it raw or as 64 hex digits.
fn read_ed25519(path: &Path) -> Result<[u8; 32], AuditError> {
    let bytes = read_key_file(path)?;
    if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(raw);
    }
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| from_hex::<32>(text.trim()))
        .ok_or_else(|| AuditError::Key {
            path: path.to_owned(),
            reason: "expected 32 raw bytes or 64 hex digits".into(),
        })
}

/// The public key for a signing key file, for `telescope-audit verify --public-key`.
///
/// # Errors
/// [`AuditError::Key`] if the file cannot be read or is not a key.
pub fn public_key_hex(signing_key_file: &Path) -> Result<String, AuditError> {
    let key = SigningKey::from_bytes(&read_ed25519(signing_key_file)?);
    Ok(chain::to_hex(key.verifying_key().as_bytes()))
}

/// An Ed25519 public key that verifies the trail's signed checkpoints
/// ([`VerifyOptions::public_key`]). Its own type, so that the signature library's version is
/// not part of this crate's API.
///
/// ```
/// use telescope_log::audit::PublicKey;
///
/// let key = PublicKey::from_secret(&[7; 32]);
/// assert_eq!(PublicKey::from_bytes(&key.to_bytes()), Some(key));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// The key from its 32 bytes, or `None` if they are not an Ed25519 public key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .ok()
            .map(Self)
    }

    /// The public half of an Ed25519 secret (what `TELESCOPE_AUDIT_SIGNING_KEY_FILE` holds).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret).verifying_key())
    }

    /// Reads a public key file (32 raw bytes or 64 hex digits), as `telescope-audit verify
    /// --public-key` does.
    ///
    /// # Errors
    /// [`AuditError::Key`] if the file cannot be read or is not a valid Ed25519 public key.
    pub fn read(path: &Path) -> Result<Self, AuditError> {
        Self::from_bytes(&read_ed25519(path)?).ok_or_else(|| AuditError::Key {
            path: path.to_owned(),
            reason: "not an Ed25519 public key".into(),
        })
    }

    /// Its 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub(crate) fn verifying_key(&self) -> &ed25519_dalek::VerifyingKey {
        &self.0
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", chain::to_hex(self.0.as_bytes()))
    }
}

impl AuditLogBuilder {
    /// The HMAC key for the chain and sensitive fields.
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Reads the HMAC key from a file (its whole content; `TELESCOPE_AUDIT_KEY_FILE` in the
    /// facade).
    ///
    /// # Errors
    /// [`AuditError::Key`] if the file cannot be read or is empty.
    pub fn key_file(mut self, path: impl AsRef<Path>) -> Result<Self, AuditError> {
        self.key = Some(read_key_file(path.as_ref())?);
        Ok(self)
    }

    /// Signs checkpoints with the Ed25519 key in `path` (32 raw bytes or 64 hex digits).
    ///
    /// # Errors
    /// [`AuditError::Key`] if the file cannot be read or has the wrong form.
    pub fn signing_key_file(mut self, path: impl AsRef<Path>) -> Result<Self, AuditError> {
        self.signing_key = Some(SigningKey::from_bytes(&read_ed25519(path.as_ref())?));
        Ok(self)
    }

    /// Signs checkpoints with this Ed25519 secret key.
    pub fn signing_key(mut self, secret: [u8; 32]) -> Self {
        self.signing_key = Some(SigningKey::from_bytes(&secret));
        self
    }

    /// When a record counts as written (default: group commit with no linger).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// What to do when writing fails (default: [`FailurePolicy::ReturnError`]).
    pub fn on_failure(mut self, policy: FailurePolicy) -> Self {
        self.on_failure = policy;
        self
    }

    /// A checkpoint every `records` records or `interval`, whichever comes first
    /// (default 1000 records or 60 s; at least 1 record).
    pub fn checkpoints(mut self, records: u64, interval: Duration) -> Self {
        self.checkpoint_records = records.max(1);
        self.checkpoint_interval = interval;
        self
    }

    /// Where checkpoints go besides the log (default: `<log file>.checkpoints`).
    pub fn checkpoint_sink(mut self, sink: CheckpointSink) -> Self {
        self.checkpoint_sink = Some(sink);
        self
    }

    /// Makes rotation fail where `hook` says (tests only; feature `fault-injection`).
    #[cfg(feature = "fault-injection")]
    pub fn fault_hook(mut self, hook: store::FaultHook) -> Self {
        self.faults = Some(hook);
        self
    }

    /// Also hands every checkpoint to `witness`, beyond the local sidecar (may be called more
    /// than once).
    pub fn checkpoint_witness(mut self, witness: impl CheckpointWitness) -> Self {
        self.witnesses.push(Arc::new(witness));
        self
    }

    /// Starts a new file when the current one reaches `bytes` (default 100 MiB); the new file
    /// begins with a link to the old one's last chain value. Nothing is deleted. 0 counts as
    /// 1: a file per record.
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = Some(bytes.max(1));
        self
    }

    /// The service named in every record.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// The host named in every record (default: `HOSTNAME`, else `/etc/hostname`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Uses `clock` for record and checkpoint times (for tests).
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Opens (or creates) the log file, recovers a torn last line, verifies what is there,
    /// and starts the writer.
    ///
    /// # Errors
    /// [`AuditError::Open`] or [`AuditError::Damaged`].
    pub fn open(mut self) -> Result<AuditLog, AuditError> {
        let (store, recovered) =
            FileStore::open(&self.path, self.key.as_deref(), self.max_file_bytes)?;
        #[cfg(feature = "fault-injection")]
        let store = {
            let mut store = store;
            store.faults = self.faults.take();
            store
        };
        if recovered.torn_lines > 0 {
            metrics::counter!(telescope_core::metric_names::AUDIT_TORN_LINES_TOTAL)
                .increment(recovered.torn_lines);
            eprintln!("telescope: the audit log ended with a torn line (a crash mid-write); it was moved to the .torn file");
        }
        if self.checkpoint_sink.is_none() {
            let mut name = self
                .path
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            name.push(".checkpoints");
            self.checkpoint_sink = Some(CheckpointSink::File(self.path.with_file_name(name)));
        }
        Ok(self.start(Store::File(store), recovered.seq, recovered.head))
    }

    /// Writes to `sink` instead of a file: no recovery, no rotation (for tests and custom
    /// storage).
    pub fn open_sink(self, sink: impl AuditSink) -> AuditLog {
        self.start(Store::Sink(Box::new(sink)), 0, chain::GENESIS)
    }

    fn start(self, store: Store, seq: u64, head: chain::ChainValue) -> AuditLog {
        let (sender, requests) = mpsc::sync_channel(self.queue);
        let chainer = Chainer::new(self.key);
        let writer = Writer {
            requests,
            store,
            chainer: chainer.clone(),
            context: Context {
                service: self.service,
                host: self.host,
            },
            signing_key: self.signing_key,
            durability: self.durability,
            on_failure: self.on_failure,
            checkpoint_records: self.checkpoint_records,
            checkpoint_interval: self.checkpoint_interval,
            checkpoint_sink: self.checkpoint_sink.unwrap_or(CheckpointSink::None),
            witnesses: self.witnesses,
            seq,
            head,
            clock: self.clock.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("telescope-audit".to_owned())
            .spawn(move || writer.run());
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(error) => {
                eprintln!("telescope: could not start the audit writer thread: {error}");
                None
            }
        };
        AuditLog {
            inner: Arc::new(Inner {
                sender: Mutex::new(Some(sender)),
                chainer,
                thread: Mutex::new(thread),
                clock: self.clock,
            }),
        }
    }
}

fn default_host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

struct Inner {
    /// `None` once shut down.
    sender: Mutex<Option<SyncSender<Request>>>,
    chainer: Chainer,
    thread: Mutex<Option<JoinHandle<()>>>,
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(thread) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = thread.join();
        }
    }
}

/// The audit log: typed records in, durable chained lines out. Cheap to clone; the writer
/// stops (sealing the log with a final checkpoint) when the last clone is dropped or
/// [`shutdown`](Self::shutdown) is called.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("chainer", &self.inner.chainer)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// A builder for the log file at `path`.
    pub fn builder(path: impl Into<PathBuf>) -> AuditLogBuilder {
        AuditLogBuilder {
            path: path.into(),
            key: None,
            signing_key: None,
            durability: Durability::GroupCommit {
                linger: Duration::ZERO,
            },
            on_failure: FailurePolicy::ReturnError,
            checkpoint_records: 1000,
            checkpoint_interval: Duration::from_secs(60),
            checkpoint_sink: None,
            witnesses: Vec::new(),
            max_file_bytes: Some(100 << 20),
            #[cfg(feature = "fault-injection")]
            faults: None,
            service: std::env::var("OTEL_SERVICE_NAME")
                .unwrap_or_else(|_| "unknown_service".to_owned()),
            host: default_host(),
            queue: 4096,
            clock: Arc::new(SystemTime::now),
        }
    }

    fn send(&self, request: Request) -> Result<(), AuditError> {
        let sender = self
            .inner
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // A full queue makes the caller wait: audit records are never dropped.
        sender
            .ok_or(AuditError::Closed)?
            .send(request)
            .map_err(|_| AuditError::Closed)
    }

    /// Submits a record and returns at once; [`PendingReceipt::wait`] tells when it is written.
    /// Lets one thread keep several records in flight.
    ///
    /// # Errors
    /// [`AuditError::Closed`] if the log is shut down.
    pub fn submit(&self, mut record: AuditRecord) -> Result<PendingReceipt, AuditError> {
        if record.trace.is_none() {
            record.trace =
                telescope_core::current_ids().map(|(t, s)| (t.to_string(), s.to_string()));
        }
        let (ack, receipt) = mpsc::sync_channel(1);
        self.send(Request::Record {
            record: Box::new(record),
            time: (self.inner.clock)(),
            ack: Some(ack),
        })?;
        Ok(PendingReceipt(receipt))
    }

    /// Writes a record and returns once it is as durable as the policy says. If this returns
    /// an error, the record is not in the log: refuse the operation it describes.
    ///
    /// # Errors
    /// [`AuditError::Write`] (by the failure policy) or [`AuditError::Closed`].
    pub fn record(&self, record: AuditRecord) -> Result<Receipt, AuditError> {
        self.submit(record)?.wait()
    }

    /// Queues a record nobody waits for; it is retried until written (the tracing path).
    pub(crate) fn record_without_ack(&self, record: AuditRecord) {
        let time = (self.inner.clock)();
        if self
            .send(Request::Record {
                record: Box::new(record),
                time,
                ack: None,
            })
            .is_err()
        {
            metrics::counter!(telescope_core::metric_names::AUDIT_WRITE_FAILURES_TOTAL)
                .increment(1);
            eprintln!("telescope: an audit event arrived after the audit log was shut down");
        }
    }

    /// Waits until everything submitted so far is written and synced.
    ///
    /// # Errors
    /// [`AuditError::Write`] if the sync fails, [`AuditError::Closed`] if shut down.
    pub fn flush(&self) -> Result<(), AuditError> {
        let (ack, done) = mpsc::sync_channel(1);
        self.send(Request::Flush(ack))?;
        done.recv().unwrap_or(Err(AuditError::Closed))
    }

    /// The stored form of a sensitive value, to look for it in the log (as Vault's
    /// `/sys/audit-hash`).
    pub fn hash_value(&self, value: &str) -> String {
        self.inner.chainer.hash_value(value)
    }

    /// Writes what is queued, seals the log with a final checkpoint and stops the writer.
    /// Later records get [`AuditError::Closed`]. Calling it twice is harmless.
    pub fn shutdown(&self) {
        drop(
            self.inner
                .sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(thread) = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = thread.join();
        }
    }
}
