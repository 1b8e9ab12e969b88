//! Delivery to real downstream servers: Postfix's smtp-sink, and a
//! scripted recording server for retries, bounces and giving up.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::downstream::{Downstream, Received};
use common::{after_received, config, queue_id, start, wait_for, Client};
use mta::queue::Store;

/// Sends one message from `sender` to `rcpts` and returns the queue id.
async fn send(addr: std::net::SocketAddr, sender: &str, rcpts: &[&str], message: &str) -> String {
    let (mut c, _) = Client::connect(addr).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{sender}>")).await,
        "250 2.1.0 Ok\r\n"
    );
    for r in rcpts {
        assert_eq!(c.cmd(&format!("RCPT TO:<{r}>")).await, "250 2.1.5 Ok\r\n");
    }
    c.cmd("DATA").await;
    c.send(message.as_bytes()).await;
    let id = queue_id(&c.cmd(".").await);
    c.cmd("QUIT").await;
    id
}

/// Postfix's smtp-sink on a free loopback port, dumping each message to a file.
struct SmtpSink {
    port: u16,
    dump: PathBuf,
    _child: tokio::process::Child,
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

async fn smtp_sink(dir: &Path) -> SmtpSink {
    use std::os::unix::fs::PermissionsExt;
    let dump = dir.join("sink");
    std::fs::create_dir(&dump).unwrap();
    // smtp-sink drops to nobody when started as root, and must still write here.
    std::fs::set_permissions(&dump, std::fs::Permissions::from_mode(0o777)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = tokio::process::Command::new("/usr/sbin/smtp-sink");
    if running_as_root() {
        cmd.args(["-u", "nobody"]);
    }
    let child = cmd
        .args([
            "-d",
            &format!("{}/%M.", dump.display()),
            &format!("127.0.0.1:{port}"),
            "10",
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("smtp-sink runs");
    let up = wait_for(Duration::from_secs(5), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    assert!(up, "smtp-sink listens on {port}");
    SmtpSink {
        port,
        dump,
        _child: child,
    }
}

impl SmtpSink {
    fn dumps(&self) -> Vec<String> {
        std::fs::read_dir(&self.dump)
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

#[tokio::test]
async fn delivers_to_postfix_smtp_sink_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let sink = smtp_sink(dir.path()).await;
    let mta = start(dir.path(), config(dir.path()), sink.port).await;
    let message =
        "From: <sender@sender.test>\r\nSubject: to the sink\r\n\r\n..leading dot\r\nline two\r\n";
    send(
        mta.smtp_addr(),
        "sender@sender.test",
        &["user@example.test"],
        message,
    )
    .await;
    assert!(
        wait_for(Duration::from_secs(10), || !sink.dumps().is_empty()).await,
        "smtp-sink got it"
    );
    let dump = sink.dumps().remove(0);
    assert!(
        dump.contains("X-Mail-Args: <sender@sender.test>\n"),
        "{dump}"
    );
    assert!(
        dump.contains("X-Rcpt-Args: <user@example.test>\n"),
        "{dump}"
    );
    // After smtp-sink's own headers and Received: ours, then the message (LF line ends in dumps).
    let ours = dump
        .find("Received: from client.test")
        .expect("our Received header");
    let expected = format!(
        "{}\n",
        message
            .replace("..leading", ".leading")
            .replace("\r\n", "\n")
    );
    let body = &dump[ours..];
    let after = body
        .find("\nFrom: ")
        .map(|i| &body[i + 1..])
        .expect("the message follows");
    assert_eq!(after, expected);
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn temporary_failure_is_retried_then_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::start(
        |_, _| "250 2.1.5 Ok".into(),
        |n| {
            if n == 1 {
                "451 4.3.0 busy, try later".into()
            } else {
                "250 2.0.0 Ok".into()
            }
        },
    )
    .await;
    let mta = start(dir.path(), config(dir.path()), down.port).await;
    send(
        mta.smtp_addr(),
        "sender@sender.test",
        &["user@example.test"],
        "Subject: retry\r\n\r\nx\r\n",
    )
    .await;
    assert!(wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await);
    assert_eq!(down.connections(), 2, "one refused attempt, one retry");
    assert_eq!(
        after_received(&down.messages()[0].data),
        b"Subject: retry\r\n\r\nx\r\n"
    );
    mta.shutdown().await.unwrap();
    let store = Store::open(&dir.path().join(mta::QUEUE_DB), None).unwrap();
    assert!(
        store.load_all().unwrap().is_empty(),
        "delivered messages leave the queue"
    );
}

fn dsn_for(messages: &[Received], to: &str) -> Option<Received> {
    messages
        .iter()
        .find(|m| m.sender.is_empty() && m.recipients == [to])
        .cloned()
}

#[tokio::test]
async fn permanent_failure_bounces_to_the_sender() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::start(
        |a, _| {
            if a == "bad@example.test" {
                "550 5.1.1 <bad@example.test>: no such user".into()
            } else {
                "250 2.1.5 Ok".into()
            }
        },
        |_| "250 2.0.0 Ok".into(),
    )
    .await;
    let mta = start(dir.path(), config(dir.path()), down.port).await;
    let message = "Subject: will bounce\r\nMessage-ID: <b1@sender.test>\r\n\r\nsecret body\r\n";
    let id = send(
        mta.smtp_addr(),
        "sender@sender.test",
        &["user@example.test", "bad@example.test"],
        message,
    )
    .await;
    let found = wait_for(Duration::from_secs(10), || {
        dsn_for(&down.messages(), "sender@sender.test").is_some()
    })
    .await;
    assert!(found, "a bounce reached the sender: {:?}", down.messages());
    let messages = down.messages();
    let original: Vec<_> = messages
        .iter()
        .filter(|m| m.sender == "sender@sender.test")
        .collect();
    assert_eq!(original.len(), 1);
    assert_eq!(original[0].recipients, ["user@example.test"]);

    let dsn = dsn_for(&messages, "sender@sender.test").unwrap();
    let text = String::from_utf8_lossy(&dsn.data).into_owned();
    assert!(
        text.contains("From: \"Mail Delivery System\" <MAILER-DAEMON@mx.filterbox.test>"),
        "{text}"
    );
    assert!(
        text.contains(&format!("X-Filterbox-Queue-ID: {id}")),
        "{text}"
    );
    assert!(
        text.contains(
            "Final-Recipient: rfc822; bad@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Diagnostic-Code: smtp; 550 5.1.1 <bad@example.test>: no such user"),
        "{text}"
    );
    assert!(text.contains("Subject: will bounce"), "{text}");
    assert!(!text.contains("secret body"), "{text}");
    use mail_parser::MimeHeaders;
    let parsed = mail_parser::MessageParser::default()
        .parse(&dsn.data)
        .unwrap();
    assert_eq!(parsed.content_type().unwrap().ctype(), "multipart");
    assert_eq!(parsed.content_type().unwrap().subtype(), Some("report"));
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn gives_up_after_the_limit_and_bounces() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::start(
        |a, _| {
            if a == "user@example.test" {
                "451 4.2.0 mailbox busy".into()
            } else {
                "250 2.1.5 Ok".into()
            }
        },
        |_| "250 2.0.0 Ok".into(),
    )
    .await;
    let mut cfg = config(dir.path());
    cfg.mta.give_up_after_secs = 1;
    let mta = start(dir.path(), cfg, down.port).await;
    send(
        mta.smtp_addr(),
        "sender@sender.test",
        &["user@example.test"],
        "Subject: slow\r\n\r\nx\r\n",
    )
    .await;
    let found = wait_for(Duration::from_secs(10), || {
        dsn_for(&down.messages(), "sender@sender.test").is_some()
    })
    .await;
    assert!(found, "{:?}", down.messages());
    let dsn = dsn_for(&down.messages(), "sender@sender.test").unwrap();
    let text = String::from_utf8_lossy(&dsn.data).into_owned();
    assert!(
        text.contains(
            "Final-Recipient: rfc822; user@example.test\r\nAction: failed\r\nStatus: 4.4.7\r\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Diagnostic-Code: smtp; 451 4.2.0 mailbox busy"),
        "{text}"
    );
    assert!(down.connections() >= 2, "retried before giving up");
    mta.shutdown().await.unwrap();
}
