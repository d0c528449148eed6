//! Head samplers: every decision is made when a span starts, from the parent and the trace id.

mod adaptive;
mod env;
pub mod threshold;

use std::fmt;

use telescope_core::{SpanContext, TraceId, TraceState};

pub use adaptive::{AdaptiveConfig, AdaptiveSampler, Clock};
pub use env::{sampler_from_env, SamplerConfigError, SAMPLER_NAMES};
use threshold::{is_sampled, randomness, threshold_for, with_threshold};

/// What a sampler sees.
#[derive(Debug)]
pub struct SamplingInput<'a> {
    /// The parent's context (local or remote), if any.
    pub parent: Option<&'a SpanContext>,
    /// The trace id (the parent's, or a new one for a root).
    pub trace_id: TraceId,
    /// The span's name: for a root span, the operation.
    pub name: &'a str,
}

/// A sampler's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplingDecision {
    /// Whether the span is recorded and exported.
    pub sampled: bool,
    /// The tracestate the span carries (with `ot=th:…` when the probability is known).
    pub trace_state: TraceState,
}

/// Decides whether a span is sampled.
pub trait Sampler: Send + Sync + fmt::Debug + 'static {
    /// The decision for a span about to start.
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision;
}

fn inherited(input: &SamplingInput<'_>) -> TraceState {
    input
        .parent
        .map(|p| p.trace_state().clone())
        .unwrap_or_default()
}

/// Samples everything (`th:0`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOn;

impl Sampler for AlwaysOn {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        SamplingDecision {
            sampled: true,
            trace_state: with_threshold(&inherited(input), Some(0)),
        }
    }
}

/// Samples nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOff;

impl Sampler for AlwaysOff {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        SamplingDecision {
            sampled: false,
            trace_state: with_threshold(&inherited(input), None),
        }
    }
}

/// Consistent probability sampling at a fixed probability: the same trace gets the same
/// decision in every process that uses it, and `ot=th` records the probability.
///
/// ```
/// use telescope_otlp::sampler::{ConsistentProbability, Sampler, SamplingInput};
/// let sampler = ConsistentProbability::new(0.25);
/// let decision = sampler.should_sample(&SamplingInput {
///     parent: None,
///     trace_id: telescope_core::TraceId::from_u128(u128::MAX),
///     name: "GET /",
/// });
/// assert!(decision.sampled);
/// assert_eq!(decision.trace_state.get("ot"), Some("th:c"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ConsistentProbability {
    threshold: u64,
}

impl ConsistentProbability {
    /// Samples with probability `probability` (clamped to `[0, 1]`).
    pub fn new(probability: f64) -> Self {
        Self {
            threshold: threshold_for(probability),
        }
    }
}

impl Sampler for ConsistentProbability {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        let state = inherited(input);
        let sampled = is_sampled(randomness(input.trace_id, &state), self.threshold);
        SamplingDecision {
            sampled,
            trace_state: with_threshold(&state, sampled.then_some(self.threshold)),
        }
    }
}

/// Follows the parent's decision when there is a parent; asks `root` otherwise.
#[derive(Debug)]
pub struct ParentBased {
    root: Box<dyn Sampler>,
}

impl ParentBased {
    /// Root spans are decided by `root`.
    pub fn new(root: impl Sampler) -> Self {
        Self {
            root: Box::new(root),
        }
    }
}

impl Sampler for ParentBased {
    fn should_sample(&self, input: &SamplingInput<'_>) -> SamplingDecision {
        match input.parent {
            Some(parent) => SamplingDecision {
                sampled: parent.is_sampled(),
                trace_state: parent.trace_state().clone(),
            },
            None => self.root.should_sample(input),
        }
    }
}
