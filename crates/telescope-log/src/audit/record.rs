//! What an audit record says (NIST SP 800-53 AU-3: what, when, where, source, outcome, who)
//! and its canonical bytes.

use std::time::SystemTime;

use crate::escape::quoted_into;

/// How the audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It succeeded.
    Success,
    /// It failed or was refused.
    Failure,
    /// Not known (for example, the record is written before the action).
    Unknown,
}

impl Outcome {
    /// `success`, `failure` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "unknown" => Some(Outcome::Unknown),
            _ => None,
        }
    }
}

/// An extra field's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldValue {
    Text(String),
    /// Stored as a keyed hash of the value: matchable, not readable.
    Sensitive(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

/// One audit record, built with the typed API.
///
/// Required: event type, action, outcome, actor and resource. A record missing one is still
/// written, with the missing names under `incomplete`, and counted in
/// `telescope_audit_incomplete_total`. Time, service, host and the trace context are added
/// by the log.
///
/// ```
/// use telescope_log::audit::{AuditRecord, Outcome};
/// let record = AuditRecord::new("authentication", "login", Outcome::Failure)
///     .actor("alice")
///     .resource("/accounts/42")
///     .source("203.0.113.9")
///     .field("reason", "bad password")
///     .sensitive("username_attempted", "alice@example.com");
/// # let _ = record;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub(crate) event_type: Option<String>,
    pub(crate) action: Option<String>,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) actor: Option<String>,
    pub(crate) resource: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) fields: Vec<(String, FieldValue)>,
    /// Set by the log when not given: the trace context of the caller.
    pub(crate) trace: Option<(String, String)>,
}

impl AuditRecord {
    /// A record of `action` (e.g. `login`) of kind `event_type` (e.g. `authentication`).
    pub fn new(event_type: impl Into<String>, action: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            event_type: Some(event_type.into()),
            action: Some(action.into()),
            outcome: Some(outcome),
            actor: None,
            resource: None,
            source: None,
            fields: Vec::new(),
            trace: None,
        }
    }

    /// A record with nothing set (the tracing path fills what the event carries).
    pub(crate) fn empty() -> Self {
        Self {
            event_type: None,
            action: None,
            outcome: None,
            actor: None,
            resource: None,
            source: None,
            fields: Vec::new(),
            trace: None,
        }
    }

    /// Who did it (user, service account, API key id).
    #[must_use]
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// What it was done to.
    #[must_use]
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Where the request came from (an address), when known.
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// An extra text field.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields
            .push((name.into(), FieldValue::Text(value.into())));
        self
    }

    /// An extra number field.
    #[must_use]
    pub fn number(mut self, name: impl Into<String>, value: i64) -> Self {
        self.fields.push((name.into(), FieldValue::Integer(value)));
        self
    }

    /// A field stored only as a keyed hash of its value (HMAC-SHA256 with the log's key):
    /// it can be matched against a candidate value with
    /// [`AuditLog::hash_value`](super::AuditLog::hash_value), never read back.
    #[must_use]
    pub fn sensitive(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields
            .push((name.into(), FieldValue::Sensitive(value.into())));
        self
    }

    pub(crate) fn push_field(&mut self, name: &str, value: FieldValue) {
        self.fields.push((name.to_owned(), value));
    }

    /// The names of the required parts that are missing.
    pub(crate) fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.event_type.is_none() {
            missing.push("type");
        }
        if self.action.is_none() {
            missing.push("action");
        }
        if self.outcome.is_none() {
            missing.push("outcome");
        }
        if self.actor.is_none() {
            missing.push("actor");
        }
        if self.resource.is_none() {
            missing.push("resource");
        }
        missing
    }
}

/// What the log adds to every record.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub(crate) service: String,
    pub(crate) host: String,
}

/// The record's canonical bytes: a JSON object with its members in a fixed order, without the
/// closing brace (the chain value is appended, then the brace). `time` is the record's time
/// as written (RFC 3339, [`record_time`]); `hash_sensitive` turns a sensitive value into its
/// keyed hash. The verifier rebuilds these bytes from what it parsed: a line that is not
/// exactly them is modified.
pub(crate) fn canonical_body(
    record: &AuditRecord,
    seq: u64,
    time: &str,
    context: &Context,
    hash_sensitive: &dyn Fn(&str) -> String,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    out.extend_from_slice(b",\"time\":");
    quoted_into(&mut out, time);
    let member = |out: &mut Vec<u8>, key: &str, value: Option<&str>| {
        if let Some(value) = value {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            quoted_into(out, value);
        }
    };
    member(&mut out, "type", record.event_type.as_deref());
    member(&mut out, "action", record.action.as_deref());
    member(&mut out, "outcome", record.outcome.map(Outcome::as_str));
    member(&mut out, "actor", record.actor.as_deref());
    member(&mut out, "resource", record.resource.as_deref());
    member(&mut out, "source", record.source.as_deref());
    member(&mut out, "service", Some(&context.service));
    member(&mut out, "host", Some(&context.host));
    if let Some((trace_id, span_id)) = &record.trace {
        member(&mut out, "trace_id", Some(trace_id));
        member(&mut out, "span_id", Some(span_id));
    }
    let missing = record.missing();
    if !missing.is_empty() {
        out.extend_from_slice(b",\"incomplete\":[");
        for (i, name) in missing.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            quoted_into(&mut out, name);
        }
        out.push(b']');
    }
    if !record.fields.is_empty() {
        out.extend_from_slice(b",\"fields\":{");
        for (i, (name, value)) in record.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            quoted_into(&mut out, name);
            out.push(b':');
            match value {
                FieldValue::Text(text) => quoted_into(&mut out, text),
                FieldValue::Sensitive(secret) => quoted_into(&mut out, &hash_sensitive(secret)),
                FieldValue::Integer(n) => {
                    out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
                }
                FieldValue::Float(f) if f.is_finite() => {
                    out.extend_from_slice(ryu::Buffer::new().format_finite(*f).as_bytes())
                }
                FieldValue::Float(f) => quoted_into(&mut out, &f.to_string()),
                FieldValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            }
        }
        out.push(b'}');
    }
    out
}

/// A record's time as written.
pub(crate) fn record_time(time: SystemTime) -> String {
    telescope_core::time::rfc3339(time)
}

/// A link line's body: the first line of a file started by rotation names the file before it,
/// the last sequence number written there and the chain value after it. The link is chained
/// like a record (its chain value follows the body), so it cannot be forged or dropped.
pub(crate) fn link_body(previous: &str, seq: u64, head: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"link\":{\"previous\":");
    quoted_into(&mut out, previous);
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    out.extend_from_slice(b",\"head\":");
    quoted_into(&mut out, head);
    out.push(b'}');
    out
}
