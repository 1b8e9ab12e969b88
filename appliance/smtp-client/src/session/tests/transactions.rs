//! Transactions that reach DATA, and how replies are framed on the way.

use super::*;

#[test]
fn success_with_pipelining_sends_one_group() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_PIPELINING,
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
            "250 2.0.0 Ok: queued as 4XyZ\r\n",
            "221 2.0.0 Bye\r\n",
        ],
    );
    assert_eq!(
        out.written,
        [
            "EHLO client.test\r\n",
            "MAIL FROM:<a@src.test> SIZE=22\r\nRCPT TO:<b@mx.test>\r\nDATA\r\n",
            "<body>",
            "QUIT\r\n",
        ]
    );
    assert!(out.finished && out.error.is_none());
    let report = out.report();
    assert_eq!(report.greeting, Reply::new(220, "mx.test ESMTP"));
    assert_eq!(out.replies(), ["250 2.0.0 Ok: queued as 4XyZ"]);
    assert_eq!(
        report.data_reply,
        Some(Reply::new(250, "2.0.0 Ok: queued as 4XyZ"))
    );
    assert_eq!(report.bytes_sent, 25);
    assert_eq!(report.accepted().count(), 1);
}

#[test]
fn success_without_pipelining_goes_step_by_step() {
    let out = exchange(
        "",
        &["b@mx.test", "c@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_PLAIN,
            "250 2.1.0 Ok\r\n",
            "250 2.1.5 Ok\r\n",
            "250 2.1.5 Ok\r\n",
            "354 go ahead\r\n",
            "250 2.0.0 queued\r\n",
            "221 bye\r\n",
        ],
    );
    assert_eq!(
        out.written,
        [
            "EHLO client.test\r\n",
            "MAIL FROM:<>\r\n",
            "RCPT TO:<b@mx.test>\r\n",
            "RCPT TO:<c@mx.test>\r\n",
            "DATA\r\n",
            "<body>",
            "QUIT\r\n",
        ]
    );
    assert_eq!(out.replies(), ["250 2.0.0 queued", "250 2.0.0 queued"]);
}

fn mixed_rcpt(server: &[&str]) -> Outcome {
    exchange(
        "a@src.test",
        &["ok@mx.test", "gone@mx.test", "full@mx.test"],
        MESSAGE,
        server,
    )
}

#[test]
fn mixed_rcpt_replies_decide_each_recipient_with_pipelining() {
    let out = mixed_rcpt(&[
        BANNER,
        EHLO_PIPELINING,
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 unknown user\r\n450 4.2.2 mailbox full\r\n354 go\r\n",
        "250 2.0.0 queued as Q1\r\n",
        "221 bye\r\n",
    ]);
    assert!(out.written.contains(&"<body>".to_string()));
    assert_eq!(
        out.replies(),
        [
            "250 2.0.0 queued as Q1",
            "550 5.1.1 unknown user",
            "450 4.2.2 mailbox full"
        ]
    );
    let report = out.report();
    let names = |it: &mut dyn Iterator<Item = &RecipientResult>| {
        it.map(|r| r.recipient.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&mut report.accepted()), ["ok@mx.test"]);
    assert_eq!(names(&mut report.permanent()), ["gone@mx.test"]);
    assert_eq!(names(&mut report.transient()), ["full@mx.test"]);
}

#[test]
fn mixed_rcpt_replies_decide_each_recipient_without_pipelining() {
    let out = mixed_rcpt(&[
        BANNER,
        EHLO_PLAIN,
        "250 2.1.0 Ok\r\n",
        "250 2.1.5 Ok\r\n",
        "550 5.1.1 unknown user\r\n",
        "450 4.2.2 mailbox full\r\n",
        "354 go\r\n",
        "250 2.0.0 queued as Q1\r\n",
        "221 bye\r\n",
    ]);
    assert_eq!(out.written[4], "RCPT TO:<full@mx.test>\r\n");
    assert_eq!(out.written[5], "DATA\r\n");
    assert_eq!(
        out.replies(),
        [
            "250 2.0.0 queued as Q1",
            "550 5.1.1 unknown user",
            "450 4.2.2 mailbox full"
        ]
    );
}

#[test]
fn size_and_8bitmime_parameters_follow_the_advertisement() {
    let message = "Subject: caf\u{e9}\r\n".as_bytes();
    let ehlo_8bit = [
        BANNER,
        EHLO_PIPELINING,
        "451 later\r\n503 no\r\n503 no\r\n",
        "221 bye\r\n",
    ];
    let out = exchange("a@src.test", &["b@mx.test"], message, &ehlo_8bit);
    assert!(out.written[1].starts_with("MAIL FROM:<a@src.test> SIZE=16 BODY=8BITMIME\r\n"));
    let ehlo_7bit = [
        BANNER,
        "250-mx.test\r\n250 SIZE 0\r\n",
        "451 later\r\n",
        "221 bye\r\n",
    ];
    let out = exchange("a@src.test", &["b@mx.test"], message, &ehlo_7bit);
    assert_eq!(out.written[1], "MAIL FROM:<a@src.test> SIZE=16\r\n");
}

#[test]
fn multi_line_replies_are_joined() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[
            "220-mx.test ESMTP\r\n220-no UCE\r\n220 welcome\r\n",
            EHLO_PLAIN,
            "250 Ok\r\n",
            "550-5.1.1 The email account that you tried to reach does not exist.\r\n550-5.1.1 Please try double-checking the recipient's email address.\r\n550 5.1.1 https://support.example/mail\r\n",
            "221 bye\r\n",
        ],
    );
    let report = out.report();
    assert_eq!(report.greeting.text, "mx.test ESMTP\nno UCE\nwelcome");
    assert_eq!(
        out.replies(),
        ["550 5.1.1 The email account that you tried to reach does not exist. / Please try double-checking the recipient's email address. / https://support.example/mail"]
    );
}

#[test]
fn replies_arriving_byte_by_byte() {
    let wire = [
        BANNER,
        EHLO_PIPELINING,
        "250 Ok\r\n250 Ok\r\n354 go\r\n",
        "250 queued\r\n",
        "221 bye\r\n",
    ]
    .concat();
    let bytes: Vec<String> = wire.chars().map(String::from).collect();
    let chunks: Vec<&str> = bytes.iter().map(String::as_str).collect();
    let out = exchange("a@src.test", &["b@mx.test"], MESSAGE, &chunks);
    assert!(out.finished);
    assert_eq!(out.replies(), ["250 queued"]);
}

#[test]
fn all_replies_in_a_single_chunk() {
    let wire = [
        BANNER,
        EHLO_PLAIN,
        "250 Ok\r\n250 Ok\r\n354 go\r\n250 queued\r\n221 bye\r\n",
    ]
    .concat();
    let out = exchange("a@src.test", &["b@mx.test"], MESSAGE, &[&wire]);
    assert!(out.finished);
    assert_eq!(out.written.len(), 6);
    assert_eq!(out.replies(), ["250 queued"]);
}

#[test]
fn no_recipients_means_no_transaction() {
    let out = exchange(
        "a@src.test",
        &[],
        MESSAGE,
        &[BANNER, EHLO_PLAIN, "221 bye\r\n"],
    );
    assert_eq!(out.written, ["EHLO client.test\r\n", "QUIT\r\n"]);
    assert!(out.report().recipients.is_empty());
}
