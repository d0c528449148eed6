//! OTLP/gRPC over tonic: the status code, and `RetryInfo` in its details, decide what happens
//! to the batch; the response may report a partial success.

use std::time::Duration;

use bytes::BufMut as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

use super::config::{OtlpCompression, OtlpExportConfig, OtlpSignal};
use super::outcome::{classify_grpc_code, Accepted, ExportError};

/// One channel on one current-thread runtime; used by one exporter thread at a time.
pub(crate) struct GrpcTransport {
    runtime: tokio::runtime::Runtime,
    client: tonic::client::Grpc<Channel>,
    metadata: MetadataMap,
    timeout: Duration,
}

impl GrpcTransport {
    pub(crate) fn new(config: &OtlpExportConfig) -> Result<Self, ExportError> {
        let runtime = super::transport_runtime()?;
        let mut metadata = MetadataMap::new();
        for (key, value) in &config.headers {
            match (
                MetadataKey::from_bytes(key.as_bytes()),
                MetadataValue::try_from(value.as_str()),
            ) {
                (Ok(key), Ok(value)) => {
                    metadata.append(key, value);
                }
                _ => {
                    return Err(ExportError::permanent(format!(
                        "header {key:?} cannot be sent as gRPC metadata"
                    )))
                }
            }
        }
        let endpoint = Channel::from_shared(config.endpoint.clone())
            .map_err(|e| ExportError::permanent(format!("bad endpoint: {e}")))?
            .connect_timeout(config.timeout);
        let connector = super::tls::connector(&config.tls, endpoint.uri(), config.timeout, true)
            .map_err(|e| ExportError::permanent(e.to_string()))?;
        // The channel's background tasks live on this runtime.
        let channel = {
            let _inside = runtime.enter();
            endpoint.connect_with_connector_lazy(connector)
        };
        let mut client = tonic::client::Grpc::new(channel);
        if config.compression == OtlpCompression::Gzip {
            client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
        }
        Ok(Self {
            runtime,
            client,
            metadata,
            timeout: config.timeout,
        })
    }

    /// Sends one encoded export request of `signal` (`ExportTraceServiceRequest`, …).
    pub(crate) fn send(&self, body: Vec<u8>, signal: OtlpSignal) -> Result<Accepted, ExportError> {
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        let mut client = self.client.clone();
        let call = async move {
            if let Err(error) = client.ready().await {
                return Err(super::transport_error("the channel is not ready", &error));
            }
            Ok(client
                .unary(
                    request,
                    http::uri::PathAndQuery::from_static(export_path(signal)),
                    EncodedRequests,
                )
                .await)
        };
        let outcome = self.runtime.block_on(async {
            tokio::time::timeout(self.timeout, call)
                .await
                .map_err(|_| ExportError::retryable(format!("no answer within {:?}", self.timeout)))
        })??;
        match outcome {
            Ok(response) => {
                Ok(response
                    .into_inner()
                    .partial_success
                    .map_or_else(Accepted::all, |partial| Accepted {
                        rejected_spans: u64::try_from(partial.rejected_spans).unwrap_or(0),
                        message: partial.error_message,
                    }))
            }
            Err(status) => {
                if let Some(tls) = super::tls::tls_failure(&status) {
                    return Err(ExportError::permanent(format!(
                        "gRPC call failed: TLS: {tls}"
                    )));
                }
                let retry_info = status
                    .get_details_retry_info()
                    .and_then(|info| info.retry_delay);
                Err(classify_grpc_code(
                    status.code(),
                    retry_info,
                    status.message(),
                ))
            }
        }
    }
}

/// The gRPC method that exports `signal`.
fn export_path(signal: OtlpSignal) -> &'static str {
    match signal {
        OtlpSignal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        OtlpSignal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        OtlpSignal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    }
}

/// A codec whose requests are already encoded (by `proto`) and whose responses are read as
/// `ExportTraceServiceResponse`s: the logs' and metrics' responses have the same layout
/// (`partial_success` = 1 holding the rejected count = 1 and the message = 2), so one decoder
/// reads all three.
#[derive(Debug, Clone, Copy, Default)]
struct EncodedRequests;

impl Codec for EncodedRequests {
    type Encode = Vec<u8>;
    type Decode = ExportTraceServiceResponse;
    type Encoder = EncodedRequests;
    type Decoder = EncodedRequests;

    fn encoder(&mut self) -> Self::Encoder {
        *self
    }

    fn decoder(&mut self) -> Self::Decoder {
        *self
    }
}

impl Encoder for EncodedRequests {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for EncodedRequests {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("undecodable response: {e}")))
    }
}
