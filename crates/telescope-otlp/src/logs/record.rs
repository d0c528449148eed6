//! A `tracing` event as an OTLP `LogRecord`, encoded on the thread that logged it into
//! reusable thread-local buffers and copied out once: one allocation per record, no
//! intermediate attribute list, no per-field strings. The exporter only concatenates records.
//!
//! The layout is `opentelemetry/proto/logs/v1/logs.proto`'s `LogRecord`, fields in tag order.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{self, Write as _};

use telescope_core::{Redaction, REDACTED};
use tracing_core::field::{Field, Visit};
use tracing_core::Level;

use crate::export::proto::{nanos, Out};

/// One log record, encoded as the bytes of an OTLP `LogRecord` message (without its tag and
/// length), with the instrumentation scope it belongs to (the event's target). What a
/// [`LogExport`](crate::LogExport) receives in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedLog {
    scope: Cow<'static, str>,
    encoded: Vec<u8>,
}

impl EncodedLog {
    /// The instrumentation scope's name: the event's target (`my_crate::orders`).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The `LogRecord` message's bytes, to decode with `opentelemetry-proto`'s `LogRecord`.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// Its buffer, emptied, for the next record: `None` when it grew too large to keep.
    pub(crate) fn into_buffer(self) -> Option<Vec<u8>> {
        let mut buffer = self.encoded;
        buffer.clear();
        (buffer.capacity() <= MAX_KEPT_BUFFER).then_some(buffer)
    }
}

/// Buffers larger than this are freed rather than reused: one huge record must not pin its
/// memory for good.
const MAX_KEPT_BUFFER: usize = 4096;

/// The OTLP severity number of a `tracing` level (the first number of each range).
pub(crate) fn severity(level: Level) -> (u64, &'static str) {
    match level {
        Level::TRACE => (1, "TRACE"),
        Level::DEBUG => (5, "DEBUG"),
        Level::INFO => (9, "INFO"),
        Level::WARN => (13, "WARN"),
        Level::ERROR => (17, "ERROR"),
    }
}

/// The trace an event belongs to: ids and W3C flags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceIds {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) flags: u8,
}

/// What the layer knows of an event besides its fields.
pub(crate) struct EventFacts<'a> {
    /// The event's callsite metadata: which of its fields have secret names is worked out
    /// once per callsite and layer.
    pub(crate) metadata: &'static tracing_core::Metadata<'static>,
    pub(crate) time: std::time::SystemTime,
    pub(crate) level: Level,
    pub(crate) scope: Cow<'static, str>,
    pub(crate) trace: Option<TraceIds>,
    /// A bridged `log` record: its `log.*` fields are already in level and target.
    pub(crate) from_log: bool,
    pub(crate) redaction: &'a Redaction,
    pub(crate) max_attributes: usize,
}

/// Which fields of one callsite have secret names: bit `i` for the field of index `i`
/// (fields past 64 are looked up each time).
type SecretMask = u64;

/// The most callsites whose secret masks a thread keeps (then it starts over).
const MAX_MASKS: usize = 4096;

/// The buffers one thread reuses for every record.
#[derive(Default)]
struct Scratch {
    /// For formatting `Debug` values.
    text: String,
    /// By (redaction policy, callsite metadata) address.
    masks: rustc_hash::FxHashMap<(usize, usize), SecretMask>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Encodes the event whose fields `record` visits into `buffer` (a reused one, or empty).
pub(crate) fn encode(
    facts: &EventFacts<'_>,
    buffer: Vec<u8>,
    record: impl FnOnce(&mut dyn Visit),
) -> EncodedLog {
    let mut record = Some(record);
    let mut buffer = Some(buffer);
    let mut run = |scratch: &mut Scratch| {
        let record = record.take();
        encode_into(
            scratch,
            facts,
            buffer.take().unwrap_or_default(),
            |visitor| {
                if let Some(record) = record {
                    record(visitor);
                }
            },
        )
    };
    let encoded = SCRATCH
        .try_with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => run(&mut scratch),
            // Re-entered (a field's `Debug` logged): buffers of its own.
            Err(_) => run(&mut Scratch::default()),
        })
        .unwrap_or_else(|_| run(&mut Scratch::default()));
    EncodedLog {
        scope: facts.scope.clone(),
        encoded,
    }
}

/// Bit `i` set when field `i` of `metadata` has a secret name (`message` never has).
fn secret_mask(redaction: &Redaction, metadata: &tracing_core::Metadata<'_>) -> SecretMask {
    metadata
        .fields()
        .iter()
        .take(64)
        .enumerate()
        .filter(|(_, field)| field.name() != "message" && redaction.matches(field.name()))
        .fold(0, |mask, (index, _)| mask | 1 << index)
}

