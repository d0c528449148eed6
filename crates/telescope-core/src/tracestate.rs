//! The W3C `tracestate` header: vendor-specific key/value pairs that travel with a trace.

use std::fmt;
use std::sync::Arc;

/// The most list-members a `tracestate` may hold.
pub const MAX_MEMBERS: usize = 32;
/// The length to which a `tracestate` is truncated, by whole members, when it is longer.
pub const MAX_HEADER_LEN: usize = 512;
/// Members longer than this are the first removed when truncating.
const LONG_MEMBER: usize = 128;

/// Why a `tracestate` value or member was rejected. The trace context itself stays valid:
/// the caller drops the tracestate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceStateError {
    /// More than [`MAX_MEMBERS`] list-members.
    #[error("tracestate has more than {MAX_MEMBERS} members")]
    TooManyMembers,
    /// A key does not follow the grammar (`(lcalpha / DIGIT) 0*255(keychar)`).
    #[error("tracestate key {0:?} is invalid")]
    InvalidKey(String),
    /// A value is empty, too long, ends with a space, or holds `,`, `=` or a non-printable.
    #[error("tracestate value for key {0:?} is invalid")]
    InvalidValue(String),
    /// A member has no `=`.
    #[error("tracestate member {0:?} has no '='")]
    MissingEquals(String),
}

/// A validated `tracestate`, kept in its canonical header form (no optional whitespace, no
/// empty members, at most [`MAX_HEADER_LEN`] characters). Cloning is a reference-count bump, so
/// child spans inherit it for free.
///
/// ```
/// use telescope_core::TraceState;
/// let state = TraceState::from_header("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE").unwrap();
/// assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
/// let updated = state.insert("congo", "new").unwrap();
/// assert_eq!(updated.header(), "congo=new,rojo=00f067aa0ba902b7");
/// assert!(TraceState::from_header("UPPER=1").is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState(Option<Arc<str>>);

impl TraceState {
    /// The empty tracestate.
    pub const EMPTY: Self = Self(None);

    /// Parses a header value (several header lines may be joined with `,` first).
    /// Empty members and optional whitespace are dropped, and so is every member after the
    /// first with the same key (the spec lets a vendor discard duplicates). A value longer
    /// than [`MAX_HEADER_LEN`] is truncated by whole members: the long ones (over 128
    /// characters) first, from the end, then any from the end.
    ///
    /// # Errors
    /// A [`TraceStateError`] for the first invalid member or more than [`MAX_MEMBERS`]
    /// members; the spec says to discard the whole tracestate then.
    pub fn from_header(header: &str) -> Result<Self, TraceStateError> {
        let mut members: Vec<(&str, &str)> = Vec::new();
        let mut listed = 0;
        for raw in header.split(',') {
            let member = raw.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member
                .split_once('=')
                .ok_or_else(|| TraceStateError::MissingEquals(member.to_owned()))?;
            validate_member(key, value)?;
            listed += 1;
            if listed > MAX_MEMBERS {
                return Err(TraceStateError::TooManyMembers);
            }
            if !members.iter().any(|(seen, _)| *seen == key) {
                members.push((key, value));
            }
        }
        Ok(Self::from_members(&members, false))
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        // Most spans have no tracestate: answer without splitting anything.
        self.0.as_ref()?;
        self.members().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A new tracestate with `key=value` first and any old member with that key removed, as
    /// the spec asks of a vendor updating its entry. Truncated to [`MAX_HEADER_LEN`] if needed
    /// (the new member is kept).
    ///
    /// # Errors
    /// [`TraceStateError::InvalidKey`] or [`TraceStateError::InvalidValue`].
    pub fn insert(&self, key: &str, value: &str) -> Result<Self, TraceStateError> {
        validate_member(key, value)?;
        let mut members: Vec<(&str, &str)> = Vec::with_capacity(self.len() + 1);
        members.push((key, value));
        members.extend(self.members().filter(|(k, _)| *k != key));
        members.truncate(MAX_MEMBERS);
        Ok(Self::from_members(&members, true))
    }

    /// A new tracestate without `key`.
    #[must_use]
    pub fn remove(&self, key: &str) -> Self {
        let members: Vec<(&str, &str)> = self.members().filter(|(k, _)| *k != key).collect();
        Self::from_members(&members, false)
    }

    /// The members in order, as `(key, value)`.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.header()
            .split(',')
            .filter(|m| !m.is_empty())
            .filter_map(|m| m.split_once('='))
    }

