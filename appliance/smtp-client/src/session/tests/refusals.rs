//! Refusals at every stage, local refusals, and broken conversations.

use super::*;

#[test]
fn greeting_554_refuses_every_recipient() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test", "c@mx.test"],
        MESSAGE,
        &["554 5.7.1 go away\r\n", "221 bye\r\n"],
    );
    assert_eq!(out.written, ["QUIT\r\n"]);
    assert_eq!(out.report().greeting.code, 554);
    assert_eq!(out.replies(), ["554 5.7.1 go away", "554 5.7.1 go away"]);
    assert_eq!(out.report().permanent().count(), 2);
    assert_eq!(out.report().data_reply, None);
}

#[test]
fn ehlo_502_falls_back_to_helo() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test"],
        "caf\u{e9}\r\n".as_bytes(),
        &[
            BANNER,
            "502 5.5.1 EHLO not implemented\r\n",
            "250 mx.test\r\n",
            "250 Ok\r\n",
            "250 Ok\r\n",
            "354 go\r\n",
            "250 queued\r\n",
            "221 bye\r\n",
        ],
    );
    assert_eq!(
        out.written,
        [
            "EHLO client.test\r\n",
            "HELO client.test\r\n",
            // No ESMTP: neither SIZE nor BODY=8BITMIME may be used.
            "MAIL FROM:<a@src.test>\r\n",
            "RCPT TO:<b@mx.test>\r\n",
            "DATA\r\n",
            "<body>",
            "QUIT\r\n",
        ]
    );
    assert_eq!(out.replies(), ["250 queued"]);
}

#[test]
fn ehlo_421_refuses_every_recipient() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[BANNER, "421 4.3.2 shutting down\r\n", "221 bye\r\n"],
    );
    assert_eq!(out.written, ["EHLO client.test\r\n", "QUIT\r\n"]);
    assert_eq!(out.replies(), ["421 4.3.2 shutting down"]);
    assert_eq!(out.report().transient().count(), 1);
}

#[test]
fn mail_451_refuses_every_recipient() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test", "c@mx.test"],
        MESSAGE,
        &[BANNER, EHLO_PLAIN, "451 4.3.0 try later\r\n", "221 bye\r\n"],
    );
    assert_eq!(
        out.written,
        [
            "EHLO client.test\r\n",
            "MAIL FROM:<a@src.test>\r\n",
            "QUIT\r\n"
        ]
    );
    assert_eq!(
        out.replies(),
        ["451 4.3.0 try later", "451 4.3.0 try later"]
    );
}

#[test]
fn mail_refused_with_pipelining_drains_the_group() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test", "c@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_PIPELINING,
            "451 4.3.0 try later\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n",
            "221 bye\r\n",
        ],
    );
    assert_eq!(out.written.len(), 3);
    assert_eq!(out.written[2], "QUIT\r\n");
    assert!(
        out.finished,
        "QUIT's reply, not a RCPT reply, ends the session"
    );
    assert_eq!(
        out.replies(),
        ["451 4.3.0 try later", "451 4.3.0 try later"]
    );
}

#[test]
fn all_rcpt_refused_with_pipelining_never_sends_the_body() {
    let out = exchange(
        "a@src.test",
        &["x@mx.test", "y@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_PIPELINING,
            "250 2.1.0 Ok\r\n550 5.1.1 no x\r\n550 5.1.1 no y\r\n554 5.5.1 no valid recipients\r\n",
            "221 bye\r\n",
        ],
    );
    assert!(!out.written.contains(&"<body>".to_string()));
    assert_eq!(out.written.last().unwrap(), "QUIT\r\n");
    assert!(out.finished);
    let report = out.report();
    assert_eq!(out.replies(), ["550 5.1.1 no x", "550 5.1.1 no y"]);
    assert_eq!(report.data_reply, None);
    assert_eq!(report.bytes_sent, 0);
}

#[test]
fn all_rcpt_refused_without_pipelining_skips_data() {
    let out = exchange(
        "a@src.test",
        &["x@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_PLAIN,
            "250 Ok\r\n",
            "550 5.1.1 no x\r\n",
            "221 bye\r\n",
        ],
    );
    assert_eq!(
        out.written,
        [
            "EHLO client.test\r\n",
            "MAIL FROM:<a@src.test>\r\n",
            "RCPT TO:<x@mx.test>\r\n",
            "QUIT\r\n"
        ]
    );
}

