//! Which field names are secret, so that their values are written as `"[REDACTED]"`.

/// The names redacted by default.
pub const DEFAULT_REDACTED: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "api_key",
    "apikey",
];

/// The value written in place of a redacted field's.
pub(crate) const REDACTED_VALUE: &[u8] = b"\"[REDACTED]\"";

/// A list of secret field names.
///
/// A field is redacted when its name, compared without regard to ASCII case and treating
/// `-`, `.` and `_` as the same character, equals a listed name or ends with a separator
/// followed by one. So with `token` listed, `token`, `Token`, `access_token` and
/// `http.request.header.x-token` are redacted, and `token_count` is not.
///
/// ```
/// use telescope_log::Redaction;
/// let redaction = Redaction::default().with_name("ssn");
/// assert!(redaction.matches("user.password"));
/// assert!(redaction.matches("SSN"));
/// assert!(redaction.matches("x-api-key"));
/// assert!(!redaction.matches("token_count"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// Normalized names: lowercase, separators as `_`.
    names: Vec<Box<[u8]>>,
}

impl Default for Redaction {
    /// The [`DEFAULT_REDACTED`] names.
    fn default() -> Self {
        DEFAULT_REDACTED
            .iter()
            .fold(Self::none(), |list, name| list.with_name(name))
    }
}

fn normalize(byte: u8) -> u8 {
    match byte {
        b'-' | b'.' => b'_',
        other => other.to_ascii_lowercase(),
    }
}

impl Redaction {
    /// An empty list: nothing is redacted.
    pub fn none() -> Self {
        Self { names: Vec::new() }
    }

    /// This list plus `name`.
    #[must_use]
    pub fn with_name(mut self, name: &str) -> Self {
        let normalized: Box<[u8]> = name.bytes().map(normalize).collect();
        if !normalized.is_empty() && !self.names.contains(&normalized) {
            self.names.push(normalized);
        }
        self
    }

    /// Whether nothing is redacted.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether a field called `field_name` is redacted.
    pub fn matches(&self, field_name: &str) -> bool {
        let field = field_name.as_bytes();
        self.names.iter().any(|name| {
            let Some(boundary) = field.len().checked_sub(name.len()) else {
                return false;
            };
            let suffix_matches = field[boundary..]
                .iter()
                .zip(name.iter())
                .all(|(&f, &n)| normalize(f) == n);
            suffix_matches && (boundary == 0 || normalize(field[boundary - 1]) == b'_')
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_matches_common_secret_names() {
        let redaction = Redaction::default();
        for name in [
            "password",
            "PASSWORD",
            "db.password",
            "access_token",
            "Authorization",
            "set-cookie",
            "api_key",
            "API-KEY",
            "apikey",
            "client_secret",
            "passwd",
        ] {
            assert!(redaction.matches(name), "{name}");
        }
        for name in [
            "user",
            "token_count",
            "secretary",
            "passwords",
            "tokenizer",
            "",
            "key",
        ] {
            assert!(!redaction.matches(name), "{name}");
        }
    }

    #[test]
    fn none_matches_nothing() {
        assert!(!Redaction::none().matches("password"));
        assert!(Redaction::none().is_empty());
    }
}
