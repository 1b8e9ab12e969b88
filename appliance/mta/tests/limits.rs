//! Every configurable limit over real sockets, with swaks where a real
//! client shows it best: the reply code each limit gives, and that the
//! session stays usable where RFC 5321 says it should (452 for recipients,
//! 552 for size, 5xx for bad commands), or is closed where a 421 says so.

mod common;

use std::time::{Duration, Instant};

use common::downstream::Downstream;
use common::{config, start, wait_for, Client};

async fn swaks(args: &[&str]) -> String {
    let out = tokio::process::Command::new("swaks")
        .args(args)
        .output()
        .await
        .expect("swaks runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn concurrent_sessions_per_ip_get_421_4_7_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mta.max_connections_per_ip = 2;
    let mta = start(dir.path(), cfg, 9).await;
    let (mut first, _) = Client::connect(mta.smtp_addr()).await;
    let (_second, banner) = Client::connect(mta.smtp_addr()).await;
    assert!(banner.starts_with("220 "), "{banner}");
    let (mut third, refused) = Client::connect(mta.smtp_addr()).await;
    assert_eq!(
        refused,
        "421 4.7.0 too many connections from your address, try again later\r\n"
    );
    assert_eq!(third.read_to_end().await, "", "closed after the 421");
    assert_eq!(first.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    let mut banner = String::new();
    for _ in 0..50 {
        banner = Client::connect(mta.smtp_addr()).await.1;
        if banner.starts_with("220 ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        banner.starts_with("220 "),
        "a place is free again: {banner}"
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn connection_rate_per_ip_gets_421_4_7_0_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mta.connections_per_ip_per_minute = 30; // a burst of 30, then one per 2 s
    let mta = start(dir.path(), cfg, 9).await;
    for i in 0..30 {
        let (mut c, banner) = Client::connect(mta.smtp_addr()).await;
        assert!(banner.starts_with("220 "), "connection {i}: {banner}");
        c.cmd("QUIT").await;
    }
    let (_, refused) = Client::connect(mta.smtp_addr()).await;
    assert_eq!(
        refused,
        "421 4.7.0 too many connections from your address per minute, try again later\r\n"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, banner) = Client::connect(mta.smtp_addr()).await;
    assert!(banner.starts_with("220 "), "{banner}");
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn swaks_sees_452_past_the_recipient_limit_and_the_message_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let mut cfg = config(dir.path());
    cfg.mta.max_recipients = 2;
    let mta = start(dir.path(), cfg, down.port).await;
    let addr = mta.smtp_addr().to_string();
    let log = swaks(&[
        "--server",
        &addr,
        "--from",
        "sender@sender.test",
        "--to",
        "user@example.test,other@example.test,bad@example.test",
    ])
    .await;
    assert!(log.contains("<** 452 4.5.3 too many recipients"), "{log}");
    assert!(log.contains("<-  250 2.0.0 Ok: queued as "), "{log}");
    assert!(wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await);
    assert_eq!(
        down.messages()[0].recipients,
        ["user@example.test", "other@example.test"]
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn swaks_sees_552_for_a_message_over_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mta.max_message_size = 4096;
    let mta = start(dir.path(), cfg, 9).await;
    let addr = mta.smtp_addr().to_string();
    let body = "0123456789 ".repeat(600);
    let log = swaks(&[
        "--server",
        &addr,
        "--from",
        "sender@sender.test",
        "--to",
        "user@example.test",
        "--body",
        &body,
    ])
    .await;
    assert!(
        log.contains("<** 552 5.3.4 message size exceeds fixed maximum message size"),
        "{log}"
    );
    // The session is still usable: swaks says goodbye and is answered.
    assert!(log.contains("<-  221 2.0.0 Bye"), "{log}");
    let ehlo = swaks(&["--server", &addr, "--quit-after", "EHLO"]).await;
    assert!(ehlo.contains("<-  250-SIZE 4096"), "{ehlo}");
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn command_and_data_timeouts_are_settable() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mta.command_timeout_secs = 1;
    cfg.mta.data_timeout_secs = 2;
    let mta = start(dir.path(), cfg, 9).await;

    let (mut idle, _) = Client::connect(mta.smtp_addr()).await;
    let started = Instant::now();
    assert_eq!(idle.read_to_end().await, "421 4.4.2 timeout exceeded\r\n");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(2));

    let (mut slow, _) = Client::connect(mta.smtp_addr()).await;
    slow.cmd("HELO c.test").await;
    slow.cmd("MAIL FROM:<a@b.test>").await;
    slow.cmd("RCPT TO:<user@example.test>").await;
    assert!(slow.cmd("DATA").await.starts_with("354 "));
    let started = Instant::now();
    slow.send(b"Subject: half").await;
    assert_eq!(slow.read_to_end().await, "421 4.4.2 timeout exceeded\r\n");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn repeated_errors_are_slowed_down_then_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mta.error_delay_after = 2;
    cfg.mta.error_delay_ms = 300;
    cfg.mta.error_disconnect_after = 5;
    let mta = start(dir.path(), cfg, 9).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    let timed = |reply: String, started: Instant| (reply, started.elapsed());

    for _ in 0..2 {
        let t = Instant::now();
        let (reply, took) = timed(c.cmd("BOGUS").await, t);
        assert_eq!(reply, "500 5.5.1 command unrecognized\r\n");
        assert!(took < Duration::from_millis(250), "{took:?}");
    }
    let t = Instant::now();
    let (reply, took) = timed(c.cmd("MAIL FROM:<a@b.test>").await, t);
    assert_eq!(reply, "503 5.5.1 send EHLO or HELO first\r\n");
    assert!(took >= Duration::from_millis(300), "3rd error: {took:?}");
    // Valid commands still work, without delay.
    let t = Instant::now();
    let (reply, took) = timed(c.cmd("NOOP").await, t);
    assert_eq!(reply, "250 2.0.0 Ok\r\n");
    assert!(took < Duration::from_millis(250), "{took:?}");
    let t = Instant::now();
    let (reply, took) = timed(c.cmd("BOGUS").await, t);
    assert_eq!(reply, "500 5.5.1 command unrecognized\r\n");
    assert!(
        took >= Duration::from_millis(600),
        "4th error grows: {took:?}"
    );
    c.send(b"BOGUS\r\n").await;
    assert_eq!(
        c.read_to_end().await,
        "500 5.5.1 command unrecognized\r\n421 4.7.0 too many errors, closing connection\r\n"
    );
    mta.shutdown().await.unwrap();
}
