//! Outbound relay control: who may send mail through the box to domains
//! that are not ours.
//!
//! Inbound, the box takes mail only for its own domains; anything else
//! would make it an open relay. A customer's own mail servers and roaming
//! users send their outbound mail through it too (the seeds' "Secure
//! Outbound"): clients whose address lies in one of a domain's
//! `relay_networks`, and sessions that authenticated with SMTP AUTH. Any
//! other client naming a foreign recipient gets `554 5.7.1`, as Postfix
//! answers, and the refusal is tracked like every refused recipient.
//!
//! Recipients of our own domains always take the inbound path (recipient
//! checks, call-out), whoever sends: a customer writing to another
//! customer of the box is inbound mail for the latter.

use std::net::IpAddr;

use model::api::Domain;
use model::network::Cidr;

use crate::directory::DirectoryIndex;
use crate::session::Reply;

/// Every domain's relay networks, indexed for the client-address lookup.
#[derive(Debug, Default)]
pub struct RelayIndex {
    /// Each network with the (normal-form) domain it belongs to.
    networks: Vec<(Cidr, String)>,
}

impl RelayIndex {
    /// Indexes the relay networks of `domains`; the manager validated them,
    /// so one that does not parse (an older manager) is skipped with a warning.
    pub fn new(domains: &[Domain]) -> RelayIndex {
        let mut networks = Vec::new();
        for d in domains {
            let Ok(name) = model::address::normalize_domain(&d.name) else {
                continue;
            };
            for n in &d.relay_networks {
                match n.parse::<Cidr>() {
                    Ok(cidr) => networks.push((cidr, name.clone())),
                    Err(e) => log::warn!("domain {name}: relay network ignored: {e}"),
                }
            }
        }
        RelayIndex { networks }
    }

    /// True when `ip` lies in one of `domain`'s (normal form) relay networks.
    pub fn is_network_of(&self, ip: IpAddr, domain: &str) -> bool {
        let ip = ip.to_canonical();
        self.networks
            .iter()
            .any(|(cidr, d)| d == domain && cidr.contains(ip))
    }

    /// The domain whose relay networks contain `ip`, if any. IPv4 clients
    /// seen through an IPv6 socket (`::ffff:a.b.c.d`) match IPv4 networks.
    pub fn network_of(&self, ip: IpAddr) -> Option<&str> {
        let ip = ip.to_canonical();
        self.networks
            .iter()
            .find(|(cidr, _)| cidr.contains(ip))
            .map(|(_, domain)| domain.as_str())
    }
}

/// Why a session may relay: shown in logs and tracking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// The client's address is in a relay network of this domain.
    Network {
        /// The customer's domain.
        domain: String,
    },
    /// The client authenticated as this user.
    Authenticated {
        /// The SMTP AUTH login.
        user: String,
    },
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grant::Network { domain } => write!(f, "relay network of {domain}"),
            Grant::Authenticated { user } => write!(f, "authenticated as {user}"),
        }
    }
}

/// Whether a client at `ip` (`None`: not a TCP client), authenticated as
/// `user` or not, may relay; authentication wins, as it names a person.
pub fn grant(index: &RelayIndex, ip: Option<IpAddr>, user: Option<&str>) -> Option<Grant> {
    if let Some(user) = user {
        return Some(Grant::Authenticated {
            user: user.to_string(),
        });
    }
    let domain = index.network_of(ip?)?;
    Some(Grant::Network {
        domain: domain.to_string(),
    })
}

/// Whether the box may sign for `domain` (normal form) what this client
/// relays: only the domain's own networks, or a login of that domain (a
/// customer must not get a message signed as another customer's).
pub fn speaks_for(
    index: &RelayIndex,
    ip: Option<IpAddr>,
    user: Option<&str>,
    domain: &str,
) -> bool {
    match user {
        Some(user) => user
            .rsplit_once('@')
            .and_then(|(_, d)| model::address::normalize_domain(d).ok())
            .is_some_and(|d| d == domain),
        None => ip.is_some_and(|ip| index.is_network_of(ip, domain)),
    }
}

/// What relay control says about one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// One of our domains (or no directory yet): the inbound checks decide.
    Local,
    /// A foreign recipient of a client that may relay: accept (then filter).
    Relay,
    /// A foreign recipient of a client that may not: refuse.
    Refuse(Reply),
}

