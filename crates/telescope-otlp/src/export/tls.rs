//! TLS for both transports: which roots are trusted, the client's own certificate for mutual
//! TLS, and the connector that speaks it (rustls with the ring provider, through hyper-rustls).
//!
//! One connector serves HTTP and gRPC, so a certificate problem reads the same on both.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS files of an OTLP exporter: the variables `OTEL_EXPORTER_OTLP_CERTIFICATE`,
/// `…_CLIENT_CERTIFICATE` and `…_CLIENT_KEY` (and their per-signal forms). They only matter
/// for an `https://` endpoint.
///
/// With no `ca_certificate`, the receiver's certificate is checked against the system's roots
/// (`/etc/ssl/certs` and the other places `rustls-native-certs` looks), or the Mozilla roots
/// compiled in (`webpki-roots`) where the system has none, as in a distroless image. With one,
/// only the certificates in that file are trusted: a private CA replaces the public ones.
///
/// ```
/// use telescope_otlp::{OtlpExportConfig, OtlpProtocol, OtlpTls};
///
/// let config = OtlpExportConfig::new("https://collector.internal:4318/v1/traces", OtlpProtocol::HttpProtobuf)
///     .tls(OtlpTls {
///         ca_certificate: Some("/etc/otel/ca.pem".into()),
///         ..OtlpTls::default()
///     });
/// assert!(config.tls.client_certificate.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtlpTls {
    /// PEM file of the certificates to trust instead of the system's roots.
    pub ca_certificate: Option<PathBuf>,
    /// PEM file of this client's certificate chain, for mutual TLS.
    pub client_certificate: Option<PathBuf>,
    /// PEM file of this client's private key (PKCS#8, PKCS#1 or SEC1), for mutual TLS.
    pub client_key: Option<PathBuf>,
}

/// Why the TLS files cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read, or its PEM is broken.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file holds no PEM `CERTIFICATE`.
    #[error("{path} holds no PEM certificate")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no PEM private key.
    #[error("{path} holds no PEM private key")]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// Only one of the client certificate and the client key is set.
    #[error(
        "mutual TLS needs both a client certificate and a client key; only the {present} is set"
    )]
    HalfAClientIdentity {
        /// The one that is set: `certificate` or `key`.
        present: &'static str,
    },
    /// rustls refused the certificates or the key (e.g. the key does not match the certificate).
    #[error("TLS refused the configuration: {0}")]
    Refused(String),
}

impl OtlpTls {
    /// Reads every file now, so that a mistake is reported at start-up rather than at the
    /// first export.
    ///
    /// # Errors
    /// [`TlsError`] naming the file and what is wrong with it.
    pub fn validate(&self) -> Result<(), TlsError> {
        if let Some(path) = &self.ca_certificate {
            certificates(path)?;
        }
        if let Some((chain, key)) = client_identity(self)? {
            // rustls checks here that the key belongs to the certificate.
            config_builder()?
                .with_root_certificates(RootCertStore::empty())
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Refused(e.to_string()))?;
        }
        Ok(())
    }

    /// The rustls configuration: `secure` when the endpoint is `https://` (for `http://` the
    /// connector never uses it, so no roots are loaded).
    fn client_config(&self, secure: bool) -> Result<rustls::ClientConfig, TlsError> {
        let builder = config_builder()?;
        if !secure {
            return Ok(builder
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth());
        }
        let builder = builder.with_root_certificates(self.roots()?);
        match client_identity(self)? {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Refused(e.to_string())),
            None => Ok(builder.with_no_client_auth()),
        }
    }

    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        if let Some(path) = &self.ca_certificate {
            for certificate in certificates(path)? {
                roots
                    .add(certificate)
                    .map_err(|e| TlsError::Refused(format!("{}: {e}", path.display())))?;
            }
            return Ok(roots);
        }
        // Certificates the system store holds but rustls cannot parse are skipped, as
        // browsers do; an empty system store falls back to the compiled-in Mozilla roots.
        let _ = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Ok(roots)
    }
}

/// rustls with the ring provider and its safe default protocol versions.
fn config_builder(
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Refused(e.to_string()))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |e: rustls_pki_types::pem::Error| TlsError::Unreadable {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

type ClientIdentity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_identity(tls: &OtlpTls) -> Result<Option<ClientIdentity>, TlsError> {
    match (&tls.client_certificate, &tls.client_key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(TlsError::HalfAClientIdentity {
            present: "certificate",
        }),
        (None, Some(_)) => Err(TlsError::HalfAClientIdentity { present: "key" }),
        (Some(certificate), Some(key_path)) => {
            let chain = certificates(certificate)?;
            let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| match e {
                rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey {
                    path: key_path.clone(),
                },
                other => TlsError::Unreadable {
                    path: key_path.clone(),
                    reason: other.to_string(),
                },
            })?;
            Ok(Some((chain, key)))
        }
    }
}

/// The connector of both transports: TCP (no Nagle delay, `timeout` to connect), then TLS for
/// an `https://` endpoint. `http2` offers only `h2` by ALPN, as gRPC needs.
pub(crate) fn connector(
    tls: &OtlpTls,
    endpoint: &http::Uri,
    timeout: Duration,
    http2: bool,
) -> Result<HttpsConnector<HttpConnector>, TlsError> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(timeout));
    let secure = endpoint.scheme_str() == Some("https");
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls.client_config(secure)?)
        .https_or_http();
    Ok(if http2 {
        builder.enable_http2().wrap_connector(tcp)
    } else {
        builder.enable_http1().wrap_connector(tcp)
    })
}

/// The TLS failure behind a transport error, if that is what it was: a certificate not
/// trusted, a name that does not match, a receiver that demanded a client certificate. Such a
/// failure repeats on every try, so the batch is refused for good rather than retried.
pub(crate) fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // `io::Error::source` skips the error it wraps (often another io::Error): go inside.
        next = match error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_client_identity_is_refused() {
        let tls = OtlpTls {
            client_key: Some("/nonexistent/key.pem".into()),
            ..OtlpTls::default()
        };
        assert_eq!(
            tls.validate(),
            Err(TlsError::HalfAClientIdentity { present: "key" })
        );
    }

    #[test]
    fn missing_and_empty_files_name_the_file() {
        let missing = OtlpTls {
            ca_certificate: Some("/nonexistent/ca.pem".into()),
            ..OtlpTls::default()
        };
        assert!(matches!(
            missing.validate(),
            Err(TlsError::Unreadable { path, .. }) if path == Path::new("/nonexistent/ca.pem")
        ));
        let dir = std::env::temp_dir().join(format!("telescope-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let tls = OtlpTls {
            ca_certificate: Some(empty.clone()),
            ..OtlpTls::default()
        };
        assert_eq!(tls.validate(), Err(TlsError::NoCertificate { path: empty }));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_system_roots_are_loaded_for_https() {
        let roots = OtlpTls::default().roots().expect("roots");
        assert!(!roots.is_empty(), "system or compiled-in roots");
    }
}
