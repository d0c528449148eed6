//! Where records land: the audit file (with rotation and crash recovery) or a custom sink.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::chain::{to_hex, ChainValue, GENESIS};
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

/// The audit file.
pub(crate) struct FileStore {
    path: PathBuf,
    file: File,
    len: u64,
    max_bytes: Option<u64>,
    regular: bool,
}

/// The state found in an existing file.
pub(crate) struct Recovered {
    pub(crate) seq: u64,
    pub(crate) head: ChainValue,
    pub(crate) torn_lines: u64,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl FileStore {
    /// Opens `path`; an existing regular file is recovered (a torn last line moved to
    /// `<path>.torn`) and verified in full, so the chain continues from its last record.
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
        if regular && path.exists() {
            let bytes = fs::read(path).map_err(open_error)?;
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
            let options = VerifyOptions {
                key: key.map(<[u8]>::to_vec),
                ..VerifyOptions::default()
            };
            match verify_files(&[path.to_owned()], &options) {
                Ok(report) => {
                    recovered.seq = report.last_seq;
                    recovered.head = report.last_chain;
                }
                Err(VerifyError::Damaged(damage)) => {
                    return Err(AuditError::Damaged {
                        path: path.to_owned(),
                        damage,
                    })
                }
                Err(VerifyError::Read { source, .. }) => return Err(open_error(source)),
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
                path: path.to_owned(),
                file,
                len,
                max_bytes: max_bytes.filter(|_| regular),
                regular,
            },
            recovered,
        ))
    }

    pub(crate) fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(error) => {
                // Cut any partial write so the file ends on a whole line.
                if self.regular {
                    let _ = self.file.set_len(self.len);
                }
                Err(error)
            }
        }
    }

    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Cuts the file back to `len` bytes (after a failed batch).
    pub(crate) fn truncate(&mut self, len: u64) {
        if self.regular && self.len != len {
            let _ = self.file.set_len(len);
            self.len = len;
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Moves the full file aside and starts a new one whose first line links to the old head.
    pub(crate) fn rotate_if_full(
        &mut self,
        seq: u64,
        head: &ChainValue,
        now: SystemTime,
    ) -> io::Result<()> {
        let Some(max) = self.max_bytes else {
            return Ok(());
        };
        if self.len < max {
            return Ok(());
        }
        self.file.sync_all()?;
        let stamp: String = telescope_core::time::rfc3339(now)
            .chars()
            .filter(char::is_ascii_digit)
            .take(14)
            .collect();
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let extension = self
            .path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let rotated = self
            .path
            .with_file_name(format!("{stem}.{stamp}-{seq:012}{extension}"));
        fs::rename(&self.path, &rotated)?;
        self.file = open_append(&self.path)?;
        self.len = 0;
        let name = rotated
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let link = format!(
            "{{\"link\":{{\"previous\":{},\"seq\":{seq},\"head\":\"{}\"}}}}\n",
            serde_json::Value::from(name),
            to_hex(head)
        );
        self.append(link.as_bytes())?;
        self.sync()
    }
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

    pub(crate) fn rotate_if_full(
        &mut self,
        seq: u64,
        head: &ChainValue,
        now: SystemTime,
    ) -> io::Result<()> {
        match self {
            Store::File(file) => file.rotate_if_full(seq, head, now),
            Store::Sink(_) => Ok(()),
        }
    }
}
