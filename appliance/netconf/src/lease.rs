//! What udhcpc tells its hook: the event and the lease in environment
//! variables (`interface`, `ip`, `mask` or `subnet`, `router`, `dns`, `domain`).
//!
//! The values come from a DHCP server on the network, so they are checked
//! like any other untrusted input before they reach `ip` or resolv.conf.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use model::network::Cidr;
use serde::{Deserialize, Serialize};

use crate::step::DefaultRoute;

/// Longest environment value read from udhcpc; real ones are a few addresses.
pub const MAX_ENV_VALUE: usize = 4096;

/// DHCP default routes get this metric plus the interface index: one route per
/// interface can coexist, and a static gateway (metric 0) wins over them.
pub const DHCP_METRIC_BASE: u32 = 100;

/// The events busybox udhcpc runs its script with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookEvent {
    /// Start, end (`-R`) or loss of a lease: remove the lease's settings.
    Deconfig,
    /// A new lease.
    Bound,
    /// The lease was renewed (its values may have changed).
    Renew,
    /// No lease obtained (yet); nothing to change.
    LeaseFail,
    /// The server refused; udhcpc follows with `deconfig`.
    Nak,
}

impl HookEvent {
    /// The event named by udhcpc's first argument.
    pub fn parse(name: &str) -> Result<HookEvent, String> {
        Ok(match name {
            "deconfig" => HookEvent::Deconfig,
            "bound" => HookEvent::Bound,
            "renew" => HookEvent::Renew,
            "leasefail" => HookEvent::LeaseFail,
            "nak" => HookEvent::Nak,
            other => return Err(format!("unknown udhcpc event {other:?}")),
        })
    }
}

impl fmt::Display for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HookEvent::Deconfig => "deconfig",
            HookEvent::Bound => "bound",
            HookEvent::Renew => "renew",
            HookEvent::LeaseFail => "leasefail",
            HookEvent::Nak => "nak",
        })
    }
}

/// An IPv4 lease as applied to an interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    /// Our address.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// Default gateway, if the server sent one.
    pub router: Option<Ipv4Addr>,
    /// Metric of the default route ([`DHCP_METRIC_BASE`] + interface index).
    pub metric: u32,
    /// DNS servers.
    pub dns: Vec<IpAddr>,
    /// Search domain.
    pub domain: Option<String>,
}

impl Lease {
    /// The address with its prefix.
    pub fn cidr(&self) -> Cidr {
        Cidr {
            address: IpAddr::V4(self.address),
            prefix: self.prefix,
        }
    }

    /// The default route this lease asks for on `dev`.
    pub fn route(&self, dev: &str) -> Option<DefaultRoute> {
        self.router.map(|gw| DefaultRoute {
            dev: dev.to_string(),
            gateway: IpAddr::V4(gw),
            metric: self.metric,
        })
    }

    /// The lease in udhcpc's environment; `metric` is the route metric to use.
    pub fn from_env(env: &HashMap<String, String>, metric: u32) -> Result<Lease, String> {
        let address: Ipv4Addr = get(env, "ip")?
            .ok_or("no \"ip\" in the environment")?
            .parse()
            .map_err(|_| "\"ip\" is not an IPv4 address".to_string())?;
        let prefix = match (get(env, "mask")?, get(env, "subnet")?) {
            (Some(m), _) => m
                .parse::<u8>()
                .ok()
                .filter(|p| (1..=32).contains(p))
                .ok_or_else(|| format!("mask {m:?} is not a prefix length"))?,
            (None, Some(s)) => mask_prefix(s)?,
            (None, None) => return Err("neither \"mask\" nor \"subnet\" given".into()),
        };
        let router = match get(env, "router")?.and_then(|r| r.split_whitespace().next()) {
            Some(r) => Some(
                r.parse::<Ipv4Addr>()
                    .map_err(|_| format!("router {r:?} is not an IPv4 address"))?,
            ),
            None => None,
        };
        let dns = get(env, "dns")?
            .unwrap_or("")
            .split_whitespace()
            .map(|d| {
                d.parse()
                    .map_err(|_| format!("dns {d:?} is not an address"))
            })
            .collect::<Result<Vec<IpAddr>, String>>()?;
        let domain = match get(env, "domain")? {
            // Goes into resolv.conf: refuse anything that is not a plain name.
            Some(d) => Some(
                model::address::normalize_domain(d)
                    .map_err(|_| format!("domain {d:?} is not a domain name"))?,
            ),
            None => None,
        };
        Ok(Lease {
            address,
            prefix,
            router,
            metric,
            dns,
            domain,
        })
    }
}

