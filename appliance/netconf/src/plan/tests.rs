//! Planning tests: observed state + settings in, exact steps out.

use super::*;

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn link(name: &str, addrs: &[&str]) -> Link {
    Link {
        name: name.into(),
        up: true,
        addresses: addrs.iter().map(|a| cidr(a)).collect(),
        ipv6: Some(Ipv6State {
            disabled: 0,
            accept_ra: 1,
        }),
    }
}

fn gw(dev: &str, g: &str, metric: u32) -> DefaultRoute {
    route(dev, g.parse().unwrap(), metric)
}

fn iface(name: &str, ipv4: Ipv4Config, ipv6: Ipv6Config) -> InterfaceConfig {
    InterfaceConfig {
        name: name.into(),
        ipv4,
        ipv6,
    }
}

fn v4(address: &str, gateway: Option<&str>) -> Ipv4Config {
    Ipv4Config::Static {
        address: address.into(),
        gateway: gateway.map(|g| g.parse().unwrap()),
    }
}

fn v6(address: &str, gateway: Option<&str>) -> Ipv6Config {
    Ipv6Config::Static {
        address: address.into(),
        gateway: gateway.map(|g| g.parse().unwrap()),
    }
}

fn net(interfaces: Vec<InterfaceConfig>) -> NetworkConfig {
    NetworkConfig {
        interfaces,
        dns: vec![],
        ntp: vec![],
    }
}

fn observed(links: Vec<Link>, routes: Vec<DefaultRoute>) -> Observed {
    Observed {
        links,
        routes,
        ..Observed::default()
    }
}

fn steps(current: &Observed, old: Option<&NetworkConfig>, new: &NetworkConfig) -> Vec<Step> {
    plan(
        current,
        &Target {
            network: new,
            old,
            hostname: None,
            files: vec![],
        },
    )
}

fn add(dev: &str, c: &str) -> Step {
    Step::AddAddress {
        dev: dev.into(),
        cidr: cidr(c),
    }
}

fn del(dev: &str, c: &str) -> Step {
    Step::DelAddress {
        dev: dev.into(),
        cidr: cidr(c),
    }
}

const LL: &str = "fe80::1:2ff:fe03:405/64";

#[test]
fn static_to_another_static_replaces_address_and_gateway() {
    let cur = observed(
        vec![link("eth0", &["192.0.2.10/24", LL])],
        vec![gw("eth0", "192.0.2.1", 0)],
    );
    let old = net(vec![iface(
        "eth0",
        v4("192.0.2.10/24", Some("192.0.2.1")),
        Ipv6Config::Auto,
    )]);
    let new = net(vec![iface(
        "eth0",
        v4("198.51.100.7/16", Some("198.51.0.1")),
        Ipv6Config::Auto,
    )]);
    assert_eq!(
        steps(&cur, Some(&old), &new),
        vec![
            Step::DelDefaultRoute(gw("eth0", "192.0.2.1", 0)),
            del("eth0", "192.0.2.10/24"),
            add("eth0", "198.51.100.7/16"),
            Step::AddDefaultRoute(gw("eth0", "198.51.0.1", 0)),
        ]
    );
    // Once there, nothing more to do.
    let there = observed(
        vec![link("eth0", &["198.51.100.7/16", LL])],
        vec![gw("eth0", "198.51.0.1", 0)],
    );
    assert!(steps(&there, Some(&new), &new).is_empty());
}

#[test]
fn a_prefix_change_is_a_new_address() {
    let cur = observed(vec![link("eth0", &["192.0.2.10/24"])], vec![]);
    let new = net(vec![iface(
        "eth0",
        v4("192.0.2.10/25", None),
        Ipv6Config::Auto,
    )]);
    assert_eq!(
        steps(&cur, None, &new),
        vec![del("eth0", "192.0.2.10/24"), add("eth0", "192.0.2.10/25")]
    );
}

#[test]
fn adding_and_removing_a_gateway_touches_only_the_route() {
    let cur = observed(vec![link("eth0", &["192.0.2.10/24"])], vec![]);
    let with = net(vec![iface(
        "eth0",
        v4("192.0.2.10/24", Some("192.0.2.1")),
        Ipv6Config::Auto,
    )]);
    let without = net(vec![iface(
        "eth0",
        v4("192.0.2.10/24", None),
        Ipv6Config::Auto,
    )]);
    assert_eq!(
        steps(&cur, Some(&without), &with),
        vec![Step::AddDefaultRoute(gw("eth0", "192.0.2.1", 0))]
    );
    let cur = observed(
        vec![link("eth0", &["192.0.2.10/24"])],
        vec![gw("eth0", "192.0.2.1", 0), gw("eth1", "10.0.0.1", 0)],
    );
    assert_eq!(
        steps(&cur, Some(&with), &without),
        vec![Step::DelDefaultRoute(gw("eth0", "192.0.2.1", 0))]
    );
}

