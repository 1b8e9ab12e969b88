//! The administrators' filtering choices, from the manager's
//! `GET /filter-policy` (polled with the learn events), and what they make
//! of a verdict for each recipient: delivered, tagged, quarantined or
//! refused. Allow and block lists come first; a virus or a blocked
//! attachment is held whatever the lists say.
//!
//! Until the manager first answers, the defaults apply to everyone. The
//! generation in force is written to [`GENERATION_FILE`] in the filter's
//! data directory, for the administrator (and the tests) to see.

/// The file holding the policy generation in force.
pub const GENERATION_FILE: &str = "policy.generation";

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use std::path::{Path, PathBuf};
use std::time::Duration;

use log::{info, warn};
use model::client::ApiClient;
use model::policy::{
    AttachmentPolicy, DmarcEnforcement, DomainPolicy, FilterPolicy, Thresholds, UserPolicy,
};
use model::Endpoint;
use sender_history::Exemptions;

use crate::engine::{Class, Verdict};

/// What happens to the message for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Delivered with the score headers.
    Deliver,
    /// Delivered marked as spam (`X-Spam-Flag: YES`).
    Tag,
    /// Held in the quarantine; the reason when it is not the verdict's.
    Quarantine(Option<String>),
    /// Refused at the end of DATA.
    Reject,
}

/// The policy as the filter looks it up.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The manager's generation of it.
    pub generation: u64,
    domains: HashMap<String, DomainPolicy>,
    users: HashMap<String, UserPolicy>,
    /// Clients and senders the delay queue never delays.
    pub delay_exempt: Exemptions,
}

impl Snapshot {
    /// Indexes `p`.
    pub fn new(p: FilterPolicy) -> Snapshot {
        let (delay_exempt, bad) =
            Exemptions::new(&p.delay_exempt_networks, &p.delay_exempt_senders);
        if !bad.is_empty() {
            warn!("delay queue: ignoring malformed exempt networks {bad:?}");
        }
        Snapshot {
            delay_exempt,
            generation: p.generation,
            domains: p
                .domains
                .into_iter()
                .map(|d| (d.domain.clone(), d))
                .collect(),
            users: p
                .users
                .into_iter()
                .map(|u| (u.address.clone(), u))
                .collect(),
        }
    }

    /// The domain policy of `recipient`'s domain, if it has its own.
    pub fn domain(&self, recipient: &str) -> Option<&DomainPolicy> {
        self.domains
            .get(&domain_of(&recipient.to_ascii_lowercase()))
    }

    /// The recipients grouped by the attachment policy of their domains
    /// (the default for domains without their own), in order.
    pub fn attachment_groups(&self, recipients: &[String]) -> Vec<(AttachmentPolicy, Vec<String>)> {
        let mut groups: Vec<(AttachmentPolicy, Vec<String>)> = Vec::new();
        for r in recipients {
            let p = self
                .domain(r)
                .map(|d| d.attachments.clone())
                .unwrap_or_default();
            match groups.iter_mut().find(|g| g.0 == p) {
                Some(g) => g.1.push(r.clone()),
                None => groups.push((p, vec![r.clone()])),
            }
        }
        if groups.is_empty() {
            groups.push((AttachmentPolicy::default(), Vec::new()));
        }
        groups
    }

    /// `recipient`'s thresholds: its own, else its domain's, else the defaults.
    pub fn thresholds(&self, recipient: &str) -> Thresholds {
        let r = recipient.to_ascii_lowercase();
        self.users
            .get(&r)
            .and_then(|u| u.thresholds)
            .or_else(|| self.domain(&r).map(|d| d.thresholds))
            .unwrap_or_default()
    }

    /// Whether the delay queue may delay mail from `sender` to
    /// `recipient`: not when the recipient's domain opted out or the
    /// recipient allow-lists the sender.
    pub fn delays(&self, recipient: &str, sender: &str) -> bool {
        let r = recipient.to_ascii_lowercase();
        let allowed = self
            .users
            .get(&r)
            .is_some_and(|u| listed(&u.allow, &[sender]).is_some());
        !allowed && self.domain(&r).is_none_or(|d| d.delay_queue)
    }

    /// What `recipient`'s domain does with a failed DMARC policy.
    pub fn dmarc(&self, recipient: &str) -> DmarcEnforcement {
        self.domain(recipient).map(|d| d.dmarc).unwrap_or_default()
    }

    /// Decides for `recipient` on a message from `senders` (the envelope
    /// sender and the From address) that got `verdict`.
    pub fn decide(&self, recipient: &str, senders: &[&str], verdict: &Verdict) -> Decision {
        if verdict.class > Class::Spam {
            return Decision::Quarantine(None);
        }
        let r = recipient.to_ascii_lowercase();
        if let Some(u) = self.users.get(&r) {
            if listed(&u.allow, senders).is_some() {
                return Decision::Deliver;
            }
            if let Some(entry) = listed(&u.block, senders) {
                return Decision::Quarantine(Some(format!("BLOCKLISTED {entry}")));
            }
        }
        let t = self.thresholds(&r);
        let s = verdict.score;
        if t.reject.is_some_and(|limit| s >= limit) {
            Decision::Reject
        } else if s >= t.quarantine {
            Decision::Quarantine(None)
        } else if s >= t.tag {
            Decision::Tag
        } else {
            Decision::Deliver
        }
    }
}

/// The entry of `list` that matches one of `senders`: an address exactly,
/// a domain with its subdomains.
fn listed<'a>(list: &'a [String], senders: &[&str]) -> Option<&'a str> {
    list.iter().map(String::as_str).find(|entry| {
        senders.iter().any(|s| {
            let s = s
                .trim_matches(|c| c == '<' || c == '>')
                .to_ascii_lowercase();
            if s.is_empty() {
                return false;
            }
            if entry.contains('@') {
                s == *entry
            } else {
                let d = domain_of(&s);
                d == *entry || d.ends_with(&format!(".{entry}"))
            }
        })
    })
}

fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or(address, |(_, d)| d)
        .trim_end_matches('>')
        .to_string()
}

/// The current snapshot, swapped whole when a new one arrives.
#[derive(Default)]
pub struct PolicyCache(RwLock<Arc<Snapshot>>);

impl PolicyCache {
    /// The snapshot in force.
    pub fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Puts `p` in force.
    pub fn replace(&self, p: FilterPolicy) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Snapshot::new(p));
    }
}

/// Fetches the policy every `every` and puts a changed one in force, until
/// the task is dropped.
pub async fn poll(manager: Endpoint, cache: Arc<PolicyCache>, dir: PathBuf, every: Duration) {
    let client = ApiClient::new(manager).with_timeout(Duration::from_secs(10));
    loop {
        let c = client.clone();
        match tokio::task::spawn_blocking(move || c.filter_policy()).await {
            Ok(Ok(p))
                if p.generation != cache.current().generation
                    || !dir.join(GENERATION_FILE).exists() =>
            {
                let generation = p.generation;
                cache.replace(p);
                info!("filter policy generation {generation} in force");
                record(&dir, generation);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!("fetching the filter policy: {e}; the previous one stays"),
            Err(e) => warn!("fetching the filter policy: {e}"),
        }
        tokio::time::sleep(every).await;
    }
}

fn record(dir: &Path, generation: u64) {
    if let Err(e) = std::fs::write(dir.join(GENERATION_FILE), format!("{generation}\n")) {
        warn!("writing {}: {e}", dir.join(GENERATION_FILE).display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(class: Class, score: f64) -> Verdict {
        Verdict {
            class,
            score,
            reasons: vec![],
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot::new(FilterPolicy {
            generation: 7,
            domains: vec![DomainPolicy {
                domain: "example.test".into(),
                thresholds: Thresholds {
                    tag: 3.0,
                    quarantine: 6.0,
                    reject: Some(10.0),
                },
                dmarc: DmarcEnforcement::Honour,
                attachments: Default::default(),
                delay_queue: true,
            }],
            users: vec![UserPolicy {
                address: "boss@example.test".into(),
                thresholds: None,
                allow: vec!["partner.test".into()],
                block: vec!["pest@nuisance.test".into()],
            }],
            ..FilterPolicy::default()
        })
    }

    #[test]
    fn thresholds_come_from_the_user_the_domain_or_the_defaults() {
        let s = snapshot();
        let d = |r: &str, score| s.decide(r, &["a@b.test"], &verdict(Class::Clean, score));
        assert_eq!(d("u@example.test", 2.0), Decision::Deliver);
        assert_eq!(d("u@example.test", 3.0), Decision::Tag);
        assert_eq!(d("U@Example.test", 6.5), Decision::Quarantine(None));
        assert_eq!(d("u@example.test", 10.0), Decision::Reject);
        let t = Thresholds::default();
        assert_eq!(d("u@other.test", t.quarantine), Decision::Quarantine(None));
        assert_eq!(
            d("u@other.test", 1000.0),
            Decision::Quarantine(None),
            "no reject by default"
        );
    }

    #[test]
    fn delay_queue_and_dmarc_settings_per_recipient() {
        let mut p = FilterPolicy {
            delay_exempt_networks: vec!["198.51.100.0/24".into()],
            ..FilterPolicy::default()
        };
        p.domains = snapshot_domains();
        p.domains.push(DomainPolicy {
            domain: "quiet.test".into(),
            thresholds: Thresholds::default(),
            dmarc: DmarcEnforcement::Report,
            attachments: Default::default(),
            delay_queue: false,
        });
        p.users = snapshot().users.into_values().collect();
        let s = Snapshot::new(p);
        assert!(s.delays("u@example.test", "x@stranger.test"));
        assert!(s.delays("u@other.test", "x@stranger.test"), "defaults");
        assert!(!s.delays("u@quiet.test", "x@stranger.test"), "opted out");
        assert!(
            !s.delays("boss@example.test", "x@partner.test"),
            "allow-listed"
        );
        assert!(s
            .delay_exempt
            .covers("198.51.100.7".parse().unwrap(), "x@y.test"));
        assert_eq!(s.dmarc("u@example.test"), DmarcEnforcement::Honour);
        assert_eq!(s.dmarc("u@quiet.test"), DmarcEnforcement::Report);
        assert_eq!(s.dmarc("u@other.test"), DmarcEnforcement::default());
    }

    fn snapshot_domains() -> Vec<DomainPolicy> {
        snapshot().domains.into_values().collect()
    }

    #[test]
    fn lists_come_before_scores_but_not_before_viruses() {
        let s = snapshot();
        let spam = verdict(Class::Spam, 50.0);
        assert_eq!(
            s.decide("boss@example.test", &["x@mail.partner.test"], &spam),
            Decision::Deliver
        );
        assert_eq!(
            s.decide(
                "boss@example.test",
                &["<>", "Pest@Nuisance.test"],
                &verdict(Class::Clean, -3.0)
            ),
            Decision::Quarantine(Some("BLOCKLISTED pest@nuisance.test".into()))
        );
        assert_eq!(
            s.decide(
                "boss@example.test",
                &["x@partner.test"],
                &verdict(Class::Virus, 0.0)
            ),
            Decision::Quarantine(None)
        );
        assert_eq!(
            s.decide("boss@example.test", &["x@notpartner.test"], &spam),
            Decision::Reject
        );
    }
}
