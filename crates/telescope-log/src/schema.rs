//! The names of the keys a JSON line uses, how levels are spelled, and presets for the
//! schemas log platforms expect (ECS, Google Cloud Logging).

use std::borrow::Cow;

use tracing_core::Level;

/// A key the layer writes itself. Each can be renamed with
/// [`JsonLayerBuilder::key`](crate::JsonLayerBuilder::key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Key {
    /// The event time (default `timestamp`).
    Timestamp,
    /// The level (default `level`).
    Level,
    /// The event's message (default `message`).
    Message,
    /// The event's target (default `target`).
    Target,
    /// The current span object (default `span`).
    Span,
    /// The span list, root first (default `spans`).
    Spans,
    /// The name inside a span object (default `name`).
    SpanName,
    /// The trace id (default `trace_id`).
    TraceId,
    /// The span id (default `span_id`).
    SpanId,
    /// The source file (default `file`).
    File,
    /// The source line (default `line`).
    Line,
    /// The thread's name (default `thread_name`).
    ThreadName,
    /// The thread's id (default `thread_id`).
    ThreadId,
}

impl Key {
    /// Every key, in index order.
    pub(crate) const ALL: [Key; 13] = [
        Key::Timestamp,
        Key::Level,
        Key::Message,
        Key::Target,
        Key::Span,
        Key::Spans,
        Key::SpanName,
        Key::TraceId,
        Key::SpanId,
        Key::File,
        Key::Line,
        Key::ThreadName,
        Key::ThreadId,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    fn default_name(self) -> &'static str {
        match self {
            Key::Timestamp => "timestamp",
            Key::Level => "level",
            Key::Message => "message",
            Key::Target => "target",
            Key::Span => "span",
            Key::Spans => "spans",
            Key::SpanName => "name",
            Key::TraceId => "trace_id",
            Key::SpanId => "span_id",
            Key::File => "file",
            Key::Line => "line",
            Key::ThreadName => "thread_name",
            Key::ThreadId => "thread_id",
        }
    }
}

/// How a level is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LevelStyle {
    /// `"TRACE"`, `"DEBUG"`, `"INFO"`, `"WARN"`, `"ERROR"` (the default).
    #[default]
    Uppercase,
    /// `"trace"` … `"error"`.
    Lowercase,
    /// Google Cloud Logging severities: `"DEBUG"` (for trace and debug), `"INFO"`,
    /// `"WARNING"`, `"ERROR"`.
    GcpSeverity,
    /// The OpenTelemetry severity number as an integer: 1, 5, 9, 13, 17.
    OtelSeverityNumber,
}

impl LevelStyle {
    /// The JSON value for `level`.
    pub(crate) fn json_value(self, level: Level) -> &'static str {
        let index = level_index(level);
        match self {
            LevelStyle::Uppercase => [
                "\"TRACE\"",
                "\"DEBUG\"",
                "\"INFO\"",
                "\"WARN\"",
                "\"ERROR\"",
            ][index],
            LevelStyle::Lowercase => [
                "\"trace\"",
                "\"debug\"",
                "\"info\"",
                "\"warn\"",
                "\"error\"",
            ][index],
            LevelStyle::GcpSeverity => [
                "\"DEBUG\"",
                "\"DEBUG\"",
                "\"INFO\"",
                "\"WARNING\"",
                "\"ERROR\"",
            ][index],
            LevelStyle::OtelSeverityNumber => ["1", "5", "9", "13", "17"][index],
        }
    }
}

/// 0 for TRACE up to 4 for ERROR.
pub(crate) fn level_index(level: Level) -> usize {
    match level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        Level::WARN => 3,
        Level::ERROR => 4,
    }
}

/// A named output schema: key names, level style and static fields in one go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Schema {
    /// telescope's own keys: `timestamp`, `level`, `message`, `target`, `span`, `spans`,
    /// `trace_id`, `span_id`.
    #[default]
    Default,
    /// Elastic Common Schema (ecs-logging): `@timestamp`, `log.level`, `message`,
    /// `log.logger`, `trace.id`, `span.id`, `log.origin.file.*`, and `ecs.version`.
    Ecs,
    /// Google Cloud Logging structured logs: `severity` with GCP's level names, and the
    /// trace and span ids under `logging.googleapis.com/trace` and `…/spanId`.
    Gcp,
}

/// The ECS version written by [`Schema::Ecs`].
pub const ECS_VERSION: &str = "8.11.0";

impl Schema {
    pub(crate) fn key_names(self) -> KeyNames {
        let mut names = KeyNames::default();
        let renames: &[(Key, &'static str)] = match self {
            Schema::Default => &[],
            Schema::Ecs => &[
                (Key::Timestamp, "@timestamp"),
                (Key::Level, "log.level"),
                (Key::Target, "log.logger"),
                (Key::TraceId, "trace.id"),
                (Key::SpanId, "span.id"),
                (Key::File, "log.origin.file.name"),
                (Key::Line, "log.origin.file.line"),
                (Key::ThreadName, "process.thread.name"),
                (Key::ThreadId, "process.thread.id"),
            ],
            Schema::Gcp => &[
                (Key::Level, "severity"),
                (Key::TraceId, "logging.googleapis.com/trace"),
                (Key::SpanId, "logging.googleapis.com/spanId"),
            ],
        };
        for &(key, name) in renames {
            names.names[key.index()] = Cow::Borrowed(name);
        }
        names
    }

    pub(crate) fn level_style(self) -> LevelStyle {
        match self {
            Schema::Gcp => LevelStyle::GcpSeverity,
            Schema::Default | Schema::Ecs => LevelStyle::Uppercase,
        }
    }

    pub(crate) fn static_fields(self) -> Vec<(Cow<'static, str>, Cow<'static, str>)> {
        match self {
            Schema::Ecs => vec![(Cow::Borrowed("ecs.version"), Cow::Borrowed(ECS_VERSION))],
            Schema::Default | Schema::Gcp => Vec::new(),
        }
    }
}

/// The name of every [`Key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyNames {
    names: [Cow<'static, str>; 13],
}

impl Default for KeyNames {
    fn default() -> Self {
        Self {
            names: Key::ALL.map(|key| Cow::Borrowed(key.default_name())),
        }
    }
}

impl KeyNames {
    pub(crate) fn get(&self, key: Key) -> &str {
        &self.names[key.index()]
    }

    pub(crate) fn set(&mut self, key: Key, name: Cow<'static, str>) {
        self.names[key.index()] = name;
    }

    /// The key (other than `except`) already called `name`, if any.
    pub(crate) fn holder_of(&self, name: &str, except: Key) -> Option<Key> {
        Key::ALL
            .into_iter()
            .find(|&key| key != except && self.get(key) == name)
    }
}
