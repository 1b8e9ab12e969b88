//! The menu and every entry but the network.

use model::api::{AdminNetworks, Counters, Domain, HourCounters, MailStats};
use model::control::{ControlRequest, ControlResponse, ProcessStatus};

use super::{api_error, status, T};
use crate::machine::{Action, ApiCall, Failure, Input, Outcome, Secret};

#[test]
fn the_menu_is_shown_again_on_question_mark_or_empty_line() {
    let mut t = T::logged_in();
    for line in ["?", ""] {
        let text = t.line(line);
        assert!(
            text.contains(" 1) Status") && text.contains("11) Factory reset"),
            "{text}"
        );
        t.at_menu();
    }
    let text = t.line("42");
    assert!(
        text.contains("No option \"42\": enter a number from 0 to 11"),
        "{text}"
    );
    assert!(!text.contains(" 1) Status"));
    t.at_menu();
}

#[test]
fn garbage_input_is_reported_and_changes_nothing() {
    let mut t = T::logged_in();
    let text = t.send(Input::Invalid(
        "Ignored: the line is not valid UTF-8 text.".into(),
    ));
    assert!(
        text.starts_with("Ignored: the line is not valid UTF-8 text.\n"),
        "{text}"
    );
    t.at_menu();
    // Mid-screen, the same prompt comes back and the screen goes on.
    t.line("3");
    t.send(Input::Invalid(
        "Ignored: the line held control characters.".into(),
    ));
    t.asks("(empty: back to the menu): ", true);
    t.line("192.0.2.1");
    assert_eq!(t.action(), Action::Ping("192.0.2.1".into()));
}

#[test]
fn status_shows_the_box_processes_and_counters() {
    let mut t = T::logged_in();
    t.line("1");
    assert_eq!(t.action(), Action::Control(ControlRequest::Status));
    let Outcome::Control(ControlResponse::Status(mut s)) = status(&["192.0.2.10/24"]) else {
        unreachable!()
    };
    s.processes.push(ProcessStatus {
        name: "mta".into(),
        state: "crash-loop".into(),
        pid: None,
        restarts: 7,
        rss_kib: None,
    });
    let mut text = t.reply(Outcome::Control(ControlResponse::Status(s)));
    assert_eq!(t.action(), Action::Api(ApiCall::Stats));
    let hour = |received| HourCounters {
        hour: 0,
        counters: Counters {
            received,
            delivered: 1,
            ..Default::default()
        },
    };
    text += &t.reply(Outcome::Stats(MailStats {
        total: Counters {
            received: 120,
            quarantined: 4,
            ..Default::default()
        },
        hours: vec![hour(2), hour(3)],
    }));
    for needle in [
        "Version    7.1.2+gtest",
        "Boot slot  A",
        "Host name  mx1.example.test",
        "Uptime     2 d 3 h 4 min",
        "  eth0       up   static    192.0.2.10/24",
        "  manager      healthy     pid 42       restarts 0",
        "!!mta          crash-loop  pid -        restarts 7",
        "!! CRASH LOOP: mta keeps dying",
        "  received          120          5",
        "  delivered           0          2",
        "  quarantined         4          0",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from\n{text}");
    }
    assert!(!text.contains("All processes healthy"));
    t.at_menu();
}

#[test]
fn status_without_the_supervisor_still_shows_the_counters() {
    let mut t = T::logged_in();
    t.line("1");
    let text = t.reply(Outcome::Failed(Failure::new(
        "cannot reach the supervisor at control.sock",
    )));
    assert!(
        text.contains("Cannot get the status from the supervisor: cannot reach"),
        "{text}"
    );
    let text = t.reply(Outcome::Stats(MailStats::default()));
    assert!(
        text.contains("  received            0          0"),
        "{text}"
    );
    t.at_menu();
}

#[test]
fn ping_validates_the_host() {
    let mut t = T::logged_in();
    t.line("3");
    for bad in ["-c 1000 192.0.2.1", "host;reboot", "10.0.0.300", "-c"] {
        assert!(
            t.line(bad)
                .contains("is neither an IP address nor a host name"),
            "{bad}"
        );
        t.asks("(empty: back to the menu): ", true);
    }
    t.line("Gateway.Example.Test");
    assert_eq!(t.action(), Action::Ping("gateway.example.test".into()));
    let text = t.reply(Outcome::Ping {
        output: "3 packets transmitted, 0 received".into(),
        answered: false,
    });
    assert!(text.contains("0 received\nNo answer.\n"), "{text}");
    t.at_menu();
    t.line("3");
    t.line("");
    t.at_menu();
}

#[test]
fn smtp_test_shows_the_transcript() {
    let mut t = T::logged_in();
    t.line("4");
    assert!(t
        .line("mx.example.test:99999")
        .contains("Port \"99999\" must be a number"));
    t.line("mx.example.test:2525");
    assert_eq!(
        t.action(),
        Action::SmtpTest {
            host: "mx.example.test".into(),
            port: 2525
        }
    );
    let text = t.reply(Outcome::Transcript("S: 220 mx ESMTP\nC: QUIT\n".into()));
    assert!(text.starts_with("S: 220 mx ESMTP\nC: QUIT\n"), "{text}");
    t.at_menu();
}

#[test]
fn reset_password_sets_it_without_the_old_one() {
    let mut t = T::logged_in();
    t.line("5");
    t.asks("New admin password: ", false);
    assert!(t.line("").contains("Password unchanged."));
    t.at_menu();
    t.line("5");
    t.line("new password 1");
    t.line("new password 2");
    assert!(t.text.contains("differ"));
    t.line("new password 1");
    t.line("new password 1");
    assert_eq!(
        t.action(),
        Action::Api(ApiCall::SetPassword(Secret::new("new password 1")))
    );
    assert!(t.reply(Outcome::Ok).contains("Admin password changed."));
    t.at_menu();
}

