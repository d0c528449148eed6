//! [`JsonLayer`]: one JSON object per event, correlated with the trace, written fast.

mod builder;
mod format;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write as _};
use std::sync::Arc;
use std::time::SystemTime;

use rustc_hash::FxBuildHasher;
use telescope_core::{find_ids, SpanContext};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use tracing_subscriber::Layer;

pub use builder::{JsonConfigError, JsonLayerBuilder};
use format::LineFormat;

use crate::escape::quoted_into;
use crate::plan::{FieldPlan, PlannedSink};
use crate::report::LossReport;
use crate::schema::level_index;
use crate::span_fields::{SpanFields, SpanSink};
use crate::timestamp::write_timestamp;
use crate::visit::{JsonVisitor, KeyLedger};

/// A source of the current time, for tests that need a fixed clock.
type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A `tracing_subscriber::Layer` that writes each event as one line of JSON.
///
/// Each line holds the timestamp (RFC 3339 UTC with nanoseconds), level, the event's fields
/// flattened at the top level (its message under `message`), target, the current span and the
/// span list with their fields, and `trace_id`/`span_id` whenever a
/// [`SpanContext`](telescope_core::SpanContext) is in the extensions of the event's span or an
/// ancestor. Every string is escaped, so any input yields valid JSON; a field whose name
/// collides with one of the layer's keys or an earlier field is written as `fields.<name>`,
/// so no key appears twice. Fields named in the [`Redaction`](crate::Redaction) list are written as
/// `"[REDACTED]"`.
///
/// A span's fields are serialized once, when they are recorded, and copied into each line;
/// lines are built in a reusable per-thread buffer and handed to the writer in one call.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// use telescope_log::JsonLayer;
///
/// let layer = JsonLayer::builder().static_field("service.name", "checkout").build();
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("request", user_id = 42);
///     let _entered = span.enter();
///     tracing::info!(items = 3, password = "hunter2", "order placed");
/// });
/// // {"timestamp":"…","level":"INFO","message":"order placed","items":3,
/// //  "password":"[REDACTED]","target":"…","service.name":"checkout",
/// //  "span":{"name":"request","user_id":42},"spans":[{"name":"request","user_id":42}]}
/// ```
pub struct JsonLayer<W = fn() -> io::Stdout> {
    format: LineFormat,
    writer: W,
    /// Distinguishes this layer's span fields from another JSON layer's in the same registry.
    layer_id: u64,
    loss: LossReport,
}

impl<W> JsonLayer<W> {
    fn from_parts(format: LineFormat, writer: W, layer_id: u64) -> Self {
        Self {
            format,
            writer,
            layer_id,
            loss: LossReport::default(),
        }
    }
}

impl<W> fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayer")
            .field("layer_id", &self.layer_id)
            .finish_non_exhaustive()
    }
}

impl JsonLayer {
    /// A builder with the defaults: stdout, telescope's key names, RFC 3339 nanosecond
    /// timestamps, current span and span list on, the default redaction list.
    pub fn builder() -> JsonLayerBuilder {
        JsonLayerBuilder::default()
    }
}

/// The span fields of every JSON layer in one registry, keyed by layer id. Almost always one.
#[derive(Debug)]
struct SpanFieldsByLayer {
    first: (u64, SpanFields),
    others: Vec<(u64, SpanFields)>,
}

impl SpanFieldsByLayer {
    fn get(&self, layer_id: u64) -> Option<&SpanFields> {
        if self.first.0 == layer_id {
            return Some(&self.first.1);
        }
        self.others
            .iter()
            .find(|(id, _)| *id == layer_id)
            .map(|(_, fields)| fields)
    }

    fn get_mut(&mut self, layer_id: u64) -> Option<&mut SpanFields> {
        if self.first.0 == layer_id {
            return Some(&mut self.first.1);
        }
        self.others
            .iter_mut()
            .find(|(id, _)| *id == layer_id)
            .map(|(_, fields)| fields)
    }
}

/// Per-thread buffers reused from one event to the next, and the field plans of the
/// callsites seen on this thread, keyed by (layer, callsite metadata address).
#[derive(Default)]
struct Scratch {
    line: Vec<u8>,
    written_keys: Vec<(u32, u32)>,
    plans: HashMap<(u64, usize), FieldPlan, FxBuildHasher>,
}

/// Plans kept per thread at most; a program has a bounded number of callsites, so this only
/// matters for callsites made at run time, and then the cache simply starts over.
const MAX_PLANS: usize = 4096;

/// Deeper span trees are written without recursion.
const MAX_SPAN_RECURSION: usize = 32;

/// Above this capacity the line buffer is given back after use, so that one huge event does
/// not pin memory on the thread.
const KEEP_CAPACITY: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    static THREAD_ID: Box<[u8]> = thread_id_digits();
}