#[test]
fn data_354_after_all_rcpt_refused_gets_a_lone_dot() {
    let out = exchange(
        "a@src.test",
        &["x@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_PIPELINING,
            "250 Ok\r\n550 5.1.1 no x\r\n354 go ahead anyway\r\n",
            "554 5.5.1 no valid recipients\r\n",
            "221 bye\r\n",
        ],
    );
    assert_eq!(out.written[2..], [".\r\n", "QUIT\r\n"]);
    assert_eq!(out.replies(), ["550 5.1.1 no x"]);
    assert_eq!(out.report().data_reply, None);
}

#[test]
fn final_452_defers_accepted_recipients() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test", "gone@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_PIPELINING,
            "250 Ok\r\n250 Ok\r\n550 5.1.1 unknown\r\n354 go\r\n",
            "452 4.3.1 insufficient system storage\r\n",
            "221 bye\r\n",
        ],
    );
    assert_eq!(
        out.replies(),
        ["452 4.3.1 insufficient system storage", "550 5.1.1 unknown"]
    );
    let report = out.report();
    assert_eq!(report.data_reply.as_ref().map(|r| r.code), Some(452));
    assert_eq!(report.bytes_sent, 25);
}

#[test]
fn data_command_refused_decides_accepted_recipients() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_PLAIN,
            "250 Ok\r\n",
            "250 Ok\r\n",
            "451 4.3.0 later\r\n",
            "221 bye\r\n",
        ],
    );
    assert!(!out.written.contains(&"<body>".to_string()));
    assert_eq!(out.replies(), ["451 4.3.0 later"]);
}

#[test]
fn size_over_the_limit_is_refused_locally() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test", "c@mx.test"],
        MESSAGE,
        &[
            BANNER,
            "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n",
            "221 bye\r\n",
        ],
    );
    assert_eq!(out.written, ["EHLO client.test\r\n", "QUIT\r\n"]);
    for result in &out.report().recipients {
        assert_eq!(result.reply.code, 552);
        assert!(result
            .reply
            .text
            .starts_with("5.3.4 message size exceeds the server's limit"));
        assert!(result.reply.text.contains("(local"));
    }
}

#[test]
fn unsafe_addresses_are_refused_locally() {
    let out = exchange(
        "a@src.test",
        &["evil@mx.test>\r\nRCPT TO:<x@y", "", "ok@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_PLAIN,
            "250 Ok\r\n",
            "250 Ok\r\n",
            "354 go\r\n",
            "250 queued\r\n",
            "221 bye\r\n",
        ],
    );
    assert_eq!(out.written[2], "RCPT TO:<ok@mx.test>\r\n");
    assert_eq!(
        out.written.iter().filter(|w| w.starts_with("RCPT")).count(),
        1
    );
    let replies = out.replies();
    assert!(replies[0].starts_with("501 5.1.3") && replies[1].starts_with("501 5.1.3"));
    assert_eq!(replies[2], "250 queued");

    let out = exchange(
        "bad\nsender",
        &["ok@mx.test"],
        MESSAGE,
        &[BANNER, EHLO_PLAIN, "221 bye\r\n"],
    );
    assert_eq!(out.written, ["EHLO client.test\r\n", "QUIT\r\n"]);
    assert!(out.replies()[0].starts_with("501 5.1.7"));
}

#[test]
fn unexpected_reply_class_is_a_protocol_error() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[BANNER, EHLO_PLAIN, "354 what\r\n"],
    );
    assert!(matches!(
        out.error,
        Some(ClientError::Protocol {
            stage: Stage::Mail,
            ..
        })
    ));
    assert!(out.report.is_none(), "nothing decided: the caller retries");
}

#[test]
fn connection_lost_before_the_final_reply_decides_nothing() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[BANNER, EHLO_PIPELINING, "250 Ok\r\n250 Ok\r\n354 go\r\n"],
    );
    assert!(!out.finished);
    assert!(out.written.contains(&"<body>".to_string()));
    assert!(out.report.is_none());
}

#[test]
fn connection_lost_at_quit_keeps_the_outcome() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_PIPELINING,
            "250 Ok\r\n250 Ok\r\n354 go\r\n250 queued\r\n",
        ],
    );
    assert!(!out.finished);
    assert_eq!(out.replies(), ["250 queued"]);
}
