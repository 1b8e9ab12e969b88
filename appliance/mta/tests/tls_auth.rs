//! TLS and SMTP AUTH on the mta's listeners, with real peers: a rustls client
//! that trusts only the certificate the mta made on first start, and swaks
//! (`--tls`, `--tls-on-connect`, `--auth`) against the real manager's accounts.

mod common;

use std::time::Duration;

use common::downstream::Downstream;
use common::tls_client::{
    cmd, connector, keyword, reply, server_name, swaks, with_account, PASSWORD, USER,
};
use common::{config, start, wait_for, HOSTNAME};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn starttls_discards_pipelined_plaintext_and_requires_a_new_ehlo() {
    let dir = tempfile::tempdir().unwrap();
    let mta = start(dir.path(), config(dir.path()), 9).await;
    let mut tcp = TcpStream::connect(mta.smtp_addr()).await.unwrap();
    assert!(reply(&mut tcp).await.starts_with("220 "));
    let ehlo = cmd(&mut tcp, "EHLO client.test").await;
    assert!(keyword(&ehlo, "STARTTLS"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "no AUTH in clear: {ehlo}");
    // One write: the RSET is plaintext injected before the handshake.
    tcp.write_all(b"STARTTLS\r\nRSET\r\n").await.unwrap();
    assert_eq!(reply(&mut tcp).await, "220 2.0.0 Ready to start TLS\r\n");
    let mut tls = connector(dir.path())
        .connect(server_name(), tcp)
        .await
        .expect("handshake with the first-start certificate");
    // Nothing may come before our next command: the RSET was dropped.
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), tls.read(&mut byte)).await;
    assert!(early.is_err(), "the pipelined RSET was answered");
    // The EHLO state was forgotten: MAIL needs a new EHLO.
    let mail = cmd(&mut tls, "MAIL FROM:<a@sender.test>").await;
    assert!(mail.starts_with("503 5.5.1"), "{mail}");
    let ehlo = cmd(&mut tls, "EHLO client.test").await;
    assert!(ehlo.starts_with(&format!("250-{HOSTNAME}\r\n")), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(keyword(&ehlo, "AUTH PLAIN LOGIN"), "{ehlo}");
    let again = cmd(&mut tls, "STARTTLS").await;
    assert!(again.starts_with("503 5.5.1"), "{again}");
    assert_eq!(cmd(&mut tls, "QUIT").await, "221 2.0.0 Bye\r\n");
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn auth_in_clear_is_refused_and_the_session_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mta = start(dir.path(), config(dir.path()), 9).await;
    let mut tcp = TcpStream::connect(mta.smtp_addr()).await.unwrap();
    reply(&mut tcp).await;
    cmd(&mut tcp, "EHLO client.test").await;
    let plain = cmd(&mut tcp, "AUTH PLAIN AHJvYW1lcgBzZWNyZXQ=").await;
    assert!(plain.starts_with("538 5.7.11 "), "{plain}");
    let login = cmd(&mut tcp, "AUTH LOGIN").await;
    assert!(login.starts_with("538 5.7.11 "), "{login}");
    assert_eq!(cmd(&mut tcp, "NOOP").await, "250 2.0.0 Ok\r\n");
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn swaks_authenticates_over_starttls_implicit_tls_and_submission() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let (_manager, mta) = with_account(dir.path(), down.port).await;
    let login = ["--auth-user", USER, "--auth-password", PASSWORD];
    let (ok, log) = swaks(
        mta.smtp_addr(),
        &[&["--tls", "--auth", "PLAIN"][..], &login].concat(),
    )
    .await;
    assert!(ok, "{log}");
    assert!(
        log.contains("<~  235 2.7.0 Authentication successful"),
        "{log}"
    );
    assert!(log.contains("<~  250 2.0.0 Ok: queued as "), "{log}");

    let smtps = mta.smtps_addr().expect("implicit TLS listener");
    let args = [&["--tls-on-connect", "--auth", "LOGIN"][..], &login].concat();
    let (ok, log) = swaks(smtps, &args).await;
    assert!(ok, "{log}");
    assert!(log.contains("=== TLS started with cipher"), "{log}");
    assert!(
        log.contains("=== TLS peer DN=\"/CN=mx.filterbox.test\""),
        "{log}"
    );
    assert!(
        log.contains("<~  235 2.7.0 Authentication successful"),
        "{log}"
    );
    assert!(wait_for(Duration::from_secs(10), || down.messages().len() == 2).await);

    // Submission (587): MAIL needs AUTH; with it, the message goes through.
    let submission = mta.submission_addr().expect("submission listener");
    let (ok, log) = swaks(submission, &["--tls"]).await;
    assert!(
        !ok && log.contains("<~* 530 5.7.0 authentication required"),
        "{log}"
    );
    let args = [&["--tls", "--auth", "PLAIN"][..], &login].concat();
    let (ok, log) = swaks(submission, &args).await;
    assert!(ok && log.contains("<~  250 2.0.0 Ok: queued as "), "{log}");
    assert!(wait_for(Duration::from_secs(10), || down.messages().len() == 3).await);
    // RFC 3848: the Received field says how each message came in.
    let with = |i: usize| {
        let text = String::from_utf8_lossy(&down.messages()[i].data).into_owned();
        let line = text.lines().nth(1).unwrap_or_default().to_string();
        line.split(" with ").nth(1).unwrap_or_default().to_string()
    };
    assert!(with(0).starts_with("ESMTPSA id "), "{}", with(0));
    assert!(with(2).starts_with("ESMTPSA id "), "{}", with(2));
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_wrong_password_gets_535_after_a_delay() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let (_manager, mta) = with_account(dir.path(), down.port).await;
    let started = std::time::Instant::now();
    let args = [
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        USER,
        "--auth-password",
        "wrong",
    ];
    let (ok, log) = swaks(mta.smtp_addr(), &args).await;
    assert!(!ok, "{log}");
    assert!(
        log.contains("<~* 535 5.7.8 authentication credentials invalid"),
        "{log}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "no delay after a failure"
    );
    // An unknown login is refused the same way.
    let args = [
        "--tls",
        "--auth",
        "LOGIN",
        "--auth-user",
        "nobody@example.test",
        "--auth-password",
        PASSWORD,
    ];
    let (ok, log) = swaks(mta.smtp_addr(), &args).await;
    assert!(!ok && log.contains("<~* 535 5.7.8 "), "{log}");
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn implicit_tls_never_speaks_smtp_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.mta.smtps_listen = Some("127.0.0.1:0".into());
    let mta = start(dir.path(), c, 9).await;
    let mut tcp = TcpStream::connect(mta.smtps_addr().unwrap()).await.unwrap();
    tcp.write_all(b"EHLO client.test\r\n").await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the mta closes a client that does not start TLS"
    );
    assert!(!got.windows(3).any(|w| w == b"220"), "{got:?}");
    // A TLS client on the same port gets the banner encrypted.
    let tcp = TcpStream::connect(mta.smtps_addr().unwrap()).await.unwrap();
    let mut tls = connector(dir.path())
        .connect(server_name(), tcp)
        .await
        .unwrap();
    assert!(reply(&mut tls)
        .await
        .starts_with(&format!("220 {HOSTNAME} ")));
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refused_implicit_tls_client_reads_its_421_inside_tls() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.mta.smtps_listen = Some("127.0.0.1:0".into());
    c.mta.max_connections_per_ip = 1;
    let mta = start(dir.path(), c, 9).await;
    let smtps = mta.smtps_addr().unwrap();
    let tcp = TcpStream::connect(smtps).await.unwrap();
    let mut first = connector(dir.path())
        .connect(server_name(), tcp)
        .await
        .unwrap();
    assert!(reply(&mut first).await.starts_with("220 "));
    let tcp = TcpStream::connect(smtps).await.unwrap();
    let mut second = connector(dir.path())
        .connect(server_name(), tcp)
        .await
        .expect("the refusal still speaks TLS");
    let refused = reply(&mut second).await;
    assert!(refused.starts_with("421 4.7.0 "), "{refused}");
    assert!(
        cmd(&mut first, "NOOP").await.starts_with("250 "),
        "the first session goes on"
    );
    mta.shutdown().await.unwrap();
}
