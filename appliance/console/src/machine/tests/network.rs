//! Menu entry 2: the network settings.

use std::net::IpAddr;

use model::control::{ControlRequest, ControlResponse};
use model::network::{InterfaceConfig, Ipv4Config, Ipv6Config, NetworkConfig};

use super::{status, T};
use crate::machine::{Action, Failure, Input, Outcome};

fn iface(name: &str, ipv4: Ipv4Config) -> InterfaceConfig {
    InterfaceConfig {
        name: name.into(),
        ipv4,
        ipv6: Ipv6Config::Disabled,
    }
}

fn static4(address: &str, gateway: Option<&str>) -> Ipv4Config {
    Ipv4Config::Static {
        address: address.into(),
        gateway: gateway.map(|g| g.parse().unwrap()),
    }
}

fn current() -> NetworkConfig {
    NetworkConfig {
        interfaces: vec![iface("eth0", static4("192.0.2.10/24", Some("192.0.2.1")))],
        dns: vec!["192.0.2.53".parse().unwrap()],
        ntp: vec!["ntp.example.test".into()],
    }
}

/// Logged in, at the network screen's first question.
fn network_screen(net: NetworkConfig) -> T {
    let mut t = T::logged_in();
    t.line("2");
    assert_eq!(t.action(), Action::ReadSettings);
    t.reply(Outcome::Settings {
        hostname: "mx1.example.test".into(),
        network: Some(net),
    });
    t
}

/// The settings the console asks the supervisor to apply.
fn applied(t: &T) -> (String, NetworkConfig) {
    match t.action() {
        Action::Control(ControlRequest::ApplyNetwork { hostname, network }) => (hostname, network),
        other => panic!("expected apply_network, got {other:?}"),
    }
}

#[test]
fn static_address_happy_path() {
    let mut t = network_screen(current());
    for shown in [
        "Current network settings",
        "eth0       IPv4 static 192.0.2.10/24, gateway 192.0.2.1",
        "DNS        192.0.2.53",
    ] {
        assert!(t.text.contains(shown), "{shown:?} missing from\n{}", t.text);
    }
    t.asks("IPv4 on eth0: dhcp or static? [static]: ", true);
    t.line("static");
    t.asks(
        "IPv4 address/prefix, e.g. 192.0.2.10/24 [192.0.2.10/24]: ",
        true,
    );
    t.line("10.0.0.5/24");
    // The old gateway is outside the new network: no default offered.
    t.asks("Default gateway (none for no gateway): ", true);
    t.line("10.0.0.1");
    t.asks(
        "DNS servers, separated by spaces (none for no servers) [192.0.2.53]: ",
        true,
    );
    t.line("10.0.0.53, 10.0.0.54");
    t.asks("Host name [mx1.example.test]: ", true);
    t.line("MX2.Example.Test");
    for shown in [
        "New network settings",
        "Host name  mx2.example.test",
        "eth0       IPv4 static 10.0.0.5/24, gateway 10.0.0.1",
        "DNS        10.0.0.53 10.0.0.54",
    ] {
        assert!(t.text.contains(shown), "{shown:?} missing from\n{}", t.text);
    }
    t.asks("Apply these settings now? (y/n): ", true);
    t.line("y");
    let (hostname, network) = applied(&t);
    assert_eq!(hostname, "mx2.example.test");
    assert_eq!(
        network,
        NetworkConfig {
            interfaces: vec![iface("eth0", static4("10.0.0.5/24", Some("10.0.0.1")))],
            dns: vec!["10.0.0.53".parse().unwrap(), "10.0.0.54".parse().unwrap()],
            ntp: vec!["ntp.example.test".into()],
        }
    );
    let text = t.reply(Outcome::Control(ControlResponse::Ok {
        message: "network settings applied".into(),
    }));
    assert!(
        text.contains("The new settings are in force.\nnetwork settings applied\n"),
        "{text}"
    );
    assert_eq!(t.action(), Action::Control(ControlRequest::Status));
    let text = t.reply(status(&["10.0.0.5/24"]));
    assert!(
        text.contains("Interfaces now:\n")
            && text.contains("eth0       up   static    10.0.0.5/24"),
        "{text}"
    );
    t.at_menu();
}

#[test]
fn empty_answers_keep_the_current_values() {
    let mut t = network_screen(current());
    for _ in 0..5 {
        t.line("");
    }
    t.asks("Apply these settings now? (y/n): ", true);
    t.line("yes");
    assert_eq!(applied(&t), ("mx1.example.test".into(), current()));
}

