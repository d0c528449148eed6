//! `promtool check metrics` on an exposition (Debian's `prometheus` package; `.ci/run`
//! installs it for the interop tests).

use std::io::Write;
use std::process::{Command, Stdio};

/// Whether promtool accepts `exposition` (it parses, and its lint finds nothing), and what
/// it said.
pub(crate) fn promtool_check(exposition: &str) -> (bool, String) {
    let (code, said) = promtool_run(exposition);
    (code == Some(0), said)
}

/// Whether promtool parses `exposition` (lint findings about naming conventions, its exit
/// code 3, aside: hostile names are made valid, not conventional), and what it said.
#[allow(dead_code)] // used by the interop tests only
pub(crate) fn promtool_parses(exposition: &str) -> (bool, String) {
    let (code, said) = promtool_run(exposition);
    (matches!(code, Some(0 | 3)), said)
}

/// promtool's exit code on `exposition`, and what it said.
fn promtool_run(exposition: &str) -> (Option<i32>, String) {
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
    (output.status.code(), said)
}
