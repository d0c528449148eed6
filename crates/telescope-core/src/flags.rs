//! The W3C `trace-flags` byte.

use std::fmt;

/// The `trace-flags` of a trace context: bit 0 is `sampled`, bit 1 is `random` (Level 2).
///
/// Unknown bits are kept when parsed and dropped when written, as the spec requires of
/// version-00 headers.
///
/// ```
/// use telescope_core::TraceFlags;
/// let flags = TraceFlags::SAMPLED.with_random(true);
/// assert!(flags.is_sampled() && flags.is_random());
/// assert_eq!(flags.to_u8(), 0x03);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set.
    pub const NONE: Self = Self(0);
    /// Only the `sampled` flag.
    pub const SAMPLED: Self = Self(0x01);
    /// Only the `random` flag: the trace id's rightmost 56 bits are random.
    pub const RANDOM: Self = Self(0x02);
    /// The bits this version of the spec defines.
    const KNOWN: u8 = 0x03;

    /// The flags from their byte, unknown bits included.
    pub const fn from_u8(bits: u8) -> Self {
        Self(bits)
    }

    /// The byte, unknown bits included.
    pub const fn to_u8(self) -> u8 {
        self.0
    }

    /// The byte as it is propagated: only the defined bits.
    pub const fn to_propagated_u8(self) -> u8 {
        self.0 & Self::KNOWN
    }

    /// Whether the caller sampled the trace.
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Whether the trace id is declared random (W3C Trace Context Level 2).
    pub const fn is_random(self) -> bool {
        self.0 & Self::RANDOM.0 != 0
    }

    /// These flags with `sampled` set or cleared.
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            Self(self.0 | Self::SAMPLED.0)
        } else {
            Self(self.0 & !Self::SAMPLED.0)
        }
    }

    /// These flags with `random` set or cleared.
    #[must_use]
    pub const fn with_random(self, random: bool) -> Self {
        if random {
            Self(self.0 | Self::RANDOM.0)
        } else {
            Self(self.0 & !Self::RANDOM.0)
        }
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}
