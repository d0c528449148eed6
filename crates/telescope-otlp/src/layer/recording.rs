//! What a sampled span collects until it closes, and its conversion to `SpanData`.

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use opentelemetry::trace::{Event, Link, SpanKind, Status};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use telescope_core::outcome::{
    ErrorValue, SpanOutcome, Verdict, ERROR_FIELD, STATUS_CODE_FIELD, STATUS_DESCRIPTION_FIELDS,
};
use telescope_core::{Redaction, REDACTED};
use tracing_core::field::{Field, Visit};

/// Limits on what one span keeps; what goes over is counted as dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanLimits {
    /// Attributes per span (OpenTelemetry's default: 128).
    pub max_attributes: usize,
    /// Events per span (default 128).
    pub max_events: usize,
    /// Links per span (default 128).
    pub max_links: usize,
    /// Attributes per event (default 128).
    pub max_event_attributes: usize,
}

impl Default for SpanLimits {
    fn default() -> Self {
        Self {
            max_attributes: 128,
            max_events: 128,
            max_links: 128,
            max_event_attributes: 128,
        }
    }
}

/// A sampled span's data, kept in its extensions until it closes.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) start: SystemTime,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) dropped_attributes: u32,
    pub(crate) events: Vec<Event>,
    pub(crate) dropped_events: u32,
    pub(crate) links: Vec<Link>,
    pub(crate) dropped_links: u32,
    /// What decides the span's status ([`telescope_core::outcome`]'s rules).
    pub(crate) outcome: SpanOutcome,
    pub(crate) parent_span_id: opentelemetry::trace::SpanId,
    pub(crate) parent_is_remote: bool,
}

impl Recording {
    /// Sets an attribute whose key is not static (a baggage key), unless one of that name is
    /// already there; past `max`, counted as dropped.
    pub(crate) fn set_attribute_owned(&mut self, key: String, value: String, max: usize) {
        if self.attributes.iter().any(|kv| kv.key.as_str() == key) {
            return;
        }
        if self.attributes.len() < max {
            self.attributes.push(KeyValue::new(key, value));
        } else {
            self.dropped_attributes += 1;
        }
    }

    pub(crate) fn into_span_data(
        self,
        context: opentelemetry::trace::SpanContext,
        end: SystemTime,
        scope: InstrumentationScope,
    ) -> SpanData {
        let mut events = SpanEvents::default();
        events.events = self.events;
        events.dropped_count = self.dropped_events;
        let mut links = SpanLinks::default();
        links.links = self.links;
        links.dropped_count = self.dropped_links;
        SpanData {
            span_context: context,
            parent_span_id: self.parent_span_id,
            parent_span_is_remote: self.parent_is_remote,
            span_kind: self.kind,
            name: self.name,
            start_time: self.start,
            end_time: end,
            attributes: self.attributes,
            dropped_attributes_count: self.dropped_attributes,
            events,
            links,
            status: status_of(&self.outcome),
            instrumentation_scope: scope,
        }
    }
}

/// The OpenTelemetry status an outcome comes to.
pub(crate) fn status_of(outcome: &SpanOutcome) -> Status {
    match outcome.verdict() {
        Verdict::Unset => Status::Unset,
        Verdict::Ok => Status::Ok,
        Verdict::Error => Status::error(outcome.description().unwrap_or_default().to_owned()),
    }
}

fn parse_kind(text: &str) -> Option<SpanKind> {
    match text.to_ascii_lowercase().as_str() {
        "server" => Some(SpanKind::Server),
        "client" => Some(SpanKind::Client),
        "producer" => Some(SpanKind::Producer),
        "consumer" => Some(SpanKind::Consumer),
        "internal" => Some(SpanKind::Internal),
        _ => None,
    }
}

/// A span field's value, read (and redacted) while no lock is held.
enum StagedValue {
    /// Text: `otel.*` names and `error` have their OpenTelemetry meaning.
    Text(String),
    /// A `dyn Error` value's text (always a failure when the field is `error`).
    Error(String),
    /// A typed attribute, `[REDACTED]` included.
    Attribute(Value),
}

/// Reads a span's fields into [`SpanFields`]: values are formatted here (user `Debug` and
/// `Display` code runs) with no lock held; [`SpanFields::apply`] then changes the recording
/// under the span's extensions lock, running no user code, so a field whose `Debug` logs
/// cannot deadlock.
pub(crate) struct SpanVisitor<'a> {
    target: Target<'a>,
    /// Fields with a secret name keep `[REDACTED]`: their value is never formatted or stored.
    redaction: &'a Redaction,
}

