//! A file writer that rotates by size and/or time and keeps a bounded number of files.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::MakeWriter;

use crate::report::LossReport;

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A time boundary at which the file rotates, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotationPeriod {
    /// At the start of every minute.
    Minutely,
    /// At the start of every hour.
    Hourly,
    /// At midnight UTC.
    Daily,
}

impl RotationPeriod {
    fn seconds(self) -> u64 {
        match self {
            RotationPeriod::Minutely => 60,
            RotationPeriod::Hourly => 3600,
            RotationPeriod::Daily => 86_400,
        }
    }

    /// The start of the period that `time` falls in, in seconds since the epoch.
    fn start_of(self, time: SystemTime) -> u64 {
        let seconds = unix_seconds(time);
        seconds - seconds % self.seconds()
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Why a rolling file writer could not be configured or started.
#[derive(Debug, thiserror::Error)]
pub enum RollingConfigError {
    /// The file name prefix is empty or contains a path separator.
    #[error("invalid file name prefix {0:?}: it must be non-empty and contain no '/'")]
    InvalidPrefix(String),
    /// The directory could not be created or the file opened.
    #[error("cannot open log file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

/// Configures a [`RollingFileWriter`].
///
/// ```no_run
/// use telescope_log::{RollingFileWriter, RotationPeriod};
/// let writer = RollingFileWriter::builder("/var/log/myapp", "myapp")
///     .max_bytes(100 * 1024 * 1024)
///     .period(RotationPeriod::Daily)
///     .max_files(7)
///     .build()?;
/// # Ok::<(), telescope_log::RollingConfigError>(())
/// ```
#[must_use]
pub struct RollingFileBuilder {
    directory: PathBuf,
    prefix: String,
    suffix: String,
    max_bytes: Option<u64>,
    period: Option<RotationPeriod>,
    max_files: Option<usize>,
    reopen_check: Duration,
    clock: Clock,
}

impl fmt::Debug for RollingFileBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RollingFileBuilder")
            .field("directory", &self.directory)
            .field("prefix", &self.prefix)
            .field("suffix", &self.suffix)
            .field("max_bytes", &self.max_bytes)
            .field("period", &self.period)
            .field("max_files", &self.max_files)
            .finish_non_exhaustive()
    }
}

impl RollingFileBuilder {
    /// Rotates when the active file would grow past `bytes` (a longer single line gets a
    /// file of its own). 0 counts as 1: every line in a file of its own.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes.max(1));
        self
    }

    /// Rotates at each boundary of `period` (UTC).
    pub fn period(mut self, period: RotationPeriod) -> Self {
        self.period = Some(period);
        self
    }

    /// Keeps at most `files` files, the active one included, deleting the oldest rotated
    /// ones. Enforced when the writer starts and after each rotation. By default nothing is
    /// deleted. 0 counts as 1: the active file alone.
    pub fn max_files(mut self, files: usize) -> Self {
        self.max_files = Some(files.max(1));
        self
    }

    /// The file name suffix (default `log`).
    pub fn suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = suffix.into();
        self
    }

    /// How often the writer checks that its file still exists at its path, and reopens it if
    /// it was deleted or moved away (default every second; `Duration::ZERO` checks on every
    /// write).
    pub fn reopen_check(mut self, every: Duration) -> Self {
        self.reopen_check = every;
        self
    }

    /// Uses `clock` instead of the system clock (for tests).
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Creates the directory if needed, opens the active file, rotates it if it belongs to
    /// an earlier period, and prunes old files beyond `max_files`.
    ///
    /// # Errors
    /// [`RollingConfigError::InvalidPrefix`], or [`RollingConfigError::Open`] if the
    /// directory or the file cannot be opened now (later failures are counted, not fatal).
    pub fn build(self) -> Result<RollingFileWriter, RollingConfigError> {
        if self.prefix.is_empty() || self.prefix.contains('/') {
            return Err(RollingConfigError::InvalidPrefix(self.prefix));
        }
        let names = FileNames {
            directory: self.directory,
            prefix: self.prefix,
            suffix: self.suffix,
        };
        let active_path = names.active();
        let open_error = |source| RollingConfigError::Open {
            path: active_path.clone(),
            source,
        };
        fs::create_dir_all(&names.directory).map_err(open_error)?;
        let now = (self.clock)();
        let mut state = State {
            names,
            file: None,
            size: 0,
            period_start: None,
            last_check: now,
            max_bytes: self.max_bytes,
            period: self.period,
            max_files: self.max_files,
            reopen_check: self.reopen_check,
        };
        state.open().map_err(open_error)?;
        if let (Some(period), Some(file)) = (state.period, &state.file) {
            let modified = file.metadata().and_then(|m| m.modified()).unwrap_or(now);
            if state.size > 0 && period.start_of(modified) < period.start_of(now) {
                state.rotate(modified).map_err(open_error)?;
            }
            state.period_start = Some(period.start_of(now));
        }
        state.prune();
        Ok(RollingFileWriter {
            state: Mutex::new(state),
            clock: self.clock,
            loss: LossReport::default(),
        })
    }
}

