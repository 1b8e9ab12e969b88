//! Checks made before anything is touched: the settings' own problems plus
//! what only this machine can tell (does the interface exist?).

use model::network::{Ipv4Config, Ipv6Config, NetworkConfig};

use crate::plan::Link;

/// Longest host name the kernel takes (`HOST_NAME_MAX`).
pub const MAX_HOSTNAME: usize = 64;

/// Every problem with applying `net` and `hostname` here, one sentence each.
pub fn problems(net: &NetworkConfig, hostname: &str, links: &[Link]) -> Vec<String> {
    let mut p = net.problems();
    for i in &net.interfaces {
        if i.name == "lo" {
            p.push("the loopback interface lo cannot be configured".into());
        } else if !links.iter().any(|l| l.name == i.name) {
            let known: Vec<&str> = links
                .iter()
                .map(|l| l.name.as_str())
                .filter(|n| *n != "lo")
                .collect();
            p.push(format!(
                "interface {} does not exist (this box has: {})",
                i.name,
                known.join(", ")
            ));
        }
    }
    let v4_gateways = net
        .interfaces
        .iter()
        .filter(|i| {
            matches!(
                i.ipv4,
                Ipv4Config::Static {
                    gateway: Some(_),
                    ..
                }
            )
        })
        .count();
    let v6_gateways = net
        .interfaces
        .iter()
        .filter(|i| {
            matches!(
                i.ipv6,
                Ipv6Config::Static {
                    gateway: Some(_),
                    ..
                }
            )
        })
        .count();
    if v4_gateways > 1 || v6_gateways > 1 {
        p.push("only one interface may have a default gateway per IP version".into());
    }
    if hostname.len() > MAX_HOSTNAME || model::address::normalize_domain(hostname).is_err() {
        p.push(format!(
            "host name {hostname:?} is not a host name of at most {MAX_HOSTNAME} characters"
        ));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::network::InterfaceConfig;

    fn static_gw(name: &str, addr: &str, gw: &str) -> InterfaceConfig {
        InterfaceConfig {
            name: name.into(),
            ipv4: Ipv4Config::Static {
                address: addr.into(),
                gateway: Some(gw.parse().unwrap()),
            },
            ipv6: Ipv6Config::Auto,
        }
    }

    #[test]
    fn refuses_missing_interfaces_two_gateways_and_bad_names() {
        let links = vec![
            Link {
                name: "lo".into(),
                ..Link::default()
            },
            Link {
                name: "eth0".into(),
                ..Link::default()
            },
        ];
        let ok = NetworkConfig::dhcp_on("eth0");
        assert!(problems(&ok, "mx1.example.test", &links).is_empty());
        let p = problems(&NetworkConfig::dhcp_on("eth9"), "mx1", &links);
        assert_eq!(
            p,
            vec!["interface eth9 does not exist (this box has: eth0)"]
        );
        assert_eq!(
            problems(&NetworkConfig::dhcp_on("lo"), "mx1", &links).len(),
            1
        );
        assert_eq!(problems(&ok, "bad host", &links).len(), 1);
        assert_eq!(problems(&ok, &"a".repeat(65), &links).len(), 1);
        let two = NetworkConfig {
            interfaces: vec![
                static_gw("eth0", "192.0.2.2/24", "192.0.2.1"),
                static_gw("eth1", "198.51.100.2/24", "198.51.100.1"),
            ],
            dns: vec![],
            ntp: vec![],
        };
        let p = problems(&two, "mx1", &links);
        assert!(p.iter().any(|s| s.contains("one interface")), "{p:?}");
        assert!(p.iter().any(|s| s.contains("eth1 does not exist")), "{p:?}");
    }
}
