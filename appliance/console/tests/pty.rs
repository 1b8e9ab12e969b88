//! Console sessions on a real pty against a real manager (no supervisor:
//! its screens must say so and go on).

mod common;

use std::time::Duration;

use common::{ended, set_password, TestBox, WAIT};
use console::SessionEnd;
use model::api::AdminNetworks;
use test_harness::pty::Expect;

const MENU_PROMPT: &str = "Enter an option (? for the menu): ";
const LONG: Duration = Duration::from_secs(600);

#[test]
fn first_boot_menu_entries_and_log_out() {
    let b = TestBox::start(5, Duration::from_secs(30));
    let mut pty = Expect::open().unwrap();
    let session = b.session(&pty, false, LONG);

    pty.expect("No admin password is set yet", WAIT);
    pty.expect("New admin password: ", WAIT);
    pty.send("short\r");
    pty.expect("Too short: at least 8 characters (this one has 5).", WAIT);
    pty.send("first-secret\r");
    pty.expect("Repeat the new password: ", WAIT);
    pty.send("first-secret\r");
    pty.expect("Admin password set", WAIT);
    pty.expect(MENU_PROMPT, WAIT);
    assert!(
        !pty.transcript().contains("secret"),
        "a password was echoed"
    );
    b.api().verify_admin_password("first-secret").unwrap();

    // 6: admin networks, with a refused entry first.
    pty.send("6\r");
    pty.expect("open to: any network", WAIT);
    pty.send("192.168.1.0/24 10.0.0.0/33\r");
    pty.expect("prefix length \"33\" must be a number from 0 to 32", WAIT);
    pty.send("192.168.1.0/24\r");
    pty.expect("now open to: 192.168.1.0/24", WAIT);
    pty.expect(MENU_PROMPT, WAIT);
    assert_eq!(
        b.api().admin_networks().unwrap(),
        AdminNetworks {
            networks: vec!["192.168.1.0/24".into()]
        }
    );

    // 1: no supervisor here, but the manager's counters still show.
    pty.send("1\r");
    pty.expect(
        "Cannot get the status from the supervisor: cannot reach the supervisor",
        WAIT,
    );
    pty.expect("  received ", WAIT);
    pty.expect(MENU_PROMPT, WAIT);

    // Garbage changes nothing and says why; Backspace edits.
    pty.send_bytes(b"\x1b[A\r");
    pty.expect("control characters", WAIT);
    pty.expect(MENU_PROMPT, WAIT);
    pty.send_bytes(b"9\xff\r");
    pty.expect("not valid UTF-8", WAIT);
    pty.expect(MENU_PROMPT, WAIT);
    pty.send_bytes(b"99\x7f\r");
    pty.expect("Reboot the box now? (y/n): ", WAIT);
    pty.send("\x03");
    pty.expect("Cancelled.", WAIT);
    pty.expect(MENU_PROMPT, WAIT);

    // 5: reset the password, no old one needed.
    pty.send("5\r");
    pty.expect("New admin password: ", WAIT);
    pty.send("second-secret\r");
    pty.send("second-secret\r");
    pty.expect("Admin password changed.", WAIT);
    pty.expect(MENU_PROMPT, WAIT);
    b.api().verify_admin_password("second-secret").unwrap();

    pty.send("0\r");
    pty.expect("Logged out.", WAIT);
    assert_eq!(ended(session), SessionEnd::LoggedOut);
    // Output lines end in CRLF, and nothing but plain ASCII was sent.
    let t = pty.transcript();
    assert!(t.contains("Logged out.\r\n"));
    assert!(
        t.bytes()
            .all(|b| b == b'\r' || b == b'\n' || b == 8 || (0x20..0x7f).contains(&b)),
        "{t:?}"
    );
}

