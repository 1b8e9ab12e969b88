//! The SMTP server session as a sans-I/O state machine.
//!
//! Bytes go in with [`Session::feed`]; replies come out of
//! [`Session::take_output`]; [`Session::next_step`] says what the I/O around
//! it must do next: read more input, answer a question the session cannot
//! answer itself (recipient policy, the milter's verdict, queueing the
//! message), or close. Nothing here touches a socket, a clock or a database,
//! so recorded exchanges are replayed byte for byte in the tests.
//!
//! Input is processed strictly in order from one buffer: with pipelining
//! (RFC 2920) several commands arrive in one read, their replies accumulate
//! in the output, and the driver flushes them when the session asks for more
//! input. Bytes after the 354 reply to DATA belong to the message (see
//! [`parser`] for how the end of data is found).

mod chunking;
mod command;
pub mod parser;
pub mod reply;
mod security;
mod smtputf8;

#[cfg(test)]
mod tests;

use parser::{DataReceiver, LineFramer};
pub use reply::Reply;
pub use security::Credentials;

/// The session's fixed settings.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Our name, in the banner and the EHLO answer.
    pub hostname: String,
    /// Largest message accepted (announced with SIZE).
    pub max_message_size: usize,
    /// Recipients per transaction.
    pub max_recipients: usize,
}

/// What the driver must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Flush the output, then read input and [`Session::feed`] it.
    NeedInput,
    /// Decide, then call [`Session::decide`] (or [`Session::message_done`]
    /// for [`Ask::Message`]) before calling `next_step` again.
    Ask(Ask),
    /// A transaction with an accepted MAIL ended without a message (RSET,
    /// a new EHLO, a refused DATA): tell the milter (SMFIC_ABORT).
    TransactionAborted,
    /// Flush the output (the 220 to STARTTLS), do the TLS handshake, then
    /// call [`Session::tls_started`].
    StartTls,
    /// Flush the output and close the connection.
    Close,
}

/// A question only the driver can answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Ask {
    /// EHLO/HELO with this client name (for the milter).
    Helo {
        /// The name the client gave.
        name: String,
    },
    /// MAIL FROM; the queue id was assigned now so the milter can see it.
    Mail {
        /// The new transaction's queue id.
        queue_id: String,
        /// The reverse-path without brackets; empty for `<>`.
        sender: String,
    },
    /// RCPT TO, with the address already in normal form.
    Rcpt {
        /// The recipient.
        address: String,
    },
    /// The message is complete: filter it, queue it, and give the final reply.
    Message(Transaction),
    /// AUTH: check this login, then [`Session::decide`] (refuse with 535 5.7.8).
    Auth(Credentials),
}

/// The driver's answer to [`Ask::Helo`], [`Ask::Mail`] or [`Ask::Rcpt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on; the session sends its usual positive reply.
    Accept,
    /// Refuse the command with this reply.
    Refuse(Reply),
}

/// A complete transaction, handed over at the end of DATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Assigned at MAIL.
    pub queue_id: String,
    /// The reverse-path; empty for the null sender.
    pub sender: String,
    /// Accepted recipients in normal form, without duplicates.
    pub recipients: Vec<String>,
    /// The name given with EHLO/HELO.
    pub helo: String,
    /// True after EHLO (the `with ESMTP` of the Received header).
    pub esmtp: bool,
    /// Received over TLS (`ESMTPS`, RFC 3848).
    pub tls: bool,
    /// Sent by an authenticated client (`ESMTPA`, RFC 3848).
    pub authenticated: bool,
    /// MAIL carried SMTPUTF8 (RFC 6531): delivery must ask for it too.
    pub smtputf8: bool,
    /// The message: unstuffed, CRLF line ends.
    pub body: Vec<u8>,
}

/// What a session did, counted for the one line logged at its end (a
/// session that only read the banner, like a health probe, is not worth one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    /// MAIL commands received, refused ones included.
    pub mail_commands: u32,
    /// Messages acknowledged at the end of DATA (2xx).
    pub accepted: u32,
    /// Messages refused at the end of DATA (by the filter, a cap, storage).
    pub refused: u32,
    /// Replies 4xx/5xx sent, whatever the command.
    pub error_replies: u32,
}

/// The open transaction between MAIL and the end of DATA.
#[derive(Debug)]
struct Envelope {
    queue_id: String,
    sender: String,
    recipients: Vec<String>,
    /// RCPT commands seen, accepted or not (503 vs 554 for DATA).
    rcpt_attempts: usize,
}