/// Writes the record into `out`: time and severity, then the fields as they are visited
/// (the body and the attributes: protobuf takes fields in any order), then the counts, the
/// trace context and the observed time.
fn encode_into(
    scratch: &mut Scratch,
    facts: &EventFacts<'_>,
    mut out: Vec<u8>,
    record: impl FnOnce(&mut dyn Visit),
) -> Vec<u8> {
    let Scratch { text, masks } = scratch;
    if masks.len() >= MAX_MASKS {
        masks.clear();
    }
    let key = (
        std::ptr::from_ref(facts.redaction) as usize,
        std::ptr::from_ref(facts.metadata) as usize,
    );
    let secrets = *masks
        .entry(key)
        .or_insert_with(|| secret_mask(facts.redaction, facts.metadata));
    out.clear();
    let mut head = Out(out);
    let time = nanos(facts.time);
    let (number, severity_text) = severity(facts.level);
    head.fixed64(1, time);
    head.uint(2, number);
    head.string(3, severity_text);
    let mut visitor = LogVisitor {
        out: head,
        count: 0,
        dropped: 0,
        text,
        secrets,
        from_log: facts.from_log,
        redaction: facts.redaction,
        max_attributes: facts.max_attributes,
    };
    record(&mut visitor);
    let LogVisitor {
        out: mut record,
        dropped,
        ..
    } = visitor;
    record.uint(7, dropped.into());
    if let Some(trace) = facts.trace {
        record.fixed32(8, trace.flags.into());
        record.bytes(9, &trace.trace_id);
        record.bytes(10, &trace.span_id);
    }
    // Observed when it happened: the event is recorded as it is emitted.
    record.fixed64(11, time);
    record.0
}

/// Writes an event's fields: `message` becomes the body, every other field an attribute;
/// secret names keep `[REDACTED]` (their values are never formatted), other text goes through
/// the value scanner, as on JSON lines.
struct LogVisitor<'a> {
    /// The record being written.
    out: Out,
    count: usize,
    dropped: u32,
    /// For formatting `Debug` values.
    text: &'a mut String,
    /// The callsite's fields with secret names.
    secrets: SecretMask,
    from_log: bool,
    redaction: &'a Redaction,
    max_attributes: usize,
}

/// `LogRecord.attributes`.
const ATTRIBUTES: u32 = 6;
/// `LogRecord.body`.
const BODY: u32 = 5;

impl LogVisitor<'_> {
    /// Room for one more attribute of this name (and it is not a bridged record's `log.*`).
    fn admit(&mut self, name: &str) -> bool {
        if self.from_log && name.starts_with("log.") {
            return false;
        }
        if self.count >= self.max_attributes {
            self.dropped += 1;
            return false;
        }
        self.count += 1;
        true
    }

    /// Writes `[REDACTED]` for a secret field and says so; the caller then skips the value.
    fn redacted(&mut self, field: &Field) -> bool {
        let secret = match field.index() {
            index @ 0..64 => self.secrets & (1 << index) != 0,
            _ => field.name() != "message" && self.redaction.matches(field.name()),
        };
        if secret && self.admit(field.name()) {
            self.out
                .string_key_value(ATTRIBUTES, field.name(), REDACTED);
        }
        secret
    }

    /// Text through the value scanner: the message becomes the body, anything else an
    /// attribute.
    fn text_field(&mut self, field: &Field, value: &str) {
        let clean = self.redaction.scrub(value);
        if field.name() == "message" {
            self.out.string_any_value(BODY, &clean);
        } else if self.admit(field.name()) {
            self.out.string_key_value(ATTRIBUTES, field.name(), &clean);
        }
    }

    /// An integer attribute; `[REDACTED]` for a secret name or a number that looks like a
    /// card number; text when it does not fit an `int64`.
    fn integer(&mut self, field: &Field, value: i128) {
        if self.redacted(field) {
            return;
        }
        if self.redaction.hides_number(value.unsigned_abs()) {
            if self.admit(field.name()) {
                self.out
                    .string_key_value(ATTRIBUTES, field.name(), REDACTED);
            }
            return;
        }
        match i64::try_from(value) {
            Ok(number) => {
                if self.admit(field.name()) {
                    self.out.int_key_value(ATTRIBUTES, field.name(), number);
                }
            }
            Err(_) => self.text_field(field, &value.to_string()),
        }
    }

    /// Formats `value` into the reused text buffer, then writes it as text.
    fn formatted(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let mut text = std::mem::take(self.text);
        text.clear();
        // A `Debug` or `Display` that fails leaves what it wrote.
        let _ = text.write_fmt(value);
        self.text_field(field, &text);
        *self.text = text;
    }
}

impl Visit for LogVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.redacted(field) {
            self.text_field(field, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.redacted(field) {
            self.formatted(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.redacted(field) {
            self.formatted(field, format_args!("{value}"));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, value.into());
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.integer(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match i128::try_from(value) {
            Ok(value) => self.integer(field, value),
            Err(_) if !self.redacted(field) => self.text_field(field, &value.to_string()),
            Err(_) => {}
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.redacted(field) && self.admit(field.name()) {
            self.out.double_key_value(ATTRIBUTES, field.name(), value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if !self.redacted(field) && self.admit(field.name()) {
            self.out.bool_key_value(ATTRIBUTES, field.name(), value);
        }
    }
}
