//! W3C Baggage: application-defined key/value pairs that travel with a request across
//! services (`baggage: tenant=acme,user.tier=gold;ttl=3`), parsed and written with the
//! specification's limits, and kept in span extensions so that code inside a request can
//! read it and outgoing calls carry it on.
//!
//! Limits (W3C Baggage §3.3, and OpenTelemetry's SDK): at most [`MAX_MEMBERS`] list-members
//! and [`MAX_BYTES`] bytes of header; past either, whole members are dropped from the end,
//! never cut. A list-member that does not parse is dropped and the rest kept.
//!
//! ```
//! use telescope_core::Baggage;
//!
//! let parsed = Baggage::parse("tenant=acme, user=J%C3%B6rg;pii , bad key=1");
//! assert_eq!(parsed.baggage.get("user"), Some("Jörg"));
//! assert_eq!(parsed.invalid, 1, "a key is a token: no spaces");
//! let baggage = parsed.baggage.with("region", "eu west")?;
//! assert_eq!(baggage.header(), "tenant=acme,user=J%C3%B6rg;pii,region=eu%20west");
//! # Ok::<(), telescope_core::BaggageError>(())
//! ```

use std::fmt::Write as _;
use std::sync::Arc;

use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// The most list-members kept.
pub const MAX_MEMBERS: usize = 180;
/// The longest header kept, in bytes (as written by [`Baggage::header`]).
pub const MAX_BYTES: usize = 8192;

/// One list-member: a key, its decoded value and its properties as received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    key: String,
    value: String,
    /// `;ttl=3;pii`, as received (already valid), empty without properties.
    properties: String,
}

impl Member {
    /// The member as the header writes it.
    fn write(&self, out: &mut String) {
        out.push_str(&self.key);
        out.push('=');
        percent_encode(&self.value, out);
        out.push_str(&self.properties);
    }

    fn written_len(&self) -> usize {
        let mut text = String::new();
        self.write(&mut text);
        text.len()
    }
}

/// Baggage: an ordered set of keys with values. Cheap to clone; empty baggage (what most
/// spans have) allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baggage {
    /// `None` when empty.
    members: Option<Arc<[Member]>>,
}

/// What [`Baggage::parse`] made of a header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedBaggage {
    /// The members that parsed, within the limits.
    pub baggage: Baggage,
    /// List-members dropped because they did not parse.
    pub invalid: usize,
    /// List-members dropped because the limits were reached.
    pub over_limit: usize,
}

/// Why a key/value could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaggageError {
    /// The key is not an HTTP token (letters, digits and ``!#$%&'*+-.^_`|~``).
    #[error("baggage key {0:?} is not a token")]
    InvalidKey(String),
    /// Adding it would pass [`MAX_MEMBERS`] or [`MAX_BYTES`].
    #[error("baggage would exceed {MAX_MEMBERS} members or {MAX_BYTES} bytes")]
    TooLarge,
}

impl Baggage {
    /// No baggage.
    pub fn new() -> Self {
        Self::default()
    }

    fn from_members(members: Vec<Member>) -> Self {
        Self {
            members: (!members.is_empty()).then(|| members.into()),
        }
    }

    fn members(&self) -> &[Member] {
        self.members.as_deref().unwrap_or_default()
    }

    /// Parses a `baggage` header value (several header lines joined with `,`).
    pub fn parse(header: &str) -> ParsedBaggage {
        let mut members: Vec<Member> = Vec::new();
        let (mut invalid, mut over_limit, mut bytes) = (0, 0, 0);
        for text in header.split(',') {
            if text.trim_matches(is_ows).is_empty() {
                // Empty list-members (`a=1,,b=2`) are tolerated, as in list headers.
                continue;
            }
            let Some(member) = parse_member(text) else {
                invalid += 1;
                continue;
            };
            // A key seen again replaces the earlier value, in its place.
            if let Some(known) = members.iter_mut().find(|known| known.key == member.key) {
                let grows = member.written_len().saturating_sub(known.written_len());
                if bytes + grows > MAX_BYTES {
                    over_limit += 1;
                } else {
                    bytes = bytes + member.written_len() - known.written_len();
                    *known = member;
                }
                continue;
            }
            let size = member.written_len() + usize::from(!members.is_empty());
            if members.len() == MAX_MEMBERS || bytes + size > MAX_BYTES {
                over_limit += 1;
                continue;
            }
            bytes += size;
            members.push(member);
        }
        ParsedBaggage {
            baggage: Self::from_members(members),
            invalid,
            over_limit,
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members()
            .iter()
            .find(|member| member.key == key)
            .map(|member| member.value.as_str())
    }

    /// The pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members()
            .iter()
            .map(|member| (member.key.as_str(), member.value.as_str()))
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.members().len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.members.is_none()
    }

