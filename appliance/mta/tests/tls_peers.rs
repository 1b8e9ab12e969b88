//! TLS with other real peers: Postfix relaying to the mta with
//! `smtp_tls_security_level = encrypt`, and a certificate uploaded through
//! the manager's API served by the running mta.

mod common;

use std::time::Duration;

use common::downstream::Downstream;
use common::tls_client::{presented, swaks, with_account};
use common::{config, start, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_relays_to_the_mta_with_tls_required() {
    use test_harness::postfix::{run, Postfix, POSTFIX};
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let mta = start(dir.path(), config(dir.path()), down.port).await;
    let (base, mta_port) = (dir.path().to_path_buf(), mta.smtp_addr().port());
    let postfix = tokio::task::spawn_blocking(move || {
        let postfix = Postfix::start(&base, "", mta_port);
        let etc = base.join("postfix/etc");
        let etc = etc.to_str().unwrap();
        run(std::process::Command::new("postconf").args([
            "-c",
            etc,
            "-e",
            "smtp_tls_security_level = encrypt",
            "smtp_tls_loglevel = 1",
        ]));
        // The smtp client's TLS needs the tlsmgr service.
        run(std::process::Command::new("postconf").args([
            "-c",
            etc,
            "-M",
            "tlsmgr/unix=tlsmgr unix - - n 1000? 1 tlsmgr",
        ]));
        run(std::process::Command::new(POSTFIX).args(["-c", etc, "reload"]));
        std::thread::sleep(Duration::from_secs(1));
        postfix
    })
    .await
    .unwrap();
    let (ok, log) = swaks(
        format!("127.0.0.1:{}", postfix.port).parse().unwrap(),
        &["--header", "Subject: via postfix"],
    )
    .await;
    assert!(ok, "{log}");
    let postfix = tokio::task::spawn_blocking(move || {
        postfix.wait_log(&["TLS connection established to 127.0.0.1", "TLSv1.3"]);
        postfix.wait_log(&["status=sent", &format!("127.0.0.1[127.0.0.1]:{mta_port}")]);
        postfix
    })
    .await
    .unwrap();
    assert!(wait_for(Duration::from_secs(10), || down.messages().len() == 1).await);
    let text = String::from_utf8_lossy(&down.messages()[0].data).into_owned();
    assert!(text.contains("Subject: via postfix\r\n"), "{text}");
    assert!(text.contains("(filterbox) with ESMTPS id "), "{text}");
    drop(postfix);
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_uploaded_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let (manager, mta) = with_account(dir.path(), down.port).await;
    let first = presented(mta.smtp_addr()).await;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["mail.customer.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let upload = model::api::NewTlsCertificate {
        cert: cert.pem(),
        key: key.serialize_pem(),
    };
    let info = manager
        .call(move |api| api.set_tls_certificate(&upload))
        .await;
    assert_eq!(info.names, ["mail.customer.test"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now = presented(mta.smtp_addr()).await;
    assert_ne!(now, first);
    assert_eq!(now, cert.der().to_vec());
    mta.shutdown().await.unwrap();
}
