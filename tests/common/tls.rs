//! TLS for tests: a CA made by the test (`TestCa`, with a server certificate
//! for 127.0.0.1 and localhost) and `Front`, a TLS-terminating proxy on
//! loopback that hands each decrypted connection to the same recording,
//! fault-injecting forwarder as the plain proxy of `pypi.rs`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::pypi::{serve, Log};

pub struct TestCa {
    /// The CA certificate, PEM: what a client must trust.
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "release test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "release test server");
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![
                    cert.der().clone(),
                    CertificateDer::from(ca_cert.der().to_vec()),
                ],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        TestCa {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        }
    }

    /// Write the CA certificate to `dir/name`; returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }
}

/// HTTPS on a loopback port, decrypted and forwarded to `upstream` (plain
/// HTTP), each request recorded in `log`.
#[derive(Clone)]
pub struct Front {
    pub port: u16,
    pub log: Log,
}

impl Front {
    pub fn start(upstream: u16, ca: &TestCa) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Log::default();
        let (l, config) = (log.clone(), ca.server.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (l, config) = (l.clone(), config.clone());
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    // A client that refuses our certificate ends the
                    // handshake: the forwarder sees an error and stops.
                    let _ = serve(rustls::StreamOwned::new(conn, tcp), upstream, &l);
                });
            }
        });
        Front { port, log }
    }

    /// `https://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }
}