/// What the session waits for.
#[derive(Debug)]
enum Phase {
    Command,
    Data(DataReceiver),
    /// Reading the octets of a BDAT chunk.
    Chunk(chunking::Chunk),
    Pending(Pending),
    Closed,
}

/// The question asked and not yet answered, with what the answer needs.
#[derive(Debug)]
enum Pending {
    Helo { name: String, extended: bool },
    Mail { queue_id: String, sender: String },
    Rcpt { address: String },
    Message,
    Auth { username: String },
}

/// One SMTP server session.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    input: Vec<u8>,
    output: Vec<u8>,
    framer: LineFramer,
    phase: Phase,
    /// The EHLO/HELO name and whether it was EHLO.
    helo: Option<(String, bool)>,
    envelope: Option<Envelope>,
    /// Set by [`Session::shut_down`]: the next command gets 421.
    shutting_down: bool,
    /// A transaction ended without a message; reported once as a step.
    aborted: bool,
    activity: Activity,
    /// STARTTLS and AUTH state.
    security: security::Security,
    /// The current MAIL carried SMTPUTF8: its addresses may be UTF-8.
    smtputf8: bool,
    /// The message being received with BDAT.
    chunking: chunking::Chunking,
    /// The transaction's DSN parameters (RFC 3461).
    dsn: crate::dsn::SessionDsn,
}

impl Session {
    /// A new session; the banner is already in the output.
    pub fn new(config: SessionConfig) -> Session {
        let mut session = Session {
            input: Vec::new(),
            output: Vec::new(),
            framer: LineFramer::default(),
            phase: Phase::Command,
            helo: None,
            envelope: None,
            shutting_down: false,
            aborted: false,
            activity: Activity::default(),
            security: Default::default(),
            smtputf8: false,
            chunking: Default::default(),
            dsn: Default::default(),
            config,
        };
        let banner = format!("{} ESMTP filterbox", session.config.hostname);
        session.reply(Reply::plain(220, [banner]));
        session
    }

    /// Appends bytes read from the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Takes the replies produced so far, to be written to the client.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// True while the client is sending the message text (after 354).
    pub fn in_data(&self) -> bool {
        matches!(self.phase, Phase::Data(_) | Phase::Chunk(_))
    }

    /// What the session did so far.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// The name the client gave with its last accepted EHLO/HELO.
    pub fn helo_name(&self) -> Option<&str> {
        self.helo.as_ref().map(|(name, _)| name.as_str())
    }

    /// The DSN parameters of the message just received (at [`Ask::Message`]).
    pub fn take_dsn(&mut self) -> crate::dsn::MessageDsn {
        self.dsn.take()
    }

    /// Graceful shutdown: the next command is answered `421 4.3.0` and the
    /// session closes; a message being received is still completed.
    pub fn shut_down(&mut self) {
        self.shutting_down = true;
    }

    /// Ends the session at once with `reply` (timeouts, shutdown while idle).
    pub fn close_with(&mut self, reply: Reply) {
        self.reply(reply);
        self.phase = Phase::Closed;
    }

    /// Advances the session as far as the buffered input allows.
    pub fn next_step(&mut self) -> Step {
        loop {
            if std::mem::take(&mut self.aborted) {
                return Step::TransactionAborted;
            }
            match &mut self.phase {
                Phase::Closed => return Step::Close,
                Phase::Pending(_) => {
                    // A driver bug: it must answer before asking for the next step.
                    log::error!("SMTP session stepped with an unanswered question; closing");
                    return Step::Close;
                }
                Phase::Data(receiver) => {
                    let (used, done) = receiver.ingest(&self.input);
                    self.input.drain(..used);
                    if !done {
                        return Step::NeedInput;
                    }
                    if let Some(step) = self.end_of_data() {
                        return step;
                    }
                }
                Phase::Chunk(_) => {
                    if let Some(step) = self.chunk_input() {
                        return step;
                    }
                }
                Phase::Command => match self.framer.next(&mut self.input) {
                    parser::Framed::Incomplete => return Step::NeedInput,
                    parser::Framed::TooLong => {
                        self.reply(Reply::new(500, "5.5.2", "line too long"));
                    }
                    parser::Framed::Line(line) => {
                        if let Some(step) = self.command(&line) {
                            return step;
                        }
                    }
                },
            }
        }
    }

