//! The line's shape compiled once into the pre-escaped bytes copied for each event.

use tracing_core::Level;

use super::builder::JsonLayerBuilder;
use super::Clock;
use crate::escape::{escape_into, quoted, quoted_into};
use crate::redact::Redaction;
use crate::schema::Key;
use crate::timestamp::TimestampFormat;
use crate::visit::KeyLedger;

/// Everything about the line's shape, pre-escaped into the bytes that are copied per event.
pub(super) struct LineFormat {
    pub(super) timestamp: Option<(Box<[u8]>, TimestampFormat)>,
    pub(super) clock: Option<Clock>,
    /// `,"level":"INFO"` for each level, TRACE first.
    pub(super) levels: Option<[Box<[u8]>; 5]>,
    pub(super) message_key: Box<[u8]>,
    pub(super) target_key: Option<Box<[u8]>>,
    pub(super) file_key: Option<Box<[u8]>>,
    pub(super) line_key: Option<Box<[u8]>>,
    pub(super) thread_name_key: Option<Box<[u8]>>,
    pub(super) thread_id_key: Option<Box<[u8]>>,
    pub(super) static_fields: Box<[u8]>,
    /// Baggage keys to write, each with its quoted form (`"tenant"`).
    pub(super) baggage_fields: Box<[(String, Box<[u8]>)]>,
    pub(super) trace_id_key: Box<[u8]>,
    pub(super) span_id_key: Box<[u8]>,
    pub(super) current_span_key: Option<Box<[u8]>>,
    pub(super) span_list_key: Option<Box<[u8]>>,
    pub(super) flatten_span_fields: bool,
    /// The span-name key, quoted.
    pub(super) span_name_key: Box<[u8]>,
    /// Top-level keys that event fields may not take, escaped, unquoted.
    pub(super) reserved: Vec<Box<[u8]>>,
    pub(super) redaction: Redaction,
}

/// `,"name":` as bytes.
fn member_prefix(name: &str) -> Box<[u8]> {
    let mut out = vec![b','];
    quoted_into(&mut out, name);
    out.push(b':');
    out.into_boxed_slice()
}

fn unquoted(name: &str) -> Box<[u8]> {
    let mut out = Vec::new();
    escape_into(&mut out, name);
    out.into_boxed_slice()
}

impl LineFormat {
    // One function (~85 lines): one table, every member of a line and its key as the builder
    // set it, in the order the line is written.
    pub(super) fn compile<W>(config: &JsonLayerBuilder<W>) -> Self {
        let keys = &config.keys;
        let key = |k: Key| member_prefix(keys.get(k));
        let when = |on: bool, k: Key| on.then(|| key(k));
        let mut reserved: Vec<Box<[u8]>> = Vec::new();
        let mut reserve = |on: bool, k: Key| {
            if on {
                reserved.push(unquoted(keys.get(k)));
            }
        };
        reserve(config.timestamp.is_some(), Key::Timestamp);
        reserve(config.level, Key::Level);
        reserve(true, Key::Message);
        reserve(config.target, Key::Target);
        reserve(config.file_and_line, Key::File);
        reserve(config.file_and_line, Key::Line);
        reserve(config.thread_names, Key::ThreadName);
        reserve(config.thread_ids, Key::ThreadId);
        reserve(true, Key::TraceId);
        reserve(true, Key::SpanId);
        reserve(config.current_span, Key::Span);
        reserve(config.span_list, Key::Spans);

        // Static fields are settled like event fields, then reserved against them.
        let mut static_fields = vec![b' '];
        let mut written = Vec::new();
        for (name, value) in &config.static_fields {
            static_fields.push(b',');
            let start = static_fields.len();
            quoted_into(&mut static_fields, name);
            KeyLedger {
                written: &mut written,
                reserved: &reserved,
            }
            .settle(&mut static_fields, start, true);
            static_fields.push(b':');
            quoted_into(&mut static_fields, value);
        }
        for &(start, end) in &written {
            reserved.push(static_fields[start as usize..end as usize].into());
        }

        let level_key = key(Key::Level);
        let levels = config.level.then(|| {
            [
                Level::TRACE,
                Level::DEBUG,
                Level::INFO,
                Level::WARN,
                Level::ERROR,
            ]
            .map(|level| {
                let mut member = level_key.to_vec();
                member.extend_from_slice(config.level_style.json_value(level).as_bytes());
                member.into_boxed_slice()
            })
        });
        let mut span_list_key = key(Key::Spans).into_vec();
        span_list_key.push(b'[');
        Self {
            timestamp: config.timestamp.map(|format| (key(Key::Timestamp), format)),
            clock: config.clock.clone(),
            levels,
            message_key: unquoted(keys.get(Key::Message)),
            target_key: when(config.target, Key::Target),
            file_key: when(config.file_and_line, Key::File),
            line_key: when(config.file_and_line, Key::Line),
            thread_name_key: when(config.thread_names, Key::ThreadName),
            thread_id_key: when(config.thread_ids, Key::ThreadId),
            static_fields: static_fields[1..].into(),
            baggage_fields: config
                .baggage_fields
                .iter()
                .map(|key| (key.clone(), quoted(key).into_boxed_slice()))
                .collect(),
            trace_id_key: key(Key::TraceId),
            span_id_key: key(Key::SpanId),
            current_span_key: when(config.current_span, Key::Span),
            span_list_key: config.span_list.then(|| span_list_key.into_boxed_slice()),
            flatten_span_fields: config.flatten_span_fields,
            span_name_key: quoted(keys.get(Key::SpanName)).into_boxed_slice(),
            reserved,
            redaction: config.redaction.clone(),
        }
    }
}