/// Where a [`SpanVisitor`] puts what it reads.
enum Target<'a> {
    /// A recording no lock guards yet (a span being created): written at once.
    Unshared {
        recording: &'a mut Recording,
        max_attributes: usize,
    },
    /// Kept for [`SpanFields::apply`] under the lock.
    Staged(SpanFields),
}

/// The fields a [`SpanVisitor`] read, in order.
#[derive(Default)]
pub(crate) struct SpanFields(Vec<(&'static str, StagedValue)>);

impl<'a> SpanVisitor<'a> {
    /// Writes straight into `recording`, which must not be shared yet (no lock held).
    pub(crate) fn unshared(
        recording: &'a mut Recording,
        max_attributes: usize,
        redaction: &'a Redaction,
    ) -> Self {
        Self {
            target: Target::Unshared {
                recording,
                max_attributes,
            },
            redaction,
        }
    }

    /// Keeps the fields for [`SpanFields::apply`].
    pub(crate) fn staged(redaction: &'a Redaction, fields: usize) -> Self {
        Self {
            target: Target::Staged(SpanFields(Vec::with_capacity(fields))),
            redaction,
        }
    }

    /// The fields kept (none when writing straight into a recording).
    pub(crate) fn into_fields(self) -> SpanFields {
        match self.target {
            Target::Staged(fields) => fields,
            Target::Unshared { .. } => SpanFields::default(),
        }
    }

    fn push(&mut self, name: &'static str, value: StagedValue) {
        match &mut self.target {
            Target::Unshared {
                recording,
                max_attributes,
            } => apply_one(recording, name, value, *max_attributes),
            Target::Staged(fields) => fields.0.push((name, value)),
        }
    }

    /// Records `[REDACTED]` for a secret field and says so; the caller then skips the value.
    fn redacted(&mut self, field: &Field) -> bool {
        let secret = self.redaction.matches(field.name());
        if secret {
            self.attribute(field, Value::from(REDACTED));
        }
        secret
    }

    fn attribute(&mut self, field: &Field, value: Value) {
        self.push(field.name(), StagedValue::Attribute(value));
    }

    fn text(&mut self, field: &Field, value: String) {
        let value = self.redaction.scrub_owned(value);
        self.push(field.name(), StagedValue::Text(value));
    }
}

impl SpanFields {
    /// Writes the fields into `recording`: `otel.name`, `otel.kind`, `otel.status_code`,
    /// `otel.status_description` (or `otel.status_message`) and `error` have their
    /// OpenTelemetry meaning; everything else becomes an attribute (a name recorded again
    /// replaces its value; past `max_attributes`, new names are counted as dropped).
    pub(crate) fn apply(self, recording: &mut Recording, max_attributes: usize) {
        for (name, value) in self.0 {
            apply_one(recording, name, value, max_attributes);
        }
    }
}

fn apply_one(recording: &mut Recording, name: &'static str, value: StagedValue, max: usize) {
    match value {
        StagedValue::Attribute(value) => {
            if name == ERROR_FIELD {
                let text = value.as_str();
                recording.outcome.record_error_field(match &value {
                    Value::Bool(value) => ErrorValue::Bool(*value),
                    Value::I64(value) => ErrorValue::Int((*value).into()),
                    Value::F64(value) => ErrorValue::Float(*value),
                    _ => ErrorValue::Text(&text),
                });
            }
            set_attribute(recording, name, value, max);
        }
        StagedValue::Text(text) => apply_text(recording, name, text, max),
        StagedValue::Error(text) if name == ERROR_FIELD => {
            recording
                .outcome
                .record_error_field(ErrorValue::Error(&text));
            set_attribute(recording, name, Value::from(text), max);
        }
        StagedValue::Error(text) => set_attribute(recording, name, Value::from(text), max),
    }
}

fn set_attribute(recording: &mut Recording, key: &'static str, value: Value, max: usize) {
    if let Some(existing) = recording
        .attributes
        .iter_mut()
        .find(|kv| kv.key.as_str() == key)
    {
        existing.value = value;
    } else if recording.attributes.len() < max {
        recording.attributes.push(KeyValue::new(key, value));
    } else {
        recording.dropped_attributes += 1;
    }
}

fn apply_text(recording: &mut Recording, name: &'static str, value: String, max: usize) {
    match name {
        "otel.name" => recording.name = Cow::Owned(value),
        "otel.kind" => {
            if let Some(kind) = parse_kind(&value) {
                recording.kind = kind;
            }
        }
        STATUS_CODE_FIELD => recording.outcome.record_status_code(&value),
        name if STATUS_DESCRIPTION_FIELDS.contains(&name) => {
            recording.outcome.record_status_description(value);
        }
        ERROR_FIELD => {
            recording
                .outcome
                .record_error_field(ErrorValue::Text(&value));
            set_attribute(recording, ERROR_FIELD, Value::from(value), max);
        }
        name => set_attribute(recording, name, Value::from(value), max),
    }
}

impl Visit for SpanVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.redacted(field) {
            self.text(field, value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.redacted(field) {
            self.text(field, format!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.redacted(field) {
            let text = self.redaction.scrub_owned(value.to_string());
            self.push(field.name(), StagedValue::Error(text));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.redacted(field) {
            self.attribute(field, checked_integer(self.redaction, value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.redacted(field) {
            self.attribute(field, checked_integer(self.redaction, value));
        }
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if !self.redacted(field) {
            self.attribute(field, integer(value));
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if !self.redacted(field) {
            self.attribute(field, integer(value));
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.redacted(field) {
            self.attribute(field, Value::F64(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if !self.redacted(field) {
            self.attribute(field, Value::Bool(value));
        }
    }
}

/// An integer as [`integer`] makes it, or `[REDACTED]` when the scanner hides a number of its
/// magnitude (a card number: [`Redaction::hides_number`]).
fn checked_integer<T: TryInto<i64> + ToString + Copy + Into<i128>>(
    redaction: &Redaction,
    value: T,
) -> Value {
    let wide: i128 = value.into();
    if redaction.hides_number(wide.unsigned_abs()) {
        return Value::from(REDACTED);
    }
    integer(value)
}

/// An integer as an `i64` attribute, or as text when it does not fit.
fn integer<T: TryInto<i64> + ToString + Copy>(value: T) -> Value {
    match value.try_into() {
        Ok(value) => Value::I64(value),
        Err(_) => Value::from(value.to_string()),
    }
}

/// Collects an event's fields: `message` names the event; `error` marks the span's status.
pub(crate) struct EventVisitor<'a> {
    pub(crate) name: Option<String>,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) dropped: u32,
    pub(crate) error: Option<String>,
    pub(crate) max_attributes: usize,
    /// The event is a bridged `log` record: its `log.*` fields are already in `level` and
    /// `target`, or not worth an attribute.
    pub(crate) from_log: bool,
    /// Fields with a secret name keep `[REDACTED]`: their value is never formatted or stored.
    pub(crate) redaction: &'a Redaction,
}

impl EventVisitor<'_> {
    /// Records `[REDACTED]` for a secret field and says so; the caller then skips the value.
    fn redacted(&mut self, field: &Field) -> bool {
        let secret = field.name() != "message" && self.redaction.matches(field.name());
        if secret {
            self.push(field.name(), Value::from(REDACTED));
        }
        secret
    }

    fn push(&mut self, key: &'static str, value: Value) {
        if self.from_log && key.starts_with("log.") {
            return;
        }
        if self.attributes.len() < self.max_attributes {
            self.attributes.push(KeyValue::new(key, value));
        } else {
            self.dropped += 1;
        }
    }
}

impl EventVisitor<'_> {
    /// Keeps a field's text, taking ownership (the message, formatted with `Debug`, is
    /// allocated once, not formatted and then copied).
    fn text(&mut self, field: &Field, value: String) {
        let value = self.redaction.scrub_owned(value);
        match field.name() {
            "message" => self.name = Some(value),
            "error" => {
                self.push("exception.message", Value::from(value.clone()));
                self.error = Some(value);
            }
            name => self.push(name, Value::from(value)),
        }
    }
}

impl Visit for EventVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.redacted(field) {
            self.text(field, value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.redacted(field) {
            self.text(field, format!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.redacted(field) {
            return;
        }
        let text = self.redaction.scrub_owned(value.to_string());
        self.error = Some(text.clone());
        self.push("exception.message", Value::from(text.clone()));
        if field.name() != "error" {
            self.push(field.name(), Value::from(text));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.redacted(field) {
            self.push(field.name(), checked_integer(self.redaction, value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.redacted(field) {
            self.push(field.name(), checked_integer(self.redaction, value));
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.redacted(field) {
            self.push(field.name(), Value::F64(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if !self.redacted(field) {
            self.push(field.name(), Value::Bool(value));
        }
    }
}