    /// The canonical header value (empty for an empty tracestate).
    pub fn header(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// How many members it has.
    pub fn len(&self) -> usize {
        self.members().count()
    }

    /// Whether it has no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Builds the canonical form from valid members, truncating by whole members to
    /// [`MAX_HEADER_LEN`]: long members first (from the end), then from the end. With
    /// `keep_first`, the first member (a vendor's own, just written) goes last.
    fn from_members(members: &[(&str, &str)], keep_first: bool) -> Self {
        let member_len = |(k, v): &(&str, &str)| k.len() + 1 + v.len();
        let joined_len = |kept: &[(&str, &str)]| {
            kept.iter().map(member_len).sum::<usize>() + kept.len().saturating_sub(1)
        };
        let protected = usize::from(keep_first);
        let mut kept: Vec<(&str, &str)> = members.to_vec();
        if joined_len(&kept) > MAX_HEADER_LEN {
            let mut index = kept.len();
            while index > protected && joined_len(&kept) > MAX_HEADER_LEN {
                index -= 1;
                if member_len(&kept[index]) > LONG_MEMBER {
                    kept.remove(index);
                }
            }
            while !kept.is_empty() && joined_len(&kept) > MAX_HEADER_LEN {
                kept.pop();
            }
        }
        if kept.is_empty() {
            return Self::EMPTY;
        }
        let mut header = String::with_capacity(joined_len(&kept));
        for (i, (key, value)) in kept.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            header.push_str(key);
            header.push('=');
            header.push_str(value);
        }
        Self(Some(Arc::from(header)))
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.header())
    }
}

fn validate_member(key: &str, value: &str) -> Result<(), TraceStateError> {
    if !is_valid_key(key) {
        return Err(TraceStateError::InvalidKey(key.to_owned()));
    }
    if !is_valid_value(value) {
        return Err(TraceStateError::InvalidValue(key.to_owned()));
    }
    Ok(())
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

/// `key = (lcalpha / DIGIT) 0*255(keychar)`, `keychar = lcalpha / DIGIT / "_" / "-" / "*" /
/// "/" / "@"` (W3C Trace Context, current text: the older `tenant@system` form with its
/// 241/14 limits is a special case of it).
fn is_valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    (1..=256).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|&c| is_key_char(c) || c == b'@')
}

