//! Relay and recipient control at RCPT time.
//!
//! Inbound, only our domains are accepted (anything else would make the box
//! an open relay), and within them only provisioned mailboxes plus
//! `postmaster`, which RFC 5321 section 4.5.1 requires every domain to
//! accept. Other mailboxes of our domains are verified by call-out
//! ([`crate::callout`]): in [`Provisioning::Automatic`] domains a verified
//! mailbox is provisioned and filtered, in [`Provisioning::Manual`] ones it
//! is relayed unfiltered. The trusted inject listener (quarantine releases)
//! skips these checks.

use model::api::Provisioning;

use crate::callout::Verification;
use crate::directory::DirectoryIndex;
use crate::session::{Reply, Verdict};

/// What the policy says about an inbound recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientCheck {
    /// A provisioned mailbox (or postmaster): accept, and filter.
    Accept,
    /// A mailbox of one of our domains that we do not know: verify it by
    /// call-out; what follows a positive answer depends on the domain's
    /// provisioning.
    Verify(Provisioning),
    /// Refused with this reply.
    Refuse(Reply),
}

/// The check of `address` (normal form) for an inbound session.
pub fn check_recipient(directory: Option<&DirectoryIndex>, address: &str) -> RecipientCheck {
    let Some(directory) = directory else {
        return RecipientCheck::Refuse(Reply::new(
            451,
            "4.3.0",
            "recipient directory not available, try again later",
        ));
    };
    let domain = model::address::domain_of(address);
    if !directory.has_domain(domain) {
        return RecipientCheck::Refuse(Reply::new(550, "5.7.1", "relaying denied"));
    }
    let local = address.rsplit_once('@').map_or("", |(l, _)| l);
    if local == "postmaster" || directory.has_user(address) {
        RecipientCheck::Accept
    } else {
        RecipientCheck::Verify(directory.provisioning(domain))
    }
}

/// The answer to RCPT after a call-out: a refusal by the domain's server is
/// a 550 5.1.1; no verdict (server down, 4xx) is a 451, never a 550.
pub fn after_callout(verification: &Verification, address: &str) -> Verdict {
    match verification {
        Verification::Valid => Verdict::Accept,
        Verification::Invalid(_) => Verdict::Refuse(Reply::new(
            550,
            "5.1.1",
            format!("<{address}>: recipient unknown"),
        )),
        Verification::Unverifiable(_) => Verdict::Refuse(Reply::new(
            451,
            "4.4.3",
            format!("<{address}>: cannot verify the recipient now, try again later"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::DirectoryIndex;

    #[test]
    fn relay_and_recipient_rules() {
        let idx = DirectoryIndex::new(crate::directory::tests::sample());
        let check = |a: &str| check_recipient(Some(&idx), a);
        assert_eq!(check("user@example.test"), RecipientCheck::Accept);
        assert_eq!(check("postmaster@example.test"), RecipientCheck::Accept);
        assert_eq!(
            check("nobody@example.test"),
            RecipientCheck::Verify(Provisioning::Manual)
        );
        assert_eq!(
            check("user@elsewhere.test"),
            RecipientCheck::Refuse(Reply::new(550, "5.7.1", "relaying denied"))
        );
        match check_recipient(None, "user@example.test") {
            RecipientCheck::Refuse(r) => assert_eq!(
                r.to_string(),
                "451 4.3.0 recipient directory not available, try again later"
            ),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn callout_results_map_to_550_or_451_never_550_when_undecided() {
        let a = "nobody@example.test";
        assert_eq!(after_callout(&Verification::Valid, a), Verdict::Accept);
        assert_eq!(
            after_callout(&Verification::Invalid("550 5.1.1 no".into()), a),
            Verdict::Refuse(Reply::new(
                550,
                "5.1.1",
                format!("<{a}>: recipient unknown")
            ))
        );
        match after_callout(&Verification::Unverifiable("down".into()), a) {
            Verdict::Refuse(r) => assert_eq!((r.code, &r.lines[0][..5]), (451, "4.4.3")),
            v => panic!("{v:?}"),
        }
    }
}
