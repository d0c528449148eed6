//! Turning the latest results into a probe's verdict, as text for people or
//! `application/health+json` for machines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::registry::Entry;
use crate::status::Observation;
use crate::{Probe, Status};

/// What a report covers: one probe, or every check (`/healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The checks of one probe.
    Probe(Probe),
    /// Every check.
    All,
}

impl Target {
    /// The endpoint name: `livez`, `readyz`, `startupz` or `healthz`.
    pub fn endpoint(self) -> &'static str {
        match self {
            Target::Probe(probe) => probe.endpoint(),
            Target::All => "healthz",
        }
    }

    fn includes(self, entry: &Entry) -> bool {
        match self {
            Target::Probe(probe) => entry.config.belongs_to(probe),
            Target::All => true,
        }
    }
}

/// One check's part in a report.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// What it contributes to the verdict: a non-critical failure counts as a warning, an
    /// excluded check as a pass.
    pub status: Status,
    /// The check's own status, before criticality and exclusion.
    pub check_status: Status,
    /// Whether `?exclude=` left it out.
    pub excluded: bool,
    /// Whether a failure fails the probe (`false`: it only warns).
    pub critical: bool,
    /// Why it is not passing, if it is not.
    pub reason: Option<String>,
    /// What the latest run measured.
    pub observation: Option<Observation>,
    /// Details the latest run gave.
    pub details: BTreeMap<String, String>,
    /// When the latest run finished.
    pub last_run: Option<SystemTime>,
    /// How long the latest run took.
    pub duration: Option<Duration>,
}

/// A failure that is not a check's: draining, or startup not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `drain` or `startup`.
    pub name: &'static str,
    /// Why it fails the probe.
    pub reason: &'static str,
}

/// A probe's verdict from the latest results.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    target: Target,
    status: Status,
    checks: Vec<CheckReport>,
    conditions: Vec<Condition>,
    unknown_exclusions: Vec<String>,
}

impl ProbeReport {
    /// The verdict: any critical failure (or a failed condition) fails, any warning warns.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Each check's part, in registration order.
    pub fn checks(&self) -> &[CheckReport] {
        &self.checks
    }

    /// Failures that are not a check's (draining, startup not complete).
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Names given to `?exclude=` that match no check.
    pub fn unknown_exclusions(&self) -> &[String] {
        &self.unknown_exclusions
    }

    /// The report narrowed to one check, judged by its own status (a non-critical check that
    /// fails says so here), or `None` if the report has no such check.
    pub fn single(&self, name: &str) -> Option<ProbeReport> {
        let mut check = self.checks.iter().find(|c| c.name == name)?.clone();
        check.status = check.check_status;
        check.excluded = false;
        check.reason = check
            .reason
            .map(|r| r.trim_end_matches(" (non-critical)").to_owned());
        Some(ProbeReport {
            target: self.target,
            status: check.status,
            checks: vec![check],
            conditions: Vec::new(),
            unknown_exclusions: Vec::new(),
        })
    }

    /// The HTTP status for this verdict: 200 for pass and warn, 503 for fail.
    pub fn http_status(&self) -> u16 {
        if self.status == Status::Fail {
            503
        } else {
            200
        }
    }

    /// Kubernetes-style text: `ok` when healthy; with `verbose` (or when failing) one line per
    /// check (`[+]name ok`, `[+]name warn: reason`, `[-]name failed: reason`,
    /// `[+]name excluded: ok`) and a closing `<endpoint> check passed|failed`.
    pub fn to_text(&self, verbose: bool) -> String {
        if !verbose && self.status != Status::Fail {
            return "ok\n".to_owned();
        }
        let mut out = String::new();
        for check in &self.checks {
            let reason = check.reason.as_deref().unwrap_or("");
            let _ = match (check.excluded, check.status) {
                (true, _) => writeln!(out, "[+]{} excluded: ok", check.name),
                (false, Status::Pass) => writeln!(out, "[+]{} ok", check.name),
                (false, Status::Warn) => writeln!(out, "[+]{} warn: {reason}", check.name),
                (false, Status::Fail) => writeln!(out, "[-]{} failed: {reason}", check.name),
            };
        }
        for condition in &self.conditions {
            let _ = writeln!(out, "[-]{} failed: {}", condition.name, condition.reason);
        }
        if !self.unknown_exclusions.is_empty() {
            let names: Vec<String> = self
                .unknown_exclusions
                .iter()
                .map(|n| format!("{n:?}"))
                .collect();
            let _ = writeln!(
                out,
                "warn: some health checks cannot be excluded: no matches for {}",
                names.join(", ")
            );
        }
        let verdict = if self.status == Status::Fail {
            "failed"
        } else {
            "passed"
        };
        let _ = writeln!(out, "{} check {verdict}", self.target.endpoint());
        out
    }

