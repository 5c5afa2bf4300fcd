//! Certificates made at test time, for HTTPS tests: a certificate authority ([`TestCa`]) and
//! a server certificate it signed for `127.0.0.1`, `::1` and `localhost`.
//! [`crate::fault::FaultServer::start_tls`] serves with them; a client trusts the server only
//! when it is given the CA's PEM ([`TestCa::write_ca_pem`]).

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority made at test time and a server certificate it signed.
#[derive(Debug)]
pub struct TestCa {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
    server_pem: (String, String),
}

impl TestCa {
    /// A new CA (`wua test CA`) and a server certificate for `127.0.0.1`, `::1` and
    /// `localhost`, both valid from 1975 to 4096 (rcgen's defaults).
    pub fn new() -> anyhow::Result<TestCa> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "wua test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "::1".to_owned(), "localhost".to_owned()])?;
        server_params.distinguished_name.push(DnType::CommonName, "wua test server");
        let server_cert = server_params.signed_by(&server_key, &issuer)?;
        Ok(TestCa {
            ca_pem: ca_cert.pem(),
            server_cert: server_cert.der().clone(),
            server_key: server_key.serialize_der(),
            server_pem: (server_cert.pem(), server_key.serialize_pem()),
        })
    }

    /// The CA's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA's certificate (PEM) to `path`, for a client's extra roots.
    pub fn write_ca_pem(&self, path: &Path) -> std::io::Result<()> {
        fs_err::write(path, &self.ca_pem)
    }

    /// Writes the server's certificate and private key (PEM) for a server's TLS
    /// configuration.
    pub fn write_server_pem(&self, certificate: &Path, key: &Path) -> std::io::Result<()> {
        fs_err::write(certificate, &self.server_pem.0)?;
        fs_err::write(key, &self.server_pem.1)
    }

    /// A rustls server configuration presenting the server certificate.
    pub(crate) fn server_config(&self) -> std::io::Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(vec![self.server_cert.clone()], key))
            .map_err(std::io::Error::other)?;
        Ok(Arc::new(config))
    }
}
