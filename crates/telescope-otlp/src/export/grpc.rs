//! OTLP/gRPC over tonic: the status code, and `RetryInfo` in its details, decide what happens
//! to the batch; the response may report a partial success.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

use super::config::{OtlpCompression, OtlpExportConfig};
use super::outcome::{classify_grpc_code, Accepted, ExportError};

/// One channel on one current-thread runtime; used by one exporter thread at a time.
pub(crate) struct GrpcTransport {
    runtime: tokio::runtime::Runtime,
    client: TraceServiceClient<Channel>,
    metadata: MetadataMap,
    timeout: Duration,
}

impl GrpcTransport {
    pub(crate) fn new(config: &OtlpExportConfig) -> Result<Self, ExportError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ExportError::retryable(format!("cannot start the gRPC runtime: {e}")))?;
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
            .connect_timeout(config.timeout)
            .tcp_nodelay(true);
        // The channel's background tasks live on this runtime.
        let channel = {
            let _inside = runtime.enter();
            endpoint.connect_lazy()
        };
        let mut client = TraceServiceClient::new(channel);
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

    pub(crate) fn send(&self, request: ExportTraceServiceRequest) -> Result<Accepted, ExportError> {
        let mut request = tonic::Request::new(request);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        let mut client = self.client.clone();
        let call = async move { client.export(request).await };
        let outcome = self.runtime.block_on(async {
            tokio::time::timeout(self.timeout, call)
                .await
                .map_err(|_| ExportError::retryable(format!("no answer within {:?}", self.timeout)))
        })?;
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
