//! When a span failed: one set of rules, used by every signal that reports it (the exported
//! span's status, `telescope_span_duration_seconds{status}`, `/debug/traces?status=error`,
//! the HTTP middleware), so that an error rate and a list of failed traces count the same
//! failures.
//!
//! The rules, in order:
//!
//! 1. **`otel.status_code`** (`OK` or `ERROR`, any case) decides when it is set: the value
//!    recorded last wins, and the marks below no longer count. `UNSET` takes the decision
//!    back. Other values are ignored.
//! 2. Otherwise the span **failed** if its **`error` field** holds a true value, or an
//!    **ERROR-level event** happened inside it.
//!    - `error` is true unless it is `false`, `0` (or `0.0`), or text that reads `false`, `0`,
//!      `none` or `null` (any case, surrounding spaces ignored), so `error = ?result.err()`
//!      with `None` is no failure. A `dyn Error` value is always true. The value recorded last
//!      is the field's value: `span.record("error", false)` takes a mark back.
//!    - Events below ERROR never fail a span, whatever their fields: a WARN event with an
//!      `error` field is an error that was handled (retried, fallen back from). It stays on the
//!      span as an event.
//! 3. **`otel.status_description`** (or `otel.status_message`) is the description of a failed
//!    span; alone it marks nothing. Without it the description is the `error` field's text, or
//!    else the last ERROR event's `error` field or message.
//!
//! ```
//! use telescope_core::outcome::{ErrorValue, SpanOutcome, Verdict};
//! use tracing_core::Level;
//!
//! let mut outcome = SpanOutcome::default();
//! outcome.record_error_field(ErrorValue::Text("None"));
//! outcome.record_event(Level::WARN, Some("timeout, retrying"), None);
//! assert_eq!(outcome.verdict(), Verdict::Unset);
//! outcome.record_event(Level::ERROR, None, Some("payment declined"));
//! assert!(outcome.failed());
//! assert_eq!(outcome.description(), Some("payment declined"));
//! outcome.record_status_code("OK");
//! assert_eq!(outcome.verdict(), Verdict::Ok);
//! ```

use tracing_core::field::{Field, Visit};
use tracing_core::Level;

/// The names of the span fields these rules read.
pub const STATUS_CODE_FIELD: &str = "otel.status_code";
/// See [`STATUS_CODE_FIELD`].
pub const STATUS_DESCRIPTION_FIELDS: [&str; 2] = ["otel.status_description", "otel.status_message"];
/// See [`STATUS_CODE_FIELD`].
pub const ERROR_FIELD: &str = "error";

/// A value recorded on a span's `error` field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ErrorValue<'a> {
    /// `error = true`.
    Bool(bool),
    /// `error = 1`.
    Int(i128),
    /// `error = 1.0`.
    Float(f64),
    /// `error = "text"`, `%value` or `?value`: the text as written.
    Text(&'a str),
    /// A `dyn Error` value (its `Display` text): always a failure.
    Error(&'a str),
}

impl ErrorValue<'_> {
    /// Whether the value marks a failure (see the module's rules).
    pub fn is_true(&self) -> bool {
        match *self {
            ErrorValue::Bool(value) => value,
            ErrorValue::Int(value) => value != 0,
            ErrorValue::Float(value) => value != 0.0,
            ErrorValue::Text(text) => {
                let text = text.trim();
                !["false", "0", "none", "null"]
                    .iter()
                    .any(|falsy| text.eq_ignore_ascii_case(falsy))
            }
            ErrorValue::Error(_) => true,
        }
    }

    /// The text a failed span is described by, if the value has one.
    fn text(&self) -> Option<&str> {
        match *self {
            ErrorValue::Text(text) | ErrorValue::Error(text) => Some(text),
            _ => None,
        }
    }
}

/// What a span's outcome is, from what was recorded on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing said it failed or succeeded.
    Unset,
    /// `otel.status_code = "OK"`.
    Ok,
    /// Failed.
    Error,
}

/// Collects what decides a span's outcome, as its fields are recorded and its events happen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanOutcome {
    /// `otel.status_code` as last recorded (`Unset` for `UNSET`), if it was.
    code: Option<Verdict>,
    /// The `error` field's last value: whether it is true, and its text.
    error_field: Option<(bool, Option<String>)>,
    /// An ERROR event happened; the last one's description, if it had one.
    error_event: Option<Option<String>>,
    /// `otel.status_description`.
    description: Option<String>,
}

