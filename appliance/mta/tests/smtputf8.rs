//! SMTPUTF8 (RFC 6531) over a real socket: announced, UTF-8 addresses
//! accepted with the MAIL parameter, refused with 553 5.6.7 without it, and
//! the session usable after the refusal; onward, asked for from a real
//! Postfix with `smtputf8_enable = yes`, and a bounce (5.6.7) where the
//! server (smtp-sink) does not offer it, unless the message is plain ASCII.

mod common;

use std::time::Duration;

use std::sync::Arc;

use common::downstream::Downstream;
use common::sink::Sink;
use common::test_manager::TestManager;
use common::{config, managed_config, queue_id, reconfigure_postfix, start, wait_for, Client};
use model::api::EventKind;
use test_harness::postfix::{open_dir, Postfix};

#[tokio::test]
async fn utf8_addresses_need_the_smtputf8_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let mta = start(dir.path(), config(dir.path()), down.port).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.contains("250-SMTPUTF8\r\n"), "{ehlo}");

    assert_eq!(
        c.cmd("MAIL FROM:<jörg@sender.test>").await,
        "553 5.6.7 non-ASCII address requires the SMTPUTF8 parameter on MAIL\r\n"
    );
    assert_eq!(c.cmd("MAIL FROM:<a@sender.test>").await, "250 2.1.0 Ok\r\n");
    assert_eq!(
        c.cmd("RCPT TO:<jörg@example.test>").await,
        "553 5.6.7 non-ASCII address requires the SMTPUTF8 parameter on MAIL\r\n"
    );
    assert_eq!(c.cmd("RSET").await, "250 2.0.0 Ok\r\n");

    assert_eq!(
        c.cmd("MAIL FROM:<Jörg@Bücher.test> SMTPUTF8").await,
        "250 2.1.0 Ok\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<jö rg@example.test>").await,
        "501 5.1.3 bad recipient address syntax\r\n",
        "still a syntax check"
    );
    assert_eq!(
        c.cmd("RCPT TO:<user@example.test>").await,
        "250 2.1.5 Ok\r\n"
    );
    assert!(c.cmd("DATA").await.starts_with("354 "));
    c.send("From: Jörg <jörg@bücher.test>\r\nSubject: Grüße\r\n\r\nHallo\r\n.\r\n".as_bytes())
        .await;
    let queued = c.reply().await;
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued}");
    assert!(wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await);
    let m = &down.messages()[0];
    assert_eq!(m.recipients, ["user@example.test"]);
    assert_eq!(m.sender, "Jörg@Bücher.test");
    assert!(String::from_utf8_lossy(&m.data).contains("Subject: Grüße\r\n"));
    mta.shutdown().await.unwrap();
}

/// Sends `subject` from `sender@sender.test` to `user@example.test` with
/// SMTPUTF8 on MAIL; returns the queue id.
async fn send_utf8(mta: &mta::Mta, subject: &str) -> String {
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    let mail = c.cmd("MAIL FROM:<sender@sender.test> SMTPUTF8").await;
    assert_eq!(mail, "250 2.1.0 Ok\r\n");
    assert_eq!(
        c.cmd("RCPT TO:<user@example.test>").await,
        "250 2.1.5 Ok\r\n"
    );
    c.cmd("DATA").await;
    c.send(format!("From: <sender@sender.test>\r\nSubject: {subject}\r\n\r\nHallo\r\n").as_bytes())
        .await;
    let id = queue_id(&c.cmd(".").await);
    c.cmd("QUIT").await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_is_asked_for_smtputf8() {
    let dir = tempfile::tempdir().unwrap();
    open_dir(dir.path());
    let onward = Downstream::accepting().await;
    let postfix = Postfix::start(dir.path(), "", onward.port);
    let utf8 = ["smtputf8_enable = yes".to_string()];
    reconfigure_postfix(dir.path(), postfix.port, &utf8, &[], "SMTPUTF8").await;
    let config = managed_config(dir.path(), postfix.port);
    let manager = TestManager::start(&config, dir.path()).await;
    let mta = mta::Mta::start(Arc::new(config), dir.path().to_path_buf())
        .await
        .unwrap();

    let id = send_utf8(&mta, "Grüße aus Köln").await;
    let events = manager.events_until(&id, EventKind::Delivered).await;
    let delivered = events
        .iter()
        .find(|e| e.kind == EventKind::Delivered)
        .unwrap();
    let proof = delivered.proof.as_ref().expect("a proof of delivery");
    let mail = proof
        .transcript
        .iter()
        .find(|l| l.starts_with("C: MAIL FROM:<sender@sender.test>"))
        .unwrap_or_else(|| panic!("{:#?}", proof.transcript));
    assert!(mail.ends_with(" SMTPUTF8"), "{mail}");
    let queued = postfix.wait_log(&["from=<sender@sender.test>"]);
    assert!(queued.contains("nrcpt=1"), "{queued}");
    mta.shutdown().await.unwrap();
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_utf8_message_bounces_where_smtputf8_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(dir.path(), "sink", &[]).await;
    let mta = start(dir.path(), config(dir.path()), sink.port).await;
    let utf8 = send_utf8(&mta, "Grüße").await;
    let ascii = send_utf8(&mta, "plain").await;

    let both = wait_for(Duration::from_secs(10), || sink.dumps().len() >= 2).await;
    let dumps = sink.dumps();
    assert!(both, "{dumps:#?}");
    assert_eq!(dumps.len(), 2, "{dumps:#?}");
    let delivered: Vec<&String> = dumps
        .iter()
        .filter(|d| d.contains("X-Rcpt-Args: <user@example.test>"))
        .collect();
    assert_eq!(delivered.len(), 1, "only the ASCII one: {dumps:#?}");
    assert!(delivered[0].contains("Subject: plain"));
    assert!(delivered[0].contains(&format!("with UTF8SMTP id {ascii}")));
    let bounce = dumps
        .iter()
        .find(|d| d.contains("X-Rcpt-Args: <sender@sender.test>"))
        .expect("a bounce to the sender");
    assert!(
        bounce.contains(&format!("X-Filterbox-Queue-ID: {utf8}")),
        "{bounce}"
    );
    assert!(
        bounce
            .contains("Final-Recipient: rfc822; user@example.test\nAction: failed\nStatus: 5.6.7"),
        "{bounce}"
    );
    mta.shutdown().await.unwrap();
}
