//! The redaction policy is telescope-core's, shared by every signal; the JSON layer writes its
//! placeholder as a JSON string.

pub use telescope_core::redact::{Redaction, DEFAULT_REDACTED};

/// The value written in place of a redacted field's.
pub(crate) const REDACTED_VALUE: &[u8] = b"\"[REDACTED]\"";
