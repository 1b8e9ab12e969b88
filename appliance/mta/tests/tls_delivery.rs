//! Delivery to a real Postfix standing in for the customer's server: over
//! STARTTLS with the proof of delivery in tracking, and, for a domain
//! whose policy requires TLS, nothing sent to a Postfix that offers none.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::downstream::Downstream;
use common::test_manager::TestManager;
use common::{managed_config, queue_id, reconfigure_postfix, wait_for, Client};
use model::api::{EventKind, TlsPolicy};
use mta::Mta;
use test_harness::postfix::{open_dir, run, Postfix};

/// Postfix's `myhostname` in the harness: its banner and EHLO name.
const POSTFIX_NAME: &str = "mx.postfix.test";

/// Turns on STARTTLS in a running harness Postfix (a fresh self-signed
/// certificate) and waits until smtpd offers it.
async fn enable_tls(base: &Path, postfix: &Postfix) {
    let etc = base.join("postfix/etc");
    let (cert, key) = (etc.join("cert.pem"), etc.join("key.pem"));
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={POSTFIX_NAME}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    let settings = [
        "smtpd_tls_security_level=may".to_string(),
        format!("smtpd_tls_cert_file={}", cert.display()),
        format!("smtpd_tls_key_file={}", key.display()),
        "smtpd_tls_loglevel=1".to_string(),
    ];
    // smtpd needs the TLS manager (PRNG seed, session cache) for STARTTLS.
    let tlsmgr = "tlsmgr/unix=tlsmgr unix - - n 1000? 1 tlsmgr";
    reconfigure_postfix(base, postfix.port, &settings, &[tlsmgr], "STARTTLS").await;
}

/// Sends one message to `user@example.test` through the mta; its queue id.
async fn send(mta: &Mta, subject: &str) -> String {
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<sender@sender.test>").await;
    assert_eq!(
        c.cmd("RCPT TO:<user@example.test>").await,
        "250 2.1.5 Ok\r\n"
    );
    c.cmd("DATA").await;
    c.send(format!("From: <sender@sender.test>\r\nSubject: {subject}\r\n\r\nbody\r\n").as_bytes())
        .await;
    let id = queue_id(&c.cmd(".").await);
    c.cmd("QUIT").await;
    id
}

