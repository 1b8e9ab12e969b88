//! SMTPUTF8 (RFC 6531) over a real socket: announced, UTF-8 addresses
//! accepted with the MAIL parameter, refused with 553 5.6.7 without it, and
//! the session usable after the refusal.

mod common;

use std::time::Duration;

use common::downstream::Downstream;
use common::{config, start, wait_for, Client};

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
