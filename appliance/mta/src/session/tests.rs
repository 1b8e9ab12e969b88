//! Recorded exchanges replayed through the session without sockets.

use super::*;

fn config() -> SessionConfig {
    SessionConfig {
        hostname: "mx.test".into(),
        max_message_size: 2000,
        max_recipients: 3,
    }
}

/// Plays the I/O around a session: feeds input, answers questions like a
/// directory and milter would, and records everything.
struct Driver {
    session: Session,
    asks: Vec<Ask>,
    aborts: usize,
    closed: bool,
}

impl Driver {
    fn new() -> Driver {
        Driver {
            session: Session::new(config()),
            asks: Vec::new(),
            aborts: 0,
            closed: false,
        }
    }

    /// Feeds `input` in one chunk and steps until more input is needed;
    /// returns the output produced.
    fn send(&mut self, input: &[u8]) -> String {
        self.session.feed(input);
        self.run();
        String::from_utf8(self.session.take_output()).unwrap()
    }

    fn run(&mut self) {
        loop {
            match self.session.next_step() {
                Step::NeedInput => return,
                Step::Close => {
                    self.closed = true;
                    return;
                }
                Step::TransactionAborted => self.aborts += 1,
                // As if the handshake succeeded at once.
                Step::StartTls => self.session.tls_started(),
                Step::Ask(ask) => {
                    self.answer(&ask);
                    self.asks.push(ask);
                }
            }
        }
    }

    fn answer(&mut self, ask: &Ask) {
        match ask {
            Ask::Helo { .. } => self.session.decide(Verdict::Accept),
            Ask::Mail { sender, .. } if sender.contains("blocked") => self
                .session
                .decide(Verdict::Refuse(Reply::new(550, "5.7.1", "blocked"))),
            Ask::Rcpt { address } if address.starts_with("unknown") => {
                self.session.decide(Verdict::Refuse(Reply::new(
                    550,
                    "5.1.1",
                    format!("<{address}>: recipient unknown"),
                )))
            }
            Ask::Mail { .. } | Ask::Rcpt { .. } => self.session.decide(Verdict::Accept),
            Ask::Auth(c) if c.password == "right" => self.session.decide(Verdict::Accept),
            Ask::Auth(_) => self.session.decide(Verdict::Refuse(Reply::new(
                535,
                "5.7.8",
                "authentication credentials invalid",
            ))),
            Ask::Message(t) if t.sender.contains("refused") => self
                .session
                .message_done(Reply::new(550, "5.7.1", "refused by the filter")),
            Ask::Message(_) => {
                self.session
                    .message_done(Reply::new(250, "2.0.0", "Ok: queued as TEST"))
            }
        }
    }

    fn messages(&self) -> Vec<&Transaction> {
        self.asks
            .iter()
            .filter_map(|a| match a {
                Ask::Message(t) => Some(t),
                _ => None,
            })
            .collect()
    }
}

const EHLO_REPLY: &str = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 2000\r\n250-8BITMIME\r\n\
                          250-DSN\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n\
                          250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n";

fn greeted() -> Driver {
    let mut d = Driver::new();
    let out = d.send(b"EHLO client.test\r\n");
    assert_eq!(out, format!("220 mx.test ESMTP filterbox\r\n{EHLO_REPLY}"));
    d
}

#[test]
fn whole_pipelined_transaction_in_one_chunk() {
    let mut d = Driver::new();
    let out = d.send(
        b"EHLO client.test\r\nMAIL FROM:<a@x.test> SIZE=100 BODY=8BITMIME\r\n\
          RCPT TO:<User@Example.TEST>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(
        out,
        format!(
            "220 mx.test ESMTP filterbox\r\n{EHLO_REPLY}250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
             354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as TEST\r\n\
             221 2.0.0 Bye\r\n"
        )
    );
    assert!(d.closed);
    let m = d.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].sender, "a@x.test");
    assert_eq!(m[0].recipients, ["user@example.test"]);
    assert_eq!((m[0].helo.as_str(), m[0].esmtp), ("client.test", true));
    assert_eq!(m[0].body, b"Subject: hi\r\n\r\nbody\r\n");
    assert!(model::id::is_valid_id(&m[0].queue_id));
}

