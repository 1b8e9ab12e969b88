//! Who is never delayed: partner networks and backup MXs (CIDR), and
//! sender addresses or whole domains, as the administrator lists them in
//! `FilterPolicy.delay_exempt_*`.

use std::net::IpAddr;

use crate::pattern::canonical;

/// One network in CIDR notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    base: IpAddr,
    bits: u32,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::/n`, or a single address; `None` when malformed.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, bits) = match text.trim().split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
            None => (text.trim(), None),
        };
        let base = canonical(addr.parse::<IpAddr>().ok()?);
        let max = if base.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Cidr { base, bits })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.bits).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.bits).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The exempt networks and senders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exemptions {
    networks: Vec<Cidr>,
    senders: Vec<String>,
}

impl Exemptions {
    /// From the policy's lists. Malformed networks are returned apart (the
    /// manager validates them, so any here is worth a warning, not a failure).
    pub fn new(networks: &[String], senders: &[String]) -> (Exemptions, Vec<String>) {
        let (good, bad): (Vec<_>, Vec<_>) = networks.iter().partition(|n| Cidr::parse(n).is_some());
        let networks = good.iter().filter_map(|n| Cidr::parse(n)).collect();
        let bad = bad.into_iter().cloned().collect();
        let senders = senders
            .iter()
            .map(|s| s.trim().trim_start_matches('@').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        (Exemptions { networks, senders }, bad)
    }

    /// Whether a message from `ip` with envelope sender `sender` skips the delay.
    /// A listed domain covers its subdomains too.
    pub fn covers(&self, ip: IpAddr, sender: &str) -> bool {
        if self.networks.iter().any(|n| n.contains(ip)) {
            return true;
        }
        let sender = sender.trim().to_ascii_lowercase();
        let domain = sender.rsplit_once('@').map_or("", |(_, d)| d);
        self.senders.iter().any(|e| {
            if e.contains('@') {
                *e == sender
            } else {
                domain == e
                    || domain
                        .strip_suffix(e.as_str())
                        .is_some_and(|p| p.ends_with('.'))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_match_by_prefix() {
        let n = Cidr::parse("192.0.2.0/25").unwrap();
        assert!(n.contains(ip("192.0.2.127")));
        assert!(!n.contains(ip("192.0.2.128")));
        assert!(n.contains(ip("::ffff:192.0.2.1")));
        assert!(!n.contains(ip("2001:db8::1")));
        let n = Cidr::parse("2001:db8::/32").unwrap();
        assert!(n.contains(ip("2001:db8:ffff::1")));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("203.0.113.1")));
        assert!(Cidr::parse("198.51.100.7")
            .unwrap()
            .contains(ip("198.51.100.7")));
        for bad in ["192.0.2.0/33", "2001:db8::/129", "x/8", "192.0.2.0/", ""] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn senders_match_addresses_domains_and_subdomains() {
        let (e, bad) = Exemptions::new(
            &["10.0.0.0/8".into(), "nonsense".into()],
            &["Partner.Test".into(), "boss@corp.test".into()],
        );
        assert_eq!(bad, ["nonsense"]);
        assert!(e.covers(ip("10.9.9.9"), "anyone@else.test"));
        assert!(e.covers(ip("192.0.2.1"), "a@partner.test"));
        assert!(e.covers(ip("192.0.2.1"), "a@mx.PARTNER.test"));
        assert!(!e.covers(ip("192.0.2.1"), "a@evilpartner.test"));
        assert!(e.covers(ip("192.0.2.1"), "Boss@corp.test"));
        assert!(!e.covers(ip("192.0.2.1"), "other@corp.test"));
        assert!(!e.covers(ip("192.0.2.1"), ""));
    }
}
