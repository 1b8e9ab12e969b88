//! Delivery status notifications (RFC 3464): the report sent to the
//! original sender when recipients failed for good (a bounce), are still
//! being retried after a while (a delay notice), or were delivered and
//! the sender asked for it with NOTIFY=SUCCESS (`relayed`: the next hop is
//! not asked for DSNs).
//!
//! A report is a `multipart/report; report-type=delivery-status` with a
//! human-readable part, the machine-readable `message/delivery-status`
//! (with the sender's ENVID and ORCPT, RFC 3461), and the original header
//! section (`text/rfc822-headers`); the whole message (`message/rfc822`)
//! only with RET=FULL and up to [`MAX_RETURNED`], since it may be large and
//! may be the spam or virus that bounced. It comes from
//! `MAILER-DAEMON@hostname` with the null reverse-path, so a report is
//! never reported on itself (RFC 5321 section 4.5.5).

use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;

use crate::dsn::Ret;
use crate::message::Message;
use crate::queue::Entry;

/// Largest original message returned whole with RET=FULL; a larger one
/// is returned as its header only.
pub const MAX_RETURNED: usize = 1024 * 1024;

/// What a report says happened to its recipients (RFC 3464 `Action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Failed for good.
    Failed,
    /// Not delivered yet, still being retried.
    Delayed,
    /// Delivered to a next hop that was not asked for DSNs.
    Relayed,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Failed => "failed",
            Action::Delayed => "delayed",
            Action::Relayed => "relayed",
        }
    }

    fn subject(self) -> &'static str {
        match self {
            Action::Failed => "Undelivered Mail Returned to Sender",
            Action::Delayed => "Delayed Mail (still being retried)",
            Action::Relayed => "Successful Mail Delivery Report",
        }
    }

    /// Tells reports on one message apart (`Message-ID`).
    pub fn tag(self) -> &'static str {
        match self {
            Action::Failed => "dsn",
            Action::Delayed => "delay",
            Action::Relayed => "relayed",
        }
    }
}

/// One recipient that failed, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The recipient.
    pub recipient: String,
    /// Why, for people: the remote reply or our own reason.
    pub reason: String,
    /// The remote server's last reply, if it gave one (`Diagnostic-Code`).
    pub diagnostic: Option<String>,
    /// RFC 3463 status, e.g. `5.1.1` or `4.4.7` (expired).
    pub status: String,
}

/// The enhanced status code in a reply such as `550 5.1.1 unknown`, if any.
pub fn status_of(reply: &str) -> Option<String> {
    let code = reply.split_whitespace().nth(1)?;
    let parts: Vec<&str> = code.split('.').collect();
    let valid = parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    valid.then(|| code.to_string())
}

/// The bounce for `entry` as message bytes.
pub fn build(
    hostname: &str,
    entry: &Entry,
    original: &[u8],
    failures: &[Failure],
    now_ms: u64,
) -> Vec<u8> {
    build_report(hostname, entry, original, failures, now_ms, Action::Failed)
}

/// The report of `action` on `items` (recipients of `entry`) as message bytes.
pub fn build_report(
    hostname: &str,
    entry: &Entry,
    original: &[u8],
    items: &[Failure],
    now_ms: u64,
    action: Action,
) -> Vec<u8> {
    let report = ContentType::new("multipart/report").attribute("report-type", "delivery-status");
    let parts = vec![
        MimePart::new("text/plain", human_text(hostname, entry, items, action)),
        MimePart::new(
            "message/delivery-status",
            status_text(hostname, entry, items, now_ms, action).into_bytes(),
        )
        .transfer_encoding("7bit"),
        returned_part(original, entry.dsn.ret),
    ];
    MessageBuilder::new()
        .from((
            "Mail Delivery System",
            format!("MAILER-DAEMON@{hostname}").as_str(),
        ))
        .to(entry.sender.as_str())
        .subject(action.subject())
        .message_id(format!("{}.{}@{hostname}", entry.id, action.tag()))
        .date((now_ms / 1000) as i64)
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(MimePart::new(report, parts))
        .write_to_vec()
        .expect("writing to a Vec cannot fail")
}

