//! The state machine replayed over recorded exchanges, without sockets.
//!
//! The server side is given as the chunks it sent; each chunk goes through
//! the real reply reader, so a chunk holding several replies exercises the
//! pipelined path exactly as a packet would.

use super::*;
use crate::body::{DotStuffer, BODY_CHUNK};
use crate::reader::ReplyReader;
use std::collections::VecDeque;

const BANNER: &str = "220 mx.test ESMTP\r\n";
const EHLO_PIPELINING: &str =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";
const EHLO_PLAIN: &str = "250-mx.test\r\n250 ENHANCEDSTATUSCODES\r\n";
const MESSAGE: &[u8] = b"Subject: hi\r\n\r\nhello\r\n";

/// What one replayed exchange produced.
struct Outcome {
    /// Everything the client wrote; the message body appears as `<body>`.
    written: Vec<String>,
    report: Option<DeliveryReport>,
    error: Option<ClientError>,
    /// Whether the session ran to its end (false: the script ran out).
    finished: bool,
}

impl Outcome {
    fn report(&self) -> &DeliveryReport {
        self.report.as_ref().expect("every recipient decided")
    }

    fn replies(&self) -> Vec<String> {
        let report = self.report();
        report
            .recipients
            .iter()
            .map(|r| r.reply.to_string())
            .collect()
    }
}

fn exchange(sender: &str, recipients: &[&str], message: &[u8], server: &[&str]) -> Outcome {
    exchange_tls(TlsMode::Disabled, sender, recipients, message, server)
}

/// [`exchange`] under a STARTTLS policy; the handshake appears as `<tls>`.
fn exchange_tls(
    tls: TlsMode,
    sender: &str,
    recipients: &[&str],
    message: &[u8],
    server: &[&str],
) -> Outcome {
    let recipients: Vec<String> = recipients.iter().map(|r| r.to_string()).collect();
    let envelope = Envelope {
        sender,
        recipients: &recipients,
        ..Default::default()
    };
    let session = Session::new("client.test", &envelope, message).with_tls(tls);
    replay(session, message, server)
}

/// Runs `session` against the server's recorded `server` chunks.
fn replay(mut session: Session<'_>, message: &[u8], server: &[&str]) -> Outcome {
    let mut reader = ReplyReader::default();
    let mut chunks = server.iter();
    let mut outcome = Outcome {
        written: Vec::new(),
        report: None,
        error: None,
        finished: true,
    };
    let mut actions = VecDeque::from(session.start());
    'run: while let Some(action) = actions.pop_front() {
        match action {
            Action::Send { bytes, .. } => outcome.written.push(String::from_utf8(bytes).unwrap()),
            Action::SendBody => {
                outcome.written.push("<body>".to_string());
                session.body_sent(encoded_len(message));
            }
            Action::StartTls => {
                outcome.written.push("<tls>".to_string());
                reader = ReplyReader::default();
                actions.extend(session.tls_established());
            }
            Action::Read(_) => {
                let reply = loop {
                    if let Some(reply) = reader.next_reply().expect("valid replies") {
                        break reply;
                    }
                    let Some(chunk) = chunks.next() else {
                        outcome.finished = false;
                        break 'run;
                    };
                    reader.push(chunk.as_bytes());
                };
                match session.on_reply(reply) {
                    Ok(next) => actions.extend(next),
                    Err(error) => {
                        outcome.error = Some(error);
                        break 'run;
                    }
                }
            }
        }
    }
    outcome.report = session.into_report();
    outcome
}

fn encoded_len(message: &[u8]) -> u64 {
    let mut stuffer = DotStuffer::new(message, BODY_CHUNK);
    let mut chunk = Vec::new();
    let mut total = 0;
    while stuffer.next_chunk(&mut chunk) {
        total += chunk.len() as u64;
    }
    total
}

mod extensions;
mod refusals;
mod starttls;
mod transactions;
