//! Test support: a capturing writer, a strict JSON parser, and events with field names
//! chosen at run time.

use std::io;
use std::sync::{Arc, Mutex};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use tracing_core::callsite::{Callsite, Identifier};
use tracing_core::field::{FieldSet, Value as TracingValue};
use tracing_core::{Event, Interest, Kind, Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// A `MakeWriter` that keeps everything written, for inspection.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("capture").clone()).expect("output is UTF-8")
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }

    /// Every line parsed strictly (duplicate keys are an error), as an ordered object.
    pub(crate) fn objects(&self) -> Vec<Object> {
        self.lines().iter().map(|line| parse_strict(line)).collect()
    }
}

pub(crate) struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl io::Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("capture").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = CaptureWriter;

    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(self.0.clone())
    }
}

/// A JSON object with its members in order and duplicates kept.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Object(pub(crate) Vec<(String, Value)>);

impl Object {
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }

    pub(crate) fn assert_unique_keys(&self) {
        let mut keys = self.keys();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "duplicate keys in {:?}", self.keys());
    }
}

/// Any JSON value, parsed so that a duplicate key in any object, at any depth, is an error.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some((key, StrictValue(value))) = map.next_entry::<String, StrictValue>()? {
            if members.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
            }
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = Object;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
                let mut members = Vec::new();
                while let Some((key, StrictValue(value))) =
                    map.next_entry::<String, StrictValue>()?
                {
                    members.push((key, value));
                }
                Ok(Object(members))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Parses one line as a JSON object, failing on invalid JSON or a duplicate key at any depth.
pub(crate) fn parse_strict(line: &str) -> Object {
    let object: Object =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("invalid JSON ({e}): {line}"));
    object.assert_unique_keys();
    object
}

struct DynamicCallsite;

impl Callsite for DynamicCallsite {
    fn set_interest(&self, _: Interest) {}
    fn metadata(&self) -> &Metadata<'_> {
        unreachable!("dynamic test events are dispatched directly")
    }
}

static DYNAMIC: DynamicCallsite = DynamicCallsite;

/// Dispatches an INFO event whose field names are only known at run time (tracing's macros
/// need them at compile time). Leaks the names and metadata, which is fine in tests.
pub(crate) fn dynamic_event<'v>(names: &[String], values: &[&'v (dyn TracingValue + 'v)]) {
    let names: &'static [&'static str] = Box::leak(
        names
            .iter()
            .map(|n| &*Box::leak(n.clone().into_boxed_str()))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let metadata: &'static Metadata<'static> = Box::leak(Box::new(Metadata::new(
        "dynamic",
        "dynamic_target",
        Level::INFO,
        None,
        None,
        None,
        FieldSet::new(names, Identifier(&DYNAMIC)),
        Kind::EVENT,
    )));
    let fields = metadata.fields();
    let field_list: Vec<tracing_core::Field> = fields.iter().collect();
    let pairs: Vec<(&tracing_core::Field, Option<&'v (dyn TracingValue + 'v)>)> = field_list
        .iter()
        .zip(values.iter())
        .map(|(field, value)| (field, Some(*value)))
        .collect();
    macro_rules! dispatch_with {
        ($($n:literal)*) => {
            match pairs.len() {
                $( $n => {
                    let Ok(array): Result<[_; $n], _> = pairs.clone().try_into() else {
                        unreachable!("the length was matched")
                    };
                    let values = fields.value_set(&array);
                    Event::dispatch(metadata, &values);
                } )*
                n => panic!("dynamic_event supports up to 8 fields, got {n}"),
            }
        };
    }
    dispatch_with!(0 1 2 3 4 5 6 7 8);
}

/// Runs `body` with a subscriber made of `layer` (built around a capture) and a layer that
/// puts a [`telescope_core::SpanContext`] on spans named `traced`; returns what was written.
pub(crate) fn capture(builder: telescope_log::JsonLayerBuilder, body: impl FnOnce()) -> Capture {
    use tracing_subscriber::layer::SubscriberExt;
    let out = Capture::default();
    let layer = builder.writer(out.clone()).build();
    let subscriber = tracing_subscriber::registry().with(MarkTraced).with(layer);
    tracing::subscriber::with_default(subscriber, body);
    out
}

/// The trace id [`MarkTraced`] gives every span it marks.
pub(crate) const TRACE_ID: u128 = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;

/// Puts a sampled `SpanContext` (trace [`TRACE_ID`], span id = the tracing id) on spans
/// named `traced`.
pub(crate) struct MarkTraced;

impl<S> tracing_subscriber::Layer<S> for MarkTraced
where
    S: tracing_core::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing_core::span::Attributes<'_>,
        id: &tracing_core::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != "traced" {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut()
                .insert(telescope_core::SpanContext::new(
                    telescope_core::TraceId::from_u128(TRACE_ID),
                    telescope_core::SpanId::from_u64(id.into_u64()),
                    telescope_core::TraceFlags::SAMPLED,
                    telescope_core::TraceState::EMPTY,
                ));
        }
    }
}