    /// This baggage with `key` set to `value` (replacing an earlier value).
    ///
    /// # Errors
    /// [`BaggageError::InvalidKey`] for a key that is not a token; [`BaggageError::TooLarge`]
    /// past the limits.
    pub fn with(&self, key: &str, value: &str) -> Result<Self, BaggageError> {
        if !is_token(key) {
            return Err(BaggageError::InvalidKey(key.to_owned()));
        }
        let member = Member {
            key: key.to_owned(),
            value: value.to_owned(),
            properties: String::new(),
        };
        let mut members: Vec<Member> = self.members().to_vec();
        match members.iter_mut().find(|known| known.key == key) {
            Some(known) => *known = member,
            None => members.push(member),
        }
        let candidate = Self::from_members(members);
        if candidate.len() > MAX_MEMBERS || candidate.header().len() > MAX_BYTES {
            return Err(BaggageError::TooLarge);
        }
        Ok(candidate)
    }

    /// The `baggage` header value: `key=value;properties,…`, values percent-encoded.
    pub fn header(&self) -> String {
        let mut out = String::new();
        for (index, member) in self.members().iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            member.write(&mut out);
        }
        out
    }

    /// The baggage of `span`, or of its nearest ancestor that has some.
    pub fn find<'a, S>(span: &SpanRef<'a, S>) -> Option<Self>
    where
        S: LookupSpan<'a>,
    {
        span.scope()
            .find_map(|ancestor| ancestor.extensions().get::<Self>().cloned())
    }

    /// The baggage of the current span (or its nearest ancestor with some) in the current
    /// dispatcher, when it is built on `tracing_subscriber::Registry`; empty otherwise.
    pub fn current() -> Self {
        tracing_core::dispatcher::get_default(|dispatch| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let current = tracing_core::Subscriber::current_span(registry);
            let span = registry.span(current.id()?)?;
            Self::find(&span)
        })
        .unwrap_or_default()
    }

    /// Makes this the baggage of span `id` (and so of its descendants, and of the calls they
    /// make) in the current dispatcher. Returns whether the span was found.
    ///
    /// ```
    /// use telescope_core::Baggage;
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let subscriber = tracing_subscriber::registry();
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let request = tracing::info_span!("request");
    ///     let baggage = Baggage::current().with("tenant", "acme").unwrap();
    ///     assert!(baggage.attach_to(&request.id().unwrap()));
    ///     request.in_scope(|| {
    ///         tracing::info_span!("query").in_scope(|| {
    ///             assert_eq!(Baggage::current().get("tenant"), Some("acme"));
    ///         })
    ///     });
    /// });
    /// ```
    pub fn attach_to(&self, id: &tracing_core::span::Id) -> bool {
        tracing_core::dispatcher::get_default(|dispatch| {
            let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>() else {
                return false;
            };
            let Some(span) = registry.span(id) else {
                return false;
            };
            span.extensions_mut().replace(self.clone());
            true
        })
    }
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 7230 `token`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `baggage-octet`: printable ASCII but DQUOTE, comma, semicolon and backslash.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// `key OWS "=" OWS value *( OWS ";" OWS property )`.
fn parse_member(text: &str) -> Option<Member> {
    let mut parts = text.split(';');
    let pair = parts.next()?;
    let (key, value) = pair.split_once('=')?;
    let key = key.trim_matches(is_ows);
    let value = value.trim_matches(is_ows);
    if !is_token(key) || !value.bytes().all(is_baggage_octet) {
        return None;
    }
    let value = crate::key_values::percent_decode(value)?;
    let mut properties = String::new();
    for property in parts {
        let property = property.trim_matches(is_ows);
        let valid = match property.split_once('=') {
            Some((name, value)) => {
                is_token(name.trim_matches(is_ows))
                    && value.trim_matches(is_ows).bytes().all(is_baggage_octet)
            }
            None => is_token(property),
        };
        if !valid {
            return None;
        }
        properties.push(';');
        properties.push_str(property);
    }
    Some(Member {
        key: key.to_owned(),
        value,
        properties,
    })
}

