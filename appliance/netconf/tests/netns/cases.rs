//! Static settings applied for real, each test in its own network namespace
//! with a veth pair (`fb0` configured, `fb1` its peer, up).

use model::network::{InterfaceConfig, Ipv4Config, Ipv6Config, NetworkConfig};
use netconf::{apply, interfaces, NetError, NetOptions, RESOLV_HEADER};

use crate::support::{options, NetNs};

fn static_net(
    v4: &str,
    gw4: Option<&str>,
    v6: Option<(&str, &str)>,
    dns: &[&str],
) -> NetworkConfig {
    NetworkConfig {
        interfaces: vec![InterfaceConfig {
            name: "fb0".into(),
            ipv4: Ipv4Config::Static {
                address: v4.into(),
                gateway: gw4.map(|g| g.parse().unwrap()),
            },
            ipv6: match v6 {
                Some((address, gw)) => Ipv6Config::Static {
                    address: address.into(),
                    gateway: Some(gw.parse().unwrap()),
                },
                None => Ipv6Config::Auto,
            },
        }],
        dns: dns.iter().map(|d| d.parse().unwrap()).collect(),
        ntp: vec![],
    }
}

/// Addresses of `dev` and the routes of both families, order-independent.
fn snapshot(ns: &NetNs, dev: &str) -> Vec<String> {
    let brief = ns.ip(&["-br", "addr", "show", "dev", dev]);
    let mut out: Vec<String> = brief
        .split_whitespace()
        .skip(2)
        .map(|a| format!("addr {a}"))
        .collect();
    for family in ["-4", "-6"] {
        out.extend(
            ns.ip(&[family, "route", "show"])
                .lines()
                .map(|l| format!("route {l}")),
        );
    }
    out.sort();
    out
}

fn setup(ip: &[&str]) -> (NetNs, tempfile::TempDir, NetOptions) {
    let ns = NetNs::new();
    ns.veth("fb0", "fb1");
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), ip);
    (ns, dir, opts)
}

/// 1. Static IPv4 + gateway + IPv6 static + DNS.
pub fn static_settings_are_applied(ip: &[&str]) {
    let (ns, _dir, opts) = setup(ip);
    let net = static_net(
        "10.11.0.2/24",
        Some("10.11.0.1"),
        Some(("2001:db8:11::2/64", "2001:db8:11::1")),
        &["192.0.2.53", "2001:db8::53"],
    );
    let applied = ns.run(|| apply(&opts, "mx1", None, &net)).unwrap();
    assert!(!applied.changes.is_empty());
    let addrs = ns.ip(&["addr", "show", "dev", "fb0"]);
    assert!(
        addrs.contains("inet 10.11.0.2/24 brd 10.11.0.255"),
        "{addrs}"
    );
    assert!(addrs.contains("inet6 2001:db8:11::2/64"), "{addrs}");
    assert!(addrs.contains(",UP,"), "{addrs}");
    let v4 = ns.ip(&["-4", "route", "show", "default"]);
    assert!(v4.contains("default via 10.11.0.1 dev fb0"), "{v4}");
    let v6 = ns.ip(&["-6", "route", "show", "default"]);
    assert!(
        v6.contains("default via 2001:db8:11::1 dev fb0 metric 1024"),
        "{v6}"
    );
    assert_eq!(
        std::fs::read_to_string(&opts.resolv_conf).unwrap(),
        format!("{RESOLV_HEADER}\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n")
    );
    // Applying the same settings again changes nothing.
    let again = ns.run(|| apply(&opts, "mx1", Some(&net), &net)).unwrap();
    assert_eq!(again.changes, Vec::<String>::new());
}

