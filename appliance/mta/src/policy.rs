//! Relay and recipient control at RCPT time.
//!
//! Inbound, only our domains are accepted (anything else would make the box
//! an open relay), and within them only provisioned mailboxes plus
//! `postmaster`, which RFC 5321 section 4.5.1 requires every domain to
//! accept. Call-out verification of unknown users comes in a later issue.
//! The trusted inject listener (quarantine releases) skips these checks.

use crate::directory::DirectoryIndex;
use crate::session::{Reply, Verdict};

/// The verdict on `address` (normal form) for an inbound session.
pub fn check_recipient(directory: Option<&DirectoryIndex>, address: &str) -> Verdict {
    let Some(directory) = directory else {
        return Verdict::Refuse(Reply::new(
            451,
            "4.3.0",
            "recipient directory not available, try again later",
        ));
    };
    let domain = model::address::domain_of(address);
    if !directory.has_domain(domain) {
        return Verdict::Refuse(Reply::new(550, "5.7.1", "relaying denied"));
    }
    let local = address.rsplit_once('@').map_or("", |(l, _)| l);
    if local == "postmaster" || directory.has_user(address) {
        Verdict::Accept
    } else {
        Verdict::Refuse(Reply::new(
            550,
            "5.1.1",
            format!("<{address}>: recipient unknown"),
        ))
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
        assert_eq!(check("user@example.test"), Verdict::Accept);
        assert_eq!(check("postmaster@example.test"), Verdict::Accept);
        assert_eq!(
            check("nobody@example.test"),
            Verdict::Refuse(Reply::new(
                550,
                "5.1.1",
                "<nobody@example.test>: recipient unknown"
            ))
        );
        assert_eq!(
            check("user@elsewhere.test"),
            Verdict::Refuse(Reply::new(550, "5.7.1", "relaying denied"))
        );
        match check_recipient(None, "user@example.test") {
            Verdict::Refuse(r) => assert_eq!(
                r.to_string(),
                "451 4.3.0 recipient directory not available, try again later"
            ),
            v => panic!("{v:?}"),
        }
    }
}