fn human_text(hostname: &str, entry: &Entry, failures: &[Failure], action: Action) -> String {
    let what = match action {
        Action::Failed => "could not be delivered\r\nto one or more recipients",
        Action::Delayed => {
            "has not been delivered yet\r\nto one or more recipients; delivery is still being tried"
        }
        Action::Relayed => "was delivered\r\nto the recipients below, as you asked to be told",
    };
    let mut text = format!(
        "This is the mail system at host {hostname}.\r\n\r\n\
         Your message (queue id {}) {what}.\r\n\
         Its header is attached below.\r\n\r\n",
        entry.id
    );
    for f in failures {
        text.push_str(&format!("<{}>: {}\r\n", f.recipient, f.reason));
    }
    text
}

fn status_text(
    hostname: &str,
    entry: &Entry,
    failures: &[Failure],
    now_ms: u64,
    action: Action,
) -> String {
    let mut text = String::new();
    if let Some(envid) = &entry.dsn.envid {
        text.push_str(&format!("Original-Envelope-Id: {envid}\r\n"));
    }
    text.push_str(&format!(
        "Reporting-MTA: dns; {hostname}\r\nX-Filterbox-Queue-ID: {}\r\nArrival-Date: {}\r\n",
        entry.id,
        model::time::format_rfc5322(entry.arrived)
    ));
    for f in failures {
        text.push_str("\r\n");
        if let Some(orcpt) = entry.dsn.orcpt(&f.recipient) {
            text.push_str(&format!("Original-Recipient: rfc822; {orcpt}\r\n"));
        }
        text.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\nLast-Attempt-Date: {}\r\n",
            f.recipient,
            action.as_str(),
            f.status,
            model::time::format_rfc5322(now_ms)
        ));
        if let Some(reply) = &f.diagnostic {
            text.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", one_line(reply)));
        }
    }
    text
}

/// The original message with RET=FULL (when not too large), else its header.
fn returned_part(original: &[u8], ret: Option<Ret>) -> MimePart<'static> {
    if ret == Some(Ret::Full) && original.len() <= MAX_RETURNED {
        let encoding = if original.is_ascii() { "7bit" } else { "8bit" };
        return MimePart::new("message/rfc822", original.to_vec()).transfer_encoding(encoding);
    }
    headers_part(original)
}

/// The original header section, 7bit when it is ASCII, else 8bit.
fn headers_part(original: &[u8]) -> MimePart<'static> {
    let mut headers = Vec::new();
    for field in Message::parse(original).fields {
        headers.extend_from_slice(&field.raw);
    }
    let encoding = if headers.is_ascii() { "7bit" } else { "8bit" };
    MimePart::new("text/rfc822-headers", headers).transfer_encoding(encoding)
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_enhanced_status_codes() {
        assert_eq!(
            status_of("550 5.1.1 <u@x>: unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(status_of("550 no such user"), None);
        assert_eq!(status_of("550 5.1 x"), None);
    }

    #[test]
    fn builds_a_multipart_report_without_the_body() {
        let mut entry = Entry::new("q1".into(), "sender@x.test".into(), &["u@y.test".into()], 0);
        entry.message_id = Some("m@x.test".into());
        let original = b"Received: from a\r\nSubject: secret plans\r\n\r\nTOP SECRET BODY\r\n";
        let failure = Failure {
            recipient: "u@y.test".into(),
            reason: "550 5.1.1 <u@y.test>: recipient unknown".into(),
            diagnostic: Some("550 5.1.1 <u@y.test>: recipient unknown".into()),
            status: "5.1.1".into(),
        };
        let dsn = build("mx.test", &entry, original, &[failure], 1_795_314_048_000);
        let text = String::from_utf8(dsn.clone()).unwrap();
        assert!(text.contains("Content-Type: multipart/report"), "{text}");
        assert!(
            text.contains("report-type=\"delivery-status\"")
                || text.contains("report-type=delivery-status"),
            "{text}"
        );
        assert!(
            text.contains("From: \"Mail Delivery System\" <MAILER-DAEMON@mx.test>"),
            "{text}"
        );
        assert!(text.contains("To: <sender@x.test>"), "{text}");
        assert!(
            text.contains(
                "Final-Recipient: rfc822; u@y.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("Diagnostic-Code: smtp; 550 5.1.1 <u@y.test>: recipient unknown"),
            "{text}"
        );
        assert!(text.contains("Subject: secret plans"), "{text}");
        assert!(
            !text.contains("TOP SECRET BODY"),
            "the body is never returned"
        );
        let parsed = mail_parser::MessageParser::default().parse(&dsn).unwrap();
        assert_eq!(parsed.parts.len(), 4, "the container and three parts");
    }
}
