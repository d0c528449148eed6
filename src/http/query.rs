//! `url.query` with the values of secret parameters replaced by `REDACTED`, as OpenTelemetry's
//! HTTP semantic conventions ask: the redaction policy's names, plus the signed-URL parameters
//! the conventions name (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`).

use std::borrow::Cow;

use telescope_core::Redaction;

/// Parameters of signed URLs that the semantic conventions redact by default (exact names,
/// compared without regard to ASCII case).
const SIGNED_URL_PARAMETERS: [&str; 4] = ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// The placeholder the semantic conventions use for query values.
const REDACTED_QUERY_VALUE: &str = "REDACTED";

/// `query` with every secret parameter's value replaced; the rest is kept byte for byte.
pub(crate) fn redacted_query<'q>(query: &'q str, redaction: &Redaction) -> Cow<'q, str> {
    if !query.split('&').any(|pair| is_secret(pair, redaction)) {
        return Cow::Borrowed(query);
    }
    let pairs: Vec<Cow<'q, str>> = query
        .split('&')
        .map(|pair| {
            if is_secret(pair, redaction) {
                let key = pair.split_once('=').map_or(pair, |(key, _)| key);
                Cow::Owned(format!("{key}={REDACTED_QUERY_VALUE}"))
            } else {
                Cow::Borrowed(pair)
            }
        })
        .collect();
    Cow::Owned(pairs.join("&"))
}

/// Whether a `key=value` pair names a secret (the key percent-decoded first, so that
/// `pass%77ord` is seen as `password`).
fn is_secret(pair: &str, redaction: &Redaction) -> bool {
    let Some((key, _)) = form_urlencoded::parse(pair.as_bytes()).next() else {
        return false;
    };
    redaction.matches(&key)
        || SIGNED_URL_PARAMETERS
            .iter()
            .any(|name| name.eq_ignore_ascii_case(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_replaced_and_the_rest_kept() {
        let policy = Redaction::default();
        assert_eq!(
            redacted_query(
                "page=2&password=hunter2&access_token=abc&API-KEY=k&q=a%20b",
                &policy
            ),
            "page=2&password=REDACTED&access_token=REDACTED&API-KEY=REDACTED&q=a%20b"
        );
        assert_eq!(
            redacted_query(
                "X-Goog-Signature=s&sig=t&AWSAccessKeyId=AKIA1&Expires=9",
                &policy
            ),
            "X-Goog-Signature=REDACTED&sig=REDACTED&AWSAccessKeyId=REDACTED&Expires=9"
        );
        assert!(matches!(
            redacted_query("page=2&sort=asc", &policy),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn encoded_and_odd_keys_do_not_slip_through() {
        let policy = Redaction::default();
        assert_eq!(
            redacted_query("pass%77ord=x&token&=v&&a=1", &policy),
            "pass%77ord=REDACTED&token=REDACTED&=v&&a=1"
        );
        assert_eq!(
            redacted_query("session_id=s1&token_count=3", &policy),
            "session_id=REDACTED&token_count=3"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_query_keeps_its_shape_and_never_shows_a_password(
            pairs in proptest::collection::vec(("[a-z%_.-]{0,8}", "[ -~]{0,12}"), 0..6),
            secret in "[a-zA-Z0-9]{8,16}",
        ) {
            let mut query: Vec<String> =
                pairs.iter().map(|(k, v)| format!("{k}={}", v.replace('&', ""))).collect();
            query.push(format!("password={secret}"));
            let query = query.join("&");
            let redacted = redacted_query(&query, &Redaction::default());
            proptest::prop_assert_eq!(redacted.split('&').count(), query.split('&').count());
            proptest::prop_assert!(redacted.ends_with("password=REDACTED"));
        }
    }
}
