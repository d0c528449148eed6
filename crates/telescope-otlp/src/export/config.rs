//! Where and how spans are exported: the `OTEL_EXPORTER_OTLP_*` configuration.

use std::time::Duration;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`), default endpoint `http://localhost:4317`.
    Grpc,
    /// HTTP with protobuf bodies (`http/protobuf`), default endpoint `http://localhost:4318`.
    HttpProtobuf,
}

/// How request bodies are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpCompression {
    /// Not compressed (`none`).
    #[default]
    None,
    /// gzip (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`): HTTP `Content-Encoding: gzip`, gRPC
    /// `grpc-encoding: gzip`. Spans compress about tenfold; worth it over a WAN or a metered
    /// link, less so to a collector on the same host.
    Gzip,
}

/// Why the OTLP variables were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {var}={value:?} is invalid: {reason}")]
pub struct OtlpConfigError {
    /// The variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// Where and how spans are exported.
/// Its `Debug` output shows header names only: their values are usually credentials.
#[derive(Clone, PartialEq)]
pub struct OtlpExportConfig {
    /// The full URL: for HTTP, including `/v1/traces`. `http://` only: this build has no TLS,
    /// so an `https://` endpoint fails every export (counted as dropped).
    pub endpoint: String,
    /// The transport.
    pub protocol: OtlpProtocol,
    /// Extra headers (gRPC metadata), e.g. an API key.
    pub headers: Vec<(String, String)>,
    /// The time one export request may take.
    pub timeout: Duration,
    /// How request bodies are compressed.
    pub compression: OtlpCompression,
    /// The resource: `service.name` and the other `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource: Vec<(String, String)>,
}

impl std::fmt::Debug for OtlpExportConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OtlpExportConfig")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &header_names)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("resource", &self.resource)
            .finish()
    }
}

impl OtlpExportConfig {
    /// Exports to `endpoint` (for HTTP the full URL of the traces path) with a 10 s timeout.
    pub fn new(endpoint: impl Into<String>, protocol: OtlpProtocol) -> Self {
        Self {
            endpoint: endpoint.into(),
            protocol,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            compression: OtlpCompression::None,
            resource: Vec::new(),
        }
    }

    /// Reads `OTEL_EXPORTER_OTLP_{TRACES_,}ENDPOINT`, `…PROTOCOL`, `…HEADERS`, `…TIMEOUT` and
    /// `…COMPRESSION` (`gzip` or `none`) through `get`. `None` when no endpoint is set (spans then stay in the ring). As the
    /// spec says, the generic endpoint gets `/v1/traces` appended for HTTP; the traces one is
    /// used as is.
    ///
    /// ```
    /// use telescope_otlp::{OtlpExport, OtlpExportConfig, OtlpLayer, PipelineConfig};
    ///
    /// let env = |name: &str| std::env::var(name).ok();
    /// let mut builder = OtlpLayer::builder().pipeline(PipelineConfig::from_env(env)?);
    /// if let Some(config) = OtlpExportConfig::from_env(env)? {
    ///     let resource = vec![("service.name".to_owned(), "checkout".to_owned())];
    ///     builder = builder.exporter(OtlpExport::new(config.with_resource(resource)));
    /// }
    /// let layer = builder.build(); // no endpoint: spans stay in the ring only
    /// # Ok::<(), telescope_otlp::OtlpConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`OtlpConfigError`] naming a variable with an unusable value.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, OtlpConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let protocol_var = if get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").is_some() {
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
        } else {
            "OTEL_EXPORTER_OTLP_PROTOCOL"
        };
        let protocol = match get(protocol_var).as_deref() {
            None | Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
            Some("grpc") => OtlpProtocol::Grpc,
            Some(other) => {
                return Err(OtlpConfigError {
                    var: protocol_var,
                    value: other.to_owned(),
                    reason: "expected grpc or http/protobuf",
                })
            }
        };
        let endpoint = match (
            get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(traces), _) => checked_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces)?,
            (None, Some(generic)) => {
                let base = checked_url("OTEL_EXPORTER_OTLP_ENDPOINT", generic)?;
                match protocol {
                    OtlpProtocol::HttpProtobuf => {
                        format!("{}/v1/traces", base.trim_end_matches('/'))
                    }
                    OtlpProtocol::Grpc => base,
                }
            }
            (None, None) => return Ok(None),
        };
        let headers = match get("OTEL_EXPORTER_OTLP_HEADERS") {
            None => Vec::new(),
            Some(text) => {
                let refuse = |reason| OtlpConfigError {
                    var: "OTEL_EXPORTER_OTLP_HEADERS",
                    value: text.clone(),
                    reason,
                };
                let headers = telescope_core::key_values::parse_key_values(&text)
                    .map_err(|_| refuse("expected key=value pairs separated by commas"))?;
                let sendable = headers.iter().all(|(key, value)| {
                    http::HeaderName::from_bytes(key.as_bytes()).is_ok()
                        && http::HeaderValue::from_str(value).is_ok()
                });
                if !sendable {
                    return Err(refuse("a header name or value cannot be sent over HTTP"));
                }
                headers
            }
        };
        let timeout = match get("OTEL_EXPORTER_OTLP_TIMEOUT") {
            None => Duration::from_secs(10),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis)
                .ok_or(OtlpConfigError {
                    var: "OTEL_EXPORTER_OTLP_TIMEOUT",
                    value: text.clone(),
                    reason: "expected a positive number of milliseconds",
                })?,
        };
        let compression_var = if get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION").is_some() {
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
        } else {
            "OTEL_EXPORTER_OTLP_COMPRESSION"
        };
        let compression = match get(compression_var)
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("none") => OtlpCompression::None,
            Some("gzip") => OtlpCompression::Gzip,
            Some(_) => {
                return Err(OtlpConfigError {
                    var: compression_var,
                    value: get(compression_var).unwrap_or_default(),
                    reason: "expected gzip or none (zstd is not supported by this build)",
                })
            }
        };
        Ok(Some(Self {
            endpoint,
            protocol,
            headers,
            timeout,
            compression,
            resource: Vec::new(),
        }))
    }

    /// Sets the resource attributes sent with every batch.
    #[must_use]
    pub fn with_resource(mut self, attributes: Vec<(String, String)>) -> Self {
        self.resource = attributes;
        self
    }
}

