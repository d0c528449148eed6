//! [`AuditLayer`]: `tracing` events with target `audit` become audit records.

use std::fmt;

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::record::{AuditRecord, FieldValue, Outcome};
use super::AuditLog;
use crate::Redaction;

/// Turns events with target `audit` (or starting with `audit::`) into audit records.
///
/// The fields `type` (or `event_type`), `action`, `outcome` (`success`, `failure`,
/// `unknown`), `actor`, `resource` and `source` fill the record; every other field is kept
/// under `fields`, the message included. Fields whose names are in the redaction list
/// (`password`, `token`, …) and integers that are card numbers are stored as keyed hashes;
/// in every other text the value scanner replaces secrets it finds (`password=…` in the
/// message, a bearer token, a card number) with `[REDACTED]` ([`Redaction::scrub`]; off with
/// [`Redaction::without_value_scan`]). This path never drops a record: a full
/// queue makes the event wait, and a record that fails to write is retried until it is written.
///
/// Make sure the subscriber's filter lets `audit` events through at every level.
///
/// ```
/// use telescope_log::audit::{AuditLayer, AuditLog};
/// use tracing_subscriber::layer::SubscriberExt;
/// # let dir = tempfile::tempdir()?;
/// let log = AuditLog::builder(dir.path().join("audit.jsonl")).open()?;
/// let subscriber = tracing_subscriber::registry().with(AuditLayer::new(log.clone()));
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(target: "audit", r#type = "authorization", action = "delete", outcome = "failure",
///                    actor = "bob", resource = "/invoices/7", "not allowed");
/// });
/// log.flush()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AuditLayer {
    log: AuditLog,
    sensitive: Redaction,
}

impl fmt::Debug for AuditLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLayer").finish_non_exhaustive()
    }
}

impl AuditLayer {
    /// A layer writing to `log`; sensitive names are the default redaction list.
    pub fn new(log: AuditLog) -> Self {
        Self {
            log,
            sensitive: Redaction::default(),
        }
    }

    /// Field names stored as keyed hashes, and the value scan for the rest.
    #[must_use]
    pub fn sensitive(mut self, names: Redaction) -> Self {
        self.sensitive = names;
        self
    }

    fn is_audit_target(target: &str) -> bool {
        target == "audit" || target.starts_with("audit::")
    }
}

/// Fills a record from an event's fields.
struct RecordVisitor<'a> {
    record: AuditRecord,
    sensitive: &'a Redaction,
}

impl RecordVisitor<'_> {
    fn text(&mut self, field: &Field, value: String) {
        let name = field.name();
        if self.sensitive.matches(name) {
            self.record.push_field(name, FieldValue::Sensitive(value));
            return;
        }
        // Secrets inside the text (`password=…`, tokens, card numbers) go; the rest is kept.
        let value = self.sensitive.scrub_owned(value);
        match name {
            "type" | "r#type" | "event_type" => self.record.event_type = Some(value),
            "action" => self.record.action = Some(value),
            "actor" => self.record.actor = Some(value),
            "resource" => self.record.resource = Some(value),
            "source" => self.record.source = Some(value),
            "outcome" => match Outcome::parse(&value) {
                Some(outcome) => self.record.outcome = Some(outcome),
                // Kept as a field so nothing is lost; the record is marked incomplete.
                None => self
                    .record
                    .push_field("outcome_given", FieldValue::Text(value)),
            },
            _ => self.record.push_field(name, FieldValue::Text(value)),
        }
    }

    /// An integer, or its keyed hash when it is a card number the value scanner hides.
    fn integer(&mut self, field: &Field, value: i64) {
        let value = if self
            .sensitive
            .hides_number(u128::from(value.unsigned_abs()))
        {
            FieldValue::Sensitive(value.to_string())
        } else {
            FieldValue::Integer(value)
        };
        self.record.push_field(field.name(), value);
    }
}

impl Visit for RecordVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.integer(field, value),
            Err(_) => self.text(field, value.to_string()),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record
            .push_field(field.name(), FieldValue::Float(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record
            .push_field(field.name(), FieldValue::Bool(value));
    }
}

impl<S> Layer<S> for AuditLayer
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !Self::is_audit_target(event.metadata().target()) {
            return;
        }
        let mut visitor = RecordVisitor {
            record: AuditRecord::empty(),
            sensitive: &self.sensitive,
        };
        event.record(&mut visitor);
        let mut record = visitor.record;
        record.trace = ctx
            .event_span(event)
            .and_then(|span| telescope_core::find_ids(&span))
            .map(|(trace, span)| (trace.to_string(), span.to_string()));
        self.log.record_without_ack(record);
    }
}