/// 2. A step the kernel refuses midway: the old settings are back exactly.
pub fn a_failed_step_restores_the_old_settings(ip: &[&str]) {
    let (ns, _dir, opts) = setup(ip);
    let old = static_net(
        "10.12.0.2/24",
        Some("10.12.0.1"),
        Some(("2001:db8:12::2/64", "2001:db8:12::1")),
        &["192.0.2.53"],
    );
    ns.run(|| apply(&opts, "mx1", None, &old)).unwrap();
    let before = snapshot(&ns, "fb0");
    let resolv_before = std::fs::read_to_string(&opts.resolv_conf).unwrap();
    // The broadcast address of the new network passes validation, but the
    // kernel refuses it as a gateway, after the old addresses are gone.
    let new = static_net(
        "10.13.0.2/24",
        Some("10.13.0.255"),
        Some(("2001:db8:13::2/64", "2001:db8:13::1")),
        &["192.0.2.54"],
    );
    let err = ns
        .run(|| apply(&opts, "mx1", Some(&old), &new))
        .unwrap_err();
    match &err {
        NetError::StepFailed {
            step,
            output,
            rollback_failures,
        } => {
            assert_eq!(step, "add default route via 10.13.0.255 dev fb0 metric 0");
            assert!(output.contains("exited with"), "{output}");
            assert!(rollback_failures.is_empty(), "{rollback_failures:?}");
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.to_string().contains("previous settings were restored"));
    assert_eq!(snapshot(&ns, "fb0"), before);
    assert_eq!(
        std::fs::read_to_string(&opts.resolv_conf).unwrap(),
        resolv_before
    );

    // Invalid settings are refused before anything is touched.
    let mut missing = new.clone();
    missing.interfaces[0].name = "nope0".into();
    let err = ns
        .run(|| apply(&opts, "mx1", Some(&old), &missing))
        .unwrap_err();
    assert!(matches!(err, NetError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("nope0 does not exist"), "{err}");
    assert_eq!(snapshot(&ns, "fb0"), before);
}

/// 3. Static to another static: the old address goes, the new one comes.
pub fn static_to_static_replaces_the_address(ip: &[&str]) {
    let (ns, _dir, opts) = setup(ip);
    let first = static_net("10.14.0.2/24", Some("10.14.0.1"), None, &[]);
    let second = static_net("10.15.7.9/16", Some("10.15.0.1"), None, &["192.0.2.1"]);
    ns.run(|| apply(&opts, "mx1", None, &first)).unwrap();
    ns.run(|| apply(&opts, "mx1", Some(&first), &second))
        .unwrap();
    let addrs = ns.ip(&["-4", "addr", "show", "dev", "fb0"]);
    assert!(addrs.contains("inet 10.15.7.9/16"), "{addrs}");
    assert!(!addrs.contains("10.14.0.2"), "{addrs}");
    let routes = ns.ip(&["-4", "route", "show"]);
    assert!(routes.contains("default via 10.15.0.1 dev fb0"), "{routes}");
    assert!(!routes.contains("10.14."), "{routes}");
}

/// 5. interfaces() inside the namespace: the veth, its address and method.
pub fn interfaces_reports_the_veth() {
    let (ns, _dir, opts) = setup(crate::support::IPROUTE2);
    let net = static_net("10.16.0.2/24", None, None, &[]);
    let list = ns.run(|| {
        apply(&opts, "mx1", None, &net).unwrap();
        interfaces(Some(&net))
    });
    let mut names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["fb0", "fb1"], "{list:?}");
    let find = |name: &str| list.iter().find(|i| i.name == name).unwrap();
    let fb0 = find("fb0");
    assert!(fb0.up);
    assert_eq!(fb0.method, "static");
    assert_eq!(fb0.addresses[0], "10.16.0.2/24");
    assert!(fb0.addresses[1].starts_with("fe80::"), "{list:?}");
    assert_eq!(find("fb1").method, "unmanaged");
}

/// 6. The host name, inside a UTS namespace only; never set when a step fails.
pub fn hostname_is_set_in_a_uts_namespace() {
    let (ns, _dir, mut opts) = setup(crate::support::BUSYBOX);
    opts.set_hostname = true;
    let host_before = nix::unistd::gethostname().unwrap();
    let name = format!("fbnc-{}.example.test", std::process::id());
    let net = static_net("10.17.0.2/24", None, None, &[]);
    let broken = static_net("10.17.0.2/24", Some("10.17.0.255"), None, &[]);
    let (set, after_failure) = ns.run_uts(|| {
        apply(&opts, &name, None, &net).unwrap();
        let set = nix::unistd::gethostname().unwrap();
        let err = apply(&opts, "other-name", Some(&net), &broken).unwrap_err();
        assert!(matches!(err, NetError::StepFailed { .. }), "{err}");
        (set, nix::unistd::gethostname().unwrap())
    });
    assert_eq!(set.to_str(), Some(name.as_str()));
    assert_eq!(after_failure.to_str(), Some(name.as_str()));
    assert_eq!(nix::unistd::gethostname().unwrap(), host_before);
}
