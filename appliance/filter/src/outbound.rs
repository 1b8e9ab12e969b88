//! Outbound mail: a customer's own mail leaving through the box.
//!
//! The mta marks it with the MAIL-stage macro `{filterbox_outbound}` (why
//! the client may relay); Postfix and sendmail mark SASL-authenticated
//! senders with `{auth_authen}`. Such mail is scanned like any other, but
//! the choices are the sending domain's: a virus, a blocked attachment or
//! spam (at the sender's quarantine threshold) is held in the quarantine,
//! marked outbound, and the manager tells the sender and the administrator
//! (the seeds' "Secure Outbound"); the rest leaves with its score in the
//! headers, the message itself untouched.

use model::policy::Thresholds;

use crate::engine::{Class, Verdict};

/// True for a MAIL-stage macro that marks the message as outbound.
pub fn is_outbound_macro(name: &[u8]) -> bool {
    matches!(name, b"{filterbox_outbound}" | b"{auth_authen}")
}

/// True when an outbound message with `verdict` is held, under the
/// sender's `thresholds`.
pub fn held(verdict: &Verdict, thresholds: &Thresholds) -> bool {
    verdict.class > Class::Spam || verdict.score >= thresholds.quarantine
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
    fn viruses_attachments_and_spam_are_held() {
        let t = Thresholds::default();
        assert!(!held(&verdict(Class::Clean, &[]), &t));
        assert!(held(&verdict(Class::Virus, &["EICAR in part 2"]), &t));
        assert!(held(
            &verdict(Class::Attachment, &["blocked attachment a.exe"]),
            &t
        ));
        let mut spam = verdict(Class::Spam, &["GTUBE"]);
        spam.score = 1000.0;
        assert!(held(&spam, &t));
        let lenient = Thresholds {
            tag: 2000.0,
            quarantine: 2000.0,
            reject: None,
        };
        assert!(!held(&spam, &lenient));
        assert!(is_outbound_macro(b"{auth_authen}"));
        assert!(is_outbound_macro(b"{filterbox_outbound}"));
        assert!(!is_outbound_macro(b"{mail_addr}"));
    }
}
