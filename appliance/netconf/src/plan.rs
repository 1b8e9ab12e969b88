//! Planning, without I/O: from the state observed and the settings wanted,
//! the list of [`Step`]s that gets there.
//!
//! What the box owns, and so may remove: every IPv4 address and IPv4 default
//! route of a configured interface (static or DHCP); every global IPv6
//! address and IPv6 default route of an interface whose IPv6 is static or
//! disabled; with IPv6 `auto`, only the previous static address and gateway
//! (SLAAC's belong to the kernel). An interface dropped from the settings
//! loses what the old settings (or its lease) put there, and nothing else.
//!
//! Steps come in phases across all interfaces, so a gateway can move from one
//! interface to another: enable (sysctls, links up), remove routes, remove
//! addresses, add addresses, add routes, disable IPv6, files, host name.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use model::network::{Cidr, InterfaceConfig, Ipv4Config, Ipv6Config, NetworkConfig};

use crate::files::FileContents;
use crate::lease::Lease;
use crate::step::{DefaultRoute, Ipv6Sysctl, Step, STATIC_V4_METRIC, STATIC_V6_METRIC};

mod family;
#[cfg(test)]
mod tests;

use family::{Family, Owned, Phases};

/// The network state of the machine as netconf sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// Every interface, in kernel order.
    pub links: Vec<Link>,
    /// Default routes through a gateway, both families.
    pub routes: Vec<DefaultRoute>,
    /// Leases recorded by the DHCP hook.
    pub leases: BTreeMap<String, Lease>,
    /// Current contents of the files the plan may write (`None`: absent).
    pub files: BTreeMap<PathBuf, Option<String>>,
    /// The host name, when netconf manages it.
    pub hostname: Option<String>,
}

/// One interface.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// Kernel name.
    pub name: String,
    /// Administratively up.
    pub up: bool,
    /// Addresses, IPv4 and IPv6 (link-local included), in kernel order.
    pub addresses: Vec<Cidr>,
    /// `disable_ipv6` and `accept_ra`; `None` when IPv6 is off in the kernel.
    pub ipv6: Option<Ipv6State>,
}

/// The IPv6 sysctls of one interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ipv6State {
    /// `disable_ipv6`.
    pub disabled: u8,
    /// `accept_ra`.
    pub accept_ra: u8,
}

