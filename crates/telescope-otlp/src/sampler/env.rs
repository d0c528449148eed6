//! Choosing a sampler from `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.

use super::{
    AdaptiveConfig, AdaptiveSampler, AlwaysOff, AlwaysOn, ConsistentProbability, ParentBased,
    Sampler,
};

/// The values `OTEL_TRACES_SAMPLER` accepts, as error messages list them.
pub const SAMPLER_NAMES: &str = "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, adaptive";

/// Why the sampler variables were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamplerConfigError {
    /// `OTEL_TRACES_SAMPLER` names no known sampler.
    #[error("OTEL_TRACES_SAMPLER={0:?} is not one of {SAMPLER_NAMES}")]
    UnknownSampler(String),
    /// `OTEL_TRACES_SAMPLER_ARG` is not a valid argument for the sampler.
    #[error("OTEL_TRACES_SAMPLER_ARG={value:?} is invalid for {sampler}: {reason}")]
    InvalidArgument {
        /// The sampler.
        sampler: String,
        /// The argument.
        value: String,
        /// What it must be.
        reason: &'static str,
    },
}

/// The sampler the standard variables select (read through `get`): `always_on`,
/// `always_off`, `traceidratio` (argument: probability, default 1), their `parentbased_`
/// forms, and `adaptive` (argument: sampled root traces per second per operation, default 1;
/// children follow their parent). Unset means `parentbased_always_on`.
///
/// ```
/// use telescope_otlp::sampler::sampler_from_env;
/// let sampler = sampler_from_env(|name| match name {
///     "OTEL_TRACES_SAMPLER" => Some("parentbased_traceidratio".to_owned()),
///     "OTEL_TRACES_SAMPLER_ARG" => Some("0.01".to_owned()),
///     _ => None,
/// });
/// assert!(sampler.is_ok());
/// assert!(sampler_from_env(|_| Some("sometimes".to_owned())).is_err());
/// ```
///
/// # Errors
/// [`SamplerConfigError`] naming the variable that is wrong.
pub fn sampler_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Box<dyn Sampler>, SamplerConfigError> {
    let name = get("OTEL_TRACES_SAMPLER")
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty());
    let argument = get("OTEL_TRACES_SAMPLER_ARG")
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    let name = name.unwrap_or_else(|| "parentbased_always_on".to_owned());
    let number = |reason: &'static str,
                  valid: fn(f64) -> bool,
                  default: f64|
     -> Result<f64, SamplerConfigError> {
        match &argument {
            None => Ok(default),
            Some(text) => text
                .parse::<f64>()
                .ok()
                .filter(|v| valid(*v))
                .ok_or_else(|| SamplerConfigError::InvalidArgument {
                    sampler: name.clone(),
                    value: text.clone(),
                    reason,
                }),
        }
    };
    let ratio = || {
        number(
            "expected a probability between 0 and 1",
            |v| (0.0..=1.0).contains(&v),
            1.0,
        )
    };
    Ok(match name.as_str() {
        "always_on" => Box::new(AlwaysOn),
        "always_off" => Box::new(AlwaysOff),
        "traceidratio" => Box::new(ConsistentProbability::new(ratio()?)),
        "parentbased_always_on" => Box::new(ParentBased::new(AlwaysOn)),
        "parentbased_always_off" => Box::new(ParentBased::new(AlwaysOff)),
        "parentbased_traceidratio" => {
            Box::new(ParentBased::new(ConsistentProbability::new(ratio()?)))
        }
        "adaptive" => {
            let target = number(
                "expected a positive number of traces per second",
                |v| v.is_finite() && v > 0.0,
                1.0,
            )?;
            Box::new(AdaptiveSampler::new(AdaptiveConfig::per_second(target)))
        }
        other => return Err(SamplerConfigError::UnknownSampler(other.to_owned())),
    })
}
