//! A small tmpfs of its own, for tests that need a real full disk. Mounting needs root
//! (CAP_SYS_ADMIN); without it the test says it is skipped.

use std::path::{Path, PathBuf};

/// A tmpfs mounted for one test, unmounted when dropped (also when the test panics).
pub(crate) struct SmallTmpfs(PathBuf);

impl SmallTmpfs {
    /// Mounts a tmpfs of `size` (such as `"64k"`) at a new directory `disk` under `parent`,
    /// or says on stderr why not and returns `None`.
    pub(crate) fn mount(parent: &Path, size: &str) -> Option<SmallTmpfs> {
        let disk = parent.join("disk");
        std::fs::create_dir(&disk).expect("mount point");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&disk)
            .output()
            .is_ok_and(|out| out.status.success());
        if !mounted {
            eprintln!("skipped: mounting a small tmpfs needs root (CAP_SYS_ADMIN)");
            return None;
        }
        Some(SmallTmpfs(disk))
    }

    /// Where it is mounted.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
