//! [`Health`]: the registry that runs checks in the background and answers probes from their
//! latest results.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Instant, SystemTime};

use tokio::runtime::Handle;

use crate::report::{self, ProbeReport, Target};
use crate::runtime::CheckRuntime;
use crate::state::CheckState;
use crate::{signals, CheckConfig, CheckResult, HealthCheck, Probe};

/// Why a check could not be registered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegisterError {
    /// Another check has that name.
    #[error("a health check named {0:?} is already registered")]
    DuplicateName(String),
    /// The name is empty or has characters other than letters, digits, `-`, `_`, `.`.
    #[error("invalid health check name {0:?}: use letters, digits, '-', '_' and '.'")]
    InvalidName(String),
    /// The settings cannot work.
    #[error("invalid settings for health check {name:?}: {reason}")]
    InvalidConfig {
        /// The check.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The dedicated runtime's thread could not be started.
    #[error("cannot start the health check runtime: {0}")]
    Runtime(String),
}

/// One registered check.
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) config: CheckConfig,
    pub(crate) check: Arc<dyn HealthCheck>,
    pub(crate) state: Mutex<CheckState>,
    pub(crate) registered_at: Instant,
}

impl Entry {
    pub(crate) fn state(&self) -> CheckState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Inner {
    checks: RwLock<Vec<Arc<Entry>>>,
    /// `false` while the application drains: readiness fails.
    accepting_traffic: AtomicBool,
    /// Set once every startup check has passed; never cleared.
    started: AtomicBool,
    runtime_handle: Option<Handle>,
    runtime: Mutex<Option<Arc<CheckRuntime>>>,
}

/// The health registry: checks run in the background, probes read their latest results.
///
/// Cloning is cheap and every clone is the same registry. Checks run on a small runtime on a
/// thread of its own (started with the first check), so they keep running and report when the
/// application's runtime is blocked, which is what a liveness probe is for; use
/// [`Health::on_runtime`] to run them on a runtime of yours instead. A probe never runs a
/// check: it reads the latest results, in time proportional to the number of checks, so a
/// flood of probes cannot pile up work on a dependency.
///
/// ```
/// use telescope_health::{check_fn, CheckConfig, CheckResult, Health, Probe, Status};
///
/// let health = Health::new();
/// health.register(check_fn("db", || async { CheckResult::pass() }), CheckConfig::readiness())?;
/// // Before the first run the check is pending, and readiness fails.
/// let report = health.report(Probe::Readiness, &[]);
/// assert_eq!(report.status(), Status::Fail);
/// # Ok::<(), telescope_health::RegisterError>(())
/// ```
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.entries().iter().map(|e| e.name.clone()).collect();
        f.debug_struct("Health")
            .field("checks", &names)
            .field("accepting_traffic", &self.is_accepting_traffic())
            .finish_non_exhaustive()
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Health {
    fn with_handle(runtime_handle: Option<Handle>) -> Self {
        Self {
            inner: Arc::new(Inner {
                checks: RwLock::new(Vec::new()),
                accepting_traffic: AtomicBool::new(true),
                started: AtomicBool::new(false),
                runtime_handle,
                runtime: Mutex::new(None),
            }),
        }
    }

    /// A registry whose checks run on a dedicated runtime thread.
    pub fn new() -> Self {
        Self::with_handle(None)
    }

    /// A registry whose checks run on the given runtime.
    pub fn on_runtime(handle: Handle) -> Self {
        Self::with_handle(Some(handle))
    }

    fn runtime(&self) -> Result<Arc<CheckRuntime>, RegisterError> {
        let mut slot = self
            .inner
            .runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(runtime) = slot.as_ref() {
            return Ok(runtime.clone());
        }
        let runtime = match &self.inner.runtime_handle {
            Some(handle) => CheckRuntime::on(handle.clone()),
            None => CheckRuntime::dedicated().map_err(|e| RegisterError::Runtime(e.to_string()))?,
        };
        let runtime = Arc::new(runtime);
        *slot = Some(runtime.clone());
        Ok(runtime)
    }

    /// Registers `check` and starts running it in the background.
    ///
    /// # Errors
    /// [`RegisterError`] for a duplicate or invalid name, unusable settings, or a runtime
    /// thread that cannot start.
    pub fn register(
        &self,
        check: impl HealthCheck,
        config: CheckConfig,
    ) -> Result<(), RegisterError> {
        let name = check.name().to_owned();
        if !valid_name(&name) {
            return Err(RegisterError::InvalidName(name));
        }
        if let Some(reason) = config.problem() {
            return Err(RegisterError::InvalidConfig { name, reason });
        }
        let runtime = self.runtime()?;
        let entry = Arc::new(Entry {
            name: name.clone(),
            config,
            check: Arc::new(check),
            state: Mutex::new(CheckState::default()),
            registered_at: Instant::now(),
        });
        {
            let mut checks = self
                .inner
                .checks
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if checks.iter().any(|e| e.name == name) {
                return Err(RegisterError::DuplicateName(name));
            }
            checks.push(entry.clone());
        }
        runtime.spawn(run_forever(entry));
        Ok(())
    }

    /// Marks the service as (not) accepting traffic. While `false`, readiness fails with
    /// "shutting down": call it when a termination signal arrives, wait for the load
    /// balancer to notice, then stop.
    pub fn set_accepting_traffic(&self, accepting: bool) {
        self.inner
            .accepting_traffic
            .store(accepting, Ordering::SeqCst);
        if !accepting {
            tracing::info!(target: "telescope_health", "readiness turned off: draining");
        }
    }

    /// Whether readiness is on (see [`set_accepting_traffic`](Self::set_accepting_traffic)).
    pub fn is_accepting_traffic(&self) -> bool {
        self.inner.accepting_traffic.load(Ordering::SeqCst)
    }

    /// The names of the registered checks, in registration order.
    pub fn check_names(&self) -> Vec<String> {
        self.entries().iter().map(|e| e.name.clone()).collect()
    }

    /// How many times the check has run so far, or `None` if there is no such check.
    pub fn runs(&self, name: &str) -> Option<u64> {
        self.entries()
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.state().runs)
    }

