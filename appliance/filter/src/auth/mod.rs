//! The filter's network checks at end of message, before the engine:
//! SPF, DKIM, ARC and DMARC ([`verify`], with mail-auth) and the DNS block
//! lists ([`crate::dnsbl`]), all on one resolver ([`resolver`]).
//!
//! Their outcome is a [`Report`]: the `Authentication-Results` field
//! (RFC 8601; authserv-id = the box's hostname) for inbound mail, the
//! incoming fields claiming that authserv-id to delete ([`forged`]),
//! named findings merged into the engine's verdict ([`findings`]), and
//! the sender domain's failed DMARC policy, which the milter applies for
//! the recipients whose domains honour it. A customer's outbound mail is
//! not checked: it is ours to send.

pub mod findings;
pub mod forged;
pub mod resolver;
pub mod verify;

use std::net::IpAddr;
use std::time::Duration;

use log::{debug, warn};
use mail_auth::dmarc::Policy;
use miltr_common::modifications::headers::{ChangeHeader, InsertHeader};
use miltr_common::modifications::ModificationResponseBuilder;
use model::config::{Blocklist, FilterConfig};
use model::policy::DmarcEnforcement;

use crate::engine::Finding;
use crate::message::Message;

pub use findings::Disposition;
pub use resolver::{Resolver, ResolverError};

/// Longest the authentication checks may take for one message (each DNS
/// query is bounded too); past it the message is reported unverified.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks that took this long mean DNS is not answering (a query that
/// times out takes [`resolver::QUERY_TIMEOUT`] per try): the next messages
/// skip DNS for [`resolver::DOWN_FOR`] instead of each waiting as long.
pub const SLOW_CHECKS: Duration = Duration::from_secs(5);

/// The reason a recipient that honours DMARC holds a message whose sender
/// domain asks for it (`p=quarantine`, or `p=reject` with other
/// recipients that do not honour it).
pub const DMARC_POLICY_HOLD: &str = "DMARC policy of the sender's domain";

/// The resolver and settings of the network checks, shared by connections.
pub struct Auth {
    resolver: Resolver,
    hostname: String,
    ip_lists: Vec<Blocklist>,
    uri_lists: Vec<Blocklist>,
}

/// What the network checks concluded about one message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The `Authentication-Results` value to add (without leading space);
    /// `None` for outbound mail.
    pub header: Option<String>,
    /// Incoming `Authentication-Results` claiming our authserv-id, as
    /// (index among fields of that name, name) deletions, highest first.
    pub forged: Vec<(u32, Vec<u8>)>,
    /// Named findings to merge into the engine's verdict.
    pub findings: Vec<Finding>,
    /// The sender domain's policy and `pct` when DMARC failed.
    pub dmarc_failure: Option<(Policy, u8)>,
}

impl Report {
    /// Adds the field at the top (RFC 8601 section 5) and deletes the forged
    /// ones; `leading_space` as negotiated with the milter client.
    pub fn apply(&self, b: &mut ModificationResponseBuilder, leading_space: bool) {
        for (index, name) in &self.forged {
            b.push(ChangeHeader::new(*index, name, b""));
        }
        if let Some(value) = &self.header {
            let value = if leading_space {
                format!(" {value}")
            } else {
                value.clone()
            };
            b.push(InsertHeader::new(
                0,
                forged::HEADER.as_bytes(),
                value.as_bytes(),
            ));
        }
    }
}

impl Auth {
    /// The checks `config` asks for, reporting as `hostname`.
    pub fn new(config: &FilterConfig, hostname: &str) -> Result<Auth, ResolverError> {
        Ok(Auth {
            resolver: Resolver::new(&config.nameservers)?,
            hostname: hostname.trim_end_matches('.').to_ascii_lowercase(),
            ip_lists: config.ip_blocklists.clone(),
            uri_lists: config.uri_blocklists.clone(),
        })
    }

    /// Checks `message` (received as `raw`).
    pub async fn check(&self, session: &str, message: &Message, raw: &[u8]) -> Report {
        if message.outbound {
            return Report::default();
        }
        let forged = forged::forged(&message.headers, &self.hostname);
        let resolver = match self.resolver.get() {
            Ok(r) => r,
            Err(e) => {
                debug!("{session}: authentication not checked: {e}");
                return Report {
                    header: Some(format!("{}; none (DNS unavailable)", self.hostname)),
                    forged,
                    ..Report::default()
                };
            }
        };
        let ip = message
            .client_ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        let facts = verify::Facts {
            client_ip: ip,
            helo: message.helo.as_deref().unwrap_or(""),
            sender: &message.sender,
        };
        let started = std::time::Instant::now();
        let verifying = verify::verify(&resolver, &self.hostname, &facts, raw);
        let (verified, listed) = tokio::join!(
            tokio::time::timeout(AUTH_TIMEOUT, verifying),
            tokio::time::timeout(AUTH_TIMEOUT, self.blocklists(&resolver, session, ip, raw)),
        );
        let took = started.elapsed();
        if took >= SLOW_CHECKS {
            warn!(
                "{session}: DNS checks took {took:?}; skipping them for {:?}",
                resolver::DOWN_FOR
            );
            self.resolver.timed_out();
        }
        let verified = verified.unwrap_or_else(|_| verify::Verified::none(&self.hostname));
        let mut found = verified.findings;
        found.extend(listed.unwrap_or_default());
        debug!(
            "{session}: authentication: {} finding(s), dmarc failure {:?}",
            found.len(),
            verified.dmarc_failure
        );
        Report {
            forged,
            header: Some(verified.header),
            findings: found,
            dmarc_failure: verified.dmarc_failure,
        }
    }

