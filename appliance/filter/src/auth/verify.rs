//! SPF (HELO and MAIL FROM), DKIM, ARC and DMARC of one message with
//! mail-auth, and the `Authentication-Results` value that reports them.

use std::net::IpAddr;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::Policy;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, MessageAuthenticator, SpfOutput,
    SpfResult,
};

use super::findings;
use crate::engine::Finding;

/// The SMTP facts SPF and DMARC judge.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// The SMTP client's address; without it SPF is `none`.
    pub client_ip: Option<IpAddr>,
    /// The HELO/EHLO name (empty when none was given).
    pub helo: &'a str,
    /// The envelope sender (empty for the null sender).
    pub sender: &'a str,
}

/// What the verification found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verified {
    /// The `Authentication-Results` value: authserv-id and results, folded
    /// with LF and a tab, without the leading space.
    pub header: String,
    /// Named score contributions (SPF_FAIL, DKIM_INVALID, ...).
    pub findings: Vec<Finding>,
    /// The sender domain's policy and `pct` when DMARC failed.
    pub dmarc_failure: Option<(Policy, u8)>,
}

impl Verified {
    /// The header of a message that could not be verified at all.
    pub fn none(hostname: &str) -> Verified {
        Verified {
            header: format!("{hostname}; none"),
            ..Verified::default()
        }
    }
}

/// Verifies `raw` as received from `facts`; `hostname` is the authserv-id
/// and the receiving host SPF macros name.
pub async fn verify(
    resolver: &MessageAuthenticator,
    hostname: &str,
    facts: &Facts<'_>,
    raw: &[u8],
) -> Verified {
    let Some(message) = AuthenticatedMessage::parse(raw) else {
        return Verified::none(hostname);
    };
    let helo = helo_domain(facts.helo);
    let mail_from = mail_from(facts.sender, helo);
    let mail_domain = mail_from.rsplit_once('@').map_or("", |(_, d)| d);
    let (dkim, arc, helo_spf, mail_spf) = tokio::join!(
        resolver.verify_dkim(&message),
        resolver.verify_arc(&message),
        spf_helo(resolver, hostname, facts.client_ip, helo),
        spf_mail_from(resolver, hostname, facts.client_ip, helo, &mail_from),
    );
    let dmarc = resolver
        .verify_dmarc(
            DmarcParameters::new(&message, &dkim, mail_domain, &mail_spf)
                .with_domain_suffix_fn(organizational_domain),
        )
        .await;

    let header_from = message.from.first().map_or("", String::as_str);
    let mut results = AuthenticationResults::new(hostname).with_dkim_results(&dkim, header_from);
    if let Some(ip) = facts.client_ip {
        if let Some(spf) = &helo_spf {
            results = results.with_spf_ehlo_result(spf, ip, helo);
        }
        results = results.with_spf_mailfrom_result(&mail_spf, ip, facts.sender, helo);
        if *arc.result() != DkimResult::None {
            results = results.with_arc_result(&arc, ip);
        }
    }
    let dmarc_clause = format!(
        ";\n\tdmarc={} header.from={} policy.dmarc={}",
        findings::dmarc_result(&dmarc),
        dmarc.domain(),
        dmarc.policy()
    );

    let dmarc_failure = findings::dmarc_failure(&dmarc);
    let mut found = findings::spf(mail_spf.result(), helo_spf.map(|s| s.result()));
    found.extend(findings::dkim(&dkim));
    found.extend(findings::arc(&arc));
    found.extend(findings::dmarc(dmarc_failure));
    Verified {
        header: header_value(&results.to_header(), dkim.is_empty(), &dmarc_clause),
        findings: found,
        dmarc_failure,
    }
}

async fn spf_helo(
    resolver: &MessageAuthenticator,
    hostname: &str,
    ip: Option<IpAddr>,
    helo: &str,
) -> Option<SpfOutput> {
    let ip = ip.filter(|_| !helo.is_empty())?;
    Some(
        resolver
            .verify_spf(SpfParameters::verify_ehlo(ip, helo, hostname))
            .await,
    )
}