    pub(crate) fn entries(&self) -> Vec<Arc<Entry>> {
        self.inner
            .checks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The probe's verdict from the latest results, skipping the checks named in `exclude`.
    pub fn report(&self, probe: Probe, exclude: &[&str]) -> ProbeReport {
        self.report_for(Target::Probe(probe), exclude)
    }

    /// The verdict over every check (`/healthz`).
    pub fn report_all(&self, exclude: &[&str]) -> ProbeReport {
        self.report_for(Target::All, exclude)
    }

    pub(crate) fn report_for(&self, target: Target, exclude: &[&str]) -> ProbeReport {
        let started = self.startup_complete();
        report::aggregate(
            &self.entries(),
            target,
            exclude,
            self.is_accepting_traffic(),
            started,
        )
    }

    /// Whether every startup check has passed once (the latch never resets). With no
    /// startup checks, startup is complete.
    pub fn startup_complete(&self) -> bool {
        if self.inner.started.load(Ordering::SeqCst) {
            return true;
        }
        let all_passed = self
            .entries()
            .iter()
            .filter(|e| e.config.belongs_to(Probe::Startup))
            .all(|e| {
                matches!(
                    e.state().effective,
                    Some(crate::Status::Pass | crate::Status::Warn)
                )
            });
        if all_passed {
            self.inner.started.store(true, Ordering::SeqCst);
        }
        all_passed
    }
}

/// Runs one check on its interval, with its timeout, until the runtime stops.
async fn run_forever(entry: Arc<Entry>) {
    tokio::time::sleep(entry.config.initial_delay).await;
    loop {
        let started = Instant::now();
        let running = {
            let entry = entry.clone();
            tokio::spawn(async move { entry.check.check().await })
        };
        let abort = running.abort_handle();
        let result = match tokio::time::timeout(entry.config.timeout, running).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) if join_error.is_panic() => CheckResult::fail("the check panicked"),
            Ok(Err(_)) => CheckResult::fail("the check was cancelled"),
            Err(_) => {
                abort.abort();
                CheckResult::fail(format!("timed out after {:?}", entry.config.timeout))
            }
        };
        let duration = started.elapsed();
        let (transition, effective, recorded) = {
            let mut state = entry.state.lock().unwrap_or_else(PoisonError::into_inner);
            let transition =
                state.record(result.clone(), SystemTime::now(), duration, &entry.config);
            (transition, state.effective, result)
        };
        signals::after_run(
            &entry.name,
            &entry.config,
            effective,
            &recorded,
            duration,
            transition,
        );
        tokio::time::sleep(entry.config.interval).await;
    }
}
