//! What the sender asked to be told about its message (RFC 3461): `RET`
//! and `ENVID` on MAIL, `NOTIFY` and `ORCPT` on RCPT.
//!
//! The session collects them ([`SessionDsn`]), the queue entry keeps them
//! ([`MessageDsn`]), and the reports honour them: a failure is reported
//! only to recipients whose NOTIFY includes FAILURE (the default), a delay
//! only with DELAY (or the default), a delivery only with SUCCESS;
//! `RET=FULL` returns the whole message, otherwise only its header;
//! `ENVID` and `ORCPT` are quoted in the report. A next hop that offers
//! DSN gets the parameters ([`MessageDsn::request`], RFC 3461 section 6.2)
//! and reports deliveries itself; to one that does not, we report them as
//! `relayed`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use smtp_proto::{MailFrom, RcptTo};

use crate::session::Reply;

/// The MAIL flags DSN adds.
pub const MAIL_FLAGS: u64 = smtp_proto::MAIL_RET_FULL | smtp_proto::MAIL_RET_HDRS;
/// The RCPT flags DSN adds.
pub const RCPT_FLAGS: u64 = smtp_proto::RCPT_NOTIFY_SUCCESS
    | smtp_proto::RCPT_NOTIFY_FAILURE
    | smtp_proto::RCPT_NOTIFY_DELAY
    | smtp_proto::RCPT_NOTIFY_NEVER;

/// Longest ENVID and ORCPT kept (RFC 3461 section 4.4: 100 characters).
pub const MAX_PARAM: usize = 100;

/// How much of the message a report returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ret {
    /// The whole message.
    Full,
    /// Only its header.
    Hdrs,
}

/// The events a recipient's sender wants reports about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// Delivered (relayed).
    pub success: bool,
    /// Failed for good.
    pub failure: bool,
    /// Delayed.
    pub delay: bool,
}

impl Notify {
    /// The NOTIFY value as sent on RCPT.
    pub fn keyword(self) -> String {
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        if words.is_empty() {
            "NEVER".into()
        } else {
            words.join(",")
        }
    }

    /// Without NOTIFY: failures and delays (RFC 3461 section 4.1).
    pub const DEFAULT: Notify = Notify {
        success: false,
        failure: true,
        delay: true,
    };
}

/// One recipient's parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientDsn {
    /// The recipient (normal form).
    pub address: String,
    /// Its NOTIFY, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
    /// Its ORCPT address (the `rfc822;` type), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orcpt: Option<String>,
}

/// A message's DSN parameters, as stored with it in the queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDsn {
    /// RET, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<Ret>,
    /// ENVID, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envid: Option<String>,
    /// Recipients that gave NOTIFY or ORCPT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<RecipientDsn>,
}

impl MessageDsn {
    /// What `address`'s sender wants to hear about.
    pub fn notify(&self, address: &str) -> Notify {
        self.recipient(address)
            .and_then(|r| r.notify)
            .unwrap_or(Notify::DEFAULT)
    }

    /// The ORCPT given for `address`.
    pub fn orcpt(&self, address: &str) -> Option<&str> {
        self.recipient(address).and_then(|r| r.orcpt.as_deref())
    }

    /// The parameters to pass on with a delivery to `recipients` (RFC 3461
    /// section 6.2), or `None` when the sender gave none.
    pub fn request(&self, recipients: &[String]) -> Option<smtp_client::DsnRequest> {
        if self.ret.is_none() && self.envid.is_none() && self.recipients.is_empty() {
            return None;
        }
        Some(smtp_client::DsnRequest {
            ret: self.ret.map(|r| match r {
                Ret::Full => "FULL".to_string(),
                Ret::Hdrs => "HDRS".to_string(),
            }),
            envid: self.envid.clone(),
            recipients: recipients
                .iter()
                .map(|a| {
                    let r = self.recipient(a);
                    smtp_client::RecipientDsnRequest {
                        notify: r.and_then(|r| r.notify).map(|n| n.keyword()),
                        orcpt: r.and_then(|r| r.orcpt.clone()),
                    }
                })
                .collect(),
        })
    }

    fn recipient(&self, address: &str) -> Option<&RecipientDsn> {
        self.recipients.iter().find(|r| r.address == address)
    }
}

/// The parameters of the session's open transaction.
#[derive(Debug, Default)]
pub struct SessionDsn {
    message: MessageDsn,
    /// The RCPT waiting for the policy's verdict.
    pending: Option<RecipientDsn>,
}