async fn spf_mail_from(
    resolver: &MessageAuthenticator,
    hostname: &str,
    ip: Option<IpAddr>,
    helo: &str,
    mail_from: &str,
) -> SpfOutput {
    let domain = mail_from.rsplit_once('@').map_or("", |(_, d)| d);
    match ip {
        Some(ip) if !domain.is_empty() => {
            resolver
                .verify_spf(SpfParameters::verify_mail_from(
                    ip, helo, hostname, mail_from,
                ))
                .await
        }
        _ => SpfOutput::new(domain.to_string()).with_result(SpfResult::None),
    }
}

/// The HELO name when it is a domain (not an address literal or a bare word).
fn helo_domain(helo: &str) -> &str {
    let helo = helo.trim().trim_end_matches('.');
    let literal = helo.starts_with('[') || helo.parse::<IpAddr>().is_ok();
    if literal || !helo.contains('.') {
        ""
    } else {
        helo
    }
}

/// The identity SPF checks: the sender, or `postmaster@HELO` for the null
/// sender (RFC 7208 section 2.4); empty when neither is known.
fn mail_from(sender: &str, helo: &str) -> String {
    if sender.contains('@') {
        sender.to_string()
    } else if !helo.is_empty() {
        format!("postmaster@{helo}")
    } else {
        String::new()
    }
}

/// The organizational domain DMARC aligns on: the last two labels, or
/// three under a two-letter country code whose second level is a generic
/// one (`example.co.uk`). An approximation of the public suffix list that
/// needs no data file; a wrong guess only makes relaxed alignment stricter
/// or looser by one label.
pub fn organizational_domain(domain: &str) -> &str {
    let labels: Vec<&str> = domain.rsplitn(4, '.').collect();
    const GENERIC: [&str; 8] = ["co", "com", "net", "org", "ac", "gov", "edu", "ne"];
    let keep = match labels.as_slice() {
        [tld, second, _, ..] if tld.len() == 2 && GENERIC.contains(second) => 3,
        _ => 2,
    };
    if labels.len() <= keep {
        return domain;
    }
    let cut: usize = labels[..keep].iter().map(|l| l.len() + 1).sum();
    &domain[domain.len() + 1 - cut..]
}

/// The value of mail-auth's header line: without the name, the space after
/// the colon and the final CRLF; folds as LF-tab (the milter client turns
/// them into CRLF); `dkim=none` added when the message had no signature,
/// then `dmarc` (written here: mail-auth says `none` for a failure).
fn header_value(line: &str, unsigned: bool, dmarc: &str) -> String {
    let value = line
        .strip_prefix(super::forged::HEADER)
        .and_then(|v| v.strip_prefix(": "))
        .unwrap_or(line)
        .trim_end_matches("\r\n");
    let mut value = value.replace("\r\n", "\n");
    if unsigned {
        value.push_str(";\n\tdkim=none");
    }
    value.push_str(dmarc);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizational_domains() {
        assert_eq!(organizational_domain("mail.example.com"), "example.com");
        assert_eq!(organizational_domain("example.com"), "example.com");
        assert_eq!(organizational_domain("com"), "com");
        assert_eq!(organizational_domain("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(organizational_domain("example.co.uk"), "example.co.uk");
        assert_eq!(organizational_domain("x.example.de"), "example.de");
    }

    #[test]
    fn identities() {
        assert_eq!(helo_domain("mx.example.test."), "mx.example.test");
        assert_eq!(helo_domain("[192.0.2.1]"), "");
        assert_eq!(helo_domain("192.0.2.1"), "");
        assert_eq!(helo_domain("localhost"), "");
        assert_eq!(mail_from("a@x.test", "mx.y.test"), "a@x.test");
        assert_eq!(mail_from("", "mx.y.test"), "postmaster@mx.y.test");
        assert_eq!(mail_from("", ""), "");
    }

    #[test]
    fn header_values_are_milter_values() {
        let line = "Authentication-Results: mx.test;\r\n\tspf=pass smtp.mailfrom=a@b.test\r\n";
        assert_eq!(
            header_value(line, true, ";\n\tdmarc=none"),
            "mx.test;\n\tspf=pass smtp.mailfrom=a@b.test;\n\tdkim=none;\n\tdmarc=none"
        );
    }
}
