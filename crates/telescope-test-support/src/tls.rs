//! Certificates for TLS tests, made with `rcgen` in a temporary directory: a CA, a server
//! certificate for `localhost` and `127.0.0.1` signed by it, a client certificate signed by it
//! (for mutual TLS), and the server side's rustls configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A CA and the certificates it signed, as PEM files in a directory deleted on drop.
#[derive(Debug)]
pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// Makes a fresh CA (with a name of its own, so that two are told apart as two real CAs
    /// are), server and client certificates, each with its own key.
    pub fn new() -> TestPki {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("telescope test CA {}", fastrand::u64(..)),
        );
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        write(dir.path(), "ca.pem", &ca.pem());
        let issuer = Issuer::new(ca_params, ca_key);
        for (name, purpose, names) in [
            (
                "server",
                ExtendedKeyUsagePurpose::ServerAuth,
                vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            ),
            (
                "client",
                ExtendedKeyUsagePurpose::ClientAuth,
                vec!["telescope-client".to_owned()],
            ),
        ] {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![purpose];
            let certificate = params.signed_by(&key, &issuer).expect("certificate");
            write(dir.path(), &format!("{name}.pem"), &certificate.pem());
            write(dir.path(), &format!("{name}-key.pem"), &key.serialize_pem());
        }
        TestPki { dir }
    }

    /// The CA certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate (PEM), for `localhost` and `127.0.0.1`.
    pub fn server_certificate(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server's private key (PEM).
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("server-key.pem")
    }

    /// The client certificate (PEM), for mutual TLS.
    pub fn client_certificate(&self) -> PathBuf {
        self.dir.path().join("client.pem")
    }

    /// The client's private key (PEM).
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client-key.pem")
    }

    /// The receiver's TLS configuration: its certificate, and when `require_client_certificate`
    /// a demand for a client certificate signed by this CA (mutual TLS). `alpn` is what the
    /// server speaks (`h2` for gRPC, `http/1.1` for OTLP/HTTP).
    pub fn server_config(
        &self,
        require_client_certificate: bool,
        alpn: &[&[u8]],
    ) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let builder = if require_client_certificate {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in certificates(&self.ca()) {
                roots.add(certificate).expect("CA certificate");
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::from_pem_file(self.server_key()).expect("server key");
        let mut config = builder
            .with_single_cert(certificates(&self.server_certificate()), key)
            .expect("server certificate");
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        Arc::new(config)
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

fn write(dir: &Path, name: &str, pem: &str) {
    std::fs::write(dir.join(name), pem).expect("write a PEM file");
}

fn certificates(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("PEM file")
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM certificates")
}
