//! Is there enough free disk space under a path?

use std::path::PathBuf;

use crate::{CheckFuture, CheckResult, HealthCheck};

/// Warns or fails when the space available (to unprivileged users) on the filesystem holding
/// `path` drops below thresholds. Reports `freeBytes`.
///
/// ```
/// use telescope_health::checks::DiskSpaceCheck;
/// let check = DiskSpaceCheck::new("data-disk", "/var/lib/app")
///     .warn_below_bytes(10 << 30)
///     .fail_below_bytes(1 << 30);
/// # let _ = check;
/// ```
#[derive(Debug, Clone)]
pub struct DiskSpaceCheck {
    name: String,
    path: PathBuf,
    warn_below: Option<u64>,
    fail_below: Option<u64>,
}

impl DiskSpaceCheck {
    /// A check named `name` for the filesystem of `path`, with no thresholds yet.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
            warn_below: None,
            fail_below: None,
        }
    }

    /// Warn when fewer than `bytes` are available.
    #[must_use]
    pub fn warn_below_bytes(mut self, bytes: u64) -> Self {
        self.warn_below = Some(bytes);
        self
    }

    /// Fail when fewer than `bytes` are available.
    #[must_use]
    pub fn fail_below_bytes(mut self, bytes: u64) -> Self {
        self.fail_below = Some(bytes);
        self
    }

    fn judge(&self, available: u64, total: u64) -> CheckResult {
        let describe = |limit: u64| {
            format!(
                "{available} bytes free under {}, below {limit}",
                self.path.display()
            )
        };
        let result = match (self.fail_below, self.warn_below) {
            (Some(limit), _) if available < limit => CheckResult::fail(describe(limit)),
            (_, Some(limit)) if available < limit => CheckResult::warn(describe(limit)),
            _ => CheckResult::pass(),
        };
        result
            .with_observation("freeBytes", available, Some("bytes"))
            .with_detail("totalBytes", total.to_string())
    }
}

impl HealthCheck for DiskSpaceCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            match rustix::fs::statvfs(&self.path) {
                Ok(stats) => {
                    let block = stats.f_frsize;
                    self.judge(
                        stats.f_bavail.saturating_mul(block),
                        stats.f_blocks.saturating_mul(block),
                    )
                }
                Err(error) => CheckResult::fail(format!(
                    "cannot read free space of {}: {error}",
                    self.path.display()
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn thresholds() {
        let check = DiskSpaceCheck::new("d", "/")
            .warn_below_bytes(1000)
            .fail_below_bytes(100);
        assert_eq!(check.judge(5000, 10_000).status(), Status::Pass);
        assert_eq!(check.judge(999, 10_000).status(), Status::Warn);
        assert_eq!(check.judge(99, 10_000).status(), Status::Fail);
        assert_eq!(
            check.judge(100, 10_000).status(),
            Status::Warn,
            "the fail limit is exclusive"
        );
    }
}
