//! STARTTLS against a tokio-rustls server with a self-signed certificate
//! (rcgen): the upgrade, the proof (TLS parameters, transcript, the hash of
//! the exact data octets), and a server injecting a reply in clear right
//! after its 220 (the CVE-2011-0411 class), which must not be believed.

use std::sync::Arc;
use std::time::Duration;

use crate::{recipients, stuffed, test_config, TRICKY};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use smtp_client::{
    connect_tcp, deliver, ClientError, Delivery, Destination, Envelope, Stage, TlsMode,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

fn acceptor() -> TlsAcceptor {
    let certified = rcgen::generate_simple_self_signed(vec!["tls.test".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// Serves one session; `after_220` is written together with the 220 to
/// STARTTLS. Returns the DATA octets received over TLS.
async fn serve(stream: TcpStream, after_220: &'static str) -> Vec<u8> {
    let mut plain = BufReader::new(stream);
    plain
        .get_mut()
        .write_all(b"220 tls.test ESMTP\r\n")
        .await
        .unwrap();
    let mut line = String::new();
    plain.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("EHLO "), "{line}");
    plain
        .get_mut()
        .write_all(b"250-tls.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
        .await
        .unwrap();
    line.clear();
    plain.read_line(&mut line).await.unwrap();
    assert_eq!(line, "STARTTLS\r\n");
    let go = format!("220 2.0.0 Ready to start TLS\r\n{after_220}");
    plain.get_mut().write_all(go.as_bytes()).await.unwrap();
    let Ok(tls) = acceptor().accept(plain.into_inner()).await else {
        return Vec::new();
    };
    encrypted_session(BufReader::new(tls)).await
}

async fn encrypted_session<S: AsyncRead + AsyncWrite + Unpin>(mut s: BufReader<S>) -> Vec<u8> {
    let mut data = Vec::new();
    let mut in_data = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if s.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
            return data;
        }
        if in_data {
            data.extend_from_slice(&line);
            if line == b".\r\n" {
                in_data = false;
                s.get_mut()
                    .write_all(b"250 2.0.0 Ok: queued as TLS1\r\n")
                    .await
                    .unwrap();
            }
            continue;
        }
        let reply: &[u8] = match line.as_slice() {
            l if l.starts_with(b"EHLO ") => b"250-tls.test\r\n250 PIPELINING\r\n",
            b"DATA\r\n" => {
                in_data = true;
                b"354 go ahead\r\n"
            }
            b"QUIT\r\n" => b"221 bye\r\n",
            _ => b"250 Ok\r\n",
        };
        s.get_mut().write_all(reply).await.unwrap();
    }
}

async fn session(after_220: &'static str) -> (Result<Delivery, ClientError>, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        serve(stream, after_220).await
    });
    let rcpts = recipients(&["a@tls.test"]);
    let envelope = Envelope {
        sender: "from@src.test",
        recipients: &rcpts,
        ..Default::default()
    };
    let destination = Destination {
        server_name: "tls.test",
        tls: TlsMode::Required,
    };
    let stream = connect_tcp("127.0.0.1", port, Duration::from_secs(5))
        .await
        .unwrap();
    let result = deliver(stream, &test_config(), &destination, &envelope, TRICKY, "t").await;
    let data = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    (result, data)
}

#[tokio::test]
async fn delivers_over_tls_with_a_proof_of_the_exact_octets() {
    let (result, data) = session("").await;
    let delivery = result.unwrap();
    assert_eq!(delivery.report.accepted().count(), 1);
    assert_eq!(data, stuffed(TRICKY), "the message went over TLS, stuffed");
    let proof = delivery.proof;
    let tls = proof.tls.expect("TLS parameters");
    assert_eq!(tls.version, "TLSv1.3");
    assert!(tls.cipher.starts_with("TLS13_"), "{}", tls.cipher);
    assert_eq!(proof.banner_name, "tls.test");
    assert_eq!(proof.ehlo_name, "tls.test");
    let hash = format!("{:x}", Sha256::digest(&data));
    assert_eq!(proof.body_sha256.as_deref(), Some(hash.as_str()));
    assert_eq!(delivery.report.bytes_sent, data.len() as u64);
    let expected_start = [
        "S: 220 tls.test ESMTP",
        "C: EHLO client.test",
        "S: 250-tls.test",
        "S: 250-PIPELINING",
        "S: 250 STARTTLS",
        "C: STARTTLS",
        "S: 220 2.0.0 Ready to start TLS",
    ];
    assert_eq!(proof.transcript[..7], expected_start);
    assert!(proof.transcript[7].starts_with("TLS: TLSv1.3 TLS13_"));
    assert_eq!(proof.transcript[8], "C: EHLO client.test");
    assert!(proof
        .transcript
        .contains(&"C: RCPT TO:<a@tls.test>".to_string()));
    let data_line = format!("C: [message data: {} octets, sha256 {hash}]", data.len());
    assert!(
        proof.transcript.contains(&data_line),
        "{:#?}",
        proof.transcript
    );
    assert!(proof
        .transcript
        .contains(&"S: 250 2.0.0 Ok: queued as TLS1".to_string()));
}

#[tokio::test]
async fn a_reply_injected_before_the_handshake_drops_the_connection() {
    let (result, data) = session("250 2.1.0 injected in clear\r\n").await;
    match result {
        Err(ClientError::Protocol { stage, detail }) => {
            assert_eq!(stage, Stage::Tls);
            assert!(detail.contains("after its STARTTLS reply"), "{detail}");
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    assert!(data.is_empty(), "nothing was sent");
}
