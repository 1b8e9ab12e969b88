//! Menu entry 8: the firmware, USB offers, an install with its progress.

use model::control::{
    ControlRequest, ControlResponse, FirmwareStatus, InstallState, SlotStatus, UsbBundle,
};

use super::T;
use crate::machine::firmware::POLL;
use crate::machine::{Action, Outcome};

fn slot(name: &str, version: Option<&str>, ok: bool, booted: bool) -> SlotStatus {
    SlotStatus {
        name: name.into(),
        version: version.map(Into::into),
        ok,
        tries: 0,
        booted,
    }
}

fn offer(path: &str, version: &str, valid: bool, message: &str) -> UsbBundle {
    UsbBundle {
        path: path.into(),
        version: Some(version.into()),
        board: Some("filterbox-x86_64".into()),
        valid,
        message: message.into(),
    }
}

fn firmware(usb: Vec<UsbBundle>) -> FirmwareStatus {
    FirmwareStatus {
        version: "0.1.0".into(),
        board: "filterbox-x86_64".into(),
        boot_slot: Some("A".into()),
        slots: vec![
            slot("A", Some("0.1.0"), true, true),
            slot("B", Some("0.0.9"), true, false),
        ],
        next_boot: Some("A".into()),
        usb_bundles: usb,
        ..FirmwareStatus::default()
    }
}

fn reply_status(t: &mut T, s: FirmwareStatus) -> String {
    assert_eq!(t.action(), Action::Control(ControlRequest::FirmwareStatus));
    t.reply(Outcome::Control(ControlResponse::Firmware(Box::new(s))))
}

fn installing(done: u64, total: u64) -> FirmwareStatus {
    let mut s = firmware(vec![]);
    s.install = Some(InstallState::Installing {
        source: "/run/usb/sdb/new.fbu".into(),
        version: Some("0.2.0".into()),
        slot: Some("B".into()),
        done,
        total,
    });
    s
}

#[test]
fn without_a_stick_it_shows_the_slots_and_how_to_update() {
    let mut t = T::logged_in();
    t.line("8");
    let text = reply_status(&mut t, firmware(vec![]));
    assert!(
        text.contains("Firmware version 0.1.0, running from boot slot A."),
        "{text}"
    );
    assert!(text.contains("Other slot B: 0.0.9 (usable)."), "{text}");
    assert!(text.contains("No update on a USB stick."), "{text}");
    t.at_menu();
    // Not booted from a slot (a workstation).
    t.line("8");
    let mut s = firmware(vec![]);
    s.boot_slot = None;
    s.slots.clear();
    s.next_boot = None;
    let text = reply_status(&mut t, s);
    assert!(text.contains("not booted from a firmware slot"), "{text}");
}

#[test]
fn a_failed_update_is_announced() {
    let mut t = T::logged_in();
    t.line("8");
    let mut s = firmware(vec![]);
    s.slots[1] = slot("B", Some("0.2.0"), false, false);
    s.fallback = Some("update to version 0.2.0 failed to start; running 0.1.0 from slot A".into());
    let text = reply_status(&mut t, s);
    assert!(text.contains("Other slot B: 0.2.0 (abandoned)."), "{text}");
    assert!(
        text.contains("!! update to version 0.2.0 failed to start; running 0.1.0 from slot A"),
        "{text}"
    );
}

