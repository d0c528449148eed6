//! Zipkin v2 JSON export (`OTEL_TRACES_EXPORTER=zipkin`), by the OpenTelemetry specification's
//! "OpenTelemetry to Zipkin Transformation": ids in lower-case hex, times in microseconds,
//! attributes as string tags, events as annotations, the status in `otel.status_code` and
//! `error`, the scope in `otel.scope.name` / `otel.scope.version`, the service name in
//! `localEndpoint`. The specification deprecates Zipkin export (December 2026): new
//! deployments should send OTLP, which Zipkin servers take through `zipkin-otel` and
//! collectors through their Zipkin exporter.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{json, Map, Value as Json};

use super::config::{OtlpConfigError, OtlpExportConfig, OtlpProtocol};
use super::http::HttpTransport;
use super::pool::Pool;
use super::{Accepted, ExportError, SpanExport};

/// Where Zipkin listens unless told otherwise.
pub const DEFAULT_ZIPKIN_ENDPOINT: &str = "http://localhost:9411/api/v2/spans";

/// Where and how spans are sent to Zipkin.
#[derive(Debug, Clone, PartialEq)]
pub struct ZipkinConfig {
    /// The spans URL (`http://zipkin:9411/api/v2/spans`), `http://` or `https://`.
    pub endpoint: String,
    /// The time one request may take.
    pub timeout: Duration,
    /// `localEndpoint.serviceName` of every span.
    pub service_name: String,
    /// The other resource attributes, sent as tags of every span.
    pub resource: Vec<(String, String)>,
}

impl ZipkinConfig {
    /// Sends to `endpoint` as `service_name`, with a 10 s timeout.
    pub fn new(endpoint: impl Into<String>, service_name: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            timeout: Duration::from_secs(10),
            service_name: service_name.into(),
            resource: Vec::new(),
        }
    }

    /// Reads `OTEL_EXPORTER_ZIPKIN_ENDPOINT` (default [`DEFAULT_ZIPKIN_ENDPOINT`]) and
    /// `OTEL_EXPORTER_ZIPKIN_TIMEOUT` (milliseconds, default 10000) through `get`.
    ///
    /// # Errors
    /// [`OtlpConfigError`] naming a variable with an unusable value.
    pub fn from_env(
        service_name: impl Into<String>,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, OtlpConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let endpoint = match get("OTEL_EXPORTER_ZIPKIN_ENDPOINT") {
            None => DEFAULT_ZIPKIN_ENDPOINT.to_owned(),
            Some(url) => match url.parse::<http::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.host().is_some() =>
                {
                    url
                }
                _ => {
                    return Err(OtlpConfigError {
                        var: "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
                        value: url,
                        reason: "expected an http:// or https:// URL".to_owned(),
                    })
                }
            },
        };
        let timeout = match get("OTEL_EXPORTER_ZIPKIN_TIMEOUT") {
            None => Duration::from_secs(10),
            Some(text) => match text.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(OtlpConfigError {
                        var: "OTEL_EXPORTER_ZIPKIN_TIMEOUT",
                        value: text,
                        reason: "expected a positive number of milliseconds".to_owned(),
                    })
                }
            },
        };
        Ok(Self {
            endpoint,
            timeout,
            service_name: service_name.into(),
            resource: Vec::new(),
        })
    }

    /// Sets the resource: `service.name` becomes the service name, the rest tags.
    #[must_use]
    pub fn resource(mut self, resource: Vec<(String, String)>) -> Self {
        for (key, value) in resource {
            if key == "service.name" {
                self.service_name = value;
            } else {
                self.resource.push((key, value));
            }
        }
        self
    }
}

/// Sends batches of spans to Zipkin as v2 JSON, over the same HTTP client as OTLP.
pub struct ZipkinExport {
    config: ZipkinConfig,
    /// Its HTTP target, as the shared transport takes it.
    target: OtlpExportConfig,
    idle: Pool<HttpTransport>,
}

impl std::fmt::Debug for ZipkinExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZipkinExport")
            .field("endpoint", &self.config.endpoint)
            .finish_non_exhaustive()
    }
}

impl ZipkinExport {
    /// An exporter for `config`; nothing is connected until the first batch.
    pub fn new(config: ZipkinConfig) -> Self {
        let mut target = OtlpExportConfig::new(config.endpoint.clone(), OtlpProtocol::HttpProtobuf);
        target.timeout = config.timeout;
        Self {
            config,
            target,
            idle: Pool::default(),
        }
    }
}

