//! The adaptive sampler: a target of sampled root traces per second per operation, adjusted
//! every interval from the smoothed traffic, and written as `ot=th` so that downstream can
//! compute adjusted counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use telescope_core::TraceState;

use super::threshold::{is_sampled, probability_of, randomness, threshold_for, with_threshold};
use super::{SamplingDecision, SamplingInput};

/// Monotonic time since some origin; injected in tests.
pub type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

/// The adaptive sampler's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveConfig {
    /// Sampled root traces per second wanted for each operation (root span name).
    pub target_per_second: f64,
    /// Sampled root traces per second over all operations at most.
    pub global_per_second: f64,
    /// How often probabilities are recomputed.
    pub interval: Duration,
    /// Weight of the newest interval in the smoothed traffic (0..=1).
    pub smoothing: f64,
    /// The most a probability may rise in one interval, as a fraction (0.5: +50%); falls are
    /// applied at once.
    pub max_increase: f64,
    /// Operations tracked one by one; further names share one budget.
    pub max_operations: usize,
}

impl AdaptiveConfig {
    /// `target` sampled traces per second per operation, a global cap of 100 times that, a
    /// 1 s interval, smoothing 0.5, increases capped at +50%.
    pub fn per_second(target: f64) -> Self {
        let target = if target.is_finite() && target > 0.0 {
            target
        } else {
            1.0
        };
        Self {
            target_per_second: target,
            global_per_second: target * 100.0,
            interval: Duration::from_secs(1),
            smoothing: 0.5,
            max_increase: 0.5,
            max_operations: 1000,
        }
    }
}

/// One operation's traffic and current threshold.
#[derive(Debug)]
struct Operation {
    seen: AtomicU64,
    threshold: AtomicU64,
    sampled_this_interval: AtomicBool,
    /// Whether the floor applies: set when fewer than one sampled trace per interval is
    /// expected (and for a new operation), so that busy operations get no forced samples.
    floor: AtomicBool,
    /// Smoothed roots per second, as `f64` bits; `NaN` before the first interval.
    rate: AtomicU64,
}

impl Operation {
    fn new() -> Self {
        Self {
            seen: AtomicU64::new(0),
            threshold: AtomicU64::new(0),
            sampled_this_interval: AtomicBool::new(false),
            floor: AtomicBool::new(true),
            rate: AtomicU64::new(f64::NAN.to_bits()),
        }
    }
}

/// Adaptive head sampling for root spans; child spans follow their parent.
///
/// An operation (root span name) expected to get less than one sampled trace per interval
/// keeps one anyway, so rare endpoints are never invisible; that floor sample carries `th:0`
/// (it stands for itself).
/// Every other decision is consistent-probability at the operation's current threshold, which
/// the sampled span carries as `ot=th:…`. The probability per operation is published as the
/// gauge `telescope_sampler_probability{operation}`.
///
/// ```
/// use telescope_otlp::sampler::{AdaptiveConfig, AdaptiveSampler, Sampler, SamplingInput};
/// let sampler = AdaptiveSampler::new(AdaptiveConfig::per_second(10.0));
/// let decision = sampler.should_sample(&SamplingInput {
///     parent: None,
///     trace_id: telescope_core::IdGenerator::default().trace_id(),
///     name: "GET /orders",
/// });
/// assert!(decision.sampled, "a new operation starts fully sampled");
/// ```
pub struct AdaptiveSampler {
    config: AdaptiveConfig,
    clock: Clock,
    operations: RwLock<HashMap<String, Arc<Operation>>>,
    others: Arc<Operation>,
    /// When the current interval ends and when it began, in clock nanoseconds.
    interval_end: AtomicU64,
    interval_start: AtomicU64,
}

impl std::fmt::Debug for AdaptiveSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveSampler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl AdaptiveSampler {
    /// A sampler on the real monotonic clock.
    pub fn new(config: AdaptiveConfig) -> Self {
        let origin = Instant::now();
        Self::with_clock(config, Arc::new(move || origin.elapsed()))
    }

    /// A sampler on `clock` (for tests).
    pub fn with_clock(config: AdaptiveConfig, clock: Clock) -> Self {
        let now = nanos(clock());
        let interval = nanos(config.interval).max(1);
        Self {
            config,
            clock,
            operations: RwLock::new(HashMap::new()),
            others: Arc::new(Operation::new()),
            interval_end: AtomicU64::new(now.saturating_add(interval)),
            interval_start: AtomicU64::new(now),
        }
    }

