//! What an export attempt can come to, in the terms of the OTLP specification's
//! "Failures" and "Partial success" sections.

use std::time::Duration;

/// A batch the receiver took: all of it, or all but `rejected_spans` (OTLP partial success).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Spans the receiver said it rejected; they are counted as dropped with
    /// `reason="rejected"` and never retried, as the specification says.
    pub rejected_spans: u64,
    /// The receiver's explanation, if it gave one.
    pub message: String,
}

impl Accepted {
    /// The whole batch was accepted.
    pub fn all() -> Self {
        Self::default()
    }
}

impl From<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse>
    for Accepted
{
    /// What an OTLP response says; a negative count (a broken receiver) counts as none.
    fn from(
        response: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
    ) -> Self {
        response
            .partial_success
            .map_or_else(Accepted::all, |partial| Accepted {
                rejected_spans: u64::try_from(partial.rejected_spans).unwrap_or(0),
                message: partial.error_message,
            })
    }
}

/// Why a batch was not accepted, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Worth trying again (a refused connection, a timeout, HTTP 429/502/503/504, gRPC
    /// `UNAVAILABLE` and the other codes the specification lists), after `after` if the
    /// receiver said when (`Retry-After`, gRPC `RetryInfo`), otherwise after the pipeline's
    /// own backoff.
    #[error("export failed, will retry: {reason}")]
    Retryable {
        /// The delay the receiver asked for.
        after: Option<Duration>,
        /// What went wrong, without the receiver's response body (it may echo credentials).
        reason: String,
    },
    /// Trying again cannot help (HTTP 400, 401, 403, 404, 413, a gRPC `INVALID_ARGUMENT`, a
    /// body the receiver cannot parse, a batch too large to send): the batch is dropped at
    /// once and counted with `reason="rejected"`.
    #[error("export rejected: {reason}")]
    Permanent {
        /// What went wrong.
        reason: String,
    },
}

impl ExportError {
    /// A retryable failure with no delay asked for.
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self::Retryable {
            after: None,
            reason: reason.into(),
        }
    }

    /// A permanent failure.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent {
            reason: reason.into(),
        }
    }
}

/// How the OTLP/HTTP specification classifies a response status: 429, 502, 503 and 504 are
/// retryable; every other failure is permanent.
pub(crate) fn classify_http_status(status: u16, retry_after: Option<Duration>) -> ExportError {
    let reason = format!("the receiver answered HTTP {status}");
    match status {
        429 | 502 | 503 | 504 => ExportError::Retryable {
            after: retry_after,
            reason,
        },
        _ => ExportError::Permanent { reason },
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3), as a delay from
/// `now`. Junk is ignored (the pipeline's backoff applies), and so is a date in the past.
pub(crate) fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    when.duration_since(now).ok()
}

/// How the OTLP/gRPC specification classifies a status code: `CANCELLED`,
/// `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE` and `DATA_LOSS` are
/// retryable; `RESOURCE_EXHAUSTED` only when the server sent `RetryInfo` (it can recover);
/// everything else is permanent.
pub(crate) fn classify_grpc_code(
    code: tonic::Code,
    retry_info: Option<Duration>,
    message: &str,
) -> ExportError {
    use tonic::Code;
    let reason = format!("the receiver answered gRPC {code:?}: {message}");
    match code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => ExportError::Retryable {
            after: retry_info,
            reason,
        },
        Code::ResourceExhausted if retry_info.is_some() => ExportError::Retryable {
            after: retry_info,
            reason,
        },
        _ => ExportError::Permanent { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn http_statuses_follow_the_specification() {
        for status in [429, 502, 503, 504] {
            assert!(
                matches!(
                    classify_http_status(status, None),
                    ExportError::Retryable { .. }
                ),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 405, 413, 415, 500, 501, 505, 302] {
            assert!(
                matches!(
                    classify_http_status(status, None),
                    ExportError::Permanent { .. }
                ),
                "{status}"
            );
        }
        assert_eq!(
            classify_http_status(429, Some(Duration::from_secs(2))),
            ExportError::Retryable {
                after: Some(Duration::from_secs(2)),
                reason: "the receiver answered HTTP 429".to_owned()
            }
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            None
        );
        for junk in ["", "soon", "-1", "1.5", "99999999999999999999999"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
    }

    #[test]
    fn grpc_codes_follow_the_specification() {
        use tonic::Code;
        for code in [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            assert!(
                matches!(
                    classify_grpc_code(code, None, ""),
                    ExportError::Retryable { .. }
                ),
                "{code:?}"
            );
        }
        for code in [
            Code::Unknown,
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::FailedPrecondition,
            Code::Unimplemented,
            Code::Internal,
            Code::Unauthenticated,
            Code::ResourceExhausted,
        ] {
            assert!(
                matches!(
                    classify_grpc_code(code, None, ""),
                    ExportError::Permanent { .. }
                ),
                "{code:?}"
            );
        }
        assert!(matches!(
            classify_grpc_code(Code::ResourceExhausted, Some(Duration::from_secs(1)), ""),
            ExportError::Retryable { after: Some(_), .. }
        ));
    }
}
