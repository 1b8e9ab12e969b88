//! One command line: parsing with smtp-proto, sequence checks and replies.

use std::borrow::Cow;

use smtp_proto::{MailFrom, RcptTo, Request};

use super::parser::DataReceiver;
use super::{smtputf8, Ask, Pending, Phase, Reply, Session, Step};

/// MAIL parameters we announce (SIZE via its own field, BODY=7BIT/8BITMIME, SMTPUTF8).
const MAIL_FLAGS_OFFERED: u64 = smtp_proto::MAIL_BODY_7BIT
    | smtp_proto::MAIL_BODY_8BITMIME
    | smtp_proto::MAIL_SMTPUTF8
    | crate::dsn::MAIL_FLAGS;

impl Session {
    /// Handles one command line; returns a step when the driver must act.
    pub(super) fn command(&mut self, line: &[u8]) -> Option<Step> {
        if self.shutting_down {
            self.close_with(Reply::new(421, "4.3.0", "shutting down, try again later"));
            return Some(Step::Close);
        }
        if self.security.in_exchange() {
            return self.auth_continue(line);
        }
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(e) => {
                self.reply(parse_error(e));
                return None;
            }
        };
        match request {
            Request::Ehlo { host } => self.helo(host, true),
            Request::Helo { host } => self.helo(host, false),
            Request::Mail { from } => {
                self.activity.mail_commands += 1;
                self.mail(from)
            }
            Request::Rcpt { to } => self.rcpt(to),
            Request::Data => self.data(),
            Request::Rset => {
                self.reset_transaction();
                self.reply(Reply::new(250, "2.0.0", "Ok"));
                None
            }
            Request::Noop { .. } => {
                self.reply(Reply::new(250, "2.0.0", "Ok"));
                None
            }
            Request::Quit => {
                self.reset_transaction();
                self.close_with(Reply::new(221, "2.0.0", "Bye"));
                None
            }
            Request::Vrfy { .. } => {
                self.reply(Reply::new(
                    252,
                    "2.1.5",
                    "cannot VRFY user, but will accept message and attempt delivery",
                ));
                None
            }
            Request::Expn { .. } => {
                self.reply(Reply::new(502, "5.5.1", "EXPN not available"));
                None
            }
            Request::Help { .. } => {
                self.reply(Reply::new(
                    214,
                    "2.0.0",
                    "commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY",
                ));
                None
            }
            Request::StartTls => self.starttls(),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, &initial_response),
            Request::Lhlo { .. } => {
                self.reply(Reply::new(500, "5.5.1", "command unrecognized"));
                None
            }
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last),
            Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                self.reply(Reply::new(502, "5.5.1", "command not implemented"));
                None
            }
        }
    }

    fn helo(&mut self, host: Cow<'_, str>, extended: bool) -> Option<Step> {
        // A new greeting resets the transaction (RFC 5321 section 4.1.4).
        self.reset_transaction();
        let name = host.into_owned();
        self.phase = Phase::Pending(Pending::Helo {
            name: name.clone(),
            extended,
        });
        Some(Step::Ask(Ask::Helo { name }))
    }

    fn mail(&mut self, from: MailFrom<Cow<'_, str>>) -> Option<Step> {
        let refuse = if self.helo.is_none() {
            Some(Reply::new(503, "5.5.1", "send EHLO or HELO first"))
        } else if self.envelope.is_some() {
            Some(Reply::new(503, "5.5.1", "nested MAIL command"))
        } else if !mail_params_supported(&from) {
            Some(Reply::new(
                555,
                "5.5.4",
                "MAIL parameters not recognized or not implemented",
            ))
        } else if from.size > self.config.max_message_size {
            Some(Reply::new(
                552,
                "5.3.4",
                "message size exceeds fixed maximum message size",
            ))
        } else {
            let utf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
            smtputf8::sender_refusal(&from.address, utf8)
        };
        if let Some(reply) = refuse {
            self.reply(reply);
            return None;
        }
        self.smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
        self.dsn.mail(&from);
        let queue_id = model::id::new_id();
        let sender = from.address.into_owned();
        self.phase = Phase::Pending(Pending::Mail {
            queue_id: queue_id.clone(),
            sender: sender.clone(),
        });
        Some(Step::Ask(Ask::Mail { queue_id, sender }))
    }

    fn rcpt(&mut self, to: RcptTo<Cow<'_, str>>) -> Option<Step> {
        let Some(envelope) = &mut self.envelope else {
            self.reply(Reply::new(503, "5.5.1", "need MAIL before RCPT"));
            return None;
        };
        envelope.rcpt_attempts += 1;
        let full = envelope.recipients.len() >= self.config.max_recipients;
        let refuse = if to.rrvs != 0 || to.flags & !crate::dsn::RCPT_FLAGS != 0 {
            Some(Reply::new(
                555,
                "5.5.4",
                "RCPT parameters not recognized or not implemented",
            ))
        } else if full {
            Some(Reply::new(452, "4.5.3", "too many recipients"))
        } else {
            None
        };
        if let Some(reply) = refuse {
            self.reply(reply);
            return None;
        }
        match smtputf8::recipient(&to.address, self.smtputf8) {
            Ok(address) => {
                if let Err(reply) = self.dsn.rcpt(&address, &to) {
                    self.reply(reply);
                    return None;
                }
                self.phase = Phase::Pending(Pending::Rcpt {
                    address: address.clone(),
                });
                Some(Step::Ask(Ask::Rcpt { address }))
            }
            Err(reply) => {
                self.reply(reply);
                None
            }
        }
    }

    fn data(&mut self) -> Option<Step> {
        let reply = match &self.envelope {
            None => Reply::new(503, "5.5.1", "need MAIL and RCPT before DATA"),
            Some(e) if e.rcpt_attempts == 0 => Reply::new(503, "5.5.1", "need RCPT before DATA"),
            Some(e) if e.recipients.is_empty() => Reply::new(554, "5.5.1", "no valid recipients"),
            Some(e) if self.chunking.started(&e.queue_id) => {
                Reply::new(503, "5.5.1", "DATA not allowed after BDAT")
            }
            Some(_) => {
                self.phase = Phase::Data(DataReceiver::new(self.config.max_message_size));
                Reply::plain(354, ["End data with <CR><LF>.<CR><LF>"])
            }
        };
        self.reply(reply);
        None
    }
}