impl SpanOutcome {
    /// `otel.status_code` was recorded.
    pub fn record_status_code(&mut self, code: &str) {
        let code = code.trim();
        if code.eq_ignore_ascii_case("error") {
            self.code = Some(Verdict::Error);
        } else if code.eq_ignore_ascii_case("ok") {
            self.code = Some(Verdict::Ok);
        } else if code.eq_ignore_ascii_case("unset") {
            self.code = Some(Verdict::Unset);
        }
    }

    /// Applies what `later` recorded (a fresh outcome that saw only later fields and events)
    /// on top of this one, as if recorded here in that order: for layers that read values
    /// with no lock held and apply them under it.
    pub fn merge(&mut self, later: SpanOutcome) {
        if later.code.is_some() {
            self.code = later.code;
        }
        if later.error_field.is_some() {
            self.error_field = later.error_field;
        }
        if later.error_event.is_some() {
            self.error_event = later.error_event;
        }
        if later.description.is_some() {
            self.description = later.description;
        }
    }

    /// `otel.status_description` (or `otel.status_message`) was recorded.
    pub fn record_status_description(&mut self, description: impl Into<String>) {
        self.description = Some(description.into());
    }

    /// The `error` field was recorded.
    pub fn record_error_field(&mut self, value: ErrorValue<'_>) {
        let text = value
            .is_true()
            .then(|| value.text().map(str::to_owned))
            .flatten();
        self.error_field = Some((value.is_true(), text));
    }

    /// An event happened inside the span, at `level`, with this `error` field text and
    /// message (when the caller read them; the verdict does not need them).
    pub fn record_event(&mut self, level: Level, error: Option<&str>, message: Option<&str>) {
        if level == Level::ERROR {
            self.error_event = Some(error.or(message).map(str::to_owned));
        }
    }

    /// Whether the span carries a mark of failure that `otel.status_code` may override.
    fn marked(&self) -> bool {
        matches!(self.error_field, Some((true, _))) || self.error_event.is_some()
    }

    /// The outcome as the rules decide it.
    pub fn verdict(&self) -> Verdict {
        match self.code {
            Some(Verdict::Error) => Verdict::Error,
            Some(Verdict::Ok) => Verdict::Ok,
            Some(Verdict::Unset) | None if self.marked() => Verdict::Error,
            Some(Verdict::Unset) | None => Verdict::Unset,
        }
    }

    /// Whether the span failed.
    pub fn failed(&self) -> bool {
        self.verdict() == Verdict::Error
    }

    /// What a failed span is described by (`None` for a span that did not fail, or had no
    /// text to describe it).
    pub fn description(&self) -> Option<&str> {
        if !self.failed() {
            return None;
        }
        let from_field = match &self.error_field {
            Some((true, text)) => text.as_deref(),
            _ => None,
        };
        let from_event = self.error_event.as_ref().and_then(Option::as_deref);
        self.description.as_deref().or(from_field).or(from_event)
    }

    /// Whether `name` is a field these rules read.
    pub fn reads_field(name: &str) -> bool {
        name == ERROR_FIELD
            || name == STATUS_CODE_FIELD
            || STATUS_DESCRIPTION_FIELDS.contains(&name)
    }

    /// Whether a callsite's fields include one these rules read (most do not, and need not be
    /// visited).
    pub fn reads_any(fields: &tracing_core::field::FieldSet) -> bool {
        fields.iter().any(|field| Self::reads_field(field.name()))
    }
}

/// A [`Visit`]or that records a span's outcome fields (and ignores the rest) into a
/// [`SpanOutcome`]: for layers that keep nothing else of the fields.
#[derive(Debug)]
pub struct OutcomeFields<'a>(pub &'a mut SpanOutcome);

impl OutcomeFields<'_> {
    fn text(&mut self, field: &Field, text: &str) {
        match field.name() {
            ERROR_FIELD => self.0.record_error_field(ErrorValue::Text(text)),
            STATUS_CODE_FIELD => self.0.record_status_code(text),
            name if STATUS_DESCRIPTION_FIELDS.contains(&name) => {
                self.0.record_status_description(text);
            }
            _ => {}
        }
    }
}

