//! Reading configuration from environment variables: an empty variable counts as unset (as
//! OpenTelemetry specifies), and a bad value is an error that names the variable.

use crate::InitError;

/// Where variables are read from: the process environment, or a fixed list in tests.
pub(crate) trait Env {
    /// The variable's value, or `None` if it is unset or empty.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var_os(name)
            .map(|value| value.to_string_lossy().into_owned())
            .filter(|value| !value.trim().is_empty())
    }
}

impl Env for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
            .filter(|value| !value.trim().is_empty())
    }
}

/// An [`InitError::InvalidEnv`] for `var`.
pub(crate) fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> InitError {
    InitError::InvalidEnv {
        var,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Parses `var` with `parse`, which returns the reason on failure.
pub(crate) fn parse<T>(
    env: &(impl Env + ?Sized),
    var: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, InitError> {
    match env.get(var) {
        None => Ok(None),
        Some(value) => parse(value.trim())
            .map(Some)
            .map_err(|reason| invalid(var, &value, reason)),
    }
}

/// A setting: the value given in code, else `var` parsed with `parse` (a bad value is an
/// error naming it), else `default`.
pub(crate) fn setting<T>(
    in_code: Option<T>,
    env: &(impl Env + ?Sized),
    var: &'static str,
    parse_with: impl FnOnce(&str) -> Result<T, String>,
    default: impl FnOnce() -> T,
) -> Result<T, InitError> {
    match in_code {
        Some(value) => Ok(value),
        None => Ok(parse(env, var, parse_with)?.unwrap_or_else(default)),
    }
}
