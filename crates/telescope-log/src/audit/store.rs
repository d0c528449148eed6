//! Where records land: the audit file (with rotation and crash recovery) or a custom sink.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::chain::{ChainValue, GENESIS};
use super::verify::{verify_files, VerifyError, VerifyOptions};
use super::AuditError;

/// A destination for audit lines other than a file of ours (for tests and custom storage).
/// Writes must be all-or-nothing from the log's point of view: an error means the record is
/// treated as not written.
pub trait AuditSink: Send + 'static {
    /// Appends `bytes`.
    ///
    /// # Errors
    /// Any I/O error; the log then applies its failure policy.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// Makes what was written durable.
    ///
    /// # Errors
    /// Any I/O error; the log then applies its failure policy.
    fn sync(&mut self) -> io::Result<()>;
}

/// A step of rotation where a test can make the file system fail.
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// Moving the full file aside.
    Rename,
    /// Creating the new file after the rename.
    Create,
    /// Writing the new file's link line.
    LinkWrite,
}

/// Decides, at each [`FaultPoint`], whether the step fails (and with which error).
#[cfg(feature = "fault-injection")]
pub type FaultHook = std::sync::Arc<dyn Fn(FaultPoint) -> io::Result<()> + Send + Sync>;

/// The audit file.
pub(crate) struct FileStore {
    #[cfg(feature = "fault-injection")]
    pub(crate) faults: Option<FaultHook>,
    path: PathBuf,
    /// `None` after a rotation whose new file could not be created yet.
    file: Option<File>,
    len: u64,
    max_bytes: Option<u64>,
    regular: bool,
    /// The file before this one, when this one still needs its link line.
    link_pending: Option<String>,
}

/// The state found in an existing file.
pub(crate) struct Recovered {
    pub(crate) seq: u64,
    pub(crate) head: ChainValue,
    pub(crate) torn_lines: u64,
}

/// Rotation's steps, named for the fault hook (which exists only with `fault-injection`).
#[cfg(not(feature = "fault-injection"))]
#[derive(Debug, Clone, Copy)]
enum FaultPoint {
    Rename,
    Create,
    LinkWrite,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn not_open() -> io::Error {
    io::Error::other("the new audit file could not be created after rotation")
}

impl FileStore {
    /// Fails here if a test's hook says so.
    #[cfg(feature = "fault-injection")]
    fn fault(&self, point: FaultPoint) -> io::Result<()> {
        self.faults.as_ref().map_or(Ok(()), |hook| hook(point))
    }

    #[cfg(not(feature = "fault-injection"))]
    fn fault(&self, _point: FaultPoint) -> io::Result<()> {
        Ok(())
    }

    /// Opens `path`; an existing regular file is recovered (a torn last line moved to
    /// `<path>.torn`) and verified in full, so the chain continues from its last record. When
    /// the file is missing or empty but rotated files of the log exist (a crash or a full disk
    /// during rotation), the chain continues from the newest of them, through a link line.
    // One function (~85 lines): the recovery sequence on open (torn tail, full verification,
    // continuing from rotated files through a link line) in the order it must run.
    pub(crate) fn open(
        path: &Path,
        key: Option<&[u8]>,
        max_bytes: Option<u64>,
    ) -> Result<(Self, Recovered), AuditError> {
        let open_error = |source| AuditError::Open {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(open_error)?;
        }
        let regular = fs::metadata(path).map_or(true, |m| m.is_file());
        let mut recovered = Recovered {
            seq: 0,
            head: GENESIS,
            torn_lines: 0,
        };
        let mut link_pending = None;
        if regular {
            let bytes = match fs::read(path) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(error) => return Err(open_error(error)),
            };
            if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                // A crash mid-write left a partial line: set it aside, keep the good prefix.
                let good = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                let mut torn = open_append(&torn_path(path)).map_err(open_error)?;
                torn.write_all(&bytes[good..])
                    .and_then(|()| torn.write_all(b"\n"))
                    .and_then(|()| torn.sync_all())
                    .map_err(open_error)?;
                OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(good as u64))
                    .map_err(open_error)?;
                recovered.torn_lines = 1;
            }
            let newest_rotated = newest_rotated_file(path);
            let has_lines = bytes.contains(&b'\n');
            let continued_from = match (has_lines, &newest_rotated) {
                (true, _) => Some(path.to_owned()),
                (false, Some(rotated)) => {
                    link_pending = rotated
                        .file_name()
                        .map(|name| name.to_string_lossy().into_owned());
                    Some(rotated.clone())
                }
                (false, None) => None,
            };
            if let Some(file) = continued_from {
                let report = verify_one(&file, key).map_err(|error| match error {
                    VerifyError::Damaged(damage) => AuditError::Damaged {
                        path: file.clone(),
                        damage,
                    },
                    other => open_error(io::Error::other(other.to_string())),
                })?;
                recovered.seq = report.last_seq;
                recovered.head = report.last_chain;
            }
        }
        let file = open_append(path).map_err(open_error)?;
        let len = if regular {
            file.metadata().map_err(open_error)?.len()
        } else {
            0
        };
        Ok((
            Self {
                #[cfg(feature = "fault-injection")]
                faults: None,
                path: path.to_owned(),
                file: Some(file),
                len,
                max_bytes: max_bytes.filter(|_| regular),
                regular,
                link_pending,
            },
            recovered,
        ))
    }

    pub(crate) fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let file = self.file.as_mut().ok_or_else(not_open)?;
        match file.write_all(bytes) {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(error) => {
                // Cut any partial write so the file ends on a whole line.
                if self.regular {
                    let _ = file.set_len(self.len);
                }
                Err(error)
            }
        }
    }

    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.as_mut().ok_or_else(not_open)?.sync_data()
    }

    /// Cuts the file back to `len` bytes (after a failed batch).
    pub(crate) fn truncate(&mut self, len: u64) {
        if let Some(file) = self
            .file
            .as_mut()
            .filter(|_| self.regular && self.len != len)
        {
            let _ = file.set_len(len);
            self.len = len;
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file has reached its size limit (and has its link, if it needs one).
    pub(crate) fn is_full(&self) -> bool {
        self.link_pending.is_none() && self.max_bytes.is_some_and(|max| self.len >= max)
    }

    /// Moves the full file aside under a name holding the time and the last sequence number,
    /// and starts a new one, which needs its link line next ([`Self::link_needed`]).
    pub(crate) fn start_new_file(&mut self, seq: u64, now: SystemTime) -> io::Result<()> {
        self.file.as_mut().ok_or_else(not_open)?.sync_all()?;
        let stamp: String = telescope_core::time::rfc3339(now)
            .chars()
            .filter(char::is_ascii_digit)
            .take(14)
            .collect();
        let (stem, extension) = stem_and_extension(&self.path);
        let rotated = self
            .path
            .with_file_name(format!("{stem}.{stamp}-{seq:012}{extension}"));
        self.fault(FaultPoint::Rename)?;
        fs::rename(&self.path, &rotated)?;
        self.link_pending = Some(
            rotated
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        self.file = None;
        self.len = 0;
        self.fault(FaultPoint::Create)?;
        self.file = Some(open_append(&self.path)?);
        Ok(())
    }

    /// The name of the file before this one, while this one still lacks its link line.
    pub(crate) fn link_needed(&self) -> Option<String> {
        self.link_pending.clone()
    }

    /// Writes the link line (creating the file first if rotation could not), durably.
    pub(crate) fn write_link(&mut self, line: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            self.fault(FaultPoint::Create)?;
            self.file = Some(open_append(&self.path)?);
            self.len = 0;
        }
        self.fault(FaultPoint::LinkWrite)?;
        self.append(line)?;
        self.sync()?;
        self.link_pending = None;
        Ok(())
    }
}

/// `audit` and `.jsonl` of `audit.jsonl`.
fn stem_and_extension(path: &Path) -> (String, String) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let extension = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (stem, extension)
}