    /// Answers the pending [`Ask::Helo`], [`Ask::Mail`] or [`Ask::Rcpt`].
    pub fn decide(&mut self, verdict: Verdict) {
        let Phase::Pending(pending) = std::mem::replace(&mut self.phase, Phase::Command) else {
            log::error!("SMTP session got a verdict without a question");
            return;
        };
        match (pending, verdict) {
            (Pending::Helo { name, extended }, Verdict::Accept) => self.greeted(name, extended),
            (Pending::Mail { queue_id, sender }, Verdict::Accept) => {
                self.envelope = Some(Envelope {
                    queue_id,
                    sender,
                    recipients: Vec::new(),
                    rcpt_attempts: 0,
                });
                self.reply(Reply::new(250, "2.1.0", "Ok"));
            }
            (Pending::Rcpt { address }, Verdict::Accept) => {
                if let Some(env) = &mut self.envelope {
                    if !env.recipients.contains(&address) {
                        env.recipients.push(address);
                    }
                }
                self.dsn.accepted();
                self.reply(Reply::new(250, "2.1.5", "Ok"));
            }
            (Pending::Message, Verdict::Accept) => {
                log::error!("SMTP session: a message needs a final reply, not a verdict");
                self.reply(Reply::new(451, "4.3.0", "internal error"));
            }
            (Pending::Auth { username }, verdict) => self.auth_decided(username, verdict),
            (_, Verdict::Refuse(reply)) => self.reply(reply),
        }
    }

    /// Answers the pending [`Ask::Message`] with the final reply to DATA.
    pub fn message_done(&mut self, reply: Reply) {
        debug_assert!(matches!(self.phase, Phase::Pending(Pending::Message)));
        self.phase = Phase::Command;
        if reply.code < 400 {
            self.activity.accepted += 1;
        } else {
            self.activity.refused += 1;
        }
        self.reply(reply);
    }

    fn reply(&mut self, reply: Reply) {
        if reply.code >= 400 {
            self.activity.error_replies += 1;
        }
        reply.write_to(&mut self.output);
    }

    /// Sets the state after an accepted EHLO/HELO (which also resets any transaction).
    fn greeted(&mut self, name: String, extended: bool) {
        let host = self.config.hostname.clone();
        let reply = if extended {
            Reply::plain(
                250,
                [
                    host,
                    "PIPELINING".to_string(),
                    format!("SIZE {}", self.config.max_message_size),
                    "8BITMIME".to_string(),
                    "DSN".to_string(),
                    smtputf8::KEYWORD.to_string(),
                    chunking::KEYWORD.to_string(),
                    "ENHANCEDSTATUSCODES".to_string(),
                    "HELP".to_string(),
                ]
                .into_iter()
                .chain(self.security.keywords()),
            )
        } else {
            Reply::plain(250, [host])
        };
        self.helo = Some((name, extended));
        self.reply(reply);
    }

    /// Drops the open transaction; reports it to the driver if MAIL was accepted.
    fn reset_transaction(&mut self) {
        if self.envelope.take().is_some() {
            self.aborted = true;
        }
    }

    /// The DATA text is complete.
    fn end_of_data(&mut self) -> Option<Step> {
        let Phase::Data(receiver) = std::mem::replace(&mut self.phase, Phase::Command) else {
            return None;
        };
        self.message_complete(receiver.finish())
    }

    /// The message text is complete (DATA or BDAT LAST): refuse it on a
    /// cap, else hand it over.
    fn message_complete(&mut self, outcome: parser::DataOutcome) -> Option<Step> {
        let envelope = self.envelope.take()?;
        if outcome.too_big || outcome.line_too_long {
            self.activity.refused += 1;
        }
        if outcome.too_big {
            self.aborted = true;
            self.reply(Reply::new(
                552,
                "5.3.4",
                "message size exceeds fixed maximum message size",
            ));
            return None;
        }
        if outcome.line_too_long {
            self.aborted = true;
            self.reply(Reply::new(500, "5.5.6", "line too long"));
            return None;
        }
        let (helo, esmtp) = self.helo.clone().unwrap_or_default();
        self.phase = Phase::Pending(Pending::Message);
        Some(Step::Ask(Ask::Message(Transaction {
            queue_id: envelope.queue_id,
            sender: envelope.sender,
            recipients: envelope.recipients,
            helo,
            esmtp,
            tls: self.tls_active(),
            authenticated: self.authenticated().is_some(),
            smtputf8: self.smtputf8,
            body: outcome.body,
        })))
    }
}