/// Writes `value` with every byte that is not a `baggage-octet`, and `%`, as `%XX`.
fn percent_encode(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if is_baggage_octet(byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples_of_the_specification() {
        let parsed = Baggage::parse("key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue");
        assert_eq!(parsed.invalid, 0);
        let pairs: Vec<_> = parsed.baggage.iter().collect();
        assert_eq!(
            pairs,
            [("key1", "value1"), ("key2", "value2"), ("key3", "value3")]
        );
        assert_eq!(
            parsed.baggage.header(),
            "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue"
        );
        let encoded = Baggage::parse("userId=alice,serverNode=DF%2028,isProduction=false");
        assert_eq!(encoded.baggage.get("serverNode"), Some("DF 28"));
        assert_eq!(
            encoded.baggage.header(),
            "userId=alice,serverNode=DF%2028,isProduction=false"
        );
    }

    #[test]
    fn a_bad_member_is_dropped_and_the_rest_kept() {
        for bad in [
            "=novalue",
            "no equals",
            "key=va\"lue",
            "key=va\\lue",
            "ke y=1",
            "key=%zz",
            "key=%C3",
            "key=1;bad property",
            "key=1;=x",
        ] {
            let parsed = Baggage::parse(&format!("a=1,{bad},b=2"));
            assert_eq!(parsed.invalid, 1, "{bad}");
            assert_eq!(
                parsed.baggage.iter().collect::<Vec<_>>(),
                [("a", "1"), ("b", "2")],
                "{bad}"
            );
        }
        let empty_value = Baggage::parse("a=");
        assert_eq!(empty_value.baggage.get("a"), Some(""));
    }

    #[test]
    fn limits_drop_whole_members_from_the_end() {
        let many: Vec<String> = (0..200).map(|n| format!("k{n}=v")).collect();
        let parsed = Baggage::parse(&many.join(","));
        assert_eq!(parsed.baggage.len(), MAX_MEMBERS);
        assert_eq!(parsed.over_limit, 20);
        assert_eq!(parsed.baggage.get("k179"), Some("v"));
        assert_eq!(parsed.baggage.get("k180"), None);

        let big = "x".repeat(3000);
        let parsed = Baggage::parse(&format!("a={big},b={big},c={big},d=1"));
        assert_eq!(
            parsed.baggage.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b", "d"],
            "c would pass 8192 bytes; d still fits"
        );
        assert!(parsed.baggage.header().len() <= MAX_BYTES);
        assert_eq!(
            Baggage::parse(&format!("a={big}"))
                .baggage
                .with("b", &big)
                .and_then(|b| b.with("c", &big)),
            Err(BaggageError::TooLarge)
        );
    }

    #[test]
    fn keys_must_be_tokens() {
        assert_eq!(
            Baggage::new().with("a b", "1"),
            Err(BaggageError::InvalidKey("a b".to_owned()))
        );
        let replaced = Baggage::new()
            .with("a", "1")
            .and_then(|b| b.with("a", "2"))
            .expect("valid");
        assert_eq!(replaced.iter().collect::<Vec<_>>(), [("a", "2")]);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_its_output_parses_back_the_same(header in "\\PC{0,64}") {
            let parsed = Baggage::parse(&header);
            let again = Baggage::parse(&parsed.baggage.header());
            prop_assert_eq!(again.invalid, 0);
            prop_assert_eq!(again.baggage, parsed.baggage);
        }

        #[test]
        fn any_value_round_trips(key in "[a-z][a-z0-9_.-]{0,10}", value in "\\PC{0,40}") {
            let baggage = Baggage::new().with(&key, &value).expect("a token key");
            let parsed = Baggage::parse(&baggage.header());
            prop_assert_eq!(parsed.baggage.get(&key), Some(value.as_str()));
        }
    }
}