fn checked_url(var: &'static str, url: String) -> Result<String, OtlpConfigError> {
    match url.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => Ok(url),
        // Said now rather than on every export: TLS is not compiled in (yet).
        Ok(uri) if uri.scheme_str() == Some("https") => Err(OtlpConfigError {
            var,
            value: url,
            reason:
                "https endpoints are not supported by this build; use a local collector over http",
        }),
        _ => Err(OtlpConfigError {
            var,
            value: url,
            reason: "expected an http:// URL",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn endpoints_protocols_headers_and_timeouts_from_the_environment() {
        assert_eq!(OtlpExportConfig::from_env(env(&[])), Ok(None));
        let http = OtlpExportConfig::from_env(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4318/",
        )]))
        .expect("valid")
        .expect("set");
        assert_eq!(http.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(http.protocol, OtlpProtocol::HttpProtobuf);
        let grpc = OtlpExportConfig::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret,tenant=a"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ]))
        .expect("valid")
        .expect("set");
        assert_eq!(grpc.endpoint, "http://collector:4317");
        assert_eq!(
            grpc.headers,
            [
                ("api-key".to_owned(), "s=cret".to_owned()),
                ("tenant".to_owned(), "a".to_owned())
            ]
        );
        assert_eq!(grpc.timeout, Duration::from_millis(2500));
        let traces = OtlpExportConfig::from_env(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://x:1/custom",
        )]))
        .expect("valid")
        .expect("set");
        assert_eq!(traces.endpoint, "http://x:1/custom", "used as is");
        assert_eq!(traces.compression, OtlpCompression::None);
    }

    #[test]
    fn compression_from_the_environment() {
        let compression = |pairs: &'static [(&'static str, &'static str)]| {
            let endpoint_too = |name: &str| {
                (name == "OTEL_EXPORTER_OTLP_ENDPOINT")
                    .then(|| "http://c:4318".to_owned())
                    .or_else(|| env(pairs)(name))
            };
            OtlpExportConfig::from_env(endpoint_too)
                .expect("valid")
                .expect("set")
                .compression
        };
        assert_eq!(
            compression(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]),
            OtlpCompression::Gzip
        );
        assert_eq!(
            compression(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP")]),
            OtlpCompression::Gzip
        );
        // The traces variable wins over the generic one.
        assert_eq!(
            compression(&[
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
                ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
            ]),
            OtlpCompression::None
        );
    }

    #[test]
    fn debug_output_hides_header_values() {
        let config = OtlpExportConfig {
            headers: vec![("api-key".to_owned(), "s3cret".to_owned())],
            ..OtlpExportConfig::new("http://c:4318/v1/traces", OtlpProtocol::HttpProtobuf)
        };
        let shown = format!("{config:?}");
        assert!(
            shown.contains("api-key") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pairs, var) in [
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")][..],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                &[(
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://c:4318/v1/traces",
                )][..],
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:1"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ][..],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:1"),
                    ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
                ][..],
                "OTEL_EXPORTER_OTLP_HEADERS",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:1"),
                    ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
                ][..],
                "OTEL_EXPORTER_OTLP_COMPRESSION",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:1"),
                    ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
                    ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli"),
                ][..],
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:1"),
                    ("OTEL_EXPORTER_OTLP_HEADERS", "bad key=v"),
                ][..],
                "OTEL_EXPORTER_OTLP_HEADERS",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:1"),
                    ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
                ][..],
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ),
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(pairs.to_vec().into_boxed_slice());
            assert_eq!(
                OtlpExportConfig::from_env(env(pairs)).err().map(|e| e.var),
                Some(var)
            );
        }
    }
}