/// An mta and a manager on `dir`, example.test delivered to `port` under `tls`.
async fn start(dir: &Path, port: u16, tls: TlsPolicy) -> (TestManager, Mta) {
    let mut config = managed_config(dir, port);
    for d in &mut config.initial_data.domains {
        d.tls = tls;
    }
    let manager = TestManager::start(&config, dir).await;
    let mta = Mta::start(std::sync::Arc::new(config), dir.to_path_buf())
        .await
        .expect("mta starts");
    (manager, mta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_gets_the_mail_over_starttls_and_the_proof_is_tracked() {
    let dir = tempfile::tempdir().unwrap();
    open_dir(dir.path());
    let onward = Downstream::accepting().await;
    let postfix = Postfix::start(dir.path(), "", onward.port);
    enable_tls(dir.path(), &postfix).await;
    let (manager, mta) = start(dir.path(), postfix.port, TlsPolicy::Required).await;

    let id = send(&mta, "over tls").await;
    let events = manager.events_until(&id, EventKind::Delivered).await;
    let delivered = events
        .iter()
        .find(|e| e.kind == EventKind::Delivered)
        .unwrap();
    let proof = delivered.proof.as_ref().expect("a proof of delivery");
    assert_eq!(proof.banner_name, POSTFIX_NAME);
    assert_eq!(proof.ehlo_name, POSTFIX_NAME);
    assert_eq!(proof.address, format!("127.0.0.1:{}", postfix.port));
    let version = proof.tls_version.as_deref().unwrap_or_default();
    assert!(version == "TLSv1.3" || version == "TLSv1.2", "{proof:?}");
    assert!(
        proof
            .tls_cipher
            .as_deref()
            .is_some_and(|c| c.starts_with("TLS")),
        "{proof:?}"
    );
    let t = &proof.transcript;
    let at = |line: &str| {
        t.iter()
            .position(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("{line:?} in {t:#?}"))
    };
    assert!(at("S: 220 mx.postfix.test ESMTP") < at("C: STARTTLS"));
    assert!(at("C: STARTTLS") < at("S: 220 2.0.0 Ready to start TLS"));
    assert!(at("TLS: ") < at("C: MAIL FROM:<sender@sender.test>"));
    assert_eq!(
        t.iter()
            .filter(|l| *l == "C: EHLO mx.filterbox.test")
            .count(),
        2,
        "EHLO again after TLS"
    );
    assert!(at("C: [message data: ") < at("S: 250 2.0.0 Ok: queued as "));
    assert_eq!(proof.body_sha256.len(), 64);
    assert!(proof.body_bytes > 0);
    assert_eq!(
        delivered
            .reply
            .as_deref()
            .map(|r| r.starts_with("250 2.0.0 Ok: queued as ")),
        Some(true)
    );

    postfix.wait_log(&["TLS connection established from"]);
    let relayed = wait_for(Duration::from_secs(20), || !onward.messages().is_empty()).await;
    assert!(relayed, "Postfix passed the message on: {}", postfix.log());
    let data = String::from_utf8_lossy(&onward.messages()[0].data).into_owned();
    assert!(data.contains("Subject: over tls"), "{data}");
    assert!(
        data.contains("with ESMTPS"),
        "Postfix saw an encrypted session: {data}"
    );
    mta.shutdown().await.unwrap();
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_tls_to_a_server_without_starttls_is_deferred_unsent() {
    let dir = tempfile::tempdir().unwrap();
    open_dir(dir.path());
    let onward = Downstream::accepting().await;
    let postfix = Postfix::start(dir.path(), "", onward.port);
    let (manager, mta) = start(dir.path(), postfix.port, TlsPolicy::Required).await;

    let id = send(&mta, "never in clear").await;
    let events = manager.events_until(&id, EventKind::Deferred).await;
    let deferred = events
        .iter()
        .find(|e| e.kind == EventKind::Deferred)
        .unwrap();
    assert!(
        deferred
            .detail
            .contains("4.7.4 TLS is required, but the server did not offer STARTTLS"),
        "{deferred:?}"
    );
    // Postfix saw EHLO and QUIT, never a MAIL command.
    let line = postfix.wait_log(&["disconnect from", "ehlo=1", "quit=1"]);
    assert!(!line.contains("mail="), "{line}");
    assert!(!events.iter().any(|e| e.kind == EventKind::Delivered));
    assert!(onward.messages().is_empty());
    mta.shutdown().await.unwrap();
    manager.stop().await;
}

/// A server that offers STARTTLS, says 220, then speaks clear text instead
/// of TLS; in a session without STARTTLS it takes the message.
async fn broken_tls_server() -> (u16, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 broken.test ESMTP\r\n").await.unwrap();
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push(line.clone());
                let reply: &[u8] = match line.as_str() {
                    "STARTTLS" => b"220 go ahead\r\nthis is not TLS at all\r\n",
                    "DATA" => b"354 go\r\n",
                    "." => b"250 2.0.0 Ok: in clear\r\n",
                    "QUIT" => b"221 bye\r\n",
                    l if l.starts_with("EHLO") => b"250-broken.test\r\n250 STARTTLS\r\n",
                    l if l.starts_with("MAIL") || l.starts_with("RCPT") => b"250 Ok\r\n",
                    _ => continue,
                };
                if write.write_all(reply).await.is_err() || line == "QUIT" {
                    break;
                }
            }
        }
        seen
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunistic_tls_that_fails_falls_back_to_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (port, server) = broken_tls_server().await;
    let (manager, mta) = start(dir.path(), port, TlsPolicy::Opportunistic).await;
    let id = send(&mta, "clear after all").await;
    let events = manager.events_until(&id, EventKind::Delivered).await;
    let delivered = events
        .iter()
        .find(|e| e.kind == EventKind::Delivered)
        .unwrap();
    let proof = delivered.proof.as_ref().unwrap();
    assert_eq!(proof.tls_version, None, "{proof:?}");
    assert!(!proof.transcript.iter().any(|l| l == "C: STARTTLS"));
    let seen = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen.iter().filter(|l| *l == "STARTTLS").count(),
        1,
        "{seen:?}"
    );
    assert!(
        seen.contains(&"Subject: clear after all".to_string()),
        "{seen:?}"
    );
    mta.shutdown().await.unwrap();
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_transaction_is_one_delivered_event_with_one_proof() {
    let dir = tempfile::tempdir().unwrap();
    open_dir(dir.path());
    let onward = Downstream::accepting().await;
    let postfix = Postfix::start(dir.path(), "", onward.port);
    let (manager, mta) = start(dir.path(), postfix.port, TlsPolicy::Opportunistic).await;

    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<sender@sender.test>").await;
    for rcpt in ["user@example.test", "other@example.test"] {
        let reply = c.cmd(&format!("RCPT TO:<{rcpt}>")).await;
        assert_eq!(reply, "250 2.1.5 Ok\r\n");
    }
    c.cmd("DATA").await;
    let id = queue_id(&c.cmd("Subject: two\r\n\r\nbody\r\n.").await);
    c.cmd("QUIT").await;

    let events = manager.events_until(&id, EventKind::Delivered).await;
    let delivered: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Delivered)
        .collect();
    assert_eq!(delivered.len(), 1, "{events:#?}");
    assert_eq!(
        delivered[0].recipients,
        ["user@example.test", "other@example.test"],
        "in envelope order"
    );
    let proof = delivered[0].proof.as_ref().expect("the proof, once");
    let rcpts = proof
        .transcript
        .iter()
        .filter(|l| l.starts_with("C: RCPT TO:"))
        .count();
    assert_eq!(rcpts, 2, "{:#?}", proof.transcript);
    mta.shutdown().await.unwrap();
    manager.stop().await;
}
