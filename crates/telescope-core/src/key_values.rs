//! The `key1=value1,key2=value2` lists of the OpenTelemetry environment variables
//! (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`), values percent-encoded.

/// Why a `key=value` list cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyValuesError {
    /// A member has no `=`.
    #[error("{member:?} has no '='")]
    NoEquals {
        /// The member, as written.
        member: String,
    },
    /// A member's key is empty.
    #[error("{member:?} has an empty key")]
    EmptyKey {
        /// The member, as written.
        member: String,
    },
    /// A value has a broken percent escape, or is not UTF-8 once decoded.
    #[error("bad percent-encoding in the value of {key:?}")]
    BadEscape {
        /// The key whose value it is.
        key: String,
    },
}

/// Parses a `key=value` list. Keys must be non-empty; values are percent-decoded
/// and must be valid UTF-8 afterwards.
///
/// ```
/// use telescope_core::key_values::{parse_key_values, KeyValuesError};
///
/// let pairs = parse_key_values("api-key=s%3Dcret, tenant=a")?;
/// assert_eq!(pairs, [("api-key".to_owned(), "s=cret".to_owned()), ("tenant".to_owned(), "a".to_owned())]);
/// assert_eq!(parse_key_values("=a"), Err(KeyValuesError::EmptyKey { member: "=a".into() }));
/// # Ok::<(), KeyValuesError>(())
/// ```
///
/// # Errors
/// [`KeyValuesError`] for a member without `=`, with an empty key, or with a bad percent
/// escape.
pub fn parse_key_values(text: &str) -> Result<Vec<(String, String)>, KeyValuesError> {
    let mut attributes: Vec<(String, String)> = Vec::new();
    for member in text.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let (key, value) = member
            .split_once('=')
            .ok_or_else(|| KeyValuesError::NoEquals {
                member: member.to_owned(),
            })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(KeyValuesError::EmptyKey {
                member: member.to_owned(),
            });
        }
        let value = percent_decode(value.trim()).ok_or_else(|| KeyValuesError::BadEscape {
            key: key.to_owned(),
        })?;
        // A later duplicate wins, as in OpenTelemetry SDKs.
        attributes.retain(|(existing, _)| existing != key);
        attributes.push((key.to_owned(), value));
    }
    Ok(attributes)
}

/// Decodes `%XX` escapes (either case); `None` for a broken escape or bytes that are not
/// UTF-8. `+` stays `+` (this is not form encoding). The one percent decoder of the resource
/// attributes, baggage and Jaeger's headers.
///
/// ```
/// use telescope_core::key_values::percent_decode;
/// assert_eq!(percent_decode("J%C3%B6rg%2c%20hi+").as_deref(), Some("Jörg, hi+"));
/// assert_eq!(percent_decode("%+f"), None, "an escape is two hex digits");
/// ```
pub fn percent_decode(text: &str) -> Option<String> {
    fn value(digit: u8) -> Option<u8> {
        char::from(digit)
            .to_digit(16)
            .and_then(|value| u8::try_from(value).ok())
    }
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let high = value(*bytes.get(index + 1)?)?;
            let low = value(*bytes.get(index + 2)?)?;
            out.push(high << 4 | low);
            index += 3;
        } else {
            out.push(byte);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_members_and_percent_escapes() {
        let parsed = parse_key_values(
            " service.version=1.2.3 , deployment.environment.name=prod%2Ceu,x=a%3Db ",
        )
        .expect("valid");
        assert_eq!(
            parsed,
            [
                ("service.version".to_owned(), "1.2.3".to_owned()),
                (
                    "deployment.environment.name".to_owned(),
                    "prod,eu".to_owned()
                ),
                ("x".to_owned(), "a=b".to_owned()),
            ]
        );
        assert_eq!(
            parse_key_values("a=1,a=2").expect("valid"),
            [("a".to_owned(), "2".to_owned())]
        );
        assert_eq!(parse_key_values("").expect("empty"), []);
    }

    #[test]
    fn rejects_malformed_members() {
        let no_equals = KeyValuesError::NoEquals {
            member: "novalue".into(),
        };
        assert_eq!(parse_key_values("a=1, novalue"), Err(no_equals));
        assert_eq!(
            parse_key_values("=v"),
            Err(KeyValuesError::EmptyKey {
                member: "=v".into()
            })
        );
        let bad = |key: &str| Err(KeyValuesError::BadEscape { key: key.into() });
        assert_eq!(parse_key_values("k=%zz"), bad("k"));
        assert_eq!(parse_key_values("k=%4"), bad("k"));
        assert_eq!(
            parse_key_values("k=%ff"),
            bad("k"),
            "not UTF-8 once decoded"
        );
    }
}