impl SessionDsn {
    /// A new MAIL: forgets the previous transaction, keeps RET and ENVID.
    pub fn mail(&mut self, from: &MailFrom<Cow<'_, str>>) {
        let ret = if from.flags & smtp_proto::MAIL_RET_FULL != 0 {
            Some(Ret::Full)
        } else if from.flags & smtp_proto::MAIL_RET_HDRS != 0 {
            Some(Ret::Hdrs)
        } else {
            None
        };
        self.message = MessageDsn {
            ret,
            envid: from.env_id.as_deref().map(printable),
            recipients: Vec::new(),
        };
        self.pending = None;
    }

    /// Checks a RCPT's NOTIFY and ORCPT and keeps them until its verdict.
    pub fn rcpt(&mut self, address: &str, to: &RcptTo<Cow<'_, str>>) -> Result<(), Reply> {
        let never = to.flags & smtp_proto::RCPT_NOTIFY_NEVER != 0;
        if never && to.flags & (RCPT_FLAGS & !smtp_proto::RCPT_NOTIFY_NEVER) != 0 {
            return Err(Reply::new(
                501,
                "5.5.4",
                "NOTIFY=NEVER cannot be combined with other values",
            ));
        }
        let given = to.flags & RCPT_FLAGS != 0;
        let notify = given.then_some(Notify {
            success: to.flags & smtp_proto::RCPT_NOTIFY_SUCCESS != 0,
            failure: to.flags & smtp_proto::RCPT_NOTIFY_FAILURE != 0,
            delay: to.flags & smtp_proto::RCPT_NOTIFY_DELAY != 0,
        });
        let orcpt = to.orcpt.as_deref().map(printable);
        self.pending = (notify.is_some() || orcpt.is_some()).then(|| RecipientDsn {
            address: address.to_string(),
            notify,
            orcpt,
        });
        Ok(())
    }

    /// The pending RCPT was accepted.
    pub fn accepted(&mut self) {
        if let Some(r) = self.pending.take() {
            if !self
                .message
                .recipients
                .iter()
                .any(|x| x.address == r.address)
            {
                self.message.recipients.push(r);
            }
        }
    }

    /// The transaction's parameters, at the end of DATA.
    pub fn take(&mut self) -> MessageDsn {
        self.pending = None;
        std::mem::take(&mut self.message)
    }
}

/// A parameter as it may appear in a report: printable ASCII, capped.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(MAX_PARAM)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> smtp_proto::Request<Cow<'_, str>> {
        smtp_proto::Request::parse(&mut line.as_bytes().iter()).unwrap()
    }

    #[test]
    fn collects_ret_envid_notify_and_orcpt() {
        let mut d = SessionDsn::default();
        let smtp_proto::Request::Mail { from } =
            parse("MAIL FROM:<s@x.test> RET=HDRS ENVID=abc+2B1\r\n")
        else {
            panic!()
        };
        d.mail(&from);
        let smtp_proto::Request::Rcpt { to } =
            parse("RCPT TO:<a@y.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;A@Y.test\r\n")
        else {
            panic!()
        };
        d.rcpt("a@y.test", &to).unwrap();
        d.accepted();
        let smtp_proto::Request::Rcpt { to } = parse("RCPT TO:<b@y.test> NOTIFY=NEVER\r\n") else {
            panic!()
        };
        d.rcpt("b@y.test", &to).unwrap();
        // Refused by the policy: never accepted, forgotten at the next RCPT.
        let smtp_proto::Request::Rcpt { to } = parse("RCPT TO:<c@y.test>\r\n") else {
            panic!()
        };
        d.rcpt("c@y.test", &to).unwrap();
        d.accepted();
        let m = d.take();
        assert_eq!(m.ret, Some(Ret::Hdrs));
        assert_eq!(m.envid.as_deref(), Some("abc+1"));
        assert_eq!(
            m.notify("a@y.test"),
            Notify {
                success: true,
                failure: false,
                delay: true
            }
        );
        assert_eq!(m.orcpt("a@y.test"), Some("A@Y.test"));
        assert_eq!(
            m.notify("b@y.test"),
            Notify::DEFAULT,
            "b was never accepted"
        );
        assert_eq!(m.notify("c@y.test"), Notify::DEFAULT);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<MessageDsn>(&json).unwrap(), m);
        assert_eq!(serde_json::to_string(&MessageDsn::default()).unwrap(), "{}");
    }

    #[test]
    fn never_excludes_the_other_values() {
        let mut d = SessionDsn::default();
        let smtp_proto::Request::Rcpt { to } = parse("RCPT TO:<a@y.test> NOTIFY=NEVER,FAILURE\r\n")
        else {
            panic!()
        };
        assert_eq!(d.rcpt("a@y.test", &to).unwrap_err().code, 501);
    }
}
