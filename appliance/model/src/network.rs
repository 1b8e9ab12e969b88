//! Network settings of the box, as `system.json` holds them and the console
//! and the web UI change them.
//!
//! The supervisor applies them at boot and again on request without a
//! reboot, keeping the old settings when the new ones fail to apply.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The `network` section of `system.json`. Absent on a workstation: `filterbox up`
/// then leaves the host's network alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// One entry per managed interface.
    pub interfaces: Vec<InterfaceConfig>,
    /// DNS servers, in order of preference (DHCP may add its own).
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    /// NTP servers (names or addresses); none: no time synchronisation.
    #[serde(default)]
    pub ntp: Vec<String>,
}

/// How one interface gets its addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    /// Kernel name, e.g. `eth0`.
    pub name: String,
    /// IPv4 settings.
    #[serde(default)]
    pub ipv4: Ipv4Config,
    /// IPv6 settings.
    #[serde(default)]
    pub ipv6: Ipv6Config,
}

/// IPv4 on an interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum Ipv4Config {
    /// A lease from a DHCP server (busybox udhcpc).
    #[default]
    Dhcp,
    /// A fixed address.
    Static {
        /// Address and prefix length, e.g. `192.0.2.10/24`.
        address: String,
        /// Default gateway; it must lie in the address's network.
        #[serde(default)]
        gateway: Option<std::net::Ipv4Addr>,
    },
    /// No IPv4 on this interface.
    Disabled,
}

/// IPv6 on an interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum Ipv6Config {
    /// Router advertisements (SLAAC), the kernel's default.
    #[default]
    Auto,
    /// A fixed address.
    Static {
        /// Address and prefix length, e.g. `2001:db8::10/64`.
        address: String,
        /// Default gateway.
        #[serde(default)]
        gateway: Option<std::net::Ipv6Addr>,
    },
    /// No IPv6 on this interface.
    Disabled,
}

/// An address with its prefix length, parsed from `192.0.2.10/24` or `2001:db8::1/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The address.
    pub address: IpAddr,
    /// Prefix length: 0-32 for IPv4, 0-128 for IPv6.
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{s:?} needs a prefix length, e.g. 192.0.2.10/24"))?;
        let address: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix: u8 =
            prefix.parse().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("prefix length {prefix:?} must be a number from 0 to {max}")
            })?;
        Ok(Cidr { address, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl Cidr {
    /// True when `ip` lies in this address's network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, width: u32, prefix: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - u32::from(prefix))
            }
        }
        match (self.address, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                masked(u32::from(a).into(), 32, self.prefix)
                    == masked(u32::from(b).into(), 32, self.prefix)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                masked(u128::from(a), 128, self.prefix) == masked(u128::from(b), 128, self.prefix)
            }
            _ => false,
        }
    }
}

