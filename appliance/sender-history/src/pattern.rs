//! Sender patterns: what the history keys on.
//!
//! Spammers rotate single addresses within a range they rent, so the
//! sending network (/24 for IPv4, /64 for IPv6: one customer's allocation)
//! is the unit, not the address. Beside it the HELO name and the envelope
//! sender's domain; the delay queue keys on all three together.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest HELO name or domain kept in a key (DNS names are at most 253);
/// longer ones are cut so a key stays small whatever the client sends.
pub const MAX_NAME: usize = 255;

/// The facts about one SMTP transaction the history needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The SMTP client's address.
    pub ip: IpAddr,
    /// Its HELO/EHLO name, as given (normalised here).
    pub helo: String,
    /// The envelope sender (`MAIL FROM`), empty for the null sender.
    pub address: String,
}

impl Sender {
    /// The facts, with names lowercased and cut to [`MAX_NAME`].
    pub fn new(ip: IpAddr, helo: &str, address: &str) -> Sender {
        Sender {
            ip,
            helo: normalise(helo),
            address: address.trim().to_ascii_lowercase(),
        }
    }

    /// The sender's domain; `<>` for the null sender (bounces).
    pub fn domain(&self) -> String {
        match self.address.rsplit_once('@') {
            Some((_, d)) if !d.is_empty() => normalise(d),
            _ if self.address.is_empty() => "<>".into(),
            _ => normalise(&self.address),
        }
    }

    /// The sending network: `a.b.c.0/24` or the /64 of an IPv6 address.
    pub fn network(&self) -> String {
        network(self.ip, 24, 64)
    }

    /// The key of the delay queue: network, HELO and sender domain.
    pub fn triple(&self) -> String {
        format!("{}|{}|{}", self.network(), self.helo, self.domain())
    }

    /// The keys of the three separate patterns, each with its kind.
    pub fn patterns(&self) -> [(Kind, String); 3] {
        [
            (Kind::Network, self.network()),
            (Kind::Helo, self.helo.clone()),
            (Kind::Domain, self.domain()),
        ]
    }
}

/// What a pattern is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A sending network (/24 or /64).
    Network,
    /// A HELO name.
    Helo,
    /// An envelope sender domain.
    Domain,
}

impl Kind {
    /// The key prefix in `history.db`.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Network => "net:",
            Kind::Helo => "helo:",
            Kind::Domain => "dom:",
        }
    }
}

/// `ip` masked to `v4` or `v6` bits, in CIDR notation.
pub fn network(ip: IpAddr, v4: u32, v6: u32) -> String {
    match canonical(ip) {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - v4).unwrap_or(0);
            format!("{}/{v4}", Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - v6).unwrap_or(0);
            format!("{}/{v6}", Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as the IPv4 address they are.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn normalise(name: &str) -> String {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let mut cut = name.len().min(MAX_NAME);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    name[..cut].replace('|', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_are_slash_24_and_slash_64() {
        let s = Sender::new(ip("192.0.2.77"), "Mail.Example.TEST.", "Bob@Example.Test");
        assert_eq!(s.network(), "192.0.2.0/24");
        assert_eq!(s.triple(), "192.0.2.0/24|mail.example.test|example.test");
        let s = Sender::new(ip("2001:db8:1:2:3:4:5:6"), "h", "");
        assert_eq!(s.network(), "2001:db8:1:2::/64");
        assert_eq!(s.domain(), "<>");
        let s = Sender::new(ip("::ffff:198.51.100.9"), "h", "x@y");
        assert_eq!(s.network(), "198.51.100.0/24", "mapped IPv4 is IPv4");
        assert_eq!(network(ip("10.1.2.3"), 16, 48), "10.1.0.0/16");
    }

    #[test]
    fn hostile_names_cannot_break_keys() {
        let long = "a".repeat(1000);
        let s = Sender::new(ip("192.0.2.1"), &format!("x|y{long}"), "a@b|c");
        assert_eq!(s.helo.len(), MAX_NAME);
        assert_eq!(s.domain(), "b_c");
        assert_eq!(s.triple().matches('|').count(), 2);
        let s = Sender::new(ip("192.0.2.1"), &"é".repeat(200), "no-domain");
        assert!(s.helo.len() <= MAX_NAME);
        assert_eq!(s.domain(), "no-domain");
    }
}
