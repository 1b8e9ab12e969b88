//! The interfaces as the console's and the API's status screens show them.

use model::control::InterfaceStatus;
use model::network::{InterfaceConfig, Ipv4Config, Ipv6Config, NetworkConfig};

use crate::plan::Link;

/// Every interface but `lo`, with its link state, addresses and method.
/// An unreadable interface list is logged and shown as no interfaces: a
/// status screen must still come up.
pub fn interfaces(net: Option<&NetworkConfig>) -> Vec<InterfaceStatus> {
    match crate::observe::links() {
        Ok(links) => statuses(&links, net),
        Err(e) => {
            log::warn!("{e}");
            Vec::new()
        }
    }
}

fn statuses(links: &[Link], net: Option<&NetworkConfig>) -> Vec<InterfaceStatus> {
    links
        .iter()
        .filter(|l| l.name != "lo")
        .map(|l| {
            let config = net.and_then(|n| n.interfaces.iter().find(|i| i.name == l.name));
            let mut addresses: Vec<_> = l.addresses.clone();
            addresses.sort_by_key(|c| c.address.is_ipv6());
            InterfaceStatus {
                name: l.name.clone(),
                up: l.up,
                addresses: addresses.iter().map(ToString::to_string).collect(),
                method: method(config).into(),
            }
        })
        .collect()
}

/// `dhcp` or `static` after IPv4; with IPv4 off, `static`, `slaac` or
/// `disabled` after IPv6; `unmanaged` when the settings do not mention it.
fn method(config: Option<&InterfaceConfig>) -> &'static str {
    let Some(i) = config else {
        return "unmanaged";
    };
    match (&i.ipv4, &i.ipv6) {
        (Ipv4Config::Dhcp, _) => "dhcp",
        (Ipv4Config::Static { .. }, _) | (_, Ipv6Config::Static { .. }) => "static",
        (Ipv4Config::Disabled, Ipv6Config::Auto) => "slaac",
        (Ipv4Config::Disabled, Ipv6Config::Disabled) => "disabled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_interface_but_lo_with_its_method() {
        let link = |name: &str, addrs: &[&str]| Link {
            name: name.into(),
            up: true,
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            ipv6: None,
        };
        let links = vec![
            link("lo", &["127.0.0.1/8"]),
            link("eth0", &["fe80::1/64", "192.0.2.10/24"]),
            link("eth1", &[]),
        ];
        let net = NetworkConfig::dhcp_on("eth0");
        let s = statuses(&links, Some(&net));
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].addresses, vec!["192.0.2.10/24", "fe80::1/64"]);
        assert_eq!(
            (s[0].method.as_str(), s[1].method.as_str()),
            ("dhcp", "unmanaged")
        );
        assert_eq!(statuses(&links, None)[0].method, "unmanaged");
    }
}
