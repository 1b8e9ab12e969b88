//! CHUNKING/BDAT (RFC 3030) over a real socket: pipelined chunks delivered
//! byte for byte, chunk octets never read as commands (refused chunks
//! included), DATA after BDAT refused, the size limit, and the session
//! usable after every refusal. (swaks and Postfix's client do not send
//! BDAT, so the client is the raw one.)

mod common;

use std::time::Duration;

use common::downstream::Downstream;
use common::{after_received, config, start, wait_for, Client};

#[tokio::test]
async fn pipelined_chunks_make_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let mta = start(dir.path(), config(dir.path()), down.port).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.contains("250-CHUNKING\r\n"), "{ehlo}");

    let first = b"Subject: chunks\r\n\r\n.\r\nQUIT\r\n";
    let second = b"..dots stay\r\n";
    let mut wire = b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<user@example.test>\r\n".to_vec();
    wire.extend_from_slice(format!("BDAT {}\r\n", first.len()).as_bytes());
    wire.extend_from_slice(first);
    wire.extend_from_slice(format!("BDAT {} LAST\r\n", second.len()).as_bytes());
    wire.extend_from_slice(second);
    wire.extend_from_slice(b"NOOP\r\n");
    c.send(&wire).await;
    let replies = c.replies(5).await;
    assert_eq!(replies[..2], ["250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n"]);
    assert_eq!(
        replies[2],
        format!("250 2.0.0 {} octets received\r\n", first.len())
    );
    assert!(
        replies[3].starts_with("250 2.0.0 Ok: queued as "),
        "{replies:?}"
    );
    assert_eq!(replies[4], "250 2.0.0 Ok\r\n");
    assert!(wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await);
    let m = &down.messages()[0];
    assert_eq!(
        after_received(&m.data),
        b"Subject: chunks\r\n\r\n.\r\nQUIT\r\n..dots stay\r\n"
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn refused_chunks_are_read_and_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mta.max_message_size = 1024;
    let mta = start(dir.path(), cfg, 9).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;

    // No transaction: 503, and the chunk's "RSET" is not a command.
    c.send(b"BDAT 6\r\nRSET\r\nNOOP\r\n").await;
    assert_eq!(
        c.replies(2).await,
        [
            "503 5.5.1 need MAIL and RCPT before BDAT\r\n",
            "250 2.0.0 Ok\r\n"
        ]
    );

    // Too big: 552 at the chunk that crosses the limit, 503 for the one
    // already pipelined behind it, then the session goes on.
    c.cmd("MAIL FROM:<a@sender.test>").await;
    c.cmd("RCPT TO:<user@example.test>").await;
    let mut wire = b"BDAT 2000\r\n".to_vec();
    wire.extend_from_slice(&b"012345678901234567\r\n".repeat(100));
    wire.extend_from_slice(b"BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
    c.send(&wire).await;
    assert_eq!(
        c.replies(3).await,
        [
            "552 5.3.4 message size exceeds fixed maximum message size\r\n",
            "503 5.5.1 need MAIL and RCPT before BDAT\r\n",
            "250 2.0.0 Ok\r\n"
        ]
    );

    // DATA after BDAT in one transaction.
    c.cmd("MAIL FROM:<a@sender.test>").await;
    c.cmd("RCPT TO:<user@example.test>").await;
    c.send(b"BDAT 4\r\nabcd").await;
    assert_eq!(c.reply().await, "250 2.0.0 4 octets received\r\n");
    assert_eq!(
        c.cmd("DATA").await,
        "503 5.5.1 DATA not allowed after BDAT\r\n"
    );
    assert_eq!(c.cmd("RSET").await, "250 2.0.0 Ok\r\n");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    mta.shutdown().await.unwrap();
}
