//! Delivery to Postfix's smtp-sink: what it stores must be our message.

use crate::sink::{self, as_dumped, SmtpSink};
use crate::{recipients, stuffed, test_config, TRICKY};
use smtp_client::{connect_tcp, send, DeliveryReport, Envelope};
use std::time::Duration;

async fn deliver(sink: &SmtpSink, rcpts: &[&str], message: &[u8]) -> DeliveryReport {
    let rcpts = recipients(rcpts);
    let envelope = Envelope {
        sender: "from@src.test",
        recipients: &rcpts,
        ..Default::default()
    };
    let stream = connect_tcp("127.0.0.1", sink.port(), Duration::from_secs(5))
        .await
        .expect("connect to smtp-sink");
    send(stream, &test_config(), &envelope, message)
        .await
        .expect("a complete SMTP session")
}

fn has_line(meta: &[String], line: &str) -> bool {
    meta.iter().any(|m| m == line)
}

#[tokio::test]
async fn delivers_the_exact_message_with_pipelining() {
    if !sink::available() {
        return;
    }
    let sink = SmtpSink::start_tcp(&[]);
    let report = deliver(&sink, &["one@mx.test", "two@mx.test"], TRICKY).await;
    assert_eq!(report.greeting.code, 220);
    assert_eq!(report.accepted().count(), 2);
    assert_eq!(report.data_reply.as_ref().map(|r| r.code), Some(250));
    assert_eq!(report.bytes_sent, stuffed(TRICKY).len() as u64);
    let dump = &sink.dumps(1)[0];
    assert_eq!(
        dump.message.escape_ascii().to_string(),
        as_dumped(TRICKY).escape_ascii().to_string()
    );
    assert!(
        has_line(&dump.meta, "X-Client-Proto: ESMTP"),
        "{:?}",
        dump.meta
    );
    assert!(has_line(&dump.meta, "X-Helo-Args: client.test"));
    assert!(has_line(
        &dump.meta,
        "X-Mail-Args: <from@src.test> BODY=8BITMIME"
    ));
    assert!(has_line(&dump.meta, "X-Rcpt-Args: <one@mx.test>"));
    assert!(has_line(&dump.meta, "X-Rcpt-Args: <two@mx.test>"));
}

#[tokio::test]
async fn delivers_the_exact_message_without_pipelining_or_8bitmime() {
    if !sink::available() {
        return;
    }
    let sink = SmtpSink::start_tcp(&["-p", "-8"]);
    let report = deliver(&sink, &["one@mx.test"], TRICKY).await;
    assert_eq!(report.accepted().count(), 1);
    let dump = &sink.dumps(1)[0];
    assert_eq!(dump.message, as_dumped(TRICKY));
    assert!(
        has_line(&dump.meta, "X-Mail-Args: <from@src.test>"),
        "{:?}",
        dump.meta
    );
}

#[tokio::test]
async fn falls_back_to_helo_when_esmtp_is_off() {
    if !sink::available() {
        return;
    }
    let sink = SmtpSink::start_tcp(&["-e"]);
    let message = b"Subject: plain\r\n\r\n.\r\nbody\r\n";
    let report = deliver(&sink, &["one@mx.test"], message).await;
    assert_eq!(report.accepted().count(), 1);
    let dump = &sink.dumps(1)[0];
    assert_eq!(dump.message, as_dumped(message));
    assert!(
        has_line(&dump.meta, "X-Client-Proto: SMTP"),
        "{:?}",
        dump.meta
    );
}

#[tokio::test]
async fn refused_recipients_get_no_body() {
    if !sink::available() {
        return;
    }
    let sink = SmtpSink::start_tcp(&["-f", "rcpt"]);
    let report = deliver(&sink, &["one@mx.test", "two@mx.test"], TRICKY).await;
    assert_eq!(report.permanent().count(), 2);
    assert_eq!(report.data_reply, None);
    assert_eq!(report.bytes_sent, 0);
}

#[tokio::test]
async fn soft_rejection_of_the_dot_defers_every_accepted_recipient() {
    if !sink::available() {
        return;
    }
    let sink = SmtpSink::start_tcp(&["-r", "."]);
    let report = deliver(&sink, &["one@mx.test", "two@mx.test"], TRICKY).await;
    assert_eq!(report.transient().count(), 2);
    let data_reply = report.data_reply.expect("the body was sent");
    assert!(data_reply.is_transient(), "{data_reply}");
    assert_eq!(report.recipients[0].reply, data_reply);
}

#[tokio::test]
async fn a_421_banner_defers_everything_even_if_quit_fails() {
    if !sink::available() {
        return;
    }
    let sink = SmtpSink::start_tcp(&["-Q", "connect"]);
    let report = deliver(&sink, &["one@mx.test"], TRICKY).await;
    assert_eq!(report.greeting.code, 421);
    assert_eq!(report.recipients[0].reply, report.greeting);
}