    /// The `application/health+json` body (draft-inadarei-api-health-check-06): `status`,
    /// `description`, `output` when failing, and `checks` keyed `name:measurement` (or `name`
    /// when the check measured nothing), each an array with `componentId`, `componentType`,
    /// `status`, `observedValue`, `observedUnit`, `time`, `output`.
    pub fn to_health_json(&self) -> Value {
        let mut checks = Map::new();
        for check in self.checks.iter().filter(|c| !c.excluded) {
            let mut entry = Map::new();
            entry.insert("componentId".into(), json!(check.name));
            entry.insert("componentType".into(), json!("component"));
            entry.insert("status".into(), json!(check.status.as_str()));
            if let Some(observation) = &check.observation {
                entry.insert("observedValue".into(), observation.value.clone());
                if let Some(unit) = &observation.unit {
                    entry.insert("observedUnit".into(), json!(unit));
                }
            }
            if let Some(time) = check.last_run {
                entry.insert("time".into(), json!(telescope_core::time::rfc3339(time)));
            }
            if let Some(reason) = &check.reason {
                entry.insert("output".into(), json!(reason));
            }
            if !check.details.is_empty() {
                entry.insert("details".into(), json!(check.details));
            }
            let key = match &check.observation {
                Some(observation) => format!("{}:{}", check.name, observation.measurement),
                None => check.name.clone(),
            };
            checks.insert(key, Value::Array(vec![Value::Object(entry)]));
        }
        for condition in &self.conditions {
            checks.insert(
                condition.name.to_owned(),
                json!([{ "componentId": condition.name, "componentType": "system", "status": "fail", "output": condition.reason }]),
            );
        }
        let mut body = Map::new();
        body.insert("status".into(), json!(self.status.as_str()));
        body.insert("description".into(), json!(self.target.endpoint()));
        if self.status == Status::Fail {
            let failing: Vec<&str> = self
                .checks
                .iter()
                .filter(|c| c.status == Status::Fail)
                .map(|c| c.name.as_str())
                .chain(self.conditions.iter().map(|c| c.name))
                .collect();
            body.insert(
                "output".into(),
                json!(format!("failing: {}", failing.join(", "))),
            );
        }
        body.insert("checks".into(), Value::Object(checks));
        Value::Object(body)
    }
}

/// A check's contribution, before exclusion and criticality.
fn judge(entry: &Entry, target: Target) -> (Status, Option<String>) {
    let state = entry.state();
    let limit = entry.config.staleness_limit();
    match (&state.effective, &state.last) {
        (None, _) => {
            let waited = entry.registered_at.elapsed();
            if waited > entry.config.initial_delay + limit {
                (
                    Status::Fail,
                    Some(format!(
                        "no result after {waited:?}: the check is not running"
                    )),
                )
            } else if target == Target::Probe(Probe::Liveness) {
                // Not having run yet is no reason to restart the process.
                (Status::Pass, None)
            } else {
                (Status::Fail, Some("not run yet".to_owned()))
            }
        }
        (Some(status), last) => {
            let age = last
                .as_ref()
                .map(|l| l.finished.elapsed())
                .unwrap_or_default();
            if age > limit {
                return (
                    Status::Fail,
                    Some(format!("stale: the last result is {age:?} old")),
                );
            }
            let message = last
                .as_ref()
                .and_then(|l| l.result.message().map(str::to_owned));
            let reason = match (status, message) {
                (Status::Pass, _) => None,
                (_, Some(message)) => Some(message),
                (Status::Fail, None) => Some("failing".to_owned()),
                (Status::Warn, None) => Some("degraded".to_owned()),
            };
            (*status, reason)
        }
    }
}

/// The verdict for `target` over `entries`.
pub(crate) fn aggregate(
    entries: &[Arc<Entry>],
    target: Target,
    exclude: &[&str],
    accepting_traffic: bool,
    startup_complete: bool,
) -> ProbeReport {
    let mut checks = Vec::new();
    for entry in entries.iter().filter(|e| target.includes(e)) {
        let excluded = exclude.contains(&entry.name.as_str());
        let state = entry.state();
        let (check_status, check_reason) = judge(entry, target);
        let (mut status, mut reason) = (check_status, check_reason.clone());
        if excluded {
            (status, reason) = (Status::Pass, None);
        } else if status == Status::Fail && !entry.config.critical {
            status = Status::Warn;
            reason = reason.map(|r| format!("{r} (non-critical)"));
        }
        let last = state.last.as_ref();
        checks.push(CheckReport {
            name: entry.name.clone(),
            status,
            check_status,
            excluded,
            critical: entry.config.critical,
            reason,
            observation: last.and_then(|l| l.result.observation().cloned()),
            details: last.map(|l| l.result.details().clone()).unwrap_or_default(),
            last_run: last.map(|l| l.finished_at),
            duration: last.map(|l| l.duration),
        });
    }
    let mut conditions = Vec::new();
    if target == Target::Probe(Probe::Readiness) {
        if !accepting_traffic {
            conditions.push(Condition {
                name: "drain",
                reason: "shutting down",
            });
        }
        if !startup_complete {
            conditions.push(Condition {
                name: "startup",
                reason: "startup checks have not passed yet",
            });
        }
    }
    let worst = checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(Status::Pass);
    let status = if !conditions.is_empty() {
        Status::Fail
    } else if target == Target::Probe(Probe::Startup) && startup_complete {
        // Startup stays passed once it passed.
        Status::Pass
    } else {
        worst
    };
    let unknown_exclusions = exclude
        .iter()
        .filter(|name| !entries.iter().any(|e| e.name == **name))
        .map(|name| (*name).to_owned())
        .collect();
    ProbeReport {
        target,
        status,
        checks,
        conditions,
        unknown_exclusions,
    }
}
