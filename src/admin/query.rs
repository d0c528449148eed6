//! Query strings of the admin pages, decoded (`+` and `%XX`) with `form_urlencoded`, as the
//! filter form of `/debug/traces` sends them.

use std::borrow::Cow;

/// The pairs of one query string, in order.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes `query` (the part after `?`; `None`: no query).
    pub(crate) fn parse(query: Option<&str>) -> Self {
        Self(
            query
                .map(|query| {
                    form_urlencoded::parse(query.as_bytes())
                        .map(|(key, value)| (key.into_owned(), value.into_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    /// The first value of `name` (`""` for a bare `name`), if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of `name` unless absent or empty: an empty form field means "any".
    pub(crate) fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|value| !value.trim().is_empty())
    }
}

/// `pairs` as a query string (without the `?`), encoded.
pub(crate) fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, Cow<'a, str>)>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        serializer.append_pair(key, &value);
    }
    serializer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decoded_and_empty_ones_mean_any() {
        let query = Query::parse(Some(
            "format=json&name=GET+%2Forders%2F%7Bid%7D&status=&verbose",
        ));
        assert_eq!(query.get("format"), Some("json"));
        assert_eq!(query.get("name"), Some("GET /orders/{id}"));
        assert_eq!(query.get("status"), Some(""));
        assert_eq!(query.non_empty("status"), None);
        assert_eq!(query.get("verbose"), Some(""));
        assert_eq!(query.get("limit"), None);
        assert_eq!(Query::parse(None).get("format"), None);
    }

    #[test]
    fn encoding_round_trips() {
        let text = encode([
            ("name", Cow::Borrowed("GET /a&b=c")),
            ("min_ms", "5".into()),
        ]);
        let query = Query::parse(Some(&text));
        assert_eq!(query.get("name"), Some("GET /a&b=c"));
        assert_eq!(query.get("min_ms"), Some("5"));
    }
}