/// The interface udhcpc runs for, checked to be a plain interface name.
pub fn interface_from_env(env: &HashMap<String, String>) -> Result<String, String> {
    let name = get(env, "interface")?.ok_or("no \"interface\" in the environment")?;
    let ok = !name.is_empty()
        && name.len() < 16
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!("interface {name:?} is not an interface name"))
    }
}

fn get<'a>(env: &'a HashMap<String, String>, key: &str) -> Result<Option<&'a str>, String> {
    match env.get(key).map(|v| v.trim()) {
        Some(v) if v.len() > MAX_ENV_VALUE => Err(format!("{key:?} is too long")),
        Some("") | None => Ok(None),
        Some(v) => Ok(Some(v)),
    }
}

/// The prefix length of a dotted netmask such as `255.255.255.0`.
fn mask_prefix(mask: &str) -> Result<u8, String> {
    let bad = || format!("subnet {mask:?} is not a netmask");
    let bits = u32::from(mask.parse::<Ipv4Addr>().map_err(|_| bad())?);
    let prefix = bits.leading_ones();
    if bits.checked_shl(prefix).unwrap_or(0) != 0 || prefix == 0 {
        return Err(bad());
    }
    Ok(prefix as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_what_udhcpc_exports() {
        let e = env(&[
            ("interface", "eth0"),
            ("ip", "192.0.2.100"),
            ("mask", "24"),
            ("subnet", "255.255.255.0"),
            ("router", "192.0.2.1 192.0.2.2"),
            ("dns", "192.0.2.53 2001:db8::53"),
            ("domain", "Example.TEST"),
        ]);
        assert_eq!(interface_from_env(&e).unwrap(), "eth0");
        let l = Lease::from_env(&e, 103).unwrap();
        assert_eq!(l.cidr().to_string(), "192.0.2.100/24");
        assert_eq!(l.router, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(l.dns.len(), 2);
        assert_eq!(l.domain.as_deref(), Some("example.test"));
        assert_eq!(l.route("eth0").unwrap().metric, 103);
    }

    #[test]
    fn subnet_alone_gives_the_prefix() {
        let e = env(&[("ip", "10.1.2.3"), ("subnet", "255.255.240.0")]);
        let l = Lease::from_env(&e, 100).unwrap();
        assert_eq!(l.prefix, 20);
        assert_eq!(l.router, None);
        assert!(l.dns.is_empty());
    }

    #[test]
    fn refuses_hostile_or_broken_values() {
        for bad in [
            env(&[("subnet", "255.255.255.0")]),
            env(&[("ip", "10.1.2.3")]),
            env(&[("ip", "10.1.2.300"), ("mask", "24")]),
            env(&[("ip", "10.1.2.3"), ("subnet", "255.0.255.0")]),
            env(&[("ip", "10.1.2.3"), ("mask", "33")]),
            env(&[("ip", "10.1.2.3"), ("mask", "24"), ("router", "gw")]),
            env(&[("ip", "10.1.2.3"), ("mask", "24"), ("dns", "1.1.1.1 x")]),
            env(&[
                ("ip", "10.1.2.3"),
                ("mask", "24"),
                ("domain", "a.test\nnameserver 6.6.6.6"),
            ]),
        ] {
            assert!(Lease::from_env(&bad, 100).is_err(), "{bad:?}");
        }
        assert!(interface_from_env(&env(&[("interface", "../etc")])).is_err());
        assert!(interface_from_env(&env(&[])).is_err());
        let long = "1".repeat(MAX_ENV_VALUE + 1);
        assert!(Lease::from_env(&env(&[("ip", &long)]), 100).is_err());
        assert!(HookEvent::parse("bound").is_ok());
        assert!(HookEvent::parse("rm -rf").is_err());
    }
}
