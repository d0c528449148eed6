//! The [`HealthCheck`] trait and checks made from async closures.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::CheckResult;

/// A boxed future returning a [`CheckResult`].
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>>;

/// Something that can say whether a part of the service is healthy.
///
/// Implementations should be quick and free of side effects; the registry runs them in the
/// background on their interval with a timeout, never in a probe request.
///
/// ```
/// use telescope_health::{CheckFuture, CheckResult, HealthCheck};
///
/// struct QueueDepth(std::sync::Arc<std::sync::atomic::AtomicUsize>);
///
/// impl HealthCheck for QueueDepth {
///     fn name(&self) -> &str {
///         "queue"
///     }
///     fn check(&self) -> CheckFuture<'_> {
///         let depth = self.0.load(std::sync::atomic::Ordering::Relaxed);
///         Box::pin(async move {
///             let result = if depth > 10_000 { CheckResult::warn("queue is backing up") } else { CheckResult::pass() };
///             result.with_observation("depth", depth, None)
///         })
///     }
/// }
/// ```
pub trait HealthCheck: Send + Sync + 'static {
    /// The check's name: letters, digits, `-`, `_` and `.`; unique in a registry.
    fn name(&self) -> &str;

    /// Runs the check once.
    fn check(&self) -> CheckFuture<'_>;
}

/// A check made from a name and an async closure; see [`check_fn`].
pub struct FnCheck<F> {
    name: String,
    run: F,
}

impl<F> fmt::Debug for FnCheck<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCheck")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A check from an async closure.
///
/// ```
/// use telescope_health::{check_fn, CheckResult};
/// let ping = check_fn("ping", || async { CheckResult::pass() });
/// # let _ = ping;
/// ```
pub fn check_fn<F, Fut>(name: impl Into<String>, run: F) -> FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CheckResult> + Send + 'static,
{
    FnCheck {
        name: name.into(),
        run,
    }
}

impl<F, Fut> HealthCheck for FnCheck<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = CheckResult> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin((self.run)())
    }
}
