//! Turning `tracing` field values into JSON members, with redaction and unique keys.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use telescope_core::Redaction;
use tracing_core::field::{Field, Visit};

use crate::escape::{escape_into, quoted_into, unescape_into, EscapingWriter};
use crate::redact::REDACTED_VALUE;

/// What happens to a field's value.
#[derive(Clone, Copy)]
pub(crate) enum Treatment<'r> {
    /// The name is secret: `"[REDACTED]"`, the value never formatted.
    Redact,
    /// Text is scanned for secrets inside it (credentials, tokens, `name=value` pairs…).
    Scan(&'r Redaction),
    /// Written as it is.
    Keep,
}

impl<'r> Treatment<'r> {
    /// `Redact` for a secret name, else `Scan` when the policy scans values, else `Keep`.
    pub(crate) fn of(secret_name: bool, redaction: &'r Redaction) -> Self {
        if secret_name {
            Treatment::Redact
        } else if redaction.scans_values() {
            Treatment::Scan(redaction)
        } else {
            Treatment::Keep
        }
    }
}

/// Where a visited field goes: the sink writes the key and hands out the buffer for the value.
pub(crate) trait FieldSink {
    /// Writes the member's key for `field` and returns the buffer to append the value to,
    /// and what to do with the value.
    fn begin(&mut self, field: &Field) -> (&mut Vec<u8>, Treatment<'_>);
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
    fn member(&mut self, field: &Field, write: impl FnOnce(&mut Vec<u8>, Option<&Redaction>)) {
        if self.0.skip(field) {
            return;
        }
        let (out, treatment) = self.0.begin(field);
        match treatment {
            Treatment::Redact => out.extend_from_slice(REDACTED_VALUE),
            Treatment::Scan(redaction) => write(out, Some(redaction)),
            Treatment::Keep => write(out, None),
        }
        self.0.end();
    }
}

/// Writes `text` as a JSON string, scanned for secrets when `scan` says so.
fn scanned_into(out: &mut Vec<u8>, text: &str, scan: Option<&Redaction>) {
    match scan {
        Some(redaction) => quoted_into(out, &redaction.scrub(text)),
        None => quoted_into(out, text),
    }
}

thread_local! {
    /// Escaped text read back before it is scanned, reused from line to line.
    static UNESCAPED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes what `format` produces as a JSON string, scanned for secrets when `scan` says so.
/// The text is escaped straight into the line; only when the escaped text could hold a
/// secret ([`Redaction::may_find_secrets`], true of most text with a digit, `=` or `:`) is it
/// read back, scanned, and rewritten if a secret was found.
fn formatted_into(
    out: &mut Vec<u8>,
    scan: Option<&Redaction>,
    format: impl Fn(&mut dyn fmt::Write) -> fmt::Result,
) {
    out.push(b'"');
    let start = out.len();
    // A Debug impl that returns an error leaves what it wrote so far; the line stays valid.
    let _ = format(&mut EscapingWriter(out));
    if let Some(redaction) = scan {
        if redaction.may_find_secrets(&out[start..]) {
            scrub_escaped(out, start, redaction);
        }
    }
    out.push(b'"');
}

/// Scans the escaped text in `out[start..]` for secrets and, if any is found, writes it again
/// with them replaced.
fn scrub_escaped(out: &mut Vec<u8>, start: usize, redaction: &Redaction) {
    let mut rewrite = |plain: &mut Vec<u8>| {
        plain.clear();
        unescape_into(plain, &out[start..]);
        // The text came from `&str`s and escaping keeps UTF-8: the lossy read never loses.
        let text = match std::str::from_utf8(plain) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(plain),
        };
        if let Cow::Owned(scrubbed) = redaction.scrub(&text) {
            out.truncate(start);
            escape_into(out, &scrubbed);
        }
        if plain.capacity() > KEEP_CAPACITY {
            *plain = Vec::new();
        }
    };
    // No user code runs while the buffer is borrowed; a fresh one covers the impossible case.
    UNESCAPED.with(|plain| match plain.try_borrow_mut() {
        Ok(mut plain) => rewrite(&mut plain),
        Err(_) => rewrite(&mut Vec::new()),
    });
}

/// The largest read-back buffer kept for the next line.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Writes an integer, or `"[REDACTED]"` when the scanner hides a number of its `magnitude`
/// (a card number: [`Redaction::hides_number`]).
fn integer_into(out: &mut Vec<u8>, digits: &str, magnitude: u128, scan: Option<&Redaction>) {
    match scan {
        Some(redaction) if redaction.hides_number(magnitude) => {
            out.extend_from_slice(REDACTED_VALUE);
        }
        _ => out.extend_from_slice(digits.as_bytes()),
    }
}

impl<S: FieldSink> Visit for JsonVisitor<'_, S> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |out, _| write_f64(out, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out, scan| {
            let magnitude = u128::from(value.unsigned_abs());
            integer_into(out, itoa::Buffer::new().format(value), magnitude, scan);
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out, scan| {
            let magnitude = u128::from(value);
            integer_into(out, itoa::Buffer::new().format(value), magnitude, scan);
        });
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.member(field, |out, scan| {
            let magnitude = value.unsigned_abs();
            integer_into(out, itoa::Buffer::new().format(value), magnitude, scan);
        });
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.member(field, |out, scan| {
            integer_into(out, itoa::Buffer::new().format(value), value, scan);
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out, _| {
            out.extend_from_slice(if value { b"true" } else { b"false" })
        });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |out, scan| scanned_into(out, value, scan));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |out, scan| {
            formatted_into(out, scan, |text| {
                write!(text, "{value}")?;
                let mut source = value.source();
                while let Some(cause) = source {
                    write!(text, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            });
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |out, scan| {
            formatted_into(out, scan, |text| write!(text, "{value:?}"));
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

    /// Writes `,"key":` for the quoted `key`, made unique as [`settle`](Self::settle) does.
    pub(crate) fn open_member(&mut self, line: &mut Vec<u8>, quoted_key: &[u8]) {
        line.push(b',');
        let start = line.len();
        line.extend_from_slice(quoted_key);
        self.settle(line, start, true);
        line.push(b':');
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