#[test]
fn admin_networks_are_validated_and_set() {
    let mut t = T::logged_in();
    t.line("6");
    assert_eq!(t.action(), Action::Api(ApiCall::AdminNetworks));
    let text = t.reply(Outcome::AdminNetworks(AdminNetworks { networks: vec![] }));
    assert!(text.contains("open to: any network"), "{text}");
    let text = t.line("10.0.0.0/8 192.168.1.0/33");
    assert!(
        text.contains("prefix length \"33\" must be a number from 0 to 32"),
        "{text}"
    );
    t.asks("(empty: keep them): ", true);
    t.line("192.168.1.0/24, 2001:db8::/32");
    let nets = vec!["192.168.1.0/24".to_string(), "2001:db8::/32".to_string()];
    assert_eq!(
        t.action(),
        Action::Api(ApiCall::SetAdminNetworks(nets.clone()))
    );
    let text = t.reply(Outcome::AdminNetworks(AdminNetworks { networks: nets }));
    assert!(
        text.contains("now open to: 192.168.1.0/24 2001:db8::/32"),
        "{text}"
    );
    t.at_menu();

    t.line("6");
    t.reply(Outcome::AdminNetworks(AdminNetworks {
        networks: vec!["10.0.0.0/8".into()],
    }));
    t.line("any");
    assert_eq!(t.action(), Action::Api(ApiCall::SetAdminNetworks(vec![])));
    assert!(t
        .reply(api_error(422, "networks: too many"))
        .contains("networks: too many"));
    t.asks("(empty: keep them): ", true);
    assert!(t.line("").contains("Unchanged."));
    t.at_menu();
}

fn domain(name: &str) -> Domain {
    Domain {
        provisioning: Default::default(),
        relay_networks: Default::default(),
        tls: Default::default(),
        name: name.into(),
        delivery: vec![],
        created: 0,
    }
}

#[test]
fn mx_records_for_every_domain_and_address() {
    let mut t = T::logged_in();
    t.line("7");
    assert_eq!(t.action(), Action::Api(ApiCall::Domains));
    t.reply(Outcome::Domains(vec![
        domain("example.test"),
        domain("other.test"),
    ]));
    assert_eq!(t.action(), Action::Control(ControlRequest::Status));
    let text = t.reply(status(&["192.0.2.10/24", "fe80::1/64", "2001:db8::10/64"]));
    let records: Vec<&str> = text.lines().filter(|l| l.contains(" IN ")).collect();
    assert_eq!(
        records,
        [
            "example.test. IN MX 10 mx1.example.test.",
            "other.test. IN MX 10 mx1.example.test.",
            "mx1.example.test. IN A 192.0.2.10",
            "mx1.example.test. IN AAAA 2001:db8::10",
        ]
    );
    t.at_menu();

    t.line("7");
    assert!(t.reply(Outcome::Domains(vec![])).contains("No domains yet"));
    t.at_menu();
    t.line("7");
    t.reply(Outcome::Domains(vec![domain("example.test")]));
    assert!(t.reply(status(&[])).contains("No usable address"));
}

#[test]
fn reboot_and_shutdown_are_confirmed() {
    for (entry, request) in [
        ("9", ControlRequest::Reboot),
        ("10", ControlRequest::Shutdown),
    ] {
        let mut t = T::logged_in();
        t.line(entry);
        t.asks("now? (y/n): ", true);
        assert!(t.line("maybe").contains("Please answer y or n."));
        t.asks("now? (y/n): ", true);
        assert!(t.line("n").contains("Cancelled."));
        t.at_menu();
        t.line(entry);
        t.line("YES");
        assert_eq!(t.action(), Action::Control(request));
        let text = t.reply(Outcome::Control(ControlResponse::Ok {
            message: "going down".into(),
        }));
        assert!(text.contains("going down"), "{text}");
        t.at_menu();
    }
}

#[test]
fn factory_reset_needs_the_exact_words() {
    let mut t = T::logged_in();
    for answer in [
        "y",
        "yes",
        "Factory Reset",
        "factory  reset",
        " factory reset",
        "",
    ] {
        t.line("11");
        assert!(t.text.contains("erases the data partition"));
        let text = t.line(answer);
        assert!(
            text.contains("Cancelled: nothing was erased."),
            "{answer:?}: {text}"
        );
        t.at_menu();
    }
    t.line("11");
    t.line("factory reset");
    assert_eq!(t.action(), Action::Control(ControlRequest::FactoryReset));
    let text = t.reply(Outcome::Control(ControlResponse::Error {
        message: "not on a workstation".into(),
    }));
    assert!(text.contains("Refused: not on a workstation"), "{text}");
    t.at_menu();
}

#[test]
fn ctrl_c_returns_to_the_menu_from_any_screen() {
    for entry in ["3", "4", "5", "9", "10", "11"] {
        let mut t = T::logged_in();
        t.line(entry);
        assert!(
            matches!(t.next, crate::machine::Next::ReadLine { .. }),
            "{entry}"
        );
        let text = t.send(Input::Interrupt);
        assert!(text.starts_with("Cancelled.\n"), "{entry}: {text}");
        t.at_menu();
        // The menu works on.
        t.line("8");
        assert_eq!(t.action(), Action::Control(ControlRequest::FirmwareStatus));
    }
}
