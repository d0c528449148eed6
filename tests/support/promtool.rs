//! `promtool check metrics` on an exposition (Debian's `prometheus` package; `.ci/run`
//! installs it for the interop tests).

use std::io::Write;
use std::process::{Command, Stdio};

/// Whether promtool accepts `exposition`, and what it said.
pub(crate) fn promtool_check(exposition: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (apt-get install prometheus)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write exposition");
    let output = child.wait_with_output().expect("promtool runs");
    let mut said = String::from_utf8_lossy(&output.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), said)
}