#[test]
fn a_usb_bundle_is_chosen_confirmed_installed_with_progress() {
    let mut t = T::logged_in();
    t.line("8");
    let text = reply_status(
        &mut t,
        firmware(vec![
            offer(
                "/run/usb/sdb/new.fbu",
                "0.2.0",
                true,
                "signed and whole; installs into slot B",
            ),
            offer(
                "/run/usb/sdb/old.fbu",
                "0.0.1",
                false,
                "older version 0.0.1 <= running 0.1.0 (use force to downgrade)",
            ),
        ]),
    );
    assert!(
        text.contains(" 1) version 0.2.0  /run/usb/sdb/new.fbu"),
        "{text}"
    );
    assert!(
        text.contains("    /run/usb/sdb/old.fbu: older version 0.0.1"),
        "{text}"
    );
    assert!(
        !text.contains(" 2)"),
        "only valid bundles are numbered: {text}"
    );
    t.asks(
        "Install which one? (number; empty: back to the menu): ",
        true,
    );
    assert!(t.line("2").contains("Enter a number from 1 to 1."));
    t.asks(
        "Install which one? (number; empty: back to the menu): ",
        true,
    );
    t.line("1");
    t.asks("Install version 0.2.0 and reboot into it? (y/n): ", true);
    assert!(t.line("maybe").contains("Please answer y or n."));
    t.line("y");
    assert_eq!(
        t.action(),
        Action::Control(ControlRequest::InstallBundle {
            path: "/run/usb/sdb/new.fbu".into(),
            force: false,
            reboot: true,
        })
    );
    let text = t.reply(Outcome::Control(ControlResponse::Ok {
        message: "verified version 0.2.0 for filterbox-x86_64; installing into slot B".into(),
    }));
    assert!(text.contains("installing into slot B."), "{text}");
    let mut lines = Vec::new();
    for (done, total) in [
        (0, 100 << 20),
        (5 << 20, 100 << 20),
        (30 << 20, 100 << 20),
        (31 << 20, 100 << 20),
    ] {
        assert_eq!(t.action(), Action::Sleep(POLL));
        t.reply(Outcome::Ok);
        let text = reply_status(&mut t, installing(done, total));
        lines.extend(text.lines().map(str::to_string));
    }
    assert_eq!(
        lines,
        vec![
            "  0% written (0 of 100 MiB)",
            " 30% written (30 of 100 MiB)"
        ],
        "one line per tenth"
    );
    assert_eq!(t.action(), Action::Sleep(POLL));
    t.reply(Outcome::Ok);
    let mut done = firmware(vec![]);
    done.install = Some(InstallState::Installed {
        source: "/run/usb/sdb/new.fbu".into(),
        version: "0.2.0".into(),
        slot: "B".into(),
        message: "installed 0.2.0 into slot B".into(),
    });
    let text = reply_status(&mut t, done);
    assert!(
        text.contains("installed 0.2.0 into slot B. Rebooting into it now..."),
        "{text}"
    );
    t.at_menu();
}

#[test]
fn refusals_and_failures_say_why_and_nothing_changes() {
    let mut t = T::logged_in();
    t.line("8");
    reply_status(
        &mut t,
        firmware(vec![offer("/run/usb/sdb/new.fbu", "0.2.0", true, "ok")]),
    );
    t.line("1");
    assert!(t.line("n").contains("Cancelled: nothing was installed."));
    t.at_menu();
    t.line("8");
    reply_status(
        &mut t,
        firmware(vec![offer("/run/usb/sdb/new.fbu", "0.2.0", true, "ok")]),
    );
    t.line("1");
    t.line("yes");
    let text = t.reply(Outcome::Control(ControlResponse::Error {
        message: "bad signature: the bundle is not signed by the key this firmware trusts".into(),
    }));
    assert!(text.contains("Refused: bad signature"), "{text}");
    t.at_menu();
    // Verified, then the stick was pulled mid-way.
    t.line("8");
    reply_status(
        &mut t,
        firmware(vec![offer("/run/usb/sdb/new.fbu", "0.2.0", true, "ok")]),
    );
    t.line("1");
    t.line("y");
    t.reply(Outcome::Control(ControlResponse::Ok {
        message: "verified".into(),
    }));
    t.reply(Outcome::Ok);
    let mut failed = firmware(vec![]);
    failed.install = Some(InstallState::Failed {
        source: "/run/usb/sdb/new.fbu".into(),
        message: "truncated at 10 of 20 bytes of the root filesystem".into(),
    });
    let text = reply_status(&mut t, failed);
    assert!(
        text.contains("Install failed: truncated at 10 of 20 bytes"),
        "{text}"
    );
    assert!(text.contains("the box keeps running 0.1.0."), "{text}");
    t.at_menu();
    // Only invalid bundles: nothing to choose.
    t.line("8");
    let text = reply_status(
        &mut t,
        firmware(vec![offer(
            "/run/usb/sdb/x.fbu",
            "0.3.0",
            false,
            "wrong board x (this box is y)",
        )]),
    );
    assert!(text.contains("None of them can be installed."), "{text}");
    t.at_menu();
}