impl Visit for OutcomeFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if SpanOutcome::reads_field(field.name()) {
            self.text(field, &format!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        match field.name() {
            ERROR_FIELD => self
                .0
                .record_error_field(ErrorValue::Error(&value.to_string())),
            _ => self.record_debug(field, &format_args!("{value}")),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == ERROR_FIELD {
            self.0.record_error_field(ErrorValue::Bool(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == ERROR_FIELD {
            self.0.record_error_field(ErrorValue::Int(value.into()));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == ERROR_FIELD {
            self.0.record_error_field(ErrorValue::Int(value.into()));
        }
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if field.name() == ERROR_FIELD {
            self.0.record_error_field(ErrorValue::Int(value));
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if field.name() == ERROR_FIELD {
            let value = i128::try_from(value).unwrap_or(i128::MAX);
            self.0.record_error_field(ErrorValue::Int(value));
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == ERROR_FIELD {
            self.0.record_error_field(ErrorValue::Float(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One way of marking (or not marking) a span, as a step applied to its outcome.
    enum Step {
        Code(&'static str),
        Description(&'static str),
        Field(ErrorValue<'static>),
        Event(Level, Option<&'static str>, Option<&'static str>),
    }

    fn outcome_of(steps: &[Step]) -> SpanOutcome {
        let mut outcome = SpanOutcome::default();
        for step in steps {
            match step {
                Step::Code(code) => outcome.record_status_code(code),
                Step::Description(text) => outcome.record_status_description(*text),
                Step::Field(value) => outcome.record_error_field(*value),
                Step::Event(level, error, message) => {
                    outcome.record_event(*level, *error, *message)
                }
            }
        }
        outcome
    }

    #[test]
    fn every_way_of_marking_a_span() {
        use ErrorValue::*;
        use Step::*;
        let cases: Vec<(&str, Vec<Step>, Verdict, Option<&str>)> = vec![
            ("nothing", vec![], Verdict::Unset, None),
            (
                "error = true",
                vec![Field(Bool(true))],
                Verdict::Error,
                None,
            ),
            (
                "error = false",
                vec![Field(Bool(false))],
                Verdict::Unset,
                None,
            ),
            ("error = 1", vec![Field(Int(1))], Verdict::Error, None),
            ("error = 0", vec![Field(Int(0))], Verdict::Unset, None),
            ("error = 0.0", vec![Field(Float(0.0))], Verdict::Unset, None),
            (
                "error = \"refused\"",
                vec![Field(Text("refused"))],
                Verdict::Error,
                Some("refused"),
            ),
            (
                "error = \"false\"",
                vec![Field(Text(" FALSE "))],
                Verdict::Unset,
                None,
            ),
            (
                "error = ?None",
                vec![Field(Text("None"))],
                Verdict::Unset,
                None,
            ),
            (
                "error = \"\"",
                vec![Field(Text(""))],
                Verdict::Error,
                Some(""),
            ),
            (
                "error = dyn Error",
                vec![Field(Error("false"))],
                Verdict::Error,
                Some("false"),
            ),
            (
                "error recorded true, then false",
                vec![Field(Bool(true)), Field(Bool(false))],
                Verdict::Unset,
                None,
            ),
            (
                "otel.status_code = ERROR",
                vec![Code("ERROR")],
                Verdict::Error,
                None,
            ),
            (
                "otel.status_code = error",
                vec![Code("error")],
                Verdict::Error,
                None,
            ),
            ("otel.status_code = OK", vec![Code("OK")], Verdict::Ok, None),
            (
                "ERROR then OK",
                vec![Code("ERROR"), Code("OK")],
                Verdict::Ok,
                None,
            ),
            (
                "OK then ERROR",
                vec![Code("OK"), Code("ERROR")],
                Verdict::Error,
                None,
            ),
            (
                "OK then UNSET",
                vec![Code("OK"), Code("UNSET")],
                Verdict::Unset,
                None,
            ),
            ("an unknown code", vec![Code("maybe")], Verdict::Unset, None),
            (
                "OK wins over an error field",
                vec![Field(Bool(true)), Code("OK")],
                Verdict::Ok,
                None,
            ),
            (
                "OK wins over a later ERROR event",
                vec![Code("OK"), Event(Level::ERROR, None, Some("boom"))],
                Verdict::Ok,
                None,
            ),
            (
                "description alone",
                vec![Description("why")],
                Verdict::Unset,
                None,
            ),
            (
                "description with ERROR",
                vec![Description("why"), Code("ERROR")],
                Verdict::Error,
                Some("why"),
            ),
            (
                "description over the error field's text",
                vec![Field(Text("refused")), Description("why")],
                Verdict::Error,
                Some("why"),
            ),
            (
                "ERROR event",
                vec![Event(Level::ERROR, None, Some("boom"))],
                Verdict::Error,
                Some("boom"),
            ),
            (
                "ERROR event with an error field",
                vec![Event(Level::ERROR, Some("refused"), Some("boom"))],
                Verdict::Error,
                Some("refused"),
            ),
            (
                "WARN event with an error field",
                vec![Event(Level::WARN, Some("refused"), Some("retrying"))],
                Verdict::Unset,
                None,
            ),
            (
                "INFO event with a dyn Error field",
                vec![Event(Level::INFO, Some("refused"), None)],
                Verdict::Unset,
                None,
            ),
            (
                "error field text before an ERROR event's",
                vec![
                    Field(Text("refused")),
                    Event(Level::ERROR, None, Some("boom")),
                ],
                Verdict::Error,
                Some("refused"),
            ),
        ];
        for (name, steps, verdict, description) in cases {
            let outcome = outcome_of(&steps);
            assert_eq!(outcome.verdict(), verdict, "{name}");
            assert_eq!(outcome.failed(), verdict == Verdict::Error, "{name}");
            assert_eq!(outcome.description(), description, "{name}");
            // Recorded in two parts and merged: the same outcome, at every split.
            for split in 0..=steps.len() {
                let mut merged = outcome_of(&steps[..split]);
                merged.merge(outcome_of(&steps[split..]));
                assert_eq!(merged.verdict(), verdict, "{name}, split at {split}");
                assert_eq!(
                    merged.description(),
                    description,
                    "{name}, split at {split}"
                );
            }
        }
    }

    #[test]
    fn the_visitor_reads_the_same_rules_from_fields() {
        use tracing_core::field::Visit;
        struct Refused;
        impl std::fmt::Display for Refused {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("refused")
            }
        }
        impl std::fmt::Debug for Refused {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("Refused")
            }
        }
        impl std::error::Error for Refused {}

        struct Callsite;
        impl tracing_core::Callsite for Callsite {
            fn set_interest(&self, _: tracing_core::Interest) {}
            fn metadata(&self) -> &tracing_core::Metadata<'_> {
                &METADATA
            }
        }
        static CALLSITE: Callsite = Callsite;
        static METADATA: tracing_core::Metadata<'static> = tracing_core::metadata! {
            name: "span",
            target: "test",
            level: Level::INFO,
            fields: &["error", "otel.status_code", "otel.status_description", "other"],
            callsite: &CALLSITE,
            kind: tracing_core::metadata::Kind::SPAN,
        };
        let field = |name: &str| METADATA.fields().field(name).expect("declared");
        assert!(SpanOutcome::reads_any(METADATA.fields()));

        let mut outcome = SpanOutcome::default();
        let mut visitor = OutcomeFields(&mut outcome);
        visitor.record_debug(&field("error"), &Option::<u8>::None);
        visitor.record_str(&field("other"), "error");
        assert_eq!(outcome.verdict(), Verdict::Unset);

        let mut visitor = OutcomeFields(&mut outcome);
        visitor.record_error(&field("error"), &Refused);
        assert_eq!(outcome.description(), Some("refused"));

        let mut visitor = OutcomeFields(&mut outcome);
        visitor.record_u64(&field("error"), 0);
        assert!(!outcome.failed());

        OutcomeFields(&mut outcome).record_debug(&field("otel.status_code"), &"ERROR");
        assert!(!outcome.failed(), "a Debug-quoted code is not a code");
        let mut visitor = OutcomeFields(&mut outcome);
        visitor.record_str(&field("otel.status_code"), "ERROR");
        visitor.record_str(&field("otel.status_description"), "declined");
        assert_eq!(outcome.description(), Some("declined"));
    }
}