    fn operation(&self, name: &str) -> Arc<Operation> {
        if let Some(operation) = self
            .operations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return operation.clone();
        }
        let mut operations = self
            .operations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if operations.len() >= self.config.max_operations && !operations.contains_key(name) {
            return self.others.clone();
        }
        operations
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Operation::new()))
            .clone()
    }

    /// The current sampling probability of `operation` (1 for one not seen yet).
    pub fn probability(&self, operation: &str) -> f64 {
        let operations = self
            .operations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        operations.get(operation).map_or(1.0, |op| {
            probability_of(op.threshold.load(Ordering::Relaxed))
        })
    }

    /// Recomputes probabilities when an interval has ended (one thread does it).
    fn maybe_roll(&self, now: u64) {
        let end = self.interval_end.load(Ordering::Acquire);
        if now < end {
            return;
        }
        let interval = nanos(self.config.interval).max(1);
        if self
            .interval_end
            .compare_exchange(end, now + interval, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let start = self.interval_start.swap(now, Ordering::AcqRel);
        let elapsed = (now.saturating_sub(start) as f64 / 1e9).max(1e-9);
        let operations = self
            .operations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let all: Vec<(&str, &Arc<Operation>)> = operations
            .iter()
            .map(|(n, o)| (n.as_str(), o))
            .chain(std::iter::once(("other", &self.others)))
            .collect();
        let interval_seconds = self.config.interval.as_secs_f64();
        let mut planned: Vec<(f64, f64)> = Vec::with_capacity(all.len());
        for (_, operation) in &all {
            let observed = operation.seen.swap(0, Ordering::AcqRel) as f64 / elapsed;
            let previous = f64::from_bits(operation.rate.load(Ordering::Relaxed));
            let rate = if previous.is_nan() {
                observed
            } else {
                self.config.smoothing * observed + (1.0 - self.config.smoothing) * previous
            };
            operation.rate.store(rate.to_bits(), Ordering::Relaxed);
            let current = probability_of(operation.threshold.load(Ordering::Relaxed));
            let wanted = if rate > 0.0 {
                (self.config.target_per_second / rate).min(1.0)
            } else {
                1.0
            };
            let ceiling = (current * (1.0 + self.config.max_increase)).max(1e-9);
            planned.push((wanted.min(ceiling), rate));
        }
        // The global cap scales every operation down alike.
        let total: f64 = planned.iter().map(|(p, rate)| p * rate).sum();
        let scale = if total > self.config.global_per_second && total > 0.0 {
            self.config.global_per_second / total
        } else {
            1.0
        };
        for ((name, operation), (probability, rate)) in all.iter().zip(planned) {
            let probability = (probability * scale).clamp(1e-9, 1.0);
            operation
                .threshold
                .store(threshold_for(probability), Ordering::Relaxed);
            operation
                .sampled_this_interval
                .store(false, Ordering::Relaxed);
            operation.floor.store(
                probability * rate * interval_seconds < 1.0,
                Ordering::Relaxed,
            );
            metrics::gauge!("telescope_sampler_probability", "operation" => name.to_string())
                .set(probability);
        }
    }
}

impl super::Sampler for AdaptiveSampler {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        if let Some(parent) = input.parent {
            return SamplingDecision {
                sampled: parent.is_sampled(),
                trace_state: parent.trace_state().clone(),
            };
        }
        self.maybe_roll(nanos((self.clock)()));
        let operation = self.operation(input.name);
        operation.seen.fetch_add(1, Ordering::Relaxed);
        let threshold = operation.threshold.load(Ordering::Relaxed);
        let empty = TraceState::EMPTY;
        let mut decision =
            is_sampled(randomness(input.trace_id, &empty), threshold).then_some(threshold);
        if decision.is_none()
            && operation.floor.load(Ordering::Relaxed)
            && !operation.sampled_this_interval.swap(true, Ordering::AcqRel)
        {
            // The floor: one trace per operation per interval, standing for itself.
            decision = Some(0);
        }
        if decision.is_some() {
            operation
                .sampled_this_interval
                .store(true, Ordering::Relaxed);
        }
        SamplingDecision {
            sampled: decision.is_some(),
            trace_state: with_threshold(&empty, decision),
        }
    }
}
