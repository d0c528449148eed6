//! The keys of one callsite's event fields, settled once and reused for every event it emits.
//!
//! A callsite's field names never change, so everything about its keys is computed on the
//! first event (on each thread): the escaped `,"key":` bytes after collision renaming, and
//! whether the value is redacted. Later events only copy bytes.

use tracing_core::field::{Field, FieldSet};

use crate::escape::{escape_into, quoted_into};
use crate::redact::Redaction;
use crate::visit::{FieldSink, KeyLedger, Treatment};

/// The fields `tracing-log` adds to a `log` record, shown through the normalized metadata.
const LOG_FIELDS: [&str; 4] = ["log.target", "log.module_path", "log.file", "log.line"];

/// One field's settled key.
#[derive(Debug)]
struct PlannedMember {
    /// `,"key":`, ready to copy.
    prefix: Box<[u8]>,
    /// The length of the escaped key between the quotes.
    key_len: u32,
    redact: bool,
    /// Left out: a `log.*` field of a record from the `log` crate, whose target, file and
    /// line are written under the usual keys instead.
    skip: bool,
}

/// The settled keys of a callsite's fields, by field index.
#[derive(Debug)]
pub(crate) struct FieldPlan {
    members: Box<[PlannedMember]>,
}

impl FieldPlan {
    /// Settles the keys of `fields` as they would be written in order: the `message` field
    /// under `message_key`, anything that collides with `reserved` or an earlier field
    /// renamed to `fields.<name>`. For a callsite of the `log` bridge (`from_log`), its
    /// `log.target`, `log.module_path`, `log.file` and `log.line` fields are left out.
    pub(crate) fn new(
        fields: &FieldSet,
        message_key: &[u8],
        reserved: &[Box<[u8]>],
        redaction: &Redaction,
        from_log: bool,
    ) -> Self {
        let mut line = Vec::new();
        let mut written = Vec::new();
        let members = fields
            .iter()
            .map(|field| {
                let member_start = line.len();
                let skip = from_log && LOG_FIELDS.contains(&field.name());
                line.push(b',');
                let key_start = line.len();
                let is_message = field.name() == "message";
                if is_message {
                    line.push(b'"');
                    line.extend_from_slice(message_key);
                    line.push(b'"');
                } else {
                    quoted_into(&mut line, field.name());
                }
                // The message may use the (reserved) message key once; anything else may not.
                KeyLedger {
                    written: &mut written,
                    reserved,
                }
                .settle(&mut line, key_start, !is_message);
                let key_len = (line.len() - key_start - 2) as u32;
                line.push(b':');
                PlannedMember {
                    prefix: line[member_start..].into(),
                    key_len,
                    redact: redaction.matches(field.name()),
                    skip,
                }
            })
            .collect();
        Self { members }
    }

    /// How many fields the plan covers.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }
}

/// Writes an event's fields at the top level of a line following a [`FieldPlan`], noting
/// where each key went (for flattened span fields, which must not repeat them).
pub(crate) struct PlannedSink<'a> {
    pub(crate) line: &'a mut Vec<u8>,
    pub(crate) plan: &'a FieldPlan,
    pub(crate) written: &'a mut Vec<(u32, u32)>,
    /// The policy, for the value scanner.
    pub(crate) redaction: &'a Redaction,
}

impl FieldSink for PlannedSink<'_> {
    fn skip(&self, field: &Field) -> bool {
        self.plan
            .members
            .get(field.index())
            .is_some_and(|member| member.skip)
    }

    fn begin(&mut self, field: &Field) -> (&mut Vec<u8>, Treatment<'_>) {
        match self.plan.members.get(field.index()) {
            Some(member) => {
                let key_start = (self.line.len() + 2) as u32;
                self.line.extend_from_slice(&member.prefix);
                self.written.push((key_start, key_start + member.key_len));
                (self.line, Treatment::of(member.redact, self.redaction))
            }
            None => {
                // A field from another callsite's field set: cannot happen through tracing,
                // but write it visibly rather than drop it.
                self.line.extend_from_slice(b",\"fields.unplanned.");
                escape_into(self.line, field.name());
                self.line.extend_from_slice(b"\":");
                (self.line, Treatment::Redact)
            }
        }
    }
}