/// A trace id and span id.
type Ids = (telescope_core::TraceId, telescope_core::SpanId);

/// The number inside `ThreadId(N)`.
fn thread_id_digits() -> Box<[u8]> {
    let debug = format!("{:?}", std::thread::current().id());
    debug.bytes().filter(u8::is_ascii_digit).collect()
}

impl<W> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn fields_of<'a, S>(&self, span: &SpanRef<'a, S>, visit: impl FnOnce(Option<&SpanFields>))
    where
        S: Subscriber + for<'l> LookupSpan<'l>,
    {
        let extensions = span.extensions();
        visit(
            extensions
                .get::<SpanFieldsByLayer>()
                .and_then(|all| all.get(self.layer_id)),
        );
    }

    /// `{"name":"span",fields...}` for a span whose fields are `fields`.
    fn write_span_object(&self, line: &mut Vec<u8>, name: &str, fields: Option<&SpanFields>) {
        match fields {
            Some(fields) => line.extend_from_slice(fields.open_object()),
            None => {
                line.push(b'{');
                line.extend_from_slice(&self.format.span_name_key);
                line.push(b':');
                quoted_into(line, name);
            }
        }
        line.push(b'}');
    }

    /// The span objects from the root down to `span`, comma-separated. Walks up through
    /// `parent()` (one registry lookup per ancestor) and writes on the way back down.
    /// Returns the ids of the nearest span at or above `span` that has a trace context, read
    /// on the same visit to each span's extensions (the leaf's are not read again when its
    /// object is already in the line).
    fn write_span_list<'a, S>(
        &self,
        line: &mut Vec<u8>,
        span: &SpanRef<'a, S>,
        depth: usize,
        leaf_object: Option<std::ops::Range<usize>>,
    ) -> Option<Ids>
    where
        S: Subscriber + for<'l> LookupSpan<'l>,
    {
        let mut nearest = None;
        if let Some(parent) = span.parent() {
            if depth < MAX_SPAN_RECURSION {
                nearest = self.write_span_list(line, &parent, depth + 1, None);
            } else {
                for (index, ancestor) in parent.scope().from_root().enumerate() {
                    if index > 0 {
                        line.push(b',');
                    }
                    self.fields_of(&ancestor, |f| {
                        self.write_span_object(line, ancestor.name(), f)
                    });
                }
                nearest = find_ids(&parent);
            }
            line.push(b',');
        }
        match leaf_object {
            // The leaf's object is already in the line, under the current-span key.
            Some(range) => line.extend_from_within(range),
            None => {
                let extensions = span.extensions();
                if let Some(context) = extensions.get::<SpanContext>() {
                    nearest = Some((context.trace_id(), context.span_id()));
                }
                let fields = extensions
                    .get::<SpanFieldsByLayer>()
                    .and_then(|all| all.get(self.layer_id));
                self.write_span_object(line, span.name(), fields);
            }
        }
        nearest
    }

    fn write_ids(&self, line: &mut Vec<u8>, (trace_id, span_id): Ids) {
        line.extend_from_slice(&self.format.trace_id_key);
        line.push(b'"');
        line.extend_from_slice(&trace_id.to_hex());
        line.push(b'"');
        line.extend_from_slice(&self.format.span_id_key);
        line.push(b'"');
        line.extend_from_slice(&span_id.to_hex());
        line.push(b'"');
    }

    /// Builds the line in `scratch.line` and returns where it starts in that buffer: the
    /// members in the schema's order (time and level, the event's fields, where it came from,
    /// its span context, baggage).
    fn write_line<S>(
        &self,
        event: &Event<'_>,
        shown: &tracing_core::Metadata<'_>,
        ctx: &Context<'_, S>,
        scratch: &mut Scratch,
    ) -> usize
    where
        S: Subscriber + for<'l> LookupSpan<'l>,
    {
        let format = &self.format;
        scratch.line.clear();
        scratch.written_keys.clear();
        // Every member is written with a leading comma; the first comma becomes the `{`.
        scratch.line.push(b'{');
        if let Some((key, timestamp_format)) = &format.timestamp {
            scratch.line.extend_from_slice(key);
            let now = format
                .clock
                .as_ref()
                .map_or_else(SystemTime::now, |clock| clock());
            write_timestamp(&mut scratch.line, now, *timestamp_format);
        }
        if let Some(levels) = &format.levels {
            scratch
                .line
                .extend_from_slice(&levels[level_index(*shown.level())]);
        }
        self.write_event_fields(event, shown, scratch);
        self.write_origin(&mut scratch.line, shown);
        if let Some(leaf) = ctx.event_span(event) {
            self.write_span_context(&mut scratch.line, &mut scratch.written_keys, &leaf);
            if !format.baggage_fields.is_empty() {
                self.write_baggage(&mut scratch.line, &mut scratch.written_keys, &leaf);
            }
        }
        let line = &mut scratch.line;
        line.extend_from_slice(b"}\n");
        if line[1] == b',' {
            line[1] = b'{';
            1
        } else {
            // No member at all: the buffer already reads "{}\n".
            0
        }
    }

    /// The event's fields, through the callsite's cached field plan.
    #[inline]
    fn write_event_fields(
        &self,
        event: &Event<'_>,
        shown: &tracing_core::Metadata<'_>,
        scratch: &mut Scratch,
    ) {
        let format = &self.format;
        let Scratch {
            line,
            written_keys,
            plans,
        } = scratch;
        // The callsite's own metadata keys the field plan; `shown` is the normalized one (a
        // record bridged from the `log` crate shows its real level, target, file and line).
        let metadata = event.metadata();
        let from_log = !std::ptr::eq(shown, metadata);
        if plans.len() >= MAX_PLANS {
            plans.clear();
        }
        let plan = plans
            .entry((self.layer_id, std::ptr::from_ref(metadata) as usize))
            .or_insert_with(|| {
                FieldPlan::new(
                    metadata.fields(),
                    &format.message_key,
                    &format.reserved,
                    &format.redaction,
                    from_log,
                )
            });
        debug_assert_eq!(plan.len(), metadata.fields().len());
        let mut sink = PlannedSink {
            line,
            plan,
            written: written_keys,
            redaction: &format.redaction,
        };
        event.record(&mut JsonVisitor(&mut sink));
    }

    /// Where the event came from: target, the static fields, file and line, thread.
    #[inline]
    fn write_origin(&self, line: &mut Vec<u8>, shown: &tracing_core::Metadata<'_>) {
        let format = &self.format;
        if let Some(key) = &format.target_key {
            line.extend_from_slice(key);
            quoted_into(line, shown.target());
        }
        line.extend_from_slice(&format.static_fields);
        if let (Some(file_key), Some(file)) = (&format.file_key, shown.file()) {
            line.extend_from_slice(file_key);
            quoted_into(line, file);
        }
        if let (Some(line_key), Some(number)) = (&format.line_key, shown.line()) {
            line.extend_from_slice(line_key);
            line.extend_from_slice(itoa::Buffer::new().format(number).as_bytes());
        }
        if let Some(key) = &format.thread_name_key {
            if let Some(name) = std::thread::current().name() {
                line.extend_from_slice(key);
                quoted_into(line, name);
            }
        }
        if let Some(key) = &format.thread_id_key {
            line.extend_from_slice(key);
            THREAD_ID.with(|digits| line.extend_from_slice(digits));
        }
    }

    /// The trace and span ids of the event's span, and its fields: flattened, or as the
    /// current span object and the span list.
    #[inline]
    fn write_span_context<S>(
        &self,
        line: &mut Vec<u8>,
        written_keys: &mut Vec<(u32, u32)>,
        leaf: &SpanRef<'_, S>,
    ) where
        S: Subscriber + for<'l> LookupSpan<'l>,
    {
        let format = &self.format;
        if format.flatten_span_fields {
            if let Some(ids) = find_ids(leaf) {
                self.write_ids(line, ids);
            }
            self.write_flattened_spans(line, written_keys, leaf);
            return;
        }
        // One look at the leaf's extensions gives its ids (the OTLP layer puts a context on
        // every span) and its fields.
        let mut leaf_object = None;
        let ids_on_leaf = {
            let extensions = leaf.extensions();
            let ids = extensions
                .get::<SpanContext>()
                .map(|cx| (cx.trace_id(), cx.span_id()));
            if let Some(ids) = ids {
                self.write_ids(line, ids);
            }
            if let Some(key) = &format.current_span_key {
                line.extend_from_slice(key);
                let fields = extensions
                    .get::<SpanFieldsByLayer>()
                    .and_then(|all| all.get(self.layer_id));
                let start = line.len();
                self.write_span_object(line, leaf.name(), fields);
                leaf_object = Some(start..line.len());
            }
            ids.is_some()
        };
        let ids_above = match &format.span_list_key {
            Some(key) => {
                line.extend_from_slice(key);
                let ids_above = self.write_span_list(line, leaf, 0, leaf_object);
                line.push(b']');
                ids_above
            }
            None if !ids_on_leaf => leaf.parent().and_then(|parent| find_ids(&parent)),
            None => None,
        };
        if let (false, Some(ids)) = (ids_on_leaf, ids_above) {
            self.write_ids(line, ids);
        }
    }

    /// The configured baggage keys that the baggage of `leaf`'s scope holds.
    fn write_baggage<'a, S>(
        &self,
        line: &mut Vec<u8>,
        written_keys: &mut Vec<(u32, u32)>,
        leaf: &SpanRef<'a, S>,
    ) where
        S: Subscriber + for<'l> LookupSpan<'l>,
    {
        let format = &self.format;
        let Some(baggage) = telescope_core::Baggage::find(leaf) else {
            return;
        };
        let mut ledger = KeyLedger {
            written: written_keys,
            reserved: &format.reserved,
        };
        for (key, quoted_key) in format.baggage_fields.iter() {
            let Some(value) = baggage.get(key) else {
                continue;
            };
            ledger.open_member(line, quoted_key);
            if format.redaction.matches(key) {
                quoted_into(line, telescope_core::REDACTED);
            } else {
                quoted_into(line, &format.redaction.scrub(value));
            }
        }
    }

    /// Span fields at the top level (innermost wins), and span names under the span keys.
    fn write_flattened_spans<'a, S>(
        &self,
        line: &mut Vec<u8>,
        written_keys: &mut Vec<(u32, u32)>,
        leaf: &SpanRef<'a, S>,
    ) where
        S: Subscriber + for<'l> LookupSpan<'l>,
    {
        let format = &self.format;
        for span in leaf.scope() {
            self.fields_of(&span, |fields| {
                let Some(fields) = fields else { return };
                let mut ledger = KeyLedger {
                    written: written_keys,
                    reserved: &format.reserved,
                };
                for (key, value) in fields.members() {
                    if ledger.was_written(line, &key[1..key.len() - 1]) {
                        continue;
                    }
                    ledger.open_member(line, key);
                    line.extend_from_slice(value);
                }
            });
        }
        if let Some(key) = &format.current_span_key {
            line.extend_from_slice(key);
            quoted_into(line, leaf.name());
        }
        if let Some(key) = &format.span_list_key {
            line.extend_from_slice(key);
            for (index, span) in leaf.scope().from_root().enumerate() {
                if index > 0 {
                    line.push(b',');
                }
                quoted_into(line, span.name());
            }
            line.push(b']');
        }
    }

    /// Writes `line` to the writer chosen for `shown` (a `log` record's real level).
    fn emit(&self, shown: &tracing_core::Metadata<'_>, line: &[u8]) {
        let mut writer = self.writer.make_writer_for(shown);
        if let Err(error) = writer.write_all(line) {
            self.loss.write_error(&error);
            self.loss.dropped(1, crate::report::DropReason::WriteError);
        }
    }
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'l> LookupSpan<'l>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::new(&self.format.span_name_key, attrs.metadata().name());
        let name_key = &self.format.span_name_key[1..self.format.span_name_key.len() - 1];
        let mut sink = SpanSink {
            fields: &mut fields,
            name_key,
            redaction: &self.format.redaction,
            key: Vec::new(),
            value: Vec::new(),
        };
        attrs.record(&mut JsonVisitor(&mut sink));
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFieldsByLayer>() {
            Some(all) => all.others.push((self.layer_id, fields)),
            None => extensions.insert(SpanFieldsByLayer {
                first: (self.layer_id, fields),
                others: Vec::new(),
            }),
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // The values are formatted (user code runs, and may log) before the lock is taken.
        let mut updates = SpanFields::updates();
        let name_key = &self.format.span_name_key[1..self.format.span_name_key.len() - 1];
        let mut sink = SpanSink {
            fields: &mut updates,
            name_key,
            redaction: &self.format.redaction,
            key: Vec::new(),
            value: Vec::new(),
        };
        values.record(&mut JsonVisitor(&mut sink));
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions
            .get_mut::<SpanFieldsByLayer>()
            .and_then(|all| all.get_mut(self.layer_id))
        {
            fields.merge(&updates);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Once per event: a record bridged from the `log` crate has its real metadata here.
        let normalized = event.normalized_metadata();
        let shown = normalized.as_ref().unwrap_or(event.metadata());
        let reused = SCRATCH.try_with(|cell| {
            // A writer or a Debug impl that logs re-enters here: it gets a fresh buffer.
            let Ok(mut scratch) = cell.try_borrow_mut() else {
                return false;
            };
            let start = self.write_line(event, shown, &ctx, &mut scratch);
            self.emit(shown, &scratch.line[start..]);
            if scratch.line.capacity() > KEEP_CAPACITY {
                scratch.line = Vec::new();
            }
            true
        });
        if reused != Ok(true) {
            let mut scratch = Scratch::default();
            let start = self.write_line(event, shown, &ctx, &mut scratch);
            self.emit(shown, &scratch.line[start..]);
        }
    }
}
