//! TLS and AUTH helpers of the integration tests: a raw SMTP exchange over
//! any stream, TLS clients (one trusting the mta's own certificate, one
//! taking any), swaks, and an mta with a real manager holding one account.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use model::api::NewSmtpAccount;
use model::config::SystemConfig;
use mta::Mta;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::managed_config;
use super::test_manager::TestManager;
use super::HOSTNAME;

pub const USER: &str = "roamer@example.test";
pub const PASSWORD: &str = "correct horse battery";

/// Reads one complete reply (all its lines) from `stream`.
pub async fn reply<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut out = Vec::new();
    loop {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut byte))
            .await
            .expect("reply within 20 s")
            .expect("read");
        assert_eq!(n, 1, "closed; so far {:?}", String::from_utf8_lossy(&out));
        out.push(byte[0]);
        let text = String::from_utf8_lossy(&out);
        let last_line = text.rsplit_terminator("\r\n").next().unwrap_or("");
        if text.ends_with("\r\n") && last_line.as_bytes().get(3) == Some(&b' ') {
            return text.into_owned();
        }
    }
}

pub async fn cmd<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, line: &str) -> String {
    stream
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .unwrap();
    reply(stream).await
}

/// A TLS client that trusts exactly the certificate in the mta's data directory.
pub fn connector(dir: &Path) -> tokio_rustls::TlsConnector {
    let pem = std::fs::read(dir.join("tls/cert.pem")).expect("certificate made on first start");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&pem) {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

pub fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .unwrap()
}

/// True when the EHLO reply announces `word`.
pub fn keyword(ehlo: &str, word: &str) -> bool {
    ehlo.lines().any(|l| l.get(4..) == Some(word))
}

pub fn server_name() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from(HOSTNAME).unwrap()
}

/// An mta with a real manager holding one SMTP account, and implicit TLS on.
pub async fn with_account(dir: &Path, port: u16) -> (TestManager, Mta) {
    let mut c: SystemConfig = managed_config(dir, port);
    c.mta.smtps_listen = Some("127.0.0.1:0".into());
    c.mta.submission_listen = Some("127.0.0.1:0".into());
    let manager = TestManager::start(&c, dir).await;
    manager
        .call(|api| {
            api.create_smtp_account(&NewSmtpAccount {
                username: USER.into(),
                domain: "example.test".into(),
                password: PASSWORD.into(),
            })
        })
        .await;
    let mta = Mta::start(Arc::new(c), dir.to_path_buf()).await.unwrap();
    (manager, mta)
}

pub async fn swaks(addr: SocketAddr, extra: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new("swaks")
        .args(["--timeout", "20", "--server", &addr.to_string()])
        .args(["--from", "sender@sender.test", "--to", "user@example.test"])
        .args(extra)
        .output()
        .await
        .expect("swaks runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The leaf certificate the mta presents after STARTTLS.
pub async fn presented(addr: SocketAddr) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    reply(&mut tcp).await;
    cmd(&mut tcp, "EHLO client.test").await;
    assert!(cmd(&mut tcp, "STARTTLS").await.starts_with("220 "));
    let tls = tokio_rustls::TlsConnector::from(Arc::new(accept_any()))
        .connect(server_name(), tcp)
        .await
        .unwrap();
    let (_, state) = tls.get_ref();
    state.peer_certificates().unwrap()[0].to_vec()
}

/// A client that takes any certificate: the test compares what it gets.
pub fn accept_any() -> rustls::ClientConfig {
    #[derive(Debug)]
    struct Any(Arc<rustls::crypto::CryptoProvider>);
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    impl ServerCertVerifier for Any {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algs = &self.0.signature_verification_algorithms;
            rustls::crypto::verify_tls12_signature(m, c, d, algs)
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algs = &self.0.signature_verification_algorithms;
            rustls::crypto::verify_tls13_signature(m, c, d, algs)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Any(provider)))
        .with_no_client_auth()
}
