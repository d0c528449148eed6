//! [`Secret`]: a value that prints as `[REDACTED]`, so that the type system carries what the
//! redaction list can only guess from names.

use std::fmt;

use crate::redact::REDACTED;

/// A value that never prints: its `Debug` and `Display` write `[REDACTED]`, so
/// `info!(token = %secret)`, `info!(?request)` of a struct holding one, a span field or a
/// panic message show the placeholder whatever the field is called. The value itself is
/// reached only through [`expose`](Self::expose).
///
/// ```
/// use telescope_core::Secret;
///
/// let token = Secret::new(String::from("tok_4242"));
/// assert_eq!(format!("{token} {token:?}"), "[REDACTED] [REDACTED]");
/// assert_eq!(token.expose(), "tok_4242");
///
/// #[derive(Debug)]
/// struct Login { user: String, password: Secret<String> }
/// let login = Login { user: "ada".into(), password: Secret::new("hunter2".into()) };
/// assert_eq!(format!("{login:?}"), r#"Login { user: "ada", password: [REDACTED] }"#);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value, for the code that needs it (to authenticate, say), not for printing.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The value, unwrapped.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_format_shows_the_value() {
        let secret = Secret::new("hunter2");
        for shown in [
            format!("{secret}"),
            format!("{secret:?}"),
            format!("{secret:#?}"),
            format!("{secret:>20}"),
            format!("{:?}", Some(&secret)),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains(REDACTED), "{shown}");
        }
        assert_eq!(*secret.expose(), "hunter2");
        assert_eq!(Secret::from(5).into_inner(), 5);
    }
}