/// The rotated file of the log at `path` with the highest last sequence number (the newest):
/// `<stem>.<14 digits>-<12 digits><extension>` beside it.
fn newest_rotated_file(path: &Path) -> Option<PathBuf> {
    let (stem, extension) = stem_and_extension(path);
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::read_dir(&directory)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let middle = name
                .strip_prefix(&stem)?
                .strip_prefix('.')?
                .strip_suffix(extension.as_str())?;
            let (stamp, seq) = middle.split_once('-')?;
            let digits = |text: &str, len: usize| {
                text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
            };
            (digits(stamp, 14) && digits(seq, 12))
                .then(|| (seq.parse::<u64>().ok(), stamp.to_owned(), entry.path()))
        })
        .filter_map(|(seq, stamp, path)| Some((seq?, stamp, path)))
        .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)))
        .map(|(_, _, path)| path)
}

/// Verifies one file of the log on its own (it may start with a link to a file not given).
fn verify_one(path: &Path, key: Option<&[u8]>) -> Result<super::verify::VerifyReport, VerifyError> {
    let options = VerifyOptions {
        key: key.map(<[u8]>::to_vec),
        allow_missing_head: true,
        ..VerifyOptions::default()
    };
    verify_files(&[path.to_owned()], &options)
}

fn torn_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".torn");
    path.with_file_name(name)
}

/// Either destination.
pub(crate) enum Store {
    File(FileStore),
    Sink(Box<dyn AuditSink>),
}

impl Store {
    pub(crate) fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Store::File(file) => file.append(bytes),
            Store::Sink(sink) => sink.write_all(bytes),
        }
    }

    pub(crate) fn sync(&mut self) -> io::Result<()> {
        match self {
            Store::File(file) => file.sync(),
            Store::Sink(sink) => sink.sync(),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            Store::File(file) => file.len(),
            Store::Sink(_) => 0,
        }
    }

    pub(crate) fn truncate(&mut self, len: u64) {
        if let Store::File(file) = self {
            file.truncate(len);
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        matches!(self, Store::File(file) if file.is_full())
    }

    pub(crate) fn start_new_file(&mut self, seq: u64, now: SystemTime) -> io::Result<()> {
        match self {
            Store::File(file) => file.start_new_file(seq, now),
            Store::Sink(_) => Ok(()),
        }
    }

    pub(crate) fn link_needed(&self) -> Option<String> {
        match self {
            Store::File(file) => file.link_needed(),
            Store::Sink(_) => None,
        }
    }

    pub(crate) fn write_link(&mut self, line: &[u8]) -> io::Result<()> {
        match self {
            Store::File(file) => file.write_link(line),
            Store::Sink(_) => Ok(()),
        }
    }
}
