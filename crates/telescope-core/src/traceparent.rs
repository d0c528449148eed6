//! The W3C `traceparent` header: `version-traceid-parentid-flags`.

use std::fmt;

use crate::{hex, SpanId, TraceFlags, TraceId};

/// The length of a version-00 `traceparent` value.
pub const TRACEPARENT_LEN: usize = 55;

/// Why a `traceparent` value was rejected. A caller should then start a new trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TraceParentError {
    /// Too short, too long for version 00, or a higher version not followed by `-` at 55.
    #[error("traceparent has the wrong length")]
    Length,
    /// The version is not two lowercase hex digits.
    #[error("traceparent version is not two lowercase hex digits")]
    Version,
    /// Version `ff` is forbidden by the spec.
    #[error("traceparent version ff is invalid")]
    ForbiddenVersion,
    /// A `-` separator is missing where the format puts one.
    #[error("traceparent field separator missing")]
    Separator,
    /// The trace id is not 32 lowercase hex digits, or is all zeros.
    #[error("traceparent trace-id is invalid")]
    TraceId,
    /// The parent id is not 16 lowercase hex digits, or is all zeros.
    #[error("traceparent parent-id is invalid")]
    ParentId,
    /// The flags are not two lowercase hex digits.
    #[error("traceparent trace-flags are invalid")]
    Flags,
}

/// A parsed `traceparent` header.
///
/// ```
/// use telescope_core::TraceParent;
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parent = TraceParent::parse(header).unwrap();
/// assert!(parent.flags.is_sampled());
/// assert_eq!(parent.to_string(), header);
/// // Bad input is an error, never a panic:
/// assert!(TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The version the sender wrote (output is always version 00).
    pub version: u8,
    /// The trace id.
    pub trace_id: TraceId,
    /// The caller's span id.
    pub parent_id: SpanId,
    /// The trace flags as received.
    pub flags: TraceFlags,
}

impl TraceParent {
    /// Parses a header value, following W3C Trace Context exactly: lowercase hex only,
    /// version `ff` invalid, all-zero ids invalid, version 00 exactly 55 characters, and a
    /// higher version parsed by its first four fields (longer only if followed by `-`).
    /// Leading and trailing spaces or tabs (HTTP optional whitespace) are ignored.
    ///
    /// # Errors
    /// A [`TraceParentError`] naming the first part that is wrong.
    pub fn parse(header: &str) -> Result<Self, TraceParentError> {
        let bytes = header.trim_matches([' ', '\t']).as_bytes();
        if bytes.len() < TRACEPARENT_LEN {
            return Err(TraceParentError::Length);
        }
        let version = hex::decode_lower::<1>(&bytes[0..2]).ok_or(TraceParentError::Version)?[0];
        if version == 0xff {
            return Err(TraceParentError::ForbiddenVersion);
        }
        let longer_ok = version > 0 && bytes.get(TRACEPARENT_LEN) == Some(&b'-');
        if bytes.len() > TRACEPARENT_LEN && !longer_ok {
            return Err(TraceParentError::Length);
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return Err(TraceParentError::Separator);
        }
        let trace_id = TraceId::from_hex(&bytes[3..35]).map_err(|_| TraceParentError::TraceId)?;
        let parent_id = SpanId::from_hex(&bytes[36..52]).map_err(|_| TraceParentError::ParentId)?;
        let flags = hex::decode_lower::<1>(&bytes[53..55]).ok_or(TraceParentError::Flags)?[0];
        Ok(Self {
            version,
            trace_id,
            parent_id,
            flags: TraceFlags::from_u8(flags),
        })
    }

    /// The version-00 header value, without allocating.
    pub fn to_bytes(&self) -> [u8; TRACEPARENT_LEN] {
        let mut out = [b'-'; TRACEPARENT_LEN];
        out[0..2].copy_from_slice(b"00");
        out[3..35].copy_from_slice(&self.trace_id.to_hex());
        out[36..52].copy_from_slice(&self.parent_id.to_hex());
        hex::encode_into(&[self.flags.to_propagated_u8()], &mut out[53..55]);
        out
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_spec_example() {
        let parsed = TraceParent::parse(VALID).expect("valid");
        assert_eq!(parsed.version, 0);
        assert_eq!(
            parsed.trace_id.to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parsed.parent_id.to_string(), "00f067aa0ba902b7");
        assert!(parsed.flags.is_sampled());
        assert_eq!(parsed.to_string(), VALID);
    }

    #[test]
    fn rejects_each_kind_of_damage() {
        use TraceParentError::*;
        let cases = [
            ("", Length),
            (&VALID[..54], Length),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
                Length,
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                ForbiddenVersion,
            ),
            (
                "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Separator,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
                Separator,
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                TraceId,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                TraceId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                ParentId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
                ParentId,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
                Flags,
            ),
            (
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.",
                Length,
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(TraceParent::parse(header), Err(expected), "{header:?}");
        }
    }

    #[test]
    fn higher_versions_parse_their_first_four_fields() {
        let future =
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-the-future-holds";
        let parsed = TraceParent::parse(future).expect("future version");
        assert_eq!(parsed.version, 0xcc);
        assert_eq!(parsed.flags.to_u8(), 0x09);
        // Written back as version 00 with only the defined flag bits.
        assert_eq!(parsed.to_string(), VALID);
        assert!(
            TraceParent::parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_ok()
        );
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert!(TraceParent::parse(&format!(" \t{VALID}\t ")).is_ok());
    }
}