#[test]
fn static_to_dhcp_removes_the_static_and_uses_the_lease_once_there() {
    let cur = observed(
        vec![link("eth0", &["192.0.2.10/24", "192.0.2.11/24"])],
        vec![gw("eth0", "192.0.2.1", 0)],
    );
    let old = net(vec![iface(
        "eth0",
        v4("192.0.2.10/24", Some("192.0.2.1")),
        Ipv6Config::Auto,
    )]);
    let new = net(vec![iface("eth0", Ipv4Config::Dhcp, Ipv6Config::Auto)]);
    // Secondary first: deleting the primary first would take it along.
    assert_eq!(
        steps(&cur, Some(&old), &new),
        vec![
            Step::DelDefaultRoute(gw("eth0", "192.0.2.1", 0)),
            del("eth0", "192.0.2.11/24"),
            del("eth0", "192.0.2.10/24"),
        ]
    );
    let mut with_lease = observed(
        vec![link("eth0", &["10.0.0.5/24"])],
        vec![gw("eth0", "10.0.0.1", 102)],
    );
    with_lease.leases.insert(
        "eth0".into(),
        Lease {
            address: "10.0.0.5".parse().unwrap(),
            prefix: 24,
            router: Some("10.0.0.1".parse().unwrap()),
            metric: 102,
            dns: vec![],
            domain: None,
        },
    );
    assert!(steps(&with_lease, Some(&new), &new).is_empty());
}

#[test]
fn ipv6_static_stops_router_advertisements_and_keeps_link_local() {
    let cur = observed(vec![link("eth0", &[LL])], vec![]);
    let new = net(vec![iface(
        "eth0",
        Ipv4Config::Disabled,
        v6("2001:db8::10/64", Some("fe80::1")),
    )]);
    assert_eq!(
        steps(&cur, None, &new),
        vec![
            Step::Sysctl {
                dev: "eth0".into(),
                key: Ipv6Sysctl::AcceptRa,
                value: 0,
                previous: 1,
            },
            add("eth0", "2001:db8::10/64"),
            Step::AddDefaultRoute(gw("eth0", "fe80::1", STATIC_V6_METRIC)),
        ]
    );
}

#[test]
fn ipv6_back_to_auto_removes_only_the_old_static() {
    let mut l = link(
        "eth0",
        &["2001:db8::10/64", "2001:db8::1:2ff:fe03:405/64", LL],
    );
    l.ipv6 = Some(Ipv6State {
        disabled: 0,
        accept_ra: 0,
    });
    let cur = observed(vec![l], vec![gw("eth0", "2001:db8::1", 1024)]);
    let old = net(vec![iface(
        "eth0",
        Ipv4Config::Disabled,
        v6("2001:db8::10/64", Some("2001:db8::1")),
    )]);
    let new = net(vec![iface("eth0", Ipv4Config::Disabled, Ipv6Config::Auto)]);
    assert_eq!(
        steps(&cur, Some(&old), &new),
        vec![
            Step::Sysctl {
                dev: "eth0".into(),
                key: Ipv6Sysctl::AcceptRa,
                value: 1,
                previous: 0,
            },
            Step::DelDefaultRoute(gw("eth0", "2001:db8::1", 1024)),
            del("eth0", "2001:db8::10/64"),
        ]
    );
}

#[test]
fn disabled_removes_everything_then_turns_ipv6_off() {
    let mut l = link("eth0", &["192.0.2.10/24", "2001:db8::10/64", LL]);
    l.up = false;
    let cur = observed(vec![l], vec![gw("eth0", "192.0.2.1", 0)]);
    let new = net(vec![iface(
        "eth0",
        Ipv4Config::Disabled,
        Ipv6Config::Disabled,
    )]);
    assert_eq!(
        steps(&cur, None, &new),
        vec![
            Step::DelDefaultRoute(gw("eth0", "192.0.2.1", 0)),
            del("eth0", "192.0.2.10/24"),
            del("eth0", "2001:db8::10/64"),
            Step::Sysctl {
                dev: "eth0".into(),
                key: Ipv6Sysctl::DisableIpv6,
                value: 1,
                previous: 0,
            },
        ]
    );
}

#[test]
fn a_down_link_comes_up_before_its_address() {
    let mut l = link("eth0", &[]);
    l.up = false;
    let new = net(vec![iface(
        "eth0",
        v4("192.0.2.10/24", None),
        Ipv6Config::Auto,
    )]);
    assert_eq!(
        steps(&observed(vec![l], vec![]), None, &new),
        vec![
            Step::LinkUp { dev: "eth0".into() },
            add("eth0", "192.0.2.10/24")
        ]
    );
}