/// How the active and rotated files are named: `prefix.suffix` for the active file (so
/// `tail -F` follows it) and `prefix.YYYYMMDDTHHMMSSZ.suffix` (then `…Z-1`, `…Z-2` within one
/// second) for rotated ones, in UTC.
#[derive(Debug)]
struct FileNames {
    directory: PathBuf,
    prefix: String,
    suffix: String,
}

impl FileNames {
    fn active(&self) -> PathBuf {
        self.directory
            .join(format!("{}.{}", self.prefix, self.suffix))
    }

    fn rotated(&self, stamp: &str, sequence: u32) -> PathBuf {
        let name = match sequence {
            0 => format!("{}.{stamp}.{}", self.prefix, self.suffix),
            n => format!("{}.{stamp}-{n}.{}", self.prefix, self.suffix),
        };
        self.directory.join(name)
    }

    /// The stamp and sequence of a rotated file's name, or `None` for other files.
    fn parse_rotated(&self, name: &str) -> Option<(String, u32)> {
        let middle = name.strip_prefix(&self.prefix)?.strip_prefix('.')?;
        let middle = middle.strip_suffix(&self.suffix)?.strip_suffix('.')?;
        let (stamp, sequence) = match middle.split_once('-') {
            Some((stamp, n)) => (stamp, n.parse().ok()?),
            None => (middle, 0),
        };
        let well_formed = stamp.len() == 16
            && stamp.as_bytes()[8] == b'T'
            && stamp.ends_with('Z')
            && stamp
                .bytes()
                .enumerate()
                .all(|(i, b)| i == 8 || i == 15 || b.is_ascii_digit());
        well_formed.then(|| (stamp.to_owned(), sequence))
    }
}

/// `YYYYMMDDTHHMMSSZ` for `time`.
fn file_stamp(time: SystemTime) -> String {
    let mut rfc3339 = Vec::new();
    crate::timestamp::write_timestamp(
        &mut rfc3339,
        time,
        crate::timestamp::TimestampFormat::Rfc3339Millis,
    );
    // "YYYY-MM-DDTHH:MM:SS.mmmZ" with quotes: keep the digits and the T.
    let text: String = String::from_utf8_lossy(&rfc3339[1..20])
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!("{text}Z")
}

struct State {
    names: FileNames,
    file: Option<File>,
    size: u64,
    /// Start of the period the active file belongs to.
    period_start: Option<u64>,
    last_check: SystemTime,
    max_bytes: Option<u64>,
    period: Option<RotationPeriod>,
    max_files: Option<usize>,
    reopen_check: Duration,
}

impl State {
    fn open(&mut self) -> io::Result<()> {
        fs::create_dir_all(&self.names.directory)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.names.active())?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    /// Whether the open file is still the one at the active path.
    fn still_at_path(&self) -> bool {
        let (Some(file), Ok(at_path)) = (&self.file, fs::metadata(self.names.active())) else {
            return false;
        };
        file.metadata()
            .is_ok_and(|open| open.ino() == at_path.ino() && open.dev() == at_path.dev())
    }