#[test]
fn byte_by_byte_input_gives_the_same_exchange() {
    let input: &[u8] =
        b"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<u@x.test>\r\nDATA\r\n..a\r\n.\r\nNOOP\r\nQUIT\r\n";
    let mut whole = Driver::new();
    let expected = whole.send(input);
    let mut d = Driver::new();
    let mut out = String::new();
    for b in input {
        out.push_str(&d.send(&[*b]));
    }
    assert_eq!(out, expected);
    assert_eq!(d.messages()[0].body, b".a\r\n");
    assert!(out.ends_with("250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"), "{out}");
}

#[test]
fn sequence_errors() {
    let mut d = Driver::new();
    assert_eq!(
        d.send(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<u@x.test>\r\nDATA\r\n"),
        "220 mx.test ESMTP filterbox\r\n503 5.5.1 send EHLO or HELO first\r\n\
         503 5.5.1 need MAIL before RCPT\r\n503 5.5.1 need MAIL and RCPT before DATA\r\n"
    );
    let mut d = greeted();
    assert_eq!(
        d.send(b"MAIL FROM:<a@x.test>\r\nDATA\r\nMAIL FROM:<b@x.test>\r\n"),
        "250 2.1.0 Ok\r\n503 5.5.1 need RCPT before DATA\r\n503 5.5.1 nested MAIL command\r\n"
    );
    assert_eq!(
        d.send(b"RCPT TO:<unknown@x.test>\r\nDATA\r\n"),
        "550 5.1.1 <unknown@x.test>: recipient unknown\r\n554 5.5.1 no valid recipients\r\n"
    );
}

#[test]
fn every_simple_command() {
    let mut d = greeted();
    let out = d.send(
        b"NOOP\r\nVRFY user\r\nEXPN list\r\nHELP\r\nSTARTTLS\r\nAUTH PLAIN AGFiAGM=\r\n\
          BDAT 4 LAST\r\nQUITETRN x.test\r\nLHLO x\r\nFOO bar\r\nRSET\r\n",
    );
    assert_eq!(
        out,
        "250 2.0.0 Ok\r\n\
         252 2.1.5 cannot VRFY user, but will accept message and attempt delivery\r\n\
         502 5.5.1 EXPN not available\r\n\
         214 2.0.0 commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY\r\n\
         502 5.5.1 STARTTLS not available\r\n502 5.5.1 AUTH not available\r\n\
         503 5.5.1 need MAIL and RCPT before BDAT\r\n502 5.5.1 command not implemented\r\n\
         500 5.5.1 command unrecognized\r\n500 5.5.1 command unrecognized\r\n250 2.0.0 Ok\r\n"
    );
    assert_eq!(d.aborts, 0, "RSET without a transaction aborts nothing");
    assert_eq!(d.send(b"HELO other\r\n"), "250 mx.test\r\n");
}

#[test]
fn syntax_and_parameter_errors() {
    let mut d = greeted();
    let out = d.send(
        b"EHLO\r\nMAIL FROM:a@x.test\r\nMAIL FROM:<a@@x.test>\r\nMAIL FROM:<a@x.test> FOO=1\r\n\
          MAIL FROM:<a@x.test> MT-PRIORITY=3\r\nMAIL FROM:<a@x.test> SIZE=abc\r\n\
          MAIL FROM:<a@x.test> SIZE=2001\r\nMAIL FROM:<a@bad_domain>\r\n",
    );
    assert_eq!(
        out,
        "501 5.5.4 syntax: EHLO domain\r\n\
         501 5.5.4 syntax: MAIL FROM:<reverse-path> [parameters]\r\n\
         501 5.1.7 bad sender address syntax\r\n\
         555 5.5.4 parameter FOO=1 not recognized or not implemented\r\n\
         555 5.5.4 MAIL parameters not recognized or not implemented\r\n\
         501 5.5.4 invalid SIZE parameter\r\n\
         552 5.3.4 message size exceeds fixed maximum message size\r\n\
         501 5.1.7 bad sender address syntax\r\n"
    );
    // The EHLO error did not lose the earlier greeting.
    let out = d.send(
        b"MAIL FROM:<a@x.test> SIZE=2000\r\nRCPT TO:<u@x.test> NOTIFY=NEVER,SUCCESS\r\n\
          RCPT TO:<>\r\nRCPT TO:<no-domain>\r\n",
    );
    assert_eq!(
        out,
        "250 2.1.0 Ok\r\n501 5.5.4 NOTIFY=NEVER cannot be combined with other values\r\n\
         501 5.1.3 bad recipient address syntax\r\n501 5.1.3 bad recipient address syntax\r\n"
    );
}

#[test]
fn too_many_recipients_and_duplicates() {
    let mut d = greeted();
    let out = d.send(
        b"MAIL FROM:<a@x.test>\r\nRCPT TO:<u1@x.test>\r\nRCPT TO:<U1@x.test>\r\n\
          RCPT TO:<u2@x.test>\r\nRCPT TO:<u3@x.test>\r\nRCPT TO:<u4@x.test>\r\nDATA\r\n.\r\n",
    );
    assert_eq!(
        out,
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n\
         452 4.5.3 too many recipients\r\n354 End data with <CR><LF>.<CR><LF>\r\n\
         250 2.0.0 Ok: queued as TEST\r\n"
    );
    assert_eq!(
        d.messages()[0].recipients,
        ["u1@x.test", "u2@x.test", "u3@x.test"]
    );
}

#[test]
fn overlong_command_line_is_refused_and_the_session_survives() {
    let mut d = greeted();
    let mut input = b"NOOP ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 600));
    input.extend_from_slice(b"\r\nNOOP\r\n");
    assert_eq!(
        d.send(&input),
        "500 5.5.2 line too long\r\n250 2.0.0 Ok\r\n"
    );
    // Split across reads, with the cap reached before the line ends.
    assert_eq!(d.send(&[b'y'; 700]), "");
    assert_eq!(
        d.send(b"yyy\r\nQUIT\r\n"),
        "500 5.5.2 line too long\r\n221 2.0.0 Bye\r\n"
    );
}

#[test]
fn overlong_text_line_refuses_the_message_after_its_end() {
    let mut d = greeted();
    let mut input = b"MAIL FROM:<a@x.test>\r\nRCPT TO:<u@x.test>\r\nDATA\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'z', 1200));
    input.extend_from_slice(b"\r\nmore\r\n.\r\nNOOP\r\n");
    assert_eq!(
        d.send(&input),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n\
         500 5.5.6 line too long\r\n250 2.0.0 Ok\r\n"
    );
    assert!(d.messages().is_empty());
    assert_eq!(
        d.aborts, 1,
        "the milter hears about the dropped transaction"
    );
    // The transaction is gone: a new one is needed.
    assert_eq!(
        d.send(b"RCPT TO:<u@x.test>\r\n"),
        "503 5.5.1 need MAIL before RCPT\r\n"
    );
}

#[test]
fn oversized_message_is_drained_and_refused() {
    let mut d = greeted();
    let mut input = b"MAIL FROM:<a@x.test>\r\nRCPT TO:<u@x.test>\r\nDATA\r\n".to_vec();
    for _ in 0..50 {
        input.extend_from_slice(b"0123456789012345678901234567890123456789012345678\r\n");
    }
    input.extend_from_slice(b".\r\nQUIT\r\n");
    assert_eq!(
        d.send(&input),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n\
         552 5.3.4 message size exceeds fixed maximum message size\r\n221 2.0.0 Bye\r\n"
    );
    assert!(d.messages().is_empty() && d.closed);
    let a = d.session.activity();
    assert_eq!((a.mail_commands, a.accepted, a.refused), (1, 0, 1));
}

#[test]
fn bare_newlines_cannot_smuggle_a_second_message() {
    let mut d = greeted();
    let out = d.send(
        b"MAIL FROM:<a@x.test>\r\nRCPT TO:<u@x.test>\r\nDATA\r\n\
          Subject: one\r\n\r\nhello\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<v@x.test>\r\n\
          DATA\r\nsmuggled\r\n.\r\n",
    );
    assert_eq!(
        out,
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n\
         250 2.0.0 Ok: queued as TEST\r\n"
    );
    let m = d.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(
        m[0].body,
        b"Subject: one\r\n\r\nhello\r\n.\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<v@x.test>\r\n\
          DATA\r\nsmuggled\r\n"
    );
}

#[test]
fn refusals_from_the_driver_are_sent_and_keep_state_consistent() {
    let mut d = greeted();
    assert_eq!(
        d.send(b"MAIL FROM:<blocked@x.test>\r\nRCPT TO:<u@x.test>\r\n"),
        "550 5.7.1 blocked\r\n503 5.5.1 need MAIL before RCPT\r\n"
    );
    let mut d = Driver::new();
    d.session.feed(b"EHLO c\r\n");
    assert!(matches!(d.session.next_step(), Step::Ask(Ask::Helo { .. })));
    d.session
        .decide(Verdict::Refuse(Reply::new(550, "5.7.1", "go away")));
    assert_eq!(d.session.next_step(), Step::NeedInput);
    d.session.take_output();
    assert_eq!(
        d.send(b"MAIL FROM:<a@x.test>\r\n"),
        "503 5.5.1 send EHLO or HELO first\r\n"
    );
}

#[test]
fn rset_and_new_ehlo_abort_the_transaction() {
    let mut d = greeted();
    d.send(b"MAIL FROM:<a@x.test>\r\nRSET\r\n");
    assert_eq!(d.aborts, 1);
    d.send(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<u@x.test>\r\nEHLO again\r\n");
    assert_eq!(d.aborts, 2);
    assert_eq!(
        d.send(b"DATA\r\n"),
        "503 5.5.1 need MAIL and RCPT before DATA\r\n"
    );
}

#[test]
fn shutdown_answers_421_at_the_next_command_but_finishes_a_message() {
    let mut d = greeted();
    d.send(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<u@x.test>\r\nDATA\r\npart");
    d.session.shut_down();
    let out = d.send(b"ial\r\n.\r\nNOOP\r\n");
    assert_eq!(
        out,
        "250 2.0.0 Ok: queued as TEST\r\n421 4.3.0 shutting down, try again later\r\n"
    );
    assert!(d.closed);
    assert_eq!(d.messages()[0].body, b"partial\r\n");
}

#[test]
fn close_with_ends_the_session() {
    let mut d = greeted();
    d.session
        .close_with(Reply::new(421, "4.4.2", "timeout exceeded"));
    assert_eq!(d.session.next_step(), Step::Close);
    assert_eq!(
        String::from_utf8(d.session.take_output()).unwrap(),
        "421 4.4.2 timeout exceeded\r\n"
    );
}

#[test]
fn activity_counts_mail_commands_messages_and_error_replies() {
    // A health probe: banner, QUIT. Nothing worth logging.
    let mut d = Driver::new();
    d.send(b"QUIT\r\n");
    assert!(d.closed);
    assert_eq!(d.session.activity(), &Activity::default());
    assert_eq!(d.session.helo_name(), None);

    let mut d = greeted();
    assert_eq!(d.session.helo_name(), Some("client.test"));
    let out = d.send(
        b"MAIL FROM:<a@x.test>\r\nRCPT TO:<u@x.test>\r\nDATA\r\nhi\r\n.\r\n\
          MAIL FROM:<refused@x.test>\r\nRCPT TO:<u@x.test>\r\nDATA\r\nno\r\n.\r\n\
          MAIL FROM:<blocked@x.test>\r\nBOGUS\r\nNOOP\r\n",
    );
    assert!(
        out.contains("550 5.7.1 refused by the filter\r\n")
            && out.ends_with(
                "550 5.7.1 blocked\r\n500 5.5.1 command unrecognized\r\n250 2.0.0 Ok\r\n"
            ),
        "{out}"
    );
    assert_eq!(
        d.session.activity(),
        &Activity {
            mail_commands: 3,
            accepted: 1,
            refused: 1,
            error_replies: 3,
        }
    );
}

#[path = "security_tests.rs"]
mod security;
