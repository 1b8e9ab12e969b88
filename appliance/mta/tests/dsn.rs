//! Delivery status notifications (RFC 3461 parameters, RFC 3464 reports)
//! with Postfix's smtp-sink as the servers: one refusing every recipient,
//! one accepting without DSN (where the reports to the sender land), one
//! accepting with DSN (which takes the parameters over), and one down.

mod common;

use std::time::Duration;

use common::sink::{free_port, Sink};
use common::{config, queue_id, wait_for, Client};
use mail_parser::MimeHeaders;
use model::api::{self, DeliveryServer};

fn domain(name: &str, port: u16) -> api::Domain {
    api::Domain {
        name: name.into(),
        delivery: vec![DeliveryServer {
            host: "127.0.0.1".into(),
            port,
            priority: 10,
        }],
        created: 0,
        provisioning: Default::default(),
        tls: Default::default(),
        relay_networks: Vec::new(),
    }
}

/// The mta with `refusing.test` (every RCPT refused), `sender.test` and
/// `ok.test` (accepting, no DSN), `dsn.test` (accepting with DSN) and
/// `slow.test` (down); delay notices after 1 s.
async fn setup(dir: &std::path::Path) -> (mta::Mta, Sink, Sink, Sink) {
    let refusing = Sink::start(dir, "refusing", &["-f", "RCPT"]).await;
    let accepting = Sink::start(dir, "accepting", &["-N"]).await;
    let with_dsn = Sink::start(dir, "with-dsn", &[]).await;
    let mut cfg = config(dir);
    cfg.mta.delay_notice_after_secs = 1;
    let mta = mta::Mta::start(std::sync::Arc::new(cfg), dir.to_path_buf())
        .await
        .unwrap();
    let users = ["a", "b", "c"]
        .iter()
        .map(|u| format!("{u}@refusing.test"))
        .chain([
            "sender@sender.test".into(),
            "u@ok.test".into(),
            "u@dsn.test".into(),
            "x@slow.test".into(),
        ])
        .collect();
    mta.directory().apply(api::Directory {
        generation: 1,
        domains: vec![
            domain("refusing.test", refusing.port),
            domain("sender.test", accepting.port),
            domain("ok.test", accepting.port),
            domain("dsn.test", with_dsn.port),
            domain("slow.test", free_port()),
        ],
        users,
        dkim: Vec::new(),
    });
    (mta, refusing, accepting, with_dsn)
}

/// One message with MAIL and RCPT parameters; returns the queue id.
async fn send(mta: &mta::Mta, mail_params: &str, rcpts: &[&str], text: &str) -> String {
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.contains("250-DSN\r\n"), "{ehlo}");
    let mail = c
        .cmd(&format!("MAIL FROM:<sender@sender.test> {mail_params}"))
        .await;
    assert_eq!(mail, "250 2.1.0 Ok\r\n");
    for r in rcpts {
        assert_eq!(c.cmd(&format!("RCPT TO:{r}")).await, "250 2.1.5 Ok\r\n");
    }
    c.cmd("DATA").await;
    c.send(text.as_bytes()).await;
    let id = queue_id(&c.cmd(".").await);
    c.cmd("QUIT").await;
    id
}

/// The reports smtp-sink received for the sender, as dumped.
fn reports(sink: &Sink, action: &str) -> Vec<String> {
    sink.dumps()
        .into_iter()
        .filter(|d| d.contains("X-Rcpt-Args: <sender@sender.test>"))
        .filter(|d| d.contains(&format!("Action: {action}\n")))
        .collect()
}

