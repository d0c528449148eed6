//! Where and how each signal is exported: the `OTEL_EXPORTER_OTLP_*` configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tls::{OtlpTls, TlsError};

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
    pub reason: String,
}

/// What an exporter sends: each signal has its own endpoint path and its own variables
/// (`OTEL_EXPORTER_OTLP_TRACES_*`, `…_LOGS_*`, `…_METRICS_*`) over the generic ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpSignal {
    /// Spans, to `/v1/traces`.
    Traces,
    /// Log records, to `/v1/logs`.
    Logs,
    /// Metrics, to `/v1/metrics`.
    Metrics,
}

/// The names of one signal's variables (or the generic ones).
struct Vars {
    endpoint: &'static str,
    protocol: &'static str,
    headers: &'static str,
    timeout: &'static str,
    compression: &'static str,
    certificate: &'static str,
    client_certificate: &'static str,
    client_key: &'static str,
    insecure: &'static str,
}

macro_rules! vars {
    ($infix:literal) => {
        Vars {
            endpoint: concat!("OTEL_EXPORTER_OTLP_", $infix, "ENDPOINT"),
            protocol: concat!("OTEL_EXPORTER_OTLP_", $infix, "PROTOCOL"),
            headers: concat!("OTEL_EXPORTER_OTLP_", $infix, "HEADERS"),
            timeout: concat!("OTEL_EXPORTER_OTLP_", $infix, "TIMEOUT"),
            compression: concat!("OTEL_EXPORTER_OTLP_", $infix, "COMPRESSION"),
            certificate: concat!("OTEL_EXPORTER_OTLP_", $infix, "CERTIFICATE"),
            client_certificate: concat!("OTEL_EXPORTER_OTLP_", $infix, "CLIENT_CERTIFICATE"),
            client_key: concat!("OTEL_EXPORTER_OTLP_", $infix, "CLIENT_KEY"),
            insecure: concat!("OTEL_EXPORTER_OTLP_", $infix, "INSECURE"),
        }
    };
}

const GENERIC: Vars = vars!("");
const TRACES: Vars = vars!("TRACES_");
const LOGS: Vars = vars!("LOGS_");
const METRICS: Vars = vars!("METRICS_");

impl OtlpSignal {
    fn vars(self) -> &'static Vars {
        match self {
            OtlpSignal::Traces => &TRACES,
            OtlpSignal::Logs => &LOGS,
            OtlpSignal::Metrics => &METRICS,
        }
    }

    /// The path the generic endpoint gets for OTLP/HTTP, e.g. `/v1/traces`.
    pub fn http_path(self) -> &'static str {
        match self {
            OtlpSignal::Traces => "/v1/traces",
            OtlpSignal::Logs => "/v1/logs",
            OtlpSignal::Metrics => "/v1/metrics",
        }
    }
}

/// Where and how one signal is exported.
/// Its `Debug` output shows header names only: their values are usually credentials.
#[derive(Clone, PartialEq)]
pub struct OtlpExportConfig {
    /// The full URL, `http://` or `https://`: for HTTP including the signal's path
    /// (`/v1/traces`).
    pub endpoint: String,
    /// The transport.
    pub protocol: OtlpProtocol,
    /// Extra headers (gRPC metadata), e.g. an API key.
    pub headers: Vec<(String, String)>,
    /// The time one export request may take.
    pub timeout: Duration,
    /// How request bodies are compressed.
    pub compression: OtlpCompression,
    /// The roots to trust and the client's own certificate, for an `https://` endpoint.
    pub tls: OtlpTls,
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
            .field("tls", &self.tls)
            .field("resource", &self.resource)
            .finish()
    }
}

/// Reads variables through `get`, trimmed, an empty value counting as unset.
struct Lookup<G>(G);

impl<G: Fn(&str) -> Option<String>> Lookup<G> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The signal's variable if set, else the generic one: its name and value.
    fn either(
        &self,
        signal: &'static str,
        generic: &'static str,
    ) -> Option<(&'static str, String)> {
        self.get(signal)
            .map(|value| (signal, value))
            .or_else(|| self.get(generic).map(|value| (generic, value)))
    }

    /// Checks the signal's variable and the generic one with `parse` (both, so that a bad
    /// value is reported even where the other wins), and returns what the winner says.
    fn parsed<T>(
        &self,
        signal: &'static str,
        generic: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, OtlpConfigError> {
        let check = |var: &'static str| {
            self.get(var)
                .map(|value| parse(&value).map_err(|reason| OtlpConfigError { var, value, reason }))
                .transpose()
        };
        let generic = check(generic)?;
        Ok(check(signal)?.or(generic))
    }
}

