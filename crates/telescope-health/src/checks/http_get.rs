//! Does a dependency's HTTP endpoint answer with an expected status?

use std::ops::Range;
use std::time::Instant;

use bytes::Bytes;
use http::header::{HOST, USER_AGENT};
use http::{Request, Uri};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::{CheckFuture, CheckResult, HealthCheck};

/// Why an [`HttpCheck`] could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpCheckError {
    /// The URL does not parse.
    #[error("invalid URL {0:?}")]
    InvalidUrl(String),
    /// Only plain `http://` URLs with a host are supported.
    #[error("unsupported URL {0:?}: use http://host[:port]/path")]
    Unsupported(String),
}

/// Passes when `GET url` answers with a status in the expected range (by default 200-399,
/// as the kubelet's `httpGet` probe). Reports `responseTime` in ms.
///
/// ```
/// use telescope_health::checks::HttpCheck;
/// let check = HttpCheck::new("payments", "http://payments.internal:8080/readyz")?.expect_status(200..300);
/// # let _ = check;
/// # Ok::<(), telescope_health::checks::HttpCheckError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpCheck {
    name: String,
    uri: Uri,
    authority: String,
    expected: Range<u16>,
}

impl HttpCheck {
    /// A check named `name` for `url`.
    ///
    /// # Errors
    /// [`HttpCheckError`] for a URL that does not parse or is not `http://host…`.
    pub fn new(name: impl Into<String>, url: &str) -> Result<Self, HttpCheckError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| HttpCheckError::InvalidUrl(url.to_owned()))?;
        if uri.scheme_str() != Some("http") {
            return Err(HttpCheckError::Unsupported(url.to_owned()));
        }
        let host = uri
            .host()
            .ok_or_else(|| HttpCheckError::Unsupported(url.to_owned()))?;
        let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
        Ok(Self {
            name: name.into(),
            uri,
            authority,
            expected: 200..400,
        })
    }

    /// The statuses that count as healthy.
    #[must_use]
    pub fn expect_status(mut self, expected: Range<u16>) -> Self {
        self.expected = expected;
        self
    }

    async fn get(&self) -> Result<u16, String> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.authority))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {} failed: {e}", self.authority))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let host = self
            .uri
            .authority()
            .map_or(self.authority.as_str(), |a| a.as_str());
        let request = Request::get(path)
            .header(HOST, host)
            .header(USER_AGENT, "telescope-health")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("GET {} failed: {e}", self.uri))?;
        Ok(response.status().as_u16())
    }
}

impl HealthCheck for HttpCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            match self.get().await {
                Ok(status) if self.expected.contains(&status) => CheckResult::pass()
                    .with_observation("responseTime", super::millis(started.elapsed()), Some("ms"))
                    .with_detail("status", status.to_string()),
                Ok(status) => CheckResult::fail(format!(
                    "GET {} answered {status}, expected {}-{}",
                    self.uri,
                    self.expected.start,
                    self.expected.end.saturating_sub(1)
                ))
                .with_detail("status", status.to_string()),
                Err(reason) => CheckResult::fail(reason),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_with_a_host() {
        assert!(HttpCheck::new("a", "http://localhost:8080/health").is_ok());
        assert_eq!(
            HttpCheck::new("a", "http://localhost/").map(|c| c.authority),
            Ok("localhost:80".to_owned())
        );
        assert!(matches!(
            HttpCheck::new("a", "https://x/"),
            Err(HttpCheckError::Unsupported(_))
        ));
        assert!(matches!(
            HttpCheck::new("a", "/relative"),
            Err(HttpCheckError::Unsupported(_))
        ));
        assert!(matches!(
            HttpCheck::new("a", "http://exa mple/"),
            Err(HttpCheckError::InvalidUrl(_))
        ));
    }
}
