//! OTLP/HTTP with protobuf bodies, over hyper, with the response read to the end: its status
//! and `Retry-After` decide what happens to the batch, and a 2xx body may report a partial
//! success.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use super::config::{OtlpCompression, OtlpExportConfig};
use super::outcome::{classify_http_status, parse_retry_after, Accepted, ExportError};

/// A response body larger than this is not read (a receiver answers with a few bytes).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// One connection pool on one current-thread runtime; used by one exporter thread at a time.
pub(crate) struct HttpTransport {
    runtime: tokio::runtime::Runtime,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: http::Uri,
    headers: http::HeaderMap,
    timeout: Duration,
    gzip: bool,
    content_type: &'static str,
}

impl HttpTransport {
    /// A transport posting `content_type` bodies (OTLP's is `application/x-protobuf`).
    pub(crate) fn new(
        config: &OtlpExportConfig,
        content_type: &'static str,
    ) -> Result<Self, ExportError> {
        let runtime = super::transport_runtime()?;
        let uri = config
            .endpoint
            .parse::<http::Uri>()
            .map_err(|e| ExportError::permanent(format!("bad endpoint: {e}")))?;
        let mut headers = http::HeaderMap::new();
        for (name, value) in &config.headers {
            let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) else {
                return Err(ExportError::permanent(format!(
                    "header {name:?} cannot be sent over HTTP"
                )));
            };
            headers.append(name, value);
        }
        let connector = super::tls::connector(&config.tls, &uri, config.timeout, false)
            .map_err(|e| ExportError::permanent(e.to_string()))?;
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            runtime,
            client,
            uri,
            headers,
            timeout: config.timeout,
            gzip: config.compression == OtlpCompression::Gzip,
            content_type,
        })
    }

    /// Sends one encoded export request (`ExportTraceServiceRequest`, `ExportLogsServiceRequest`).
    pub(crate) fn send(&self, mut body: Vec<u8>) -> Result<Accepted, ExportError> {
        let mut builder = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, self.content_type);
        if self.gzip {
            body = gzip(&body)?;
            builder = builder.header(http::header::CONTENT_ENCODING, "gzip");
        }
        let mut request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ExportError::permanent(format!("cannot build the request: {e}")))?;
        request.headers_mut().extend(self.headers.clone());
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| super::transport_error("HTTP request failed", &e))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| parse_retry_after(value, SystemTime::now()));
            // Read to the end, so that the connection can be used again.
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes);
            if !status.is_success() {
                return Err(classify_http_status(status.as_u16(), retry_after));
            }
            Ok(partial_success(&body.unwrap_or_default()))
        };
        self.runtime.block_on(async {
            tokio::time::timeout(self.timeout, exchange)
                .await
                .unwrap_or_else(|_| {
                    Err(ExportError::retryable(format!(
                        "no answer within {:?}",
                        self.timeout
                    )))
                })
        })
    }
}

/// What a successful response says: an empty or unparsable body means everything was taken.
/// Read as an `ExportTraceServiceResponse` for every signal: the logs' and metrics' responses
/// have the same layout.
fn partial_success(body: &[u8]) -> Accepted {
    ExportTraceServiceResponse::decode(body).map_or_else(|_| Accepted::all(), Accepted::from)
}

fn gzip(body: &[u8]) -> Result<Vec<u8>, ExportError> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .map_err(|e| ExportError::permanent(format!("cannot compress the batch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    #[test]
    fn partial_success_is_read_from_the_body() {
        let body = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".to_owned(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            partial_success(&body),
            Accepted {
                rejected_spans: 3,
                message: "too old".to_owned()
            }
        );
        assert_eq!(partial_success(b""), Accepted::all());
        assert_eq!(partial_success(b"\xff\xff\xff"), Accepted::all());
        let negative = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: -5,
                error_message: String::new(),
            }),
        }
        .encode_to_vec();
        assert_eq!(partial_success(&negative).rejected_spans, 0);
    }
}