/// `value = 0*255(chr) nblk-chr`, `chr = %x20 / nblk-chr`,
/// `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`.
fn is_valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    let nblk = |c: u8| matches!(c, 0x21..=0x2b | 0x2d..=0x3c | 0x3e..=0x7e);
    (1..=256).contains(&bytes.len())
        && bytes.last().is_some_and(|&c| nblk(c))
        && bytes.iter().all(|&c| c == b' ' || nblk(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalizes_whitespace_and_empty_members() {
        let state = TraceState::from_header(" rojo=1 ,\t, congo=2,").expect("valid");
        assert_eq!(state.header(), "rojo=1,congo=2");
        assert_eq!(state.len(), 2);
        assert_eq!(
            TraceState::from_header("").expect("empty"),
            TraceState::EMPTY
        );
    }

    #[test]
    fn key_grammar() {
        for key in [
            "a",
            "0abc",
            "a0_-*/",
            "tenant@system",
            "0tenant@sys",
            "foo@",
            "foo@@bar",
            "foo@bar@baz",
            &"a".repeat(256),
            &format!("{}@{}", "t".repeat(241), "v".repeat(14)),
            &format!("{}@v", "t".repeat(242)),
            &format!("t@{}", "v".repeat(15)),
        ] {
            assert!(is_valid_key(key), "{key}");
        }
        for key in ["", "A", "@b", "a b", "a=b", "aB", "é", &"a".repeat(257)] {
            assert!(!is_valid_key(key), "{key}");
        }
    }

    #[test]
    fn value_grammar() {
        assert!(is_valid_value("t61rcWkgMzE"));
        assert!(is_valid_value("a b"));
        for value in ["", "a ", "a,b", "a=b", "\u{7f}", "é", &"v".repeat(257)] {
            assert!(!is_valid_value(value), "{value:?}");
        }
    }

    #[test]
    fn keeps_the_first_of_duplicate_keys_and_rejects_too_many_members() {
        let state = TraceState::from_header("foo=1,bar=2,foo=3").expect("valid");
        assert_eq!(state.header(), "foo=1,bar=2");
        assert_eq!(
            TraceState::from_header("foo=1,foo=1")
                .expect("valid")
                .header(),
            "foo=1"
        );
        let members: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            TraceState::from_header(&members.join(",")),
            Err(TraceStateError::TooManyMembers)
        );
        assert!(TraceState::from_header(&members[..32].join(",")).is_ok());
        // Duplicates count among the 32 list-members the header may carry.
        let repeated = vec!["k=v"; 33].join(",");
        assert_eq!(
            TraceState::from_header(&repeated),
            Err(TraceStateError::TooManyMembers)
        );
        assert!(matches!(
            TraceState::from_header("novalue"),
            Err(TraceStateError::MissingEquals(_))
        ));
    }

    #[test]
    fn never_longer_than_512_characters() {
        // One member of 513 characters: dropped whole, whatever its place.
        let huge = format!("{}={}", "k".repeat(256), "v".repeat(256));
        assert_eq!(huge.len(), 513);
        let state = TraceState::from_header(&format!("{huge},foo=1")).expect("valid");
        assert_eq!(state.header(), "foo=1");
        assert_eq!(
            TraceState::from_header(&huge).expect("valid"),
            TraceState::EMPTY
        );
        // Exactly 512 is kept.
        let exact = format!("{}={}", "k".repeat(256), "v".repeat(255));
        assert_eq!(
            TraceState::from_header(&exact)
                .expect("valid")
                .header()
                .len(),
            512
        );
        // A vendor's own member too large to fit is not written.
        assert_eq!(
            TraceState::EMPTY
                .insert(&"k".repeat(256), &"v".repeat(256))
                .expect("valid")
                .header(),
            ""
        );
    }

    #[test]
    fn truncates_long_members_first_then_from_the_end() {
        let long = format!("long={}", "x".repeat(200));
        let mut members = vec!["first=1".to_owned(), long.clone()];
        members.extend((0..30).map(|i| format!("k{i:02}={}", "y".repeat(10))));
        let state = TraceState::from_header(&members.join(",")).expect("valid");
        assert!(state.header().len() <= MAX_HEADER_LEN);
        assert_eq!(state.get("long"), None, "the long member goes first");
        assert_eq!(state.get("first"), Some("1"));
        assert_eq!(
            state.len(),
            31,
            "every short member fits once the long one is gone"
        );

        let many: Vec<String> = (0..32)
            .map(|i| format!("k{i:02}={}", "z".repeat(20)))
            .collect();
        let state = TraceState::from_header(&many.join(",")).expect("valid");
        assert!(state.header().len() <= MAX_HEADER_LEN);
        assert_eq!(state.get("k00").map(str::len), Some(20));
        assert_eq!(state.get("k31"), None, "members are dropped from the end");
    }

    #[test]
    fn insert_moves_the_key_to_the_front() {
        let state = TraceState::from_header("a=1,b=2,c=3").expect("valid");
        assert_eq!(
            state.insert("b", "9").expect("valid").header(),
            "b=9,a=1,c=3"
        );
        assert_eq!(state.remove("a").header(), "b=2,c=3");
        assert!(state.insert("B", "1").is_err());
        assert!(state.remove("a").remove("b").remove("c").is_empty());
    }
}