/// True when MAIL carries only the parameters we announce (SIZE, BODY).
fn mail_params_supported(from: &MailFrom<Cow<'_, str>>) -> bool {
    from.flags & !MAIL_FLAGS_OFFERED == 0
        && from.trans_id.is_none()
        && from.by == 0
        && from.solicit.is_none()
        && from.mtrk.is_none()
        // AUTH= (RFC 4954 section 5) is accepted and ignored: we trust no
        // identity a client asserts for the message.
        && from.hold_for == 0
        && from.hold_until == 0
        && from.mt_priority == 0
}

/// The reply to a line smtp-proto could not parse.
fn parse_error(e: smtp_proto::Error) -> Reply {
    use smtp_proto::Error;
    match e {
        Error::UnknownCommand => Reply::new(500, "5.5.1", "command unrecognized"),
        Error::InvalidSenderAddress => Reply::new(501, "5.1.7", "bad sender address syntax"),
        Error::InvalidRecipientAddress => Reply::new(501, "5.1.3", "bad recipient address syntax"),
        Error::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("syntax: {syntax}")),
        Error::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("invalid {param} parameter"))
        }
        Error::UnsupportedParameter { param } => Reply::new(
            555,
            "5.5.4",
            format!("parameter {param} not recognized or not implemented"),
        ),
        Error::NeedsMoreData { .. } | Error::ResponseTooLong | Error::InvalidResponse { .. } => {
            Reply::new(501, "5.5.4", "syntax error")
        }
    }
}
