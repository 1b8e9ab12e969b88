//! What the authentication results mean for the verdict: named score
//! contributions, and what a failed DMARC policy asks for. Pure functions
//! of mail-auth's results, so every rule is unit tested without DNS.

use mail_auth::dmarc::Policy;
use mail_auth::{ArcOutput, DkimOutput, DkimResult, DmarcOutput, DmarcResult, SpfResult};
use model::policy::DmarcEnforcement;

use crate::engine::Finding;

/// The MAIL FROM domain says the client may not send for it (`-all`).
pub const SPF_FAIL: (&str, f64) = ("SPF_FAIL", 1.5);
/// The MAIL FROM domain says the client is probably not allowed (`~all`).
pub const SPF_SOFTFAIL: (&str, f64) = ("SPF_SOFTFAIL", 0.7);
/// The HELO name's SPF record does not list the client.
pub const SPF_HELO_FAIL: (&str, f64) = ("SPF_HELO_FAIL", 0.5);
/// The sender's SPF record is broken (too many lookups, syntax).
pub const SPF_PERMERROR: (&str, f64) = ("SPF_PERMERROR", 0.3);
/// A DKIM signature is present and does not verify.
pub const DKIM_INVALID: (&str, f64) = ("DKIM_INVALID", 1.0);
/// An ARC chain is present and broken.
pub const ARC_INVALID: (&str, f64) = ("ARC_INVALID", 0.5);
/// DMARC failed for a domain that asks receivers to refuse such mail.
pub const DMARC_REJECT: (&str, f64) = ("DMARC_REJECT", 3.0);
/// DMARC failed for a domain that asks receivers to quarantine such mail.
pub const DMARC_QUARANTINE: (&str, f64) = ("DMARC_QUARANTINE", 2.0);
/// DMARC failed for a domain that only monitors (`p=none`).
pub const DMARC_NONE: (&str, f64) = ("DMARC_NONE", 0.5);

/// A score contribution whose reason shows its name and score, e.g.
/// `SPF_FAIL (+1.5)`, as users see it in the quarantine.
pub fn named((name, score): (&str, f64)) -> Finding {
    Finding::score(score, format!("{name} ({score:+.1})"))
}

/// What the message gets because of the sender domain's DMARC policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Disposition {
    /// Deliver (DMARC passed, or its policy is not enforced here).
    #[default]
    Accept,
    /// Hold in the quarantine.
    Quarantine,
    /// Refuse with 550 5.7.1.
    Reject,
}

/// SPF findings: the MAIL FROM identity, and the HELO identity when checked.
pub fn spf(mail_from: SpfResult, helo: Option<SpfResult>) -> Vec<Finding> {
    let mut out: Vec<Finding> = match mail_from {
        SpfResult::Fail => vec![named(SPF_FAIL)],
        SpfResult::SoftFail => vec![named(SPF_SOFTFAIL)],
        SpfResult::PermError => vec![named(SPF_PERMERROR)],
        _ => Vec::new(),
    };
    if helo == Some(SpfResult::Fail) {
        out.push(named(SPF_HELO_FAIL));
    }
    out
}

/// `DKIM_INVALID` when any signature fails to verify (a missing key or a
/// DNS timeout is not the sender's forgery and scores nothing).
pub fn dkim(results: &[DkimOutput<'_>]) -> Vec<Finding> {
    let invalid = results.iter().any(|r| {
        matches!(
            r.result(),
            DkimResult::Fail(_) | DkimResult::PermError(_) | DkimResult::Neutral(_)
        )
    });
    invalid.then(|| named(DKIM_INVALID)).into_iter().collect()
}

/// `ARC_INVALID` when an ARC chain is present and does not verify
/// (mail-auth says `neutral` for a body altered after sealing).
pub fn arc(result: &ArcOutput<'_>) -> Vec<Finding> {
    let broken = matches!(
        result.result(),
        DkimResult::Fail(_) | DkimResult::PermError(_) | DkimResult::Neutral(_)
    );
    broken.then(|| named(ARC_INVALID)).into_iter().collect()
}

/// The published policy of a DMARC evaluation that failed, with its
/// `pct`; `None` when DMARC passed, could not be evaluated or the domain
/// publishes no record. mail-auth leaves both results `None` when neither
/// SPF nor DKIM passed at all: with a record, that is a failure too.
pub fn dmarc_failure(output: &DmarcOutput) -> Option<(Policy, u8)> {
    let record = output.dmarc_record()?;
    (dmarc_result(output) == "fail").then_some((output.policy(), record.pct))
}

/// The RFC 8601 `dmarc=` result: `pass` when SPF or DKIM passed aligned,
/// `temperror`/`permerror` on DNS trouble, `none` without a record, else
/// `fail`.
pub fn dmarc_result(output: &DmarcOutput) -> &'static str {
    let results = [output.spf_result(), output.dkim_result()];
    if results.iter().any(|r| **r == DmarcResult::Pass) {
        "pass"
    } else if results
        .iter()
        .any(|r| matches!(r, DmarcResult::TempError(_)))
    {
        "temperror"
    } else if results
        .iter()
        .any(|r| matches!(r, DmarcResult::PermError(_)))
    {
        "permerror"
    } else if output.dmarc_record().is_none() {
        "none"
    } else {
        "fail"
    }
}