#[test]
fn each_invalid_field_is_refused_precisely_and_asked_again() {
    let mut t = network_screen(current());
    assert!(t.line("bootp").contains("\"bootp\": type dhcp or static."));
    t.asks("dhcp or static? [static]: ", true);
    t.line("s");
    for (bad, message) in [
        ("10.0.0.300/24", "\"10.0.0.300\" is not an IP address"),
        (
            "10.0.0.5/33",
            "prefix length \"33\" must be a number from 0 to 32",
        ),
        ("10.0.0.5", "needs a prefix length"),
        ("10.0.0.5/0", "eth0: IPv4 prefix must be from 1 to 32"),
        ("2001:db8::5/64", "2001:db8::5/64 is not an IPv4 address"),
    ] {
        let text = t.line(bad);
        assert!(text.contains(message), "{bad}: {text}");
        t.asks(
            "IPv4 address/prefix, e.g. 192.0.2.10/24 [192.0.2.10/24]: ",
            true,
        );
    }
    t.line("10.0.0.5/24");
    for (bad, message) in [
        (
            "10.1.0.1",
            "eth0: gateway 10.1.0.1 is not another host of 10.0.0.5/24",
        ),
        (
            "10.0.0.5",
            "eth0: gateway 10.0.0.5 is not another host of 10.0.0.5/24",
        ),
        ("gateway", "\"gateway\" is not an IPv4 address"),
        ("fe80::1", "\"fe80::1\" is not an IPv4 address"),
    ] {
        let text = t.line(bad);
        assert!(text.contains(message), "{bad}: {text}");
        t.asks("Default gateway (none for no gateway): ", true);
    }
    t.line("none");
    for (bad, message) in [
        ("10.0.0.53 1.2.3", "\"1.2.3\" is not an IP address."),
        ("1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4", "At most 3 DNS servers"),
    ] {
        let text = t.line(bad);
        assert!(text.contains(message), "{bad}: {text}");
        t.asks("[192.0.2.53]: ", true);
    }
    t.line("none");
    for bad in ["bad host", "-mx.example.test", "mx..example.test"] {
        let text = t.line(bad);
        assert!(text.contains("invalid domain"), "{bad}: {text}");
        t.asks("Host name [mx1.example.test]: ", true);
    }
    t.line("");
    t.line("y");
    // Only the accepted values made it.
    let (hostname, network) = applied(&t);
    assert_eq!(hostname, "mx1.example.test");
    assert_eq!(network.interfaces[0].ipv4, static4("10.0.0.5/24", None));
    assert_eq!(network.dns, Vec::<IpAddr>::new());
}

#[test]
fn dhcp_skips_the_address_questions() {
    let mut t = network_screen(current());
    t.line("dhcp");
    t.asks(
        "DNS servers, separated by spaces (none for no servers) [192.0.2.53]: ",
        true,
    );
    t.line("");
    t.line("");
    assert!(t.text.contains("eth0       IPv4 DHCP"), "{}", t.text);
    t.line("y");
    let (_, network) = applied(&t);
    assert_eq!(network.interfaces[0].ipv4, Ipv4Config::Dhcp);

    // From DHCP to static, an address must be typed: there is none to keep.
    let mut t = network_screen(NetworkConfig::dhcp_on("eth0"));
    t.asks("dhcp or static? [dhcp]: ", true);
    t.line("static");
    t.asks("IPv4 address/prefix, e.g. 192.0.2.10/24: ", true);
    assert!(t.line("").contains("An address is needed"));
    t.asks("IPv4 address/prefix, e.g. 192.0.2.10/24: ", true);
}

#[test]
fn several_interfaces_ask_which_one() {
    let mut net = current();
    net.interfaces.push(iface("eth1", Ipv4Config::Dhcp));
    let mut t = network_screen(net);
    t.asks("Interface to configure (eth0, eth1) [eth0]: ", true);
    assert!(t.line("eth9").contains("No managed interface \"eth9\"."));
    t.line("eth1");
    t.asks("IPv4 on eth1: dhcp or static? [dhcp]: ", true);
    t.line("static");
    t.line("198.51.100.7/24");
    t.line("");
    t.line("");
    t.line("");
    t.line("y");
    let (_, network) = applied(&t);
    assert_eq!(network.interfaces[0], current().interfaces[0]);
    assert_eq!(network.interfaces[1].ipv4, static4("198.51.100.7/24", None));
}

#[test]
fn a_failed_apply_says_the_old_settings_stay() {
    for answer in [
        Outcome::Control(ControlResponse::Error {
            message: "ip: RTNETLINK answers: File exists".into(),
        }),
        Outcome::Failed(Failure::new("cannot reach the supervisor at control.sock")),
    ] {
        let mut t = network_screen(current());
        for _ in 0..5 {
            t.line("");
        }
        t.line("y");
        let text = t.reply(answer);
        assert!(text.contains("Not applied: "), "{text}");
        assert!(
            text.contains("The old settings are still in force."),
            "{text}"
        );
        t.at_menu();
    }
}

#[test]
fn confirmation_no_changes_nothing() {
    let mut t = network_screen(current());
    for _ in 0..5 {
        t.line("");
    }
    assert!(t.line("ok?").contains("Please answer y or n."));
    t.asks("Apply these settings now? (y/n): ", true);
    assert!(t.line("n").contains("Cancelled: nothing changed."));
    t.at_menu();
}

#[test]
fn ctrl_c_mid_screen_returns_to_the_menu() {
    let mut t = network_screen(current());
    t.line("static");
    t.line("10.0.0.5/24");
    let text = t.send(Input::Interrupt);
    assert!(text.starts_with("Cancelled.\n"), "{text}");
    t.at_menu();
    // The next line is a menu choice again, not a gateway.
    t.line("10.0.0.1");
    assert!(t.text.contains("No option \"10.0.0.1\""), "{}", t.text);
}

#[test]
fn a_box_without_network_settings_says_so() {
    let mut t = T::logged_in();
    t.line("2");
    let text = t.reply(Outcome::Settings {
        hostname: "h".into(),
        network: None,
    });
    assert!(text.contains("does not manage its network"), "{text}");
    t.at_menu();
}
