//! The SMTP server over real sockets: byte-exact exchanges with a raw
//! client, swaks as a real client, relay control, limits, the inject socket,
//! directory updates from the manager, and graceful shutdown.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::downstream::Downstream;
use common::test_manager::TestManager;
use common::{after_received, config, managed_config, queue_id, start, wait_for, Client, HOSTNAME};
use model::api::{EventKind, NewUser};
use model::Endpoint;

#[tokio::test]
async fn pipelined_transaction_in_one_write_is_delivered_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let mta = start(dir.path(), config(dir.path()), down.port).await;
    let (mut c, banner) = Client::connect(mta.smtp_addr()).await;
    assert_eq!(banner, format!("220 {HOSTNAME} ESMTP filterbox\r\n"));
    // A dot-stuffed line, a bare-LF smuggling attempt, and 8-bit text.
    c.send(
        b"EHLO client.test\r\nMAIL FROM:<sender@sender.test> BODY=8BITMIME\r\nRCPT TO:<User@Example.test>\r\n\
          DATA\r\nSubject: caf\xc3\xa9\r\nMessage-ID: <m1@sender.test>\r\n\r\n..dot\r\nhi\n.\nMAIL FROM:<x@y>\r\n.\r\nQUIT\r\n",
    )
    .await;
    let replies = c.replies(6).await;
    assert!(
        replies[0].starts_with("250-mx.filterbox.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n"),
        "{}",
        replies[0]
    );
    assert_eq!(
        replies[1..4],
        [
            "250 2.1.0 Ok\r\n",
            "250 2.1.5 Ok\r\n",
            "354 End data with <CR><LF>.<CR><LF>\r\n"
        ]
    );
    let id = queue_id(&replies[4]);
    assert_eq!(replies[5], "221 2.0.0 Bye\r\n");
    assert!(
        wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await,
        "delivered"
    );
    let m = &down.messages()[0];
    assert_eq!(
        (m.sender.as_str(), m.recipients.as_slice()),
        (
            "sender@sender.test",
            ["user@example.test".to_string()].as_slice()
        )
    );
    assert_eq!(m.helo, HOSTNAME);
    let text = String::from_utf8_lossy(&m.data);
    assert!(
        text.starts_with(&format!("Received: from client.test ([127.0.0.1])\r\n\tby {HOSTNAME} (filterbox) with ESMTP id {id}\r\n\tfor <user@example.test>; ")),
        "{text}"
    );
    assert_eq!(
        after_received(&m.data),
        b"Subject: caf\xc3\xa9\r\nMessage-ID: <m1@sender.test>\r\n\r\n.dot\r\nhi\r\n.\r\nMAIL FROM:<x@y>\r\n"
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn swaks_delivers_through_the_mta() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let mta = start(dir.path(), config(dir.path()), down.port).await;
    let addr = mta.smtp_addr().to_string();
    let out = tokio::process::Command::new("swaks")
        .args([
            "--server",
            &addr,
            "--from",
            "sender@sender.test",
            "--to",
            "user@example.test,other@example.test",
        ])
        .args([
            "--header",
            "Subject: swaks test",
            "--body",
            "hello from swaks",
        ])
        .output()
        .await
        .expect("swaks runs");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("<-  250 2.0.0 Ok: queued as "), "{log}");
    assert!(wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await);
    let m = &down.messages()[0];
    assert_eq!(m.recipients, ["user@example.test", "other@example.test"]);
    let body = String::from_utf8_lossy(after_received(&m.data)).into_owned();
    assert!(
        body.contains("Subject: swaks test\r\n") && body.contains("\r\n\r\nhello from swaks\r\n"),
        "{body}"
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn relay_and_recipient_control() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mta.submission_listen = Some("127.0.0.1:0".into());
    let mta = start(dir.path(), cfg, 9).await;
    // Submission: strangers must authenticate first (RFC 6409).
    let (mut s, _) = Client::connect(mta.submission_addr().unwrap()).await;
    s.cmd("EHLO c.test").await;
    assert_eq!(
        s.cmd("MAIL FROM:<a@elsewhere.test>").await,
        "530 5.7.0 authentication required\r\n"
    );
    assert_eq!(s.cmd("NOOP").await, "250 2.0.0 Ok\r\n");
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO c.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@elsewhere.test>").await,
        "250 2.1.0 Ok\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<user@elsewhere.test>").await,
        "554 5.7.1 <user@elsewhere.test>: relay access denied\r\n"
    );
    // Unknown mailboxes are verified with the domain's server; nothing
    // listens on its port 9 here: 451, never 550.
    assert_eq!(
        c.cmd("RCPT TO:<nobody@example.test>").await,
        "451 4.4.3 <nobody@example.test>: cannot verify the recipient now, try again later\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<Postmaster@EXAMPLE.test>").await,
        "250 2.1.5 Ok\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<user@example.test>").await,
        "250 2.1.5 Ok\r\n"
    );
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    mta.shutdown().await.unwrap();

    // Without a directory nothing is refused for good.
    let dir = tempfile::tempdir().unwrap();
    let mta = mta::Mta::start(Arc::new(config(dir.path())), dir.path().to_path_buf())
        .await
        .unwrap();
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("HELO c.test").await;
    c.cmd("MAIL FROM:<>").await;
    assert_eq!(
        c.cmd("RCPT TO:<user@example.test>").await,
        "451 4.3.0 recipient directory not available, try again later\r\n"
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn limits_over_tcp_keep_the_session_alive() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mta.max_message_size = 2000;
    let mta = start(dir.path(), cfg, 9).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    assert_eq!(
        c.cmd(&format!("NOOP {}", "x".repeat(600))).await,
        "500 5.5.2 line too long\r\n"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.test>").await,
        "503 5.5.1 send EHLO or HELO first\r\n"
    );
    c.cmd("EHLO c.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.test> SIZE=2001").await,
        "552 5.3.4 message size exceeds fixed maximum message size\r\n"
    );
    c.cmd("MAIL FROM:<a@b.test>").await;
    c.cmd("RCPT TO:<user@example.test>").await;
    c.cmd("DATA").await;
    c.send(format!("{}\r\n.\r\n", "y".repeat(1500)).as_bytes())
        .await;
    assert_eq!(c.reply().await, "500 5.5.6 line too long\r\n");
    c.cmd("MAIL FROM:<a@b.test>").await;
    c.cmd("RCPT TO:<user@example.test>").await;
    c.cmd("DATA").await;
    c.send(format!("{}.\r\n", "z\r\n".repeat(800)).as_bytes())
        .await;
    assert_eq!(
        c.reply().await,
        "552 5.3.4 message size exceeds fixed maximum message size\r\n"
    );
    assert_eq!(c.cmd("NOOP").await, "250 2.0.0 Ok\r\n");
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn connections_over_the_limit_get_421() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mta.max_connections = 1;
    let mta = start(dir.path(), cfg, 9).await;
    let (mut first, banner) = Client::connect(mta.smtp_addr()).await;
    assert!(banner.starts_with("220 "));
    let (_, refused) = Client::connect(mta.smtp_addr()).await;
    assert_eq!(
        refused,
        "421 4.7.0 too many connections, try again later\r\n"
    );
    assert_eq!(first.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    // The slot is free again once the first session has ended.
    let mut banner = String::new();
    for _ in 0..50 {
        banner = Client::connect(mta.smtp_addr()).await.1;
        if banner.starts_with("220 ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(banner.starts_with("220 "), "{banner}");
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn inject_socket_takes_any_valid_recipient_and_skips_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let mut cfg = config(dir.path());
    // A filter that does not exist: inbound mail would be tempfailed.
    cfg.mta.milter = Some(Endpoint::Unix(dir.path().join("no-filter.sock")));
    let socket = cfg.mta.inject_socket.clone();
    let mta = start(dir.path(), cfg, down.port).await;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    write
        .write_all(b"EHLO manager\r\nMAIL FROM:<a@outside.test>\r\nRCPT TO:<someone@example.test>\r\nDATA\r\nSubject: released\r\n\r\nok\r\n.\r\nQUIT\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    read.read_to_string(&mut out).await.unwrap();
    assert!(
        out.contains("250 2.1.5 Ok\r\n") && out.contains("250 2.0.0 Ok: queued as "),
        "{out}"
    );
    assert!(wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await);
    let text = String::from_utf8_lossy(&down.messages()[0].data).into_owned();
    assert!(
        text.starts_with("Received: from manager (localhost)\r\n"),
        "{text}"
    );

    // The same on port 25 is refused: the filter is down.
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO c.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<a@outside.test>").await,
        "451 4.7.1 content filter unavailable, try again later\r\n"
    );
    mta.shutdown().await.unwrap();
    assert!(!socket.exists(), "the socket is removed at shutdown");
}

#[tokio::test]
async fn directory_changes_and_tracking_go_through_the_manager_api() {
    let dir = tempfile::tempdir().unwrap();
    // The domain's server refuses the unknown mailbox to the call-out (its
    // first connection), and takes the delivery once it is provisioned.
    let down = Downstream::start(
        |a, n| match (a, n) {
            ("other@example.test", 1) => "550 5.1.1 no such user".into(),
            _ => "250 2.1.5 Ok".into(),
        },
        |_| "250 2.0.0 Ok: stored".into(),
    )
    .await;
    let mut cfg = managed_config(dir.path(), down.port);
    cfg.initial_data
        .users
        .retain(|u| u.address != "other@example.test");
    let manager = TestManager::start(&cfg, dir.path()).await;
    let mta = mta::Mta::start(Arc::new(cfg), dir.path().to_path_buf())
        .await
        .unwrap();
    let initial = manager.call(|api| api.generation()).await.generation;
    assert_eq!(
        mta.directory().snapshot().map(|d| d.generation),
        Some(initial),
        "the mta starts with the manager's directory"
    );

    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO c.test").await;
    c.cmd("MAIL FROM:<sender@sender.test>").await;
    assert!(c
        .cmd("RCPT TO:<other@example.test>")
        .await
        .starts_with("550 5.1.1"));
    let next = manager
        .call(|api| {
            api.create_user(&NewUser {
                source: Default::default(),
                address: "other@example.test".into(),
            })?;
            api.generation()
        })
        .await
        .generation;
    assert!(next > initial, "creating a user moves the generation");
    assert!(
        wait_for(Duration::from_secs(5), || mta
            .directory()
            .snapshot()
            .is_some_and(|d| d.generation == next))
        .await,
        "the poller picks up the new generation"
    );
    assert_eq!(
        c.cmd("RCPT TO:<other@example.test>").await,
        "250 2.1.5 Ok\r\n"
    );
    c.cmd("DATA").await;
    let id = queue_id(&c.cmd("Message-ID: <t1@sender.test>\r\n\r\nbody\r\n.").await);
    assert!(wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await);
    let events = manager.events_until(&id, EventKind::Delivered).await;
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Rejected,
            EventKind::Received,
            EventKind::Verdict,
            EventKind::Queued,
            EventKind::Delivered
        ]
    );
    let delivered = events
        .iter()
        .find(|e| e.kind == EventKind::Delivered)
        .unwrap();
    assert_eq!(delivered.message_id.as_deref(), Some("t1@sender.test"));
    assert!(
        delivered
            .remote
            .as_deref()
            .unwrap()
            .contains("[127.0.0.1]:"),
        "{delivered:?}"
    );
    assert!(
        delivered
            .reply
            .as_deref()
            .unwrap()
            .starts_with("250 2.0.0 Ok: stored"),
        "{delivered:?}"
    );
    use sha2::Digest;
    let digest = format!("{:x}", sha2::Sha256::digest(&down.messages()[0].data));
    assert!(
        delivered.detail.contains(&format!("sha256={digest}")),
        "{delivered:?}"
    );
    let rejected = &events[0];
    assert_eq!(
        (rejected.kind, rejected.recipients.as_slice()),
        (
            EventKind::Rejected,
            ["other@example.test".to_string()].as_slice()
        )
    );
    assert_eq!(
        rejected.reply.as_deref(),
        Some("550 5.1.1 <other@example.test>: recipient unknown")
    );
    mta.shutdown().await.unwrap();
    manager.stop().await;
}

#[tokio::test]
async fn shutdown_tells_idle_sessions_421() {
    let dir = tempfile::tempdir().unwrap();
    let mta = start(dir.path(), config(dir.path()), 9).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO c.test").await;
    let stopping = tokio::spawn(mta.shutdown());
    assert_eq!(
        c.read_to_end().await,
        "421 4.3.0 shutting down, try again later\r\n"
    );
    stopping.await.unwrap().unwrap();
}