impl OtlpExportConfig {
    /// Exports to `endpoint` (for HTTP the full URL of the signal's path) with a 10 s timeout.
    pub fn new(endpoint: impl Into<String>, protocol: OtlpProtocol) -> Self {
        Self {
            endpoint: endpoint.into(),
            protocol,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            compression: OtlpCompression::None,
            tls: OtlpTls::default(),
            resource: Vec::new(),
        }
    }

    /// The spans' configuration: [`from_env_for`](Self::from_env_for) with
    /// [`OtlpSignal::Traces`].
    ///
    /// ```
    /// use telescope_otlp::{OtlpExport, OtlpExportConfig, OtlpLayer, PipelineConfig};
    ///
    /// let env = |name: &str| std::env::var(name).ok();
    /// let mut builder = OtlpLayer::builder().pipeline(PipelineConfig::from_env(env)?);
    /// if let Some(config) = OtlpExportConfig::from_env(env)? {
    ///     let resource = vec![("service.name".to_owned(), "checkout".to_owned())];
    ///     builder = builder.exporter(OtlpExport::new(config.resource(resource)));
    /// }
    /// let layer = builder.build(); // no endpoint: spans stay in the ring only
    /// # Ok::<(), telescope_otlp::OtlpConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`OtlpConfigError`] naming a variable with an unusable value.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, OtlpConfigError> {
        Self::from_env_for(OtlpSignal::Traces, get)
    }

    /// Reads `signal`'s configuration through `get`, as the OTLP exporter specification
    /// names it: `OTEL_EXPORTER_OTLP_{SIGNAL_,}ENDPOINT`, `…PROTOCOL` (`grpc`,
    /// `http/protobuf`), `…HEADERS`, `…TIMEOUT` (ms), `…COMPRESSION` (`gzip`, `none`),
    /// `…CERTIFICATE`, `…CLIENT_CERTIFICATE`, `…CLIENT_KEY` and `…INSECURE`, each signal's
    /// variable over the generic one. The generic endpoint gets the signal's path appended for
    /// HTTP (`/v1/traces`); the signal's endpoint is used as is. A gRPC endpoint without a
    /// scheme is `https://` unless `…INSECURE=true`.
    ///
    /// Every variable is checked, and the TLS files read, even when no endpoint is set (then
    /// `Ok(None)`): a typo is reported at start-up, not when someone sets an endpoint later.
    ///
    /// # Errors
    /// [`OtlpConfigError`] naming a variable with an unusable value.
    pub fn from_env_for(
        signal: OtlpSignal,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, OtlpConfigError> {
        let env = Lookup(get);
        let (ours, generic) = (signal.vars(), &GENERIC);
        let protocol = env
            .parsed(ours.protocol, generic.protocol, parse_protocol)?
            .unwrap_or(OtlpProtocol::HttpProtobuf);
        let headers = env
            .parsed(ours.headers, generic.headers, parse_headers)?
            .unwrap_or_default();
        let timeout = env
            .parsed(ours.timeout, generic.timeout, parse_timeout)?
            .unwrap_or(Duration::from_secs(10));
        let compression = env
            .parsed(ours.compression, generic.compression, parse_compression)?
            .unwrap_or_default();
        let insecure = env
            .parsed(ours.insecure, generic.insecure, parse_bool)?
            .unwrap_or(false);
        let file = |signal, generic| env.either(signal, generic);
        let files = [
            file(ours.certificate, generic.certificate),
            file(ours.client_certificate, generic.client_certificate),
            file(ours.client_key, generic.client_key),
        ];
        let [ca, certificate, key] = files
            .clone()
            .map(|set| set.map(|(_, path)| PathBuf::from(path)));
        let tls = OtlpTls {
            ca_certificate: ca,
            client_certificate: certificate,
            client_key: key,
        };
        tls.validate().map_err(|error| tls_error(&files, error))?;
        let generic_url = env
            .get(generic.endpoint)
            .map(|text| checked_url(generic.endpoint, text, protocol, insecure))
            .transpose()?;
        let endpoint = match (env.get(ours.endpoint), generic_url) {
            (Some(text), _) => checked_url(ours.endpoint, text, protocol, insecure)?,
            (None, Some(url)) if protocol == OtlpProtocol::HttpProtobuf => {
                format!("{}{}", url.trim_end_matches('/'), signal.http_path())
            }
            (None, Some(url)) => url,
            (None, None) => return Ok(None),
        };
        Ok(Some(Self {
            endpoint,
            protocol,
            headers,
            timeout,
            compression,
            tls,
            resource: Vec::new(),
        }))
    }

    /// As [`from_env_for`](Self::from_env_for), but with no endpoint set, the specification's
    /// default: `http://localhost:4318` (with the signal's path) for HTTP,
    /// `http://localhost:4317` for gRPC. For an exporter asked for by name
    /// (`OTEL_LOGS_EXPORTER=otlp`).
    ///
    /// # Errors
    /// As [`from_env_for`](Self::from_env_for).
    pub fn from_env_or_default(
        signal: OtlpSignal,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, OtlpConfigError> {
        let env = Lookup(&get);
        let ours = signal.vars();
        let endpoint_set = env.get(ours.endpoint).is_some() || env.get(GENERIC.endpoint).is_some();
        let grpc = env
            .either(ours.protocol, GENERIC.protocol)
            .is_some_and(|(_, protocol)| protocol == "grpc");
        let default = if grpc {
            "http://localhost:4317"
        } else {
            "http://localhost:4318"
        };
        let defaulted = |name: &str| {
            get(name)
                .or_else(|| (!endpoint_set && name == GENERIC.endpoint).then(|| default.to_owned()))
        };
        Ok(Self::from_env_for(signal, defaulted)?
            .unwrap_or_else(|| Self::new(default, OtlpProtocol::HttpProtobuf)))
    }

    /// Sets the resource attributes sent with every batch.
    #[must_use]
    pub fn resource(mut self, attributes: Vec<(String, String)>) -> Self {
        self.resource = attributes;
        self
    }

    /// Sets the TLS files (see [`OtlpTls`]).
    #[must_use]
    pub fn tls(mut self, tls: OtlpTls) -> Self {
        self.tls = tls;
        self
    }
}

/// A TLS file error, named by the variable that set the file: `files` are the CA, client
/// certificate and client key settings (variable and value), as read.
fn tls_error(files: &[Option<(&'static str, String)>; 3], error: TlsError) -> OtlpConfigError {
    let [ca, certificate, key] = files;
    let named = match &error {
        TlsError::Unreadable { path, .. }
        | TlsError::NoCertificate { path }
        | TlsError::NoPrivateKey { path } => files
            .iter()
            .flatten()
            .find(|(_, value)| Path::new(value) == path.as_path()),
        TlsError::HalfAClientIdentity { .. } | TlsError::Refused(_) => {
            key.as_ref().or(certificate.as_ref()).or(ca.as_ref())
        }
    };
    let (var, value) = named
        .cloned()
        .unwrap_or(("OTEL_EXPORTER_OTLP_CERTIFICATE", String::new()));
    OtlpConfigError {
        var,
        value,
        reason: error.to_string(),
    }
}

fn parse_protocol(text: &str) -> Result<OtlpProtocol, String> {
    match text {
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/json" => Err("http/json is not supported by this build; use http/protobuf".into()),
        _ => Err("expected grpc or http/protobuf".into()),
    }
}

fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let headers = telescope_core::key_values::parse_key_values(text)
        .map_err(|_| "expected key=value pairs separated by commas".to_owned())?;
    let sendable = headers.iter().all(|(key, value)| {
        http::HeaderName::from_bytes(key.as_bytes()).is_ok()
            && http::HeaderValue::from_str(value).is_ok()
    });
    if !sendable {
        return Err("a header name or value cannot be sent over HTTP".into());
    }
    Ok(headers)
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| "expected a positive number of milliseconds".to_owned())
}

fn parse_compression(text: &str) -> Result<OtlpCompression, String> {
    match text.to_ascii_lowercase().as_str() {
        "none" => Ok(OtlpCompression::None),
        "gzip" => Ok(OtlpCompression::Gzip),
        _ => Err("expected gzip or none (zstd is not supported by this build)".into()),
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// An endpoint URL: `http://` or `https://` with a host; for gRPC also `host:port`, secure
/// unless `insecure`.
fn checked_url(
    var: &'static str,
    url: String,
    protocol: OtlpProtocol,
    insecure: bool,
) -> Result<String, OtlpConfigError> {
    let refuse = |url: String, reason: &str| OtlpConfigError {
        var,
        value: url,
        reason: reason.to_owned(),
    };
    match url.parse::<http::Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {
            Ok(url)
        }
        Ok(uri)
            if protocol == OtlpProtocol::Grpc && uri.scheme().is_none() && uri.host().is_some() =>
        {
            let scheme = if insecure { "http" } else { "https" };
            Ok(format!("{scheme}://{url}"))
        }
        _ => Err(refuse(url, "expected an http:// or https:// URL")),
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
                    "ftp://c:4318/v1/traces",
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

    #[test]
    fn each_signal_reads_its_own_variables_over_the_generic_ones() {
        let pairs = &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=generic"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "api-key=logs"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://metrics:9090/otlp",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3000"),
        ];
        let read = |signal| {
            OtlpExportConfig::from_env_for(signal, env(pairs))
                .expect("valid")
                .expect("set")
        };
        let traces = read(OtlpSignal::Traces);
        assert_eq!(traces.endpoint, "https://collector:4318/v1/traces");
        assert_eq!(traces.timeout, Duration::from_secs(3));
        assert_eq!(traces.headers[0].1, "generic");
        let logs = read(OtlpSignal::Logs);
        assert_eq!(logs.endpoint, "https://collector:4318/v1/logs");
        assert_eq!(logs.headers, [("api-key".to_owned(), "logs".to_owned())]);
        assert_eq!(logs.timeout, Duration::from_secs(1));
        let metrics = read(OtlpSignal::Metrics);
        assert_eq!(metrics.endpoint, "http://metrics:9090/otlp", "used as is");
        assert_eq!(metrics.protocol, OtlpProtocol::Grpc);
    }

    #[test]
    fn every_variable_is_checked_even_without_an_endpoint() {
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "carrier-pigeon"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "maybe"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
            ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", "/nonexistent/key.pem"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(vec![(name, value)].into_boxed_slice());
            let refused = [OtlpSignal::Traces, OtlpSignal::Logs, OtlpSignal::Metrics]
                .into_iter()
                .filter_map(|signal| OtlpExportConfig::from_env_for(signal, env(pairs)).err())
                .collect::<Vec<_>>();
            assert!(!refused.is_empty(), "{name}={value} passed");
            assert!(refused.iter().all(|e| e.var == name), "{refused:?}");
        }
        // Even a generic value the signal's own variable overrides.
        let pairs = &[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "100"),
        ];
        assert_eq!(
            OtlpExportConfig::from_env(env(pairs)).err().map(|e| e.var),
            Some("OTEL_EXPORTER_OTLP_TIMEOUT")
        );
    }

    #[test]
    fn https_and_scheme_less_grpc_endpoints() {
        let config = |pairs: &'static [(&'static str, &'static str)]| {
            OtlpExportConfig::from_env(env(pairs))
                .expect("valid")
                .expect("set")
                .endpoint
        };
        assert_eq!(
            config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://api.vendor.example")]),
            "https://api.vendor.example/v1/traces"
        );
        assert_eq!(
            config(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ]),
            "https://collector:4317",
            "gRPC without a scheme is secure by default"
        );
        assert_eq!(
            config(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
            ]),
            "http://collector:4317"
        );
    }

    #[test]
    fn half_a_client_identity_names_the_variable_set() {
        let error = OtlpExportConfig::from_env(env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            "/etc/otel/client.pem",
        )]))
        .expect_err("needs the key too");
        assert_eq!(error.var, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE");
        assert!(error.reason.contains("client key"), "{}", error.reason);
    }
}