impl SpanExport for ZipkinExport {
    fn export(&self, batch: &[Arc<SpanData>]) -> Result<Accepted, ExportError> {
        let body = serde_json::to_vec(&Json::Array(
            batch
                .iter()
                .map(|span| zipkin_span(span, &self.config))
                .collect(),
        ))
        .map_err(|e| ExportError::permanent(format!("cannot write the spans as JSON: {e}")))?;
        self.idle.with(
            || HttpTransport::new(&self.target, "application/json"),
            |transport| transport.send(body),
        )
    }
}

/// Microseconds since the epoch.
fn micros(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}

/// One span as Zipkin's v2 `Span`.
pub(crate) fn zipkin_span(span: &SpanData, config: &ZipkinConfig) -> Json {
    let context = &span.span_context;
    let mut out = Map::new();
    out.insert("traceId".into(), context.trace_id().to_string().into());
    out.insert("id".into(), context.span_id().to_string().into());
    if span.parent_span_id != SpanId::INVALID {
        out.insert("parentId".into(), span.parent_span_id.to_string().into());
    }
    out.insert("name".into(), span.name.as_ref().into());
    if let Some(kind) = match span.span_kind {
        SpanKind::Server => Some("SERVER"),
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
        SpanKind::Internal => None,
    } {
        out.insert("kind".into(), kind.into());
    }
    let start = micros(span.start_time);
    out.insert("timestamp".into(), start.into());
    // Zipkin reads a zero duration as unknown: a span that took less than a microsecond
    // took one.
    out.insert(
        "duration".into(),
        micros(span.end_time).saturating_sub(start).max(1).into(),
    );
    out.insert(
        "localEndpoint".into(),
        json!({ "serviceName": config.service_name }),
    );
    if let Some(peer) = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "peer.service")
    {
        out.insert(
            "remoteEndpoint".into(),
            json!({ "serviceName": peer.value.as_str() }),
        );
    }
    let annotations: Vec<Json> = span
        .events
        .iter()
        .map(|event| {
            let value = if event.attributes.is_empty() {
                event.name.to_string()
            } else {
                // As the specification writes an event with attributes: `"name": {…}`.
                let attributes: Map<String, Json> = event
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.to_string(), json_value(&kv.value)))
                    .collect();
                format!(
                    "{}: {}",
                    Json::from(event.name.as_ref()),
                    Json::Object(attributes)
                )
            };
            json!({ "timestamp": micros(event.timestamp), "value": value })
        })
        .collect();
    if !annotations.is_empty() {
        out.insert("annotations".into(), annotations.into());
    }
    out.insert("tags".into(), Json::Object(tags(span, config)));
    Json::Object(out)
}

fn tags(span: &SpanData, config: &ZipkinConfig) -> Map<String, Json> {
    let mut tags = Map::new();
    for (key, value) in &config.resource {
        tags.insert(key.clone(), value.clone().into());
    }
    for KeyValue { key, value, .. } in &span.attributes {
        tags.insert(key.to_string(), tag_value(value).into());
    }
    let scope = &span.instrumentation_scope;
    tags.insert("otel.scope.name".into(), scope.name().into());
    if let Some(version) = scope.version() {
        tags.insert("otel.scope.version".into(), version.into());
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => {
            tags.insert("otel.status_code".into(), "OK".into());
        }
        Status::Error { description } => {
            tags.insert("otel.status_code".into(), "ERROR".into());
            tags.insert("error".into(), description.to_string().into());
        }
    }
    if span.dropped_attributes_count > 0 {
        tags.insert(
            "otel.dropped_attributes_count".into(),
            span.dropped_attributes_count.to_string().into(),
        );
    }
    if span.events.dropped_count > 0 {
        tags.insert(
            "otel.dropped_events_count".into(),
            span.events.dropped_count.to_string().into(),
        );
    }
    tags
}

/// A tag is a string: scalars as written, arrays as JSON arrays.
fn tag_value(value: &Value) -> String {
    match value {
        Value::Array(_) => json_value(value).to_string(),
        other => other.as_str().into_owned(),
    }
}

fn json_value(value: &Value) -> Json {
    match value {
        Value::Bool(flag) => (*flag).into(),
        Value::I64(number) => (*number).into(),
        Value::F64(number) => serde_json::Number::from_f64(*number)
            .map_or_else(|| number.to_string().into(), Json::Number),
        Value::String(text) => text.as_str().into(),
        Value::Array(Array::Bool(items)) => items.clone().into(),
        Value::Array(Array::I64(items)) => items.clone().into(),
        Value::Array(Array::F64(items)) => items
            .iter()
            .map(|n| json_value(&Value::F64(*n)))
            .collect::<Vec<_>>()
            .into(),
        Value::Array(Array::String(items)) => items
            .iter()
            .map(|s| Json::from(s.as_str()))
            .collect::<Vec<_>>()
            .into(),
        other => other.to_string().into(),
    }
}
