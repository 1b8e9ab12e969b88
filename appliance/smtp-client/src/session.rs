//! The sans-I/O SMTP client: a state machine fed replies, returning what to
//! write and what to read next, and deciding each recipient's fate.
//!
//! It never touches a socket, so every exchange can be replayed in unit tests.
//! A recipient is *decided* once a reply settles it (its RCPT refusal, the
//! MAIL/greeting/EHLO refusal, the DATA refusal, or the final reply after the
//! dot); once all are, the outcome no longer depends on the connection.

use crate::body::{has_eight_bit, wire_size};
use crate::config::xtext;
use crate::ehlo::Capabilities;
use crate::proof::first_word;
use crate::{
    ClientError, DeliveryReport, DsnRequest, Envelope, RecipientResult, Reply, Stage, TlsMode,
};

/// What the driver must do next, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Write these command lines (each ends in CRLF).
    Send {
        /// Where a failure is reported.
        stage: Stage,
        /// The commands; never message content.
        bytes: Vec<u8>,
    },
    /// Stream the dot-stuffed message, then report its size with
    /// [`Session::body_sent`].
    SendBody,
    /// Perform the TLS handshake (nothing may be buffered), then continue
    /// with [`Session::tls_established`].
    StartTls,
    /// Read the next reply and pass it to [`Session::on_reply`].
    Read(Stage),
}

/// Which reply the session waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Greeting,
    Ehlo,
    Helo,
    /// The reply to STARTTLS.
    StartTls,
    Mail,
    /// The reply to the RCPT of `to_send[n]`.
    Rcpt(usize),
    Data,
    /// The final reply after the message.
    Body,
    /// The reply to a lone dot sent after an unwanted 354 (RFC 2920 3.1).
    LoneDot,
    Quit,
    Done,
}

/// One delivery transaction.
pub(crate) struct Session<'a> {
    helo_name: &'a str,
    sender: &'a str,
    recipients: &'a [String],
    message_size: u64,
    eight_bit: bool,
    /// The message needs SMTPUTF8.
    smtputf8: bool,
    /// The sender's DSN parameters, if any.
    dsn: Option<&'a DsnRequest>,
    /// The server offers DSN and `dsn` went on MAIL/RCPT.
    dsn_passed: bool,
    state: State,
    pipelining: bool,
    greeting: Option<Reply>,
    /// The deciding reply per envelope recipient, `None` while undecided.
    results: Vec<Option<Reply>>,
    /// Envelope indexes of the recipients whose RCPT goes on the wire.
    to_send: Vec<usize>,
    /// Envelope indexes of the recipients accepted at RCPT.
    accepted: Vec<usize>,
    data_reply: Option<Reply>,
    bytes_sent: u64,
    /// The STARTTLS policy.
    tls: TlsMode,
    /// True once the TLS handshake succeeded.
    secured: bool,
    /// What the EHLO in clear offered, to go on in clear if STARTTLS fails.
    offered: Capabilities,
    /// The host name in the last positive EHLO/HELO reply.
    ehlo_name: Option<String>,
}

impl<'a> Session<'a> {
    /// Prepares a transaction; recipients whose address could inject SMTP
    /// syntax are refused locally here and never sent.
    pub(crate) fn new(helo_name: &'a str, envelope: &Envelope<'a>, message: &[u8]) -> Self {
        let results: Vec<Option<Reply>> = envelope
            .recipients
            .iter()
            .map(|rcpt| {
                (!is_safe_path(rcpt) || rcpt.is_empty()).then(|| {
                    Reply::new(
                        501,
                        "5.1.3 invalid recipient address syntax (local, not sent)",
                    )
                })
            })
            .collect();
        let to_send = (0..results.len())
            .filter(|i| results[*i].is_none())
            .collect();
        Session {
            helo_name,
            sender: envelope.sender,
            recipients: envelope.recipients,
            message_size: wire_size(message),
            eight_bit: has_eight_bit(message),
            smtputf8: envelope.smtputf8
                || !envelope.sender.is_ascii()
                || envelope.recipients.iter().any(|r| !r.is_ascii()),
            dsn: envelope.dsn,
            dsn_passed: false,
            state: State::Greeting,
            pipelining: false,
            greeting: None,
            results,
            to_send,
            accepted: Vec::new(),
            data_reply: None,
            bytes_sent: 0,
            tls: TlsMode::Disabled,
            secured: false,
            offered: Capabilities::default(),
            ehlo_name: None,
        }
    }

    /// Sets the STARTTLS policy (the default is [`TlsMode::Disabled`]).
    pub(crate) fn with_tls(mut self, mode: TlsMode) -> Self {
        self.tls = mode;
        self
    }

    /// The host name the server gave in its last positive EHLO/HELO reply.
    pub(crate) fn ehlo_name(&self) -> Option<&str> {
        self.ehlo_name.as_deref()
    }

    /// The first action: wait for the banner.
    pub(crate) fn start(&self) -> Vec<Action> {
        vec![Action::Read(Stage::Greeting)]
    }

    /// Records the size of the transmitted DATA payload.
    pub(crate) fn body_sent(&mut self, bytes: u64) {
        self.bytes_sent = bytes;
    }