    async fn blocklists(
        &self,
        resolver: &mail_auth::MessageAuthenticator,
        session: &str,
        ip: Option<IpAddr>,
        raw: &[u8],
    ) -> Vec<Finding> {
        if self.ip_lists.is_empty() && self.uri_lists.is_empty() {
            return Vec::new();
        }
        let hosts = if self.uri_lists.is_empty() {
            Vec::new()
        } else {
            link_hosts(raw.to_vec()).await
        };
        let resolver = resolver.resolver();
        crate::dnsbl::check(
            resolver,
            session,
            ip,
            &self.ip_lists,
            &hosts,
            &self.uri_lists,
        )
        .await
    }
}

/// [`crate::dnsbl::uris::domains`] on a thread with the engine's stack.
async fn link_hosts(raw: Vec<u8>) -> Vec<String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("filter-uris".into())
        .stack_size(crate::scanner::SCAN_STACK_SIZE)
        .spawn(move || {
            let _ = tx.send(crate::dnsbl::uris::domains(&raw));
        });
    match spawned {
        Ok(_) => rx.await.unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

impl Report {
    /// What the sender domain's failed DMARC policy makes of the message
    /// for a recipient whose domain has `enforcement`.
    pub fn disposition(&self, enforcement: DmarcEnforcement) -> Disposition {
        findings::disposition(self.dmarc_failure, enforcement)
    }
}

/// The SMTP refusal of a message that every recipient refuses because of
/// its sender domain's DMARC policy.
pub fn dmarc_refusal() -> miltr_common::actions::Action {
    miltr_common::actions::Replycode::new(
        [5, 5, 0],
        [5, 7, 1],
        "Rejected by the sender domain's DMARC policy",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Class, Verdict};
    use miltr_common::modifications::{ModificationAction, ModificationResponse};

    #[test]
    fn network_findings_merge_into_the_engine_verdict() {
        let clean = Verdict {
            class: Class::Clean,
            score: 2.0,
            reasons: vec!["A (+2.0)".into()],
        };
        let extra = vec![
            findings::named(findings::DMARC_REJECT),
            findings::named(findings::DMARC_REJECT),
            Finding::score(2.0, "A (+2.0)"),
        ];
        let v = clean.clone().with_findings(&extra, 5.0);
        assert_eq!((v.class, v.score, v.reasons.len()), (Class::Spam, 5.0, 2));
        let v = clean.clone().with_findings(&[named_low()], 5.0);
        assert_eq!((v.class, v.score), (Class::Clean, 2.5));
        let forced = vec![Finding::verdict(Class::Virus, "X")];
        assert_eq!(clean.with_findings(&forced, 5.0).class, Class::Virus);
    }

    fn named_low() -> Finding {
        findings::named(findings::DMARC_NONE)
    }

    #[test]
    fn the_report_deletes_forgeries_and_inserts_at_the_top() {
        let report = Report {
            header: Some("mx.test; none".into()),
            forged: vec![(2, b"Authentication-Results".to_vec())],
            ..Report::default()
        };
        let mut b = ModificationResponse::builder();
        report.apply(&mut b, true);
        let r = b.contin();
        let mods: Vec<String> = r
            .modifications()
            .iter()
            .map(|m| match m {
                ModificationAction::ChangeHeader(h) => format!("del {} {}", h.index(), h.name()),
                ModificationAction::InsertHeader(h) => {
                    format!("ins {} {}:{}", h.index(), h.name(), h.value())
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            mods,
            [
                "del 2 Authentication-Results",
                "ins 0 Authentication-Results: mx.test; none"
            ]
        );
        let fail = Report {
            dmarc_failure: Some((Policy::Reject, 100)),
            ..Report::default()
        };
        assert_eq!(
            fail.disposition(DmarcEnforcement::Honour),
            Disposition::Reject
        );
        assert_eq!(
            Report::default().disposition(DmarcEnforcement::Honour),
            Disposition::Accept
        );
    }
}