#[test]
fn a_gateway_moving_between_interfaces_is_removed_before_it_is_added() {
    let cur = observed(
        vec![
            link("eth0", &["192.0.2.10/24"]),
            link("eth1", &["198.51.100.2/24"]),
        ],
        vec![gw("eth0", "192.0.2.1", 0)],
    );
    let old = net(vec![
        iface("eth1", v4("198.51.100.2/24", None), Ipv6Config::Auto),
        iface(
            "eth0",
            v4("192.0.2.10/24", Some("192.0.2.1")),
            Ipv6Config::Auto,
        ),
    ]);
    let new = net(vec![
        iface(
            "eth1",
            v4("198.51.100.2/24", Some("198.51.100.1")),
            Ipv6Config::Auto,
        ),
        iface("eth0", v4("192.0.2.10/24", None), Ipv6Config::Auto),
    ]);
    assert_eq!(
        steps(&cur, Some(&old), &new),
        vec![
            Step::DelDefaultRoute(gw("eth0", "192.0.2.1", 0)),
            Step::AddDefaultRoute(gw("eth1", "198.51.100.1", 0)),
        ]
    );
}

#[test]
fn a_dropped_interface_loses_only_what_the_settings_put_there() {
    let cur = observed(
        vec![
            link("eth0", &["192.0.2.10/24"]),
            link("eth1", &["198.51.100.2/24", "203.0.113.9/24"]),
        ],
        vec![gw("eth1", "198.51.100.1", 0)],
    );
    let keep = iface("eth0", v4("192.0.2.10/24", None), Ipv6Config::Auto);
    let old = net(vec![
        keep.clone(),
        iface(
            "eth1",
            v4("198.51.100.2/24", Some("198.51.100.1")),
            Ipv6Config::Auto,
        ),
    ]);
    assert_eq!(
        steps(&cur, Some(&old), &net(vec![keep])),
        vec![
            Step::DelDefaultRoute(gw("eth1", "198.51.100.1", 0)),
            del("eth1", "198.51.100.2/24"),
        ]
    );
}

#[test]
fn files_and_hostname_are_written_only_when_they_differ() {
    let mut cur = observed(vec![link("eth0", &["192.0.2.10/24"])], vec![]);
    cur.hostname = Some("old".into());
    cur.files.insert("/same".into(), Some("x\n".into()));
    let new = net(vec![iface(
        "eth0",
        v4("192.0.2.10/24", None),
        Ipv6Config::Auto,
    )]);
    let file = |path: &str| FileContents {
        path: path.into(),
        contents: "x\n".into(),
        mode: 0o644,
    };
    let s = plan(
        &cur,
        &Target {
            network: &new,
            old: None,
            hostname: Some("mx1"),
            files: vec![file("/same"), file("/new")],
        },
    );
    assert_eq!(
        s,
        vec![
            Step::WriteFile {
                path: "/new".into(),
                contents: "x\n".into(),
                previous: None,
                mode: 0o644
            },
            Step::SetHostname {
                name: "mx1".into(),
                previous: "old".into()
            },
        ]
    );
}

#[test]
fn a_lease_arrives_changes_and_goes() {
    let lease = |ip: &str| Lease {
        address: ip.parse().unwrap(),
        prefix: 24,
        router: Some("10.0.0.1".parse().unwrap()),
        metric: 102,
        dns: vec![],
        domain: None,
    };
    let empty = observed(vec![link("eth0", &[LL])], vec![]);
    assert_eq!(
        plan_lease(&empty, "eth0", Some(&lease("10.0.0.5")), &[]),
        vec![
            add("eth0", "10.0.0.5/24"),
            Step::AddDefaultRoute(gw("eth0", "10.0.0.1", 102)),
        ]
    );
    let bound = observed(
        vec![link("eth0", &["10.0.0.5/24", LL])],
        vec![gw("eth0", "10.0.0.1", 102)],
    );
    assert!(plan_lease(&bound, "eth0", Some(&lease("10.0.0.5")), &[]).is_empty());
    assert_eq!(
        plan_lease(&bound, "eth0", Some(&lease("10.0.0.6")), &[]),
        vec![
            Step::DelDefaultRoute(gw("eth0", "10.0.0.1", 102)),
            del("eth0", "10.0.0.5/24"),
            add("eth0", "10.0.0.6/24"),
            Step::AddDefaultRoute(gw("eth0", "10.0.0.1", 102)),
        ]
    );
    assert_eq!(
        plan_lease(&bound, "eth0", None, &[]),
        vec![
            Step::DelDefaultRoute(gw("eth0", "10.0.0.1", 102)),
            del("eth0", "10.0.0.5/24"),
        ]
    );
}
