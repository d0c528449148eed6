//! Turning `tracing` field values into JSON members, with redaction and unique keys.

use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};

use crate::escape::{quoted_into, EscapingWriter};
use crate::redact::REDACTED_VALUE;

/// Where a visited field goes: the sink writes the key and hands out the buffer for the value.
pub(crate) trait FieldSink {
    /// Writes the member's key for `field` and returns the buffer to append the value to,
    /// and whether the value must be redacted.
    fn begin(&mut self, field: &Field) -> (&mut Vec<u8>, bool);
    /// The value has been written.
    fn end(&mut self) {}
    /// Whether `field` is left out of the line altogether.
    fn skip(&self, _field: &Field) -> bool {
        false
    }
}

/// A `Visit` that writes each field as a JSON member through a [`FieldSink`].
pub(crate) struct JsonVisitor<'a, S>(pub(crate) &'a mut S);

impl<S: FieldSink> JsonVisitor<'_, S> {
    fn member(&mut self, field: &Field, write: impl FnOnce(&mut Vec<u8>)) {
        if self.0.skip(field) {
            return;
        }
        let (out, redact) = self.0.begin(field);
        if redact {
            out.extend_from_slice(REDACTED_VALUE);
        } else {
            write(out);
        }
        self.0.end();
    }
}

impl<S: FieldSink> Visit for JsonVisitor<'_, S> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |out| write_f64(out, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out| {
            out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes())
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out| {
            out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes())
        });
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.member(field, |out| {
            out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes())
        });
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.member(field, |out| {
            out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes())
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out| {
            out.extend_from_slice(if value { b"true" } else { b"false" })
        });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |out| quoted_into(out, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |out| {
            out.push(b'"');
            let _ = write!(EscapingWriter(out), "{value}");
            let mut source = value.source();
            while let Some(cause) = source {
                let _ = write!(EscapingWriter(out), ": {cause}");
                source = cause.source();
            }
            out.push(b'"');
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |out| {
            out.push(b'"');
            // A Debug impl that returns an error leaves what it wrote so far; the line stays valid.
            let _ = write!(EscapingWriter(out), "{value:?}");
            out.push(b'"');
        });
    }
}

/// Finite numbers as JSON numbers; NaN and the infinities, which JSON lacks, as the strings
/// `"NaN"`, `"Infinity"` and `"-Infinity"`.
fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    } else if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

/// The keys written so far in one JSON object, as ranges of the output buffer (the escaped
/// text between the quotes), plus the keys the layer reserves for itself.
pub(crate) struct KeyLedger<'a> {
    pub(crate) written: &'a mut Vec<(u32, u32)>,
    pub(crate) reserved: &'a [Box<[u8]>],
}

impl KeyLedger<'_> {
    fn is_taken(&self, buf: &[u8], key: &[u8], check_reserved: bool) -> bool {
        (check_reserved && self.reserved.iter().any(|r| **r == *key))
            || self
                .written
                .iter()
                .any(|&(start, end)| buf.get(start as usize..end as usize) == Some(key))
    }

    /// Makes the quoted key that starts at `buf[start]` unique: if it collides with a reserved
    /// key or one already written, it becomes `fields.<key>`, then `fields.<key>.2`, and so on.
    /// Returns whether the key was renamed.
    pub(crate) fn settle(&mut self, buf: &mut Vec<u8>, start: usize, check_reserved: bool) -> bool {
        let key = start + 1..buf.len() - 1;
        if !self.is_taken(buf, &buf[key.clone()], check_reserved) {
            self.written.push((key.start as u32, key.end as u32));
            return false;
        }
        let original = buf[key].to_vec();
        for attempt in 1u32.. {
            buf.truncate(start);
            buf.extend_from_slice(b"\"fields.");
            buf.extend_from_slice(&original);
            if attempt > 1 {
                buf.push(b'.');
                buf.extend_from_slice(itoa::Buffer::new().format(attempt).as_bytes());
            }
            let candidate = start + 1..buf.len();
            if !self.is_taken(buf, &buf[candidate.clone()], true) {
                buf.push(b'"');
                self.written
                    .push((candidate.start as u32, candidate.end as u32));
                break;
            }
        }
        true
    }

    /// Whether the escaped `key` was already written (reserved keys not considered).
    pub(crate) fn was_written(&self, buf: &[u8], key: &[u8]) -> bool {
        self.is_taken(buf, key, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_floats_become_strings() {
        let text = |v: f64| {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            String::from_utf8(out).expect("ascii")
        };
        assert_eq!(text(1.5), "1.5");
        assert_eq!(text(f64::NAN), "\"NaN\"");
        assert_eq!(text(f64::INFINITY), "\"Infinity\"");
        assert_eq!(text(f64::NEG_INFINITY), "\"-Infinity\"");
        assert_eq!(text(-0.0), "-0.0");
    }

    #[test]
    fn colliding_keys_are_renamed_until_unique() {
        let reserved: Vec<Box<[u8]>> = vec![b"level".to_vec().into_boxed_slice()];
        let mut written = Vec::new();
        let mut buf = b"{".to_vec();
        let mut ledger = KeyLedger {
            written: &mut written,
            reserved: &reserved,
        };
        for key in ["a", "level", "a", "fields.a", "a"] {
            buf.push(b',');
            let start = buf.len();
            buf.extend_from_slice(format!("\"{key}\"").as_bytes());
            ledger.settle(&mut buf, start, true);
            buf.extend_from_slice(b":1");
        }
        buf.push(b'}');
        assert_eq!(
            String::from_utf8(buf).expect("utf8"),
            r#"{,"a":1,"fields.level":1,"fields.a":1,"fields.fields.a":1,"fields.a.2":1}"#
        );
    }
}