impl NetworkConfig {
    /// Every problem with these settings, one sentence each; empty when usable.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.interfaces.is_empty() {
            p.push("network.interfaces needs at least one interface".into());
        }
        let mut names: Vec<&str> = Vec::new();
        for i in &self.interfaces {
            let name_ok = !i.name.is_empty()
                && i.name.len() < 16
                && i.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !name_ok {
                p.push(format!(
                    "interface name {:?} is not a valid interface name",
                    i.name
                ));
            }
            if names.contains(&i.name.as_str()) {
                p.push(format!("interface {} is listed twice", i.name));
            }
            names.push(&i.name);
            if let Ipv4Config::Static { address, gateway } = &i.ipv4 {
                match address.parse::<Cidr>() {
                    Ok(c) if !c.address.is_ipv4() => {
                        p.push(format!("{}: {address} is not an IPv4 address", i.name))
                    }
                    Ok(c) if c.prefix == 0 || c.prefix > 32 => {
                        p.push(format!("{}: IPv4 prefix must be from 1 to 32", i.name))
                    }
                    Ok(c) => {
                        if let Some(g) = gateway {
                            if !c.contains(IpAddr::V4(*g)) || IpAddr::V4(*g) == c.address {
                                p.push(format!(
                                    "{}: gateway {g} is not another host of {c}",
                                    i.name
                                ));
                            }
                        }
                    }
                    Err(e) => p.push(format!("{}: {e}", i.name)),
                }
            }
            if let Ipv6Config::Static { address, gateway } = &i.ipv6 {
                match address.parse::<Cidr>() {
                    Ok(c) if !c.address.is_ipv6() => {
                        p.push(format!("{}: {address} is not an IPv6 address", i.name))
                    }
                    Ok(c) => {
                        if let Some(g) = gateway {
                            let link_local = g.segments()[0] & 0xffc0 == 0xfe80;
                            if !link_local && !c.contains(IpAddr::V6(*g)) {
                                p.push(format!(
                                    "{}: gateway {g} is neither link-local nor in {c}",
                                    i.name
                                ));
                            }
                        }
                    }
                    Err(e) => p.push(format!("{}: {e}", i.name)),
                }
            }
        }
        for server in &self.ntp {
            if server.parse::<IpAddr>().is_err()
                && crate::address::normalize_domain(server).is_err()
            {
                p.push(format!(
                    "NTP server {server:?} is neither an address nor a host name"
                ));
            }
        }
        p
    }

    /// What an unconfigured box does: DHCP on `interface`, SLAAC for IPv6.
    pub fn dhcp_on(interface: &str) -> NetworkConfig {
        NetworkConfig {
            interfaces: vec![InterfaceConfig {
                name: interface.to_string(),
                ipv4: Ipv4Config::Dhcp,
                ipv6: Ipv6Config::Auto,
            }],
            dns: Vec::new(),
            ntp: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn static4(address: &str, gateway: Option<&str>) -> NetworkConfig {
        NetworkConfig {
            interfaces: vec![InterfaceConfig {
                name: "eth0".into(),
                ipv4: Ipv4Config::Static {
                    address: address.into(),
                    gateway: gateway.map(|g| g.parse().unwrap()),
                },
                ipv6: Ipv6Config::Auto,
            }],
            dns: vec![],
            ntp: vec![],
        }
    }

    #[test]
    fn validates_addresses_and_gateways() {
        assert!(static4("192.0.2.10/24", Some("192.0.2.1"))
            .problems()
            .is_empty());
        for (addr, gw) in [
            ("192.0.2.10", None),
            ("192.0.2.300/24", None),
            ("192.0.2.10/33", None),
            ("192.0.2.10/24", Some("198.51.100.1")),
            ("192.0.2.10/24", Some("192.0.2.10")),
            ("2001:db8::1/64", None),
        ] {
            assert_eq!(static4(addr, gw).problems().len(), 1, "{addr} {gw:?}");
        }
        assert!(NetworkConfig::dhcp_on("eth0").problems().is_empty());
        assert!(!NetworkConfig::dhcp_on("bad name!").problems().is_empty());
    }

    #[test]
    fn cidr_contains() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert!(c.contains("10.200.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        let c: Cidr = "2001:db8::1/32".parse().unwrap();
        assert!(c.contains("2001:db8:ffff::1".parse().unwrap()));
        assert_eq!(c.to_string(), "2001:db8::1/32");
        let any: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn parses_the_documented_forms() {
        let n: NetworkConfig = serde_json::from_str(
            r#"{"interfaces":[
                {"name":"eth0","ipv4":{"method":"static","address":"192.0.2.10/24","gateway":"192.0.2.1"},
                 "ipv6":{"method":"disabled"}},
                {"name":"eth1"}],
               "dns":["192.0.2.53","2001:db8::53"],"ntp":["ntp.example.test"]}"#,
        )
        .unwrap();
        assert_eq!(n.interfaces[1].ipv4, Ipv4Config::Dhcp);
        assert_eq!(n.interfaces[1].ipv6, Ipv6Config::Auto);
        assert!(matches!(n.interfaces[0].ipv4, Ipv4Config::Static { .. }));
        assert!(serde_json::from_str::<Ipv4Config>(r#"{"method":"static"}"#).is_err());
        assert!(serde_json::from_str::<Ipv4Config>(r#"{"method":"bootp"}"#).is_err());
    }
}