/// The decision on `address` (normal form) for a client with `grant`.
pub fn check(directory: Option<&DirectoryIndex>, grant: Option<&Grant>, address: &str) -> Decision {
    let Some(directory) = directory else {
        return Decision::Local;
    };
    if directory.has_domain(model::address::domain_of(address)) {
        Decision::Local
    } else if grant.is_some() {
        Decision::Relay
    } else {
        Decision::Refuse(denied(address))
    }
}

/// The refusal of a foreign recipient (RFC 5321 allows 550 or 554; 5.7.1
/// per RFC 3463 "delivery not authorized").
pub fn denied(address: &str) -> Reply {
    Reply::new(554, "5.7.1", format!("<{address}>: relay access denied"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::api;

    fn directory() -> DirectoryIndex {
        let mut d = crate::directory::tests::sample();
        d.domains[0].relay_networks = vec!["192.0.2.0/24".into(), "2001:db8:1::/48".into()];
        DirectoryIndex::new(d)
    }

    fn domain(name: &str, networks: &[&str]) -> api::Domain {
        api::Domain {
            name: name.into(),
            delivery: Vec::new(),
            created: 0,
            provisioning: Default::default(),
            tls: Default::default(),
            relay_networks: networks.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn networks_match_v4_v6_and_mapped_addresses() {
        let idx = RelayIndex::new(&[
            domain("A.test", &["192.0.2.0/24", "not-a-network"]),
            domain("b.test", &["2001:db8::/32", "198.51.100.7/32"]),
        ]);
        let of = |ip: &str| idx.network_of(ip.parse().unwrap());
        assert_eq!(of("192.0.2.200"), Some("a.test"));
        assert_eq!(of("::ffff:192.0.2.1"), Some("a.test"));
        assert_eq!(of("2001:db8:ffff::1"), Some("b.test"));
        assert_eq!(of("198.51.100.7"), Some("b.test"));
        assert_eq!(of("198.51.100.8"), None);
        assert_eq!(of("192.0.3.1"), None);
        assert_eq!(of("2001:db9::1"), None);
    }

    #[test]
    fn authentication_or_network_grants_relay() {
        let idx = directory();
        let ip = |s: &str| Some(s.parse().unwrap());
        assert_eq!(
            grant(&idx.relay, ip("192.0.2.9"), None),
            Some(Grant::Network {
                domain: "example.test".into()
            })
        );
        assert_eq!(
            grant(&idx.relay, ip("203.0.113.1"), Some("roamer@example.test")),
            Some(Grant::Authenticated {
                user: "roamer@example.test".into()
            })
        );
        assert_eq!(grant(&idx.relay, ip("203.0.113.1"), None), None);
        assert_eq!(grant(&idx.relay, None, None), None);
    }

    #[test]
    fn the_box_signs_only_for_the_clients_own_domain() {
        let idx = RelayIndex::new(&[
            domain("a.test", &["192.0.2.0/24"]),
            domain("b.test", &["192.0.2.0/24", "198.51.100.0/24"]),
        ]);
        let ip = |s: &str| Some(s.parse().unwrap());
        assert!(speaks_for(&idx, ip("192.0.2.1"), None, "a.test"));
        assert!(
            speaks_for(&idx, ip("192.0.2.1"), None, "b.test"),
            "shared network"
        );
        assert!(!speaks_for(&idx, ip("198.51.100.1"), None, "a.test"));
        assert!(speaks_for(&idx, None, Some("x@A.TEST"), "a.test"));
        assert!(!speaks_for(
            &idx,
            ip("192.0.2.1"),
            Some("x@b.test"),
            "a.test"
        ));
        assert!(!speaks_for(&idx, None, Some("plainlogin"), "a.test"));
        assert!(!speaks_for(&idx, None, None, "a.test"));
    }

    #[test]
    fn foreign_recipients_need_a_grant_ours_go_inbound() {
        let idx = directory();
        let g = Grant::Network {
            domain: "example.test".into(),
        };
        assert_eq!(check(Some(&idx), None, "x@example.test"), Decision::Local);
        assert_eq!(
            check(Some(&idx), Some(&g), "x@example.test"),
            Decision::Local
        );
        assert_eq!(check(Some(&idx), Some(&g), "x@far.test"), Decision::Relay);
        assert_eq!(
            check(Some(&idx), None, "x@far.test"),
            Decision::Refuse(Reply::new(
                554,
                "5.7.1",
                "<x@far.test>: relay access denied"
            ))
        );
        assert_eq!(check(None, None, "x@far.test"), Decision::Local);
    }
}
