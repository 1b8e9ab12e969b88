//! Outbound mail: a customer's own mail leaving through the box.
//!
//! The mta marks it with the MAIL-stage macro `{filterbox_outbound}` (why
//! the client may relay); Postfix and sendmail mark SASL-authenticated
//! senders with `{auth_authen}`. Such mail is still scanned, but the
//! quarantine and spam preferences are those of our own recipients, not of
//! strangers on the Internet: spam scores only go into the headers, while a
//! virus or a blocked attachment is refused, so the sending server bounces
//! it and the sender learns of it at once (the seeds' "Secure Outbound").

use miltr_common::actions::{Action, Replycode};

use crate::engine::{Class, Verdict};

/// True for a MAIL-stage macro that marks the message as outbound.
pub fn is_outbound_macro(name: &[u8]) -> bool {
    matches!(name, b"{filterbox_outbound}" | b"{auth_authen}")
}

/// The refusal of an outbound message, or `None` when it may leave.
pub fn refusal(verdict: &Verdict) -> Option<Action> {
    let what = match verdict.class {
        Class::Clean | Class::Spam => return None,
        Class::Virus => "a virus",
        Class::Attachment => "a blocked attachment",
    };
    let reasons = verdict.reasons.join("; ");
    let text = format!("outbound message refused: it carries {what} ({reasons})");
    Some(Replycode::new([5, 5, 4], [5, 7, 1], &text).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(class: Class, reasons: &[&str]) -> Verdict {
        Verdict {
            class,
            score: 0.0,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn viruses_and_attachments_are_refused_spam_leaves() {
        assert!(refusal(&verdict(Class::Clean, &[])).is_none());
        assert!(refusal(&verdict(Class::Spam, &["GTUBE"])).is_none());
        for class in [Class::Virus, Class::Attachment] {
            let action = refusal(&verdict(class, &["EICAR in part 2"])).expect("refused");
            let text = format!("{action:?}");
            assert!(text.contains("EICAR in part 2"), "{text}");
        }
        assert!(is_outbound_macro(b"{auth_authen}"));
        assert!(is_outbound_macro(b"{filterbox_outbound}"));
        assert!(!is_outbound_macro(b"{mail_addr}"));
    }
}