    /// Consumes the awaited reply; an empty result means the session is over.
    pub(crate) fn on_reply(&mut self, reply: Reply) -> Result<Vec<Action>, ClientError> {
        self.check_class(&reply)?;
        Ok(match self.state {
            State::Greeting => self.on_greeting(reply),
            State::Ehlo => self.on_ehlo(reply),
            State::Helo => self.on_helo(reply),
            State::StartTls => self.on_starttls(reply),
            State::Mail => self.on_mail(reply),
            State::Rcpt(n) => self.on_rcpt(n, reply),
            State::Data => self.on_data(reply),
            State::Body => self.on_final(reply),
            State::LoneDot => self.quit(),
            State::Quit | State::Done => {
                self.state = State::Done;
                Vec::new()
            }
        })
    }

    /// The report, once the greeting arrived and every recipient is decided;
    /// from then on a broken connection changes nothing.
    pub(crate) fn into_report(self) -> Option<DeliveryReport> {
        let recipients = self
            .recipients
            .iter()
            .zip(self.results)
            .map(|(recipient, reply)| {
                Some(RecipientResult {
                    recipient: recipient.clone(),
                    reply: reply?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(DeliveryReport {
            greeting: self.greeting?,
            recipients,
            data_reply: self.data_reply,
            bytes_sent: self.bytes_sent,
            dsn_passed: self.dsn_passed,
        })
    }

    /// The stage the awaited reply belongs to.
    fn stage(&self) -> Stage {
        match self.state {
            State::Greeting => Stage::Greeting,
            State::Ehlo | State::Helo => Stage::Ehlo,
            State::StartTls => Stage::Tls,
            State::Mail => Stage::Mail,
            State::Rcpt(_) => Stage::Rcpt,
            State::Data => Stage::Data,
            State::Body | State::LoneDot => Stage::Body,
            State::Quit | State::Done => Stage::Quit,
        }
    }

    /// Only DATA may be answered 3xx, and DATA never 2xx; anything else is
    /// a server we cannot reason about.
    fn check_class(&self, reply: &Reply) -> Result<(), ClientError> {
        let class = reply.code / 100;
        let unexpected = match self.state {
            State::LoneDot | State::Quit | State::Done => false,
            State::Data => class == 2,
            _ => class == 3,
        };
        if unexpected {
            return Err(ClientError::Protocol {
                stage: self.stage(),
                detail: format!("unexpected reply {reply}"),
            });
        }
        Ok(())
    }

    fn on_greeting(&mut self, reply: Reply) -> Vec<Action> {
        self.greeting = Some(reply.clone());
        if !reply.is_positive() {
            self.decide_pending(&reply);
            return self.quit();
        }
        self.state = State::Ehlo;
        self.hello("EHLO")
    }

    fn on_ehlo(&mut self, reply: Reply) -> Vec<Action> {
        if reply.is_positive() {
            self.ehlo_name = Some(first_word(&reply.text));
            return self.after_hello(Capabilities::from_ehlo_text(&reply.text));
        }
        if reply.is_permanent() {
            self.state = State::Helo;
            return self.hello("HELO");
        }
        self.decide_pending(&reply);
        self.quit()
    }

    fn on_helo(&mut self, reply: Reply) -> Vec<Action> {
        if reply.is_positive() {
            self.ehlo_name = Some(first_word(&reply.text));
            return self.after_hello(Capabilities::default());
        }
        self.decide_pending(&reply);
        self.quit()
    }

    /// Starts the mail transaction, or refuses it locally.
    fn begin(&mut self, caps: Capabilities) -> Vec<Action> {
        if let Some(limit) = caps.size.filter(|limit| *limit > 0) {
            if self.message_size > limit {
                let text = format!(
                    "5.3.4 message size exceeds the server's limit (local: {} octets > SIZE {limit}, not sent)",
                    self.message_size
                );
                self.decide_pending(&Reply::new(552, text));
                return self.quit();
            }
        }
        if !is_safe_path(self.sender) {
            let text = "5.1.7 invalid sender address syntax (local, not sent)";
            self.decide_pending(&Reply::new(501, text));
            return self.quit();
        }
        if self.smtputf8 && !caps.smtputf8 {
            let text = "5.6.7 the server does not support SMTPUTF8, which this message needs (local, not sent)";
            self.decide_pending(&Reply::new(553, text));
            return self.quit();
        }
        if self.to_send.is_empty() {
            return self.quit();
        }
        self.pipelining = caps.pipelining;
        self.dsn_passed = caps.dsn && self.dsn.is_some();
        self.state = State::Mail;
        let mut bytes = format!("MAIL FROM:<{}>", self.sender).into_bytes();
        if caps.size.is_some() {
            bytes.extend_from_slice(format!(" SIZE={}", self.message_size).as_bytes());
        }
        if self.eight_bit && caps.eight_bit_mime {
            bytes.extend_from_slice(b" BODY=8BITMIME");
        }
        if self.smtputf8 {
            bytes.extend_from_slice(b" SMTPUTF8");
        }
        if let Some(dsn) = self.dsn.filter(|_| self.dsn_passed) {
            if let Some(ret) = &dsn.ret {
                bytes.extend_from_slice(format!(" RET={}", xtext(ret)).as_bytes());
            }
            if let Some(envid) = &dsn.envid {
                bytes.extend_from_slice(format!(" ENVID={}", xtext(envid)).as_bytes());
            }
        }
        bytes.extend_from_slice(b"\r\n");
        if self.pipelining {
            for n in 0..self.to_send.len() {
                bytes.extend_from_slice(&self.rcpt_command(n));
            }
            bytes.extend_from_slice(b"DATA\r\n");
        }
        vec![
            Action::Send {
                stage: Stage::Mail,
                bytes,
            },
            Action::Read(Stage::Mail),
        ]
    }

    fn on_mail(&mut self, reply: Reply) -> Vec<Action> {
        if !reply.is_positive() {
            self.decide_pending(&reply);
            if !self.pipelining {
                return self.quit();
            }
            // The RCPT and DATA replies are still coming: read them in order.
        }
        self.next_rcpt(0)
    }

    fn on_rcpt(&mut self, n: usize, reply: Reply) -> Vec<Action> {
        let index = self.to_send[n];
        if self.results[index].is_none() {
            if reply.is_positive() {
                self.accepted.push(index);
            } else {
                self.results[index] = Some(reply);
            }
        }
        if n + 1 < self.to_send.len() {
            return self.next_rcpt(n + 1);
        }
        if self.pipelining {
            self.state = State::Data;
            return vec![Action::Read(Stage::Data)];
        }
        if self.accepted.is_empty() {
            return self.quit();
        }
        self.state = State::Data;
        vec![
            Action::Send {
                stage: Stage::Data,
                bytes: b"DATA\r\n".to_vec(),
            },
            Action::Read(Stage::Data),
        ]
    }

    fn on_data(&mut self, reply: Reply) -> Vec<Action> {
        if reply.is_transient() || reply.is_permanent() {
            self.decide_pending(&reply);
            return self.quit();
        }
        if self.accepted.is_empty() {
            // A pipelined DATA accepted although nobody can receive the
            // message: end it empty, never send the body.
            self.state = State::LoneDot;
            return vec![
                Action::Send {
                    stage: Stage::Body,
                    bytes: b".\r\n".to_vec(),
                },
                Action::Read(Stage::Body),
            ];
        }
        self.state = State::Body;
        vec![Action::SendBody, Action::Read(Stage::Body)]
    }

    fn on_final(&mut self, reply: Reply) -> Vec<Action> {
        self.decide_pending(&reply);
        self.data_reply = Some(reply);
        self.quit()
    }

    /// Waits for the RCPT reply of `to_send[n]`, sending that RCPT first
    /// unless the whole group was pipelined.
    fn next_rcpt(&mut self, n: usize) -> Vec<Action> {
        self.state = State::Rcpt(n);
        let mut actions = Vec::with_capacity(2);
        if !self.pipelining {
            actions.push(Action::Send {
                stage: Stage::Rcpt,
                bytes: self.rcpt_command(n),
            });
        }
        actions.push(Action::Read(Stage::Rcpt));
        actions
    }

    fn rcpt_command(&self, n: usize) -> Vec<u8> {
        let index = self.to_send[n];
        let mut line = format!("RCPT TO:<{}>", self.recipients[index]);
        let params = self
            .dsn
            .filter(|_| self.dsn_passed)
            .and_then(|d| d.recipients.get(index));
        if let Some(params) = params {
            if let Some(notify) = &params.notify {
                line.push_str(&format!(" NOTIFY={}", xtext(notify)));
            }
            if let Some(orcpt) = &params.orcpt {
                line.push_str(&format!(" ORCPT=rfc822;{}", xtext(orcpt)));
            }
        }
        line.push_str("\r\n");
        line.into_bytes()
    }

    fn hello(&self, verb: &str) -> Vec<Action> {
        vec![
            Action::Send {
                stage: Stage::Ehlo,
                bytes: format!("{verb} {}\r\n", self.helo_name).into_bytes(),
            },
            Action::Read(Stage::Ehlo),
        ]
    }

    fn quit(&mut self) -> Vec<Action> {
        self.state = State::Quit;
        vec![
            Action::Send {
                stage: Stage::Quit,
                bytes: b"QUIT\r\n".to_vec(),
            },
            Action::Read(Stage::Quit),
        ]
    }

    /// Gives every still undecided recipient (including those accepted at
    /// RCPT and waiting for the final reply) this reply.
    fn decide_pending(&mut self, reply: &Reply) {
        for result in self.results.iter_mut().filter(|r| r.is_none()) {
            *result = Some(reply.clone());
        }
    }
}

/// Whether an address can go between `<` and `>` without changing the
/// command: no control characters (CR, LF, NUL...), no angle brackets.
fn is_safe_path(address: &str) -> bool {
    address
        .bytes()
        .all(|b| b >= 0x20 && b != 0x7f && b != b'<' && b != b'>')
}

mod starttls;
#[cfg(test)]
mod tests;