/// The content types of a report's parts, after the container.
fn part_types(dump: &str) -> Vec<String> {
    let parsed = mail_parser::MessageParser::default()
        .parse(dump.as_bytes())
        .unwrap();
    let top = parsed.content_type().unwrap();
    assert_eq!(
        (top.ctype(), top.subtype(), top.attribute("report-type")),
        ("multipart", Some("report"), Some("delivery-status"))
    );
    parsed.parts[1..]
        .iter()
        .map(|p| {
            let t = p.content_type().unwrap();
            format!("{}/{}", t.ctype(), t.subtype().unwrap_or_default())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounces_honour_notify_ret_envid_and_orcpt() {
    let dir = tempfile::tempdir().unwrap();
    let (mta, _refusing, accepting, _) = setup(dir.path()).await;
    let id = send(
        &mta,
        "RET=HDRS ENVID=env-42",
        &[
            "<a@refusing.test> NOTIFY=FAILURE ORCPT=rfc822;A@Refusing.TEST",
            "<b@refusing.test> NOTIFY=NEVER",
            "<c@refusing.test>",
        ],
        "Subject: dsn test\r\n\r\nsecret body\r\n",
    )
    .await;
    assert!(
        wait_for(Duration::from_secs(10), || !reports(&accepting, "failed")
            .is_empty())
        .await
    );
    let bounces = reports(&accepting, "failed");
    assert_eq!(bounces.len(), 1, "{bounces:?}");
    let b = &bounces[0];
    assert!(b.contains("Original-Envelope-Id: env-42\n"), "{b}");
    assert!(b.contains(&format!("X-Filterbox-Queue-ID: {id}\n")), "{b}");
    assert!(
        b.contains("Original-Recipient: rfc822; A@Refusing.TEST\nFinal-Recipient: rfc822; a@refusing.test\nAction: failed\nStatus: 5."),
        "{b}"
    );
    assert!(
        b.contains("Final-Recipient: rfc822; c@refusing.test\n"),
        "{b}"
    );
    assert!(
        !b.contains("b@refusing.test"),
        "NOTIFY=NEVER: not reported\n{b}"
    );
    assert!(b.contains("Subject: dsn test"), "{b}");
    assert!(!b.contains("secret body"), "RET=HDRS: header only\n{b}");
    assert_eq!(
        part_types(b),
        [
            "text/plain",
            "message/delivery-status",
            "text/rfc822-headers"
        ]
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_delay_notice_with_the_full_message_and_success_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (mta, _refusing, accepting, _) = setup(dir.path()).await;
    send(
        &mta,
        "RET=FULL",
        &["<x@slow.test>"],
        "Subject: slow\r\n\r\nthe full body\r\n",
    )
    .await;
    send(
        &mta,
        "",
        &["<u@ok.test> NOTIFY=SUCCESS,FAILURE"],
        "Subject: fast\r\n\r\nbody\r\n",
    )
    .await;

    assert!(
        wait_for(Duration::from_secs(10), || !reports(&accepting, "relayed")
            .is_empty())
        .await
    );
    let relayed = reports(&accepting, "relayed");
    assert!(
        relayed[0].contains("Final-Recipient: rfc822; u@ok.test\n"),
        "{}",
        relayed[0]
    );
    assert!(relayed[0].contains("Subject: Successful Mail Delivery Report"));

    assert!(
        wait_for(Duration::from_secs(10), || !reports(&accepting, "delayed")
            .is_empty())
        .await
    );
    let delayed = reports(&accepting, "delayed");
    let d = &delayed[0];
    assert!(
        d.contains("Final-Recipient: rfc822; x@slow.test\nAction: delayed\nStatus: 4."),
        "{d}"
    );
    assert!(
        d.contains("Subject: Delayed Mail (still being retried)"),
        "{d}"
    );
    assert!(
        d.contains("the full body"),
        "RET=FULL: the whole message\n{d}"
    );
    assert_eq!(
        part_types(d),
        ["text/plain", "message/delivery-status", "message/rfc822"]
    );
    // Retries go on (every 1-2 s here), the notice is not repeated.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(reports(&accepting, "delayed").len(), 1);
    mta.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_hop_offering_dsn_gets_the_parameters_and_reports_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (mta, _refusing, accepting, with_dsn) = setup(dir.path()).await;
    send(
        &mta,
        "RET=HDRS ENVID=env-7",
        &["<u@dsn.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;U@DSN.test"],
        "Subject: passed on\r\n\r\nbody\r\n",
    )
    .await;
    assert!(wait_for(Duration::from_secs(10), || !with_dsn.dumps().is_empty()).await);
    let dump = &with_dsn.dumps()[0];
    assert!(
        dump.contains("X-Mail-Args: <sender@sender.test> RET=HDRS ENVID=env-7\n"),
        "{dump}"
    );
    assert!(
        dump.contains("X-Rcpt-Args: <u@dsn.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;U@DSN.test\n"),
        "{dump}"
    );
    // The success report is now the next hop's to send, not ours.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(accepting.dumps().is_empty(), "{:?}", accepting.dumps());
    mta.shutdown().await.unwrap();
}