/// The finding of a failed DMARC policy.
pub fn dmarc(failure: Option<(Policy, u8)>) -> Vec<Finding> {
    let rule = match failure {
        Some((Policy::Reject, _)) => DMARC_REJECT,
        Some((Policy::Quarantine, _)) => DMARC_QUARANTINE,
        Some(_) => DMARC_NONE,
        None => return Vec::new(),
    };
    vec![named(rule)]
}

/// What to do, for a recipient whose domain's setting is `enforcement`,
/// with a message whose DMARC evaluation failed with `failure`. A domain
/// that only reports gets its mail unchanged. A `pct` under 100 lowers
/// the policy one step, as RFC 7489 section 6.6.4 does for the messages
/// not sampled: deterministic, and never harsher than the sender asked.
pub fn disposition(failure: Option<(Policy, u8)>, enforcement: DmarcEnforcement) -> Disposition {
    let honoured = enforcement == DmarcEnforcement::Honour;
    match failure {
        Some(_) if !honoured => Disposition::Accept,
        Some((Policy::Reject, 100)) => Disposition::Reject,
        Some((Policy::Reject, _)) | Some((Policy::Quarantine, 100)) => Disposition::Quarantine,
        _ => Disposition::Accept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::Error;

    fn reasons(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.reason.as_str()).collect()
    }

    #[test]
    fn spf_results_map_to_named_scores() {
        assert_eq!(
            reasons(&spf(SpfResult::Fail, Some(SpfResult::Fail))),
            ["SPF_FAIL (+1.5)", "SPF_HELO_FAIL (+0.5)"]
        );
        assert_eq!(
            reasons(&spf(SpfResult::SoftFail, None)),
            ["SPF_SOFTFAIL (+0.7)"]
        );
        assert_eq!(
            reasons(&spf(SpfResult::PermError, None)),
            ["SPF_PERMERROR (+0.3)"]
        );
        for quiet in [
            SpfResult::Pass,
            SpfResult::None,
            SpfResult::TempError,
            SpfResult::Neutral,
        ] {
            assert!(spf(quiet, Some(SpfResult::Pass)).is_empty(), "{quiet:?}");
        }
        assert_eq!(spf(SpfResult::Fail, None)[0].score, 1.5);
    }

    #[test]
    fn only_broken_signatures_are_invalid() {
        let bad = [
            DkimOutput::pass(),
            DkimOutput::fail(Error::FailedBodyHashMatch),
        ];
        assert_eq!(reasons(&dkim(&bad)), ["DKIM_INVALID (+1.0)"]);
        let quiet = [
            DkimOutput::pass(),
            DkimOutput::temp_err(Error::DnsError("timeout".into())),
        ];
        assert!(dkim(&quiet).is_empty());
        assert!(dkim(&[]).is_empty());
    }

    #[test]
    fn dmarc_rules_follow_the_published_policy() {
        assert_eq!(
            reasons(&dmarc(Some((Policy::Reject, 100)))),
            ["DMARC_REJECT (+3.0)"]
        );
        assert_eq!(
            reasons(&dmarc(Some((Policy::Quarantine, 100)))),
            ["DMARC_QUARANTINE (+2.0)"]
        );
        assert_eq!(
            reasons(&dmarc(Some((Policy::None, 100)))),
            ["DMARC_NONE (+0.5)"]
        );
        assert!(dmarc(None).is_empty());
    }

    #[test]
    fn policies_are_enforced_only_where_the_recipient_honours_them() {
        use DmarcEnforcement::{Honour, Report};
        let reject = Some((Policy::Reject, 100));
        assert_eq!(disposition(reject, Honour), Disposition::Reject);
        assert_eq!(disposition(reject, Report), Disposition::Accept);
        let quarantine = Some((Policy::Quarantine, 100));
        assert_eq!(disposition(quarantine, Honour), Disposition::Quarantine);
        assert_eq!(
            disposition(Some((Policy::Reject, 50)), Honour),
            Disposition::Quarantine
        );
        assert_eq!(
            disposition(Some((Policy::Quarantine, 50)), Honour),
            Disposition::Accept
        );
        assert_eq!(
            disposition(Some((Policy::None, 100)), Honour),
            Disposition::Accept
        );
        assert_eq!(disposition(None, Honour), Disposition::Accept);
    }
}
