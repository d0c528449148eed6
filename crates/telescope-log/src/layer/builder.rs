//! [`JsonLayerBuilder`]: every option of the JSON layer, validated where it is given.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tracing_subscriber::fmt::MakeWriter;

use super::format::LineFormat;
use super::{Clock, JsonLayer};
use crate::redact::Redaction;
use crate::schema::{Key, KeyNames, LevelStyle, Schema};
use crate::timestamp::TimestampFormat;

/// Why a [`JsonLayerBuilder`] setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonConfigError {
    /// Two of the layer's own keys would have the same name.
    #[error("cannot name {key:?} {name:?}: {holder:?} already has that name")]
    KeyInUse {
        /// The key being renamed.
        key: Key,
        /// The name asked for.
        name: String,
        /// The key that already has it.
        holder: Key,
    },
}

/// Builds a [`JsonLayer`]. Start from [`JsonLayer::builder`].
#[must_use]
pub struct JsonLayerBuilder<W = fn() -> io::Stdout> {
    writer: W,
    pub(super) keys: KeyNames,
    pub(super) level_style: LevelStyle,
    pub(super) timestamp: Option<TimestampFormat>,
    pub(super) level: bool,
    pub(super) target: bool,
    pub(super) file_and_line: bool,
    pub(super) thread_names: bool,
    pub(super) thread_ids: bool,
    pub(super) current_span: bool,
    pub(super) span_list: bool,
    pub(super) flatten_span_fields: bool,
    pub(super) static_fields: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    pub(super) baggage_fields: Vec<String>,
    pub(super) redaction: Redaction,
    pub(super) clock: Option<Clock>,
}

impl<W> fmt::Debug for JsonLayerBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayerBuilder")
            .field("keys", &self.keys)
            .field("level_style", &self.level_style)
            .field("timestamp", &self.timestamp)
            .field("current_span", &self.current_span)
            .field("span_list", &self.span_list)
            .field("flatten_span_fields", &self.flatten_span_fields)
            .field("static_fields", &self.static_fields)
            .field("redaction", &self.redaction)
            .finish_non_exhaustive()
    }
}

impl Default for JsonLayerBuilder {
    fn default() -> Self {
        Self {
            writer: io::stdout,
            keys: KeyNames::default(),
            level_style: LevelStyle::default(),
            timestamp: Some(TimestampFormat::default()),
            level: true,
            target: true,
            file_and_line: false,
            thread_names: false,
            thread_ids: false,
            current_span: true,
            span_list: true,
            flatten_span_fields: false,
            static_fields: Vec::new(),
            baggage_fields: Vec::new(),
            redaction: Redaction::default(),
            clock: None,
        }
    }
}

impl<W> JsonLayerBuilder<W> {
    /// Where lines go: any `MakeWriter`, such as `std::io::stdout`, a
    /// [`NonBlocking`](crate::NonBlocking) writer or a [`RollingFileWriter`](crate::RollingFileWriter).
    /// Each line reaches the writer in one `write_all` call.
    pub fn writer<W2>(self, writer: W2) -> JsonLayerBuilder<W2>
    where
        W2: for<'w> MakeWriter<'w> + 'static,
    {
        JsonLayerBuilder {
            writer,
            keys: self.keys,
            level_style: self.level_style,
            timestamp: self.timestamp,
            level: self.level,
            target: self.target,
            file_and_line: self.file_and_line,
            thread_names: self.thread_names,
            thread_ids: self.thread_ids,
            current_span: self.current_span,
            span_list: self.span_list,
            flatten_span_fields: self.flatten_span_fields,
            static_fields: self.static_fields,
            baggage_fields: self.baggage_fields,
            redaction: self.redaction,
            clock: self.clock,
        }
    }

    /// Uses a named schema's key names, level style and static fields (replacing earlier
    /// renames; call it before [`key`](Self::key)).
    pub fn schema(mut self, schema: Schema) -> Self {
        self.keys = schema.key_names();
        self.level_style = schema.level_style();
        self.static_fields.extend(schema.static_fields());
        self
    }

    /// Renames one of the layer's own keys, e.g. `key(Key::Level, "severity")`.
    ///
    /// # Errors
    /// [`JsonConfigError::KeyInUse`] if another of the layer's keys already has that name.
    pub fn key(
        mut self,
        key: Key,
        name: impl Into<Cow<'static, str>>,
    ) -> Result<Self, JsonConfigError> {
        let name = name.into();
        if let Some(holder) = self.keys.holder_of(&name, key) {
            return Err(JsonConfigError::KeyInUse {
                key,
                name: name.into_owned(),
                holder,
            });
        }
        self.keys.set(key, name);
        Ok(self)
    }

    /// How levels are spelled.
    pub fn level_style(mut self, style: LevelStyle) -> Self {
        self.level_style = style;
        self
    }

    /// The timestamp format, or `None` to leave the timestamp out.
    pub fn timestamp(mut self, format: Option<TimestampFormat>) -> Self {
        self.timestamp = format;
        self
    }

    /// Whether to write the level (default on).
    pub fn level(mut self, on: bool) -> Self {
        self.level = on;
        self
    }

    /// Whether to write the event's target (default on).
    pub fn target(mut self, on: bool) -> Self {
        self.target = on;
        self
    }

    /// Whether to write the source file and line (default off).
    pub fn file_and_line(mut self, on: bool) -> Self {
        self.file_and_line = on;
        self
    }

    /// Whether to write the thread's name (default off).
    pub fn thread_names(mut self, on: bool) -> Self {
        self.thread_names = on;
        self
    }

    /// Whether to write the thread's id (default off).
    pub fn thread_ids(mut self, on: bool) -> Self {
        self.thread_ids = on;
        self
    }

    /// Whether to write the current span as an object with its name and fields (default on).
    /// With [`flatten_span_fields`](Self::flatten_span_fields), only its name.
    pub fn current_span(mut self, on: bool) -> Self {
        self.current_span = on;
        self
    }

    /// Whether to write the list of spans from the root to the current one, each with its
    /// name and fields (default on). With
    /// [`flatten_span_fields`](Self::flatten_span_fields), only their names.
    pub fn span_list(mut self, on: bool) -> Self {
        self.span_list = on;
        self
    }

    /// Writes the fields of every span in scope at the top level of the line, next to the
    /// event's own (default off). When names repeat, the event's field wins, then the
    /// innermost span's; the span objects then carry names only.
    pub fn flatten_span_fields(mut self, on: bool) -> Self {
        self.flatten_span_fields = on;
        self
    }

    /// A string field written on every line, e.g. `("service.name", "checkout")`. A name that
    /// collides with one of the layer's keys is written as `fields.<name>`.
    pub fn static_field(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.static_fields.push((key.into(), value.into()));
        self
    }

    /// Baggage keys written on every line of a request that carries them (`"tenant":"acme"`),
    /// from the baggage of the event's span or its nearest ancestor with some
    /// ([`telescope_core::Baggage`]). A secret key's value is `[REDACTED]`; a name that
    /// collides with a key already written becomes `fields.<name>`. None by default: baggage
    /// comes from callers, and which keys a log may hold is the service's decision.
    pub fn baggage_fields<K: Into<String>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.baggage_fields.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Which field names are redacted (default: [`Redaction::default`]).
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Uses `clock` instead of the system clock for timestamps (for tests).
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The layer.
    pub fn build(self) -> JsonLayer<W>
    where
        W: for<'w> MakeWriter<'w> + 'static,
    {
        static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);
        let format = LineFormat::compile(&self);
        JsonLayer::from_parts(
            format,
            self.writer,
            NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
        )
    }
}
