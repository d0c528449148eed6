//! Trace and span identifiers.

use std::fmt;
use std::str::FromStr;

use crate::hex;

/// Why a trace or span id could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    /// The text is not the expected number of lowercase hex digits.
    #[error("expected {expected} lowercase hex digits")]
    NotHex {
        /// How many digits the id needs (32 for a trace id, 16 for a span id).
        expected: usize,
    },
    /// The id is all zeros, which W3C Trace Context reserves as invalid.
    #[error("an all-zero id is invalid")]
    AllZero,
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name([u8; $len]);

        impl $name {
            /// The invalid all-zero id.
            pub const INVALID: Self = Self([0; $len]);

            /// Wraps raw bytes; any value, including the invalid all-zero one, is accepted.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes, most significant first.
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// Whether the id is not all zeros.
            pub fn is_valid(self) -> bool {
                self.0 != [0; $len]
            }

            /// The id as lowercase hex, without allocating.
            pub fn to_hex(self) -> [u8; $len * 2] {
                let mut out = [0u8; $len * 2];
                hex::encode_into(&self.0, &mut out);
                out
            }

            /// Parses exactly the lowercase hex form; all-zero ids are rejected.
            ///
            /// # Errors
            /// [`IdParseError::NotHex`] for the wrong length, uppercase or non-hex digits,
            /// [`IdParseError::AllZero`] for the invalid all-zero id.
            pub fn from_hex(text: &[u8]) -> Result<Self, IdParseError> {
                let bytes = hex::decode_lower::<$len>(text)
                    .ok_or(IdParseError::NotHex { expected: $len * 2 })?;
                let id = Self(bytes);
                if id.is_valid() { Ok(id) } else { Err(IdParseError::AllZero) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let hex = self.to_hex();
                // The hex digits are ASCII, so this cannot fail.
                f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::from_hex(text.as_bytes())
            }
        }
    };
}

define_id!(
    /// A 16-byte trace id, shown as 32 lowercase hex digits.
    ///
    /// ```
    /// use telescope_core::TraceId;
    /// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
    /// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// ```
    TraceId,
    16
);

define_id!(
    /// An 8-byte span id, shown as 16 lowercase hex digits.
    ///
    /// ```
    /// use telescope_core::SpanId;
    /// let id: SpanId = "00f067aa0ba902b7".parse().unwrap();
    /// assert_eq!(id.to_bytes()[7], 0xb7);
    /// ```
    SpanId,
    8
);

impl TraceId {
    /// The id as a big-endian integer.
    pub const fn to_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// The id from a big-endian integer.
    pub const fn from_u128(value: u128) -> Self {
        Self(value.to_be_bytes())
    }
}

impl SpanId {
    /// The id as a big-endian integer.
    pub const fn to_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    /// The id from a big-endian integer.
    pub const fn from_u64(value: u64) -> Self {
        Self(value.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = TraceId::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        let text = id.to_string();
        assert_eq!(text, "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(text.parse::<TraceId>(), Ok(id));
        assert_eq!(
            format!("{:?}", SpanId::from_u64(1)),
            "SpanId(0000000000000001)"
        );
    }

    #[test]
    fn rejects_invalid_forms() {
        assert_eq!(
            "00000000000000000000000000000000".parse::<TraceId>(),
            Err(IdParseError::AllZero)
        );
        assert_eq!(
            "4BF92F3577B34DA6A3CE929D0E0E4736".parse::<TraceId>(),
            Err(IdParseError::NotHex { expected: 32 })
        );
        assert_eq!(
            "00f067aa0ba902b".parse::<SpanId>(),
            Err(IdParseError::NotHex { expected: 16 })
        );
        assert_eq!(
            "".parse::<SpanId>(),
            Err(IdParseError::NotHex { expected: 16 })
        );
    }
}