    /// Moves the active file aside under a stamped name, opens a new one, and prunes.
    fn rotate(&mut self, now: SystemTime) -> io::Result<()> {
        self.file = None;
        let stamp = file_stamp(now);
        // One past the highest sequence with this stamp, so that a newer file never sorts
        // before an older one, even after pruning freed a lower number.
        let sequence = self
            .rotated_files()
            .into_iter()
            .filter(|((existing, _), _)| *existing == stamp)
            .map(|((_, sequence), _)| sequence.saturating_add(1))
            .max()
            .unwrap_or(0);
        let target = self.names.rotated(&stamp, sequence);
        let renamed = fs::rename(self.names.active(), &target);
        self.prune();
        self.open()?;
        match renamed {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// The rotated files in the directory, oldest first, with their (stamp, sequence).
    fn rotated_files(&self) -> Vec<((String, u32), PathBuf)> {
        let Ok(entries) = fs::read_dir(&self.names.directory) else {
            return Vec::new();
        };
        let mut rotated: Vec<((String, u32), PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                Some((self.names.parse_rotated(&name)?, entry.path()))
            })
            .collect();
        rotated.sort();
        rotated
    }

    /// Deletes the oldest rotated files beyond `max_files - 1`.
    fn prune(&mut self) {
        let Some(max_files) = self.max_files else {
            return;
        };
        let rotated = self.rotated_files();
        let keep = max_files - 1;
        let excess = rotated.len().saturating_sub(keep);
        for (_, path) in rotated.into_iter().take(excess) {
            if let Err(error) = fs::remove_file(&path) {
                if error.kind() != io::ErrorKind::NotFound {
                    eprintln!(
                        "telescope: could not delete old log file {}: {error}",
                        path.display()
                    );
                }
            }
        }
    }

    /// Writes one line, rotating first if due. A failed rotation is reported to `loss` and
    /// the line still goes to the active file; a failed write is returned to the caller and
    /// leaves nothing of the line in the file.
    fn write_line(&mut self, line: &[u8], now: SystemTime, loss: &LossReport) -> io::Result<()> {
        let period_over = match (self.period, self.period_start) {
            (Some(period), Some(start)) => period.start_of(now) > start,
            _ => false,
        };
        let too_big = self
            .max_bytes
            .is_some_and(|max| self.size > 0 && self.size + line.len() as u64 > max);
        if self.file.is_some() && (period_over || too_big) {
            if let Err(error) = self.rotate(now) {
                loss.write_error(&error);
            }
        }
        if let Some(period) = self.period {
            self.period_start = Some(period.start_of(now));
        }
        let check_due = now
            .duration_since(self.last_check)
            .map_or(true, |since| since >= self.reopen_check);
        if self.file.is_none() || (check_due && !self.still_at_path()) {
            self.open()?;
        }
        if check_due {
            self.last_check = now;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("log file is not open"));
        };
        match file.write_all(line) {
            Ok(()) => {
                self.size += line.len() as u64;
                Ok(())
            }
            Err(error) => {
                // All or nothing: cut back what part of the line got out (a full disk takes
                // some bytes, then refuses), so that no half line is merged with the next.
                let _ = file.set_len(self.size);
                // Reopen on the next write: the file may have been replaced or the disk freed.
                self.file = None;
                Err(error)
            }
        }
    }
}

/// A log file that rotates by size and/or time (UTC), keeps at most N files, and survives its
/// file being deleted or its directory becoming unusable (the write fails and is counted;
/// later writes reopen the file).
///
/// The active file is always `<prefix>.<suffix>`; rotated files get a UTC stamp. Best placed
/// behind a [`NonBlocking`](crate::NonBlocking) writer so that file I/O stays off the
/// application's threads.
///
/// ```
/// use telescope_log::{JsonLayer, NonBlocking, RollingFileWriter};
/// # let dir = tempfile::tempdir()?;
/// let file = RollingFileWriter::builder(dir.path(), "app").max_bytes(10 << 20).max_files(5).build()?;
/// let (writer, _guard) = NonBlocking::new(file);
/// let layer = JsonLayer::builder().writer(writer).build();
/// # drop(layer);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RollingFileWriter {
    state: Mutex<State>,
    clock: Clock,
    /// Counts failed rotations (failed writes are returned to the caller).
    loss: LossReport,
}

impl fmt::Debug for RollingFileWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("RollingFileWriter")
            .field("path", &state.names.active())
            .finish_non_exhaustive()
    }
}

impl RollingFileWriter {
    /// A builder for files `<directory>/<prefix>.log`, with no rotation and no pruning
    /// until configured.
    pub fn builder(directory: impl AsRef<Path>, prefix: impl Into<String>) -> RollingFileBuilder {
        RollingFileBuilder {
            directory: directory.as_ref().to_path_buf(),
            prefix: prefix.into(),
            suffix: "log".to_owned(),
            max_bytes: None,
            period: None,
            max_files: None,
            reopen_check: Duration::from_secs(1),
            clock: Arc::new(SystemTime::now),
        }
    }

    /// The active file's path.
    pub fn active_path(&self) -> PathBuf {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .names
            .active()
    }

    /// Writes one line. A failure is returned, not counted here: the caller (the JSON layer
    /// or the non-blocking worker) counts it, so that each failure is counted once.
    fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let now = (self.clock)();
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_line(line, now, &self.loss)
    }
}

impl Write for &RollingFileWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        self.write_line(line)?;
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for RollingFileWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        (&*self).write(line)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RollingFileWriter {
    type Writer = &'a RollingFileWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_round_trip_and_others_are_ignored() {
        let names = FileNames {
            directory: PathBuf::from("/x"),
            prefix: "app".into(),
            suffix: "log".into(),
        };
        let stamp = file_stamp(UNIX_EPOCH + Duration::from_secs(1_795_305_879));
        assert_eq!(stamp, "20261122T000439Z");
        for sequence in [0, 1, 12] {
            let path = names.rotated(&stamp, sequence);
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            assert_eq!(names.parse_rotated(name), Some((stamp.clone(), sequence)));
        }
        for other in [
            "app.log",
            "app.notastamp.log",
            "other.20261122T000439Z.log",
            "app.20261122T000439Z.txt",
        ] {
            assert_eq!(names.parse_rotated(other), None, "{other}");
        }
    }
}