#[test]
fn the_console_waits_for_a_box_that_is_still_starting() {
    let mut b = TestBox::unstarted();
    // The last run's socket file: connections to it are refused.
    drop(std::os::unix::net::UnixListener::bind(&b.config.manager.api_socket).unwrap());
    let mut pty = Expect::open().unwrap();
    let session = b.session(&pty, false, LONG);
    // No supervisor here: no version rather than a wrong one.
    pty.expect("filterbox serial console\r\n", WAIT);
    pty.expect("Waiting for the box to start...\r\n", WAIT);
    // Ctrl-C is heard during the wait: the console asks again at once.
    pty.send("\x03");
    pty.expect("^C\r\nWaiting for the box to start...\r\n", WAIT);
    // A few attempts pass silently; then the manager comes up.
    assert_eq!(pty.drain(Duration::from_millis(2500)), "");
    b.start_manager(5, Duration::from_secs(30));
    pty.expect("No admin password is set yet", WAIT);
    pty.expect("New admin password: ", WAIT);
    let t = pty.transcript();
    assert_eq!(t.matches("Waiting for the box").count(), 2, "{t:?}");
    assert!(
        !t.contains("Cannot check") && !t.contains("Press Enter"),
        "{t:?}"
    );
    pty.send("first-secret\r");
    pty.expect("Repeat the new password: ", WAIT);
    drop(pty);
    assert_eq!(ended(session), SessionEnd::HangUp);
}

#[test]
fn login_is_throttled_and_a_hang_up_ends_the_session() {
    let b = TestBox::start(2, Duration::from_secs(3));
    set_password(&b.api(), "right-password");
    let mut pty = Expect::open().unwrap();
    let session = b.session(&pty, false, LONG);

    pty.expect("Admin password: ", WAIT);
    pty.send("wrong-password\r");
    pty.expect("Wrong password.", WAIT);
    pty.send("wrong-again\r");
    pty.expect("Wrong password.", WAIT);
    pty.send("right-password\r");
    pty.expect("Too many attempts, try again in ", WAIT);
    pty.expect("Admin password: ", WAIT);
    std::thread::sleep(Duration::from_secs(4));
    pty.send("right-password\r");
    pty.expect("Logged in.", WAIT);
    pty.expect(MENU_PROMPT, WAIT);
    let t = pty.transcript();
    assert!(
        !t.contains("right-") && !t.contains("wrong-"),
        "a password was echoed: {t:?}"
    );

    // The cable is pulled: the session ends instead of spinning.
    drop(pty);
    assert_eq!(ended(session), SessionEnd::HangUp);
}

#[test]
fn idle_sessions_are_logged_out() {
    let b = TestBox::start(5, Duration::from_secs(30));
    set_password(&b.api(), "right-password");
    let mut pty = Expect::open().unwrap();
    let session = b.session(&pty, false, Duration::from_secs(2));
    pty.expect("Admin password: ", WAIT);
    pty.send("right-password\r");
    pty.expect(MENU_PROMPT, WAIT);
    pty.expect("Logged out: no input for too long.", WAIT);
    assert_eq!(ended(session), SessionEnd::LoggedOut);
}

#[test]
fn recovery_mode_sets_a_new_password_without_the_old_one() {
    let b = TestBox::start(5, Duration::from_secs(30));
    set_password(&b.api(), "forgotten-password");
    let mut pty = Expect::open().unwrap();
    let session = b.session(&pty, true, LONG);
    pty.expect("Recovery mode", WAIT);
    pty.expect("New admin password: ", WAIT);
    pty.send("recovered-password\r");
    pty.expect("Repeat the new password: ", WAIT);
    pty.send("recovered-password\r");
    pty.expect("Admin password changed.", WAIT);
    pty.expect(" 1) Status", WAIT);
    pty.expect(MENU_PROMPT, WAIT);
    b.api().verify_admin_password("recovered-password").unwrap();
    assert_eq!(
        b.api()
            .verify_admin_password("forgotten-password")
            .unwrap_err()
            .status(),
        Some(401)
    );
    pty.send("0\r");
    assert_eq!(ended(session), SessionEnd::LoggedOut);
}