impl Link {
    /// Addresses of one family that the box may own (never IPv6 link-local).
    fn family(&self, v6: bool) -> Vec<Cidr> {
        self.addresses
            .iter()
            .filter(|c| c.address.is_ipv6() == v6 && !is_link_local(c.address))
            .copied()
            .collect()
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// What a plan should reach.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// The new settings (already validated).
    pub network: &'a NetworkConfig,
    /// The settings in force so far, if any.
    pub old: Option<&'a NetworkConfig>,
    /// The host name to set, when netconf manages it.
    pub hostname: Option<&'a str>,
    /// Files to bring to these contents.
    pub files: Vec<FileContents>,
}

/// The steps from `current` to `target`.
pub fn plan(current: &Observed, target: &Target<'_>) -> Vec<Step> {
    let mut ph = Phases::default();
    for iface in &target.network.interfaces {
        if let Some(link) = current.links.iter().find(|l| l.name == iface.name) {
            let old = target
                .old
                .and_then(|o| o.interfaces.iter().find(|i| i.name == iface.name));
            configured(&mut ph, current, link, iface, old);
        }
    }
    for old in target.old.map(|o| o.interfaces.as_slice()).unwrap_or(&[]) {
        let dropped = !target.network.interfaces.iter().any(|i| i.name == old.name);
        if let (true, Some(link)) = (dropped, current.links.iter().find(|l| l.name == old.name)) {
            dropped_iface(&mut ph, current, link, old);
        }
    }
    ph.finish_files(current, &target.files);
    if let (Some(name), Some(previous)) = (target.hostname, &current.hostname) {
        if name != previous {
            ph.last.push(Step::SetHostname {
                name: name.to_string(),
                previous: previous.clone(),
            });
        }
    }
    ph.into_steps()
}

/// The steps that put `lease` (or, with `None`, no lease) on `dev` and write `files`.
pub fn plan_lease(
    current: &Observed,
    dev: &str,
    lease: Option<&Lease>,
    files: &[FileContents],
) -> Vec<Step> {
    let mut ph = Phases::default();
    if let Some(link) = current.links.iter().find(|l| l.name == dev) {
        let present = link.family(false);
        Family {
            dev,
            owned: present.clone(),
            present,
            want: lease.map(Lease::cidr).into_iter().collect(),
            owned_routes: routes_of(current, dev, false),
            present_routes: routes_of(current, dev, false),
            want_routes: lease.and_then(|l| l.route(dev)).into_iter().collect(),
        }
        .diff(&mut ph);
    }
    ph.finish_files(current, files);
    ph.into_steps()
}

fn routes_of(current: &Observed, dev: &str, v6: bool) -> Vec<DefaultRoute> {
    current
        .routes
        .iter()
        .filter(|r| r.dev == dev && r.gateway.is_ipv6() == v6)
        .cloned()
        .collect()
}

fn route(dev: &str, gateway: IpAddr, metric: u32) -> DefaultRoute {
    DefaultRoute {
        dev: dev.to_string(),
        gateway,
        metric,
    }
}

/// A configured interface: IPv4 wholly owned, IPv6 per its method.
fn configured(
    ph: &mut Phases,
    current: &Observed,
    link: &Link,
    iface: &InterfaceConfig,
    old: Option<&InterfaceConfig>,
) {
    let dev = iface.name.as_str();
    let both_off = iface.ipv4 == Ipv4Config::Disabled && iface.ipv6 == Ipv6Config::Disabled;
    if !link.up && !both_off {
        ph.enable.push(Step::LinkUp { dev: dev.into() });
    }
    let (want4, want4_routes) = match &iface.ipv4 {
        Ipv4Config::Static { address, gateway } => (
            address.parse().ok().into_iter().collect(),
            gateway
                .map(|g| route(dev, IpAddr::V4(g), STATIC_V4_METRIC))
                .into_iter()
                .collect(),
        ),
        Ipv4Config::Dhcp => match current.leases.get(dev) {
            Some(l) => (vec![l.cidr()], l.route(dev).into_iter().collect()),
            None => (vec![], vec![]),
        },
        Ipv4Config::Disabled => (vec![], vec![]),
    };
    let present4 = link.family(false);
    Family {
        dev,
        owned: present4.clone(),
        present: present4,
        want: want4,
        owned_routes: routes_of(current, dev, false),
        present_routes: routes_of(current, dev, false),
        want_routes: want4_routes,
    }
    .diff(ph);
    ipv6(ph, current, link, iface, old);
}

fn ipv6(
    ph: &mut Phases,
    current: &Observed,
    link: &Link,
    iface: &InterfaceConfig,
    old: Option<&InterfaceConfig>,
) {
    let dev = iface.name.as_str();
    if let Some(state) = link.ipv6 {
        let (disable, accept_ra) = match iface.ipv6 {
            Ipv6Config::Disabled => (1, state.accept_ra),
            Ipv6Config::Static { .. } => (0, 0),
            Ipv6Config::Auto if state.accept_ra == 0 => (0, 1),
            Ipv6Config::Auto => (0, state.accept_ra),
        };
        let sysctl = |key, value, previous| Step::Sysctl {
            dev: dev.into(),
            key,
            value,
            previous,
        };
        if disable != state.disabled {
            let step = sysctl(Ipv6Sysctl::DisableIpv6, disable, state.disabled);
            // Enable before adding addresses; disable once they are removed.
            match disable {
                0 => ph.enable.push(step),
                _ => ph.disable.push(step),
            }
        }
        if accept_ra != state.accept_ra {
            ph.enable
                .push(sysctl(Ipv6Sysctl::AcceptRa, accept_ra, state.accept_ra));
        }
    }
    let present = link.family(true);
    let present_routes = routes_of(current, dev, true);
    let mut f = Family {
        dev,
        owned: present.clone(),
        present,
        want: vec![],
        owned_routes: present_routes.clone(),
        present_routes,
        want_routes: vec![],
    };
    match &iface.ipv6 {
        Ipv6Config::Static { address, gateway } => {
            f.want = address.parse().ok().into_iter().collect();
            f.want_routes = gateway
                .map(|g| route(dev, IpAddr::V6(g), STATIC_V6_METRIC))
                .into_iter()
                .collect();
        }
        Ipv6Config::Disabled => {}
        Ipv6Config::Auto => f.own_only(old_v6(old)),
    }
    f.diff(ph);
}

/// An interface the new settings no longer mention: undo what the old ones did.
fn dropped_iface(ph: &mut Phases, current: &Observed, link: &Link, old: &InterfaceConfig) {
    let dev = old.name.as_str();
    let mut owned4 = Vec::new();
    if let Ipv4Config::Static { address, gateway } = &old.ipv4 {
        owned4.push((
            address.parse().ok(),
            gateway.map(|g| route(dev, IpAddr::V4(g), STATIC_V4_METRIC)),
        ));
    }
    if let Some(lease) = current.leases.get(dev) {
        owned4.push((Some(lease.cidr()), lease.route(dev)));
    }
    for (v6, owned) in [(false, owned4), (true, old_v6(Some(old)))] {
        let mut f = Family {
            dev,
            owned: vec![],
            present: link.family(v6),
            want: vec![],
            owned_routes: vec![],
            present_routes: routes_of(current, dev, v6),
            want_routes: vec![],
        };
        f.own_only(owned);
        f.diff(ph);
    }
}

/// The static IPv6 address and gateway of the old settings, if any.
fn old_v6(old: Option<&InterfaceConfig>) -> Owned {
    match old {
        Some(InterfaceConfig {
            name,
            ipv6: Ipv6Config::Static { address, gateway },
            ..
        }) => vec![(
            address.parse().ok(),
            gateway.map(|g| route(name, IpAddr::V6(g), STATIC_V6_METRIC)),
        )],
        _ => vec![],
    }
}
