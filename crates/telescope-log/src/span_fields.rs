//! A span's fields, serialized to JSON once when recorded, then copied into every line.

use tracing_core::field::Field;

use crate::escape::escape_into;
use crate::redact::Redaction;
use crate::visit::{FieldSink, Treatment};

/// One field's place in [`SpanFields::json`].
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Index of the key's opening quote.
    key_start: u32,
    /// Index of the value's first byte (just after `:`).
    value_start: u32,
    /// Index just past the value.
    value_end: u32,
}

/// The JSON object of one span, without its closing brace: `{"name":"leaf","k":v,...`.
/// Stored in the span's extensions by the JSON layer. A field recorded again replaces its
/// value, so a key appears once.
#[derive(Debug)]
pub(crate) struct SpanFields {
    json: Vec<u8>,
    entries: Vec<Entry>,
}

impl SpanFields {
    /// An object holding only the span's name, under the (quoted, escaped) `name_key`.
    pub(crate) fn new(name_key: &[u8], name: &str) -> Self {
        let mut json = Vec::with_capacity(64);
        json.push(b'{');
        json.extend_from_slice(name_key);
        json.extend_from_slice(b":\"");
        escape_into(&mut json, name);
        json.push(b'"');
        Self {
            json,
            entries: Vec::new(),
        }
    }

    /// An object for fields recorded later (`span.record`): read into it with no lock held,
    /// then [merged](Self::merge) into the span's under the lock, where no user code runs.
    pub(crate) fn updates() -> Self {
        Self {
            json: vec![b'{'],
            entries: Vec::new(),
        }
    }

    /// Sets every field of `updates` here, replacing old values.
    pub(crate) fn merge(&mut self, updates: &SpanFields) {
        for (key, value) in updates.members() {
            self.set(key, value);
        }
    }

    /// The object so far, without the closing brace.
    pub(crate) fn open_object(&self) -> &[u8] {
        &self.json
    }

    /// Each field as (quoted key, value).
    pub(crate) fn members(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries.iter().map(|entry| {
            (
                &self.json[entry.key_start as usize..entry.value_start as usize - 1],
                &self.json[entry.value_start as usize..entry.value_end as usize],
            )
        })
    }

    /// Sets the field with the quoted key `key` to the JSON `value`, replacing an old value.
    fn set(&mut self, key: &[u8], value: &[u8]) {
        let existing = self.entries.iter().position(|entry| {
            &self.json[entry.key_start as usize..entry.value_start as usize - 1] == key
        });
        match existing {
            Some(index) => {
                let Entry {
                    value_start,
                    value_end,
                    ..
                } = self.entries[index];
                let (start, end) = (value_start as usize, value_end as usize);
                self.json.splice(start..end, value.iter().copied());
                let shift = value.len() as i64 - (end - start) as i64;
                self.entries[index].value_end = (value_end as i64 + shift) as u32;
                for later in &mut self.entries[index + 1..] {
                    later.key_start = (later.key_start as i64 + shift) as u32;
                    later.value_start = (later.value_start as i64 + shift) as u32;
                    later.value_end = (later.value_end as i64 + shift) as u32;
                }
            }
            None => {
                self.json.push(b',');
                let key_start = self.json.len() as u32;
                self.json.extend_from_slice(key);
                self.json.push(b':');
                let value_start = self.json.len() as u32;
                self.json.extend_from_slice(value);
                self.entries.push(Entry {
                    key_start,
                    value_start,
                    value_end: self.json.len() as u32,
                });
            }
        }
    }
}

/// Writes visited fields into a [`SpanFields`]. A field named like the span-name key is
/// stored as `fields.<name>` so that the object never has that key twice.
pub(crate) struct SpanSink<'a> {
    pub(crate) fields: &'a mut SpanFields,
    /// The escaped span-name key, without quotes.
    pub(crate) name_key: &'a [u8],
    pub(crate) redaction: &'a Redaction,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

impl FieldSink for SpanSink<'_> {
    fn begin(&mut self, field: &Field) -> (&mut Vec<u8>, Treatment<'_>) {
        self.key.clear();
        self.key.push(b'"');
        escape_into(&mut self.key, field.name());
        if self.key[1..] == *self.name_key {
            self.key.truncate(1);
            self.key.extend_from_slice(b"fields.");
            self.key.extend_from_slice(self.name_key);
        }
        self.key.push(b'"');
        self.value.clear();
        let secret = self.redaction.matches(field.name());
        (&mut self.value, Treatment::of(secret, self.redaction))
    }

    fn end(&mut self) {
        self.fields.set(&self.key, &self.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(fields: &SpanFields) -> String {
        format!("{}}}", String::from_utf8_lossy(fields.open_object()))
    }

    #[test]
    fn set_appends_then_replaces_in_place() {
        let mut fields = SpanFields::new(b"\"name\"", "req");
        fields.set(b"\"a\"", b"1");
        fields.set(b"\"b\"", b"\"x\"");
        fields.set(b"\"c\"", b"true");
        assert_eq!(text(&fields), r#"{"name":"req","a":1,"b":"x","c":true}"#);
        fields.set(b"\"a\"", b"12345");
        fields.set(b"\"b\"", b"0");
        assert_eq!(text(&fields), r#"{"name":"req","a":12345,"b":0,"c":true}"#);
        let members: Vec<_> = fields
            .members()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(members[2], (b"\"c\"".to_vec(), b"true".to_vec()));
    }
}
