//! The box's serial-console menu (`filterbox console`), used as an
//! administrator at the serial port uses it: log in (or choose the first
//! password), open numbered entries, answer their questions.
//!
//! The texts waited for are the console's own prompts; a changed prompt
//! fails the test with the transcript, which is what it should do.

use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::serial::Serial;

/// The menu's prompt: the console is idle at the menu.
pub const MENU_PROMPT: &str = "Enter an option (? for the menu): ";

/// How long a console screen may take to answer (its requests go to the
/// supervisor and the manager; argon2 under emulation takes seconds).
pub const SCREEN_TIMEOUT: Duration = Duration::from_secs(90);

/// Logs in with `password`, choosing it first when the box has none yet
/// (a new or reset box); ends at the menu. Returns whether the password
/// was set now (true) or entered (false).
pub fn log_in(serial: &mut Serial, password: &str, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        // Enter wakes a console that showed its prompt before we came, and
        // retries one that could not reach the manager yet.
        serial.send_line("")?;
        let left = deadline.saturating_duration_since(Instant::now());
        let found = serial.expect_re(
            r"(New admin password: |Admin password: |Press Enter to try again: )",
            left,
        )?;
        match found.text.as_str() {
            "New admin password: " => {
                serial.send_line(password)?;
                serial.expect("Repeat the new password: ", SCREEN_TIMEOUT)?;
                serial.send_line(password)?;
                serial.expect("Admin password set", SCREEN_TIMEOUT)?;
                serial.expect(MENU_PROMPT, SCREEN_TIMEOUT)?;
                return Ok(true);
            }
            "Admin password: " => {
                serial.send_line(password)?;
                let answer = serial.expect_re(
                    r"(Logged in\.|Wrong password\.|Too many attempts[^\n]*)",
                    SCREEN_TIMEOUT,
                )?;
                if answer.text != "Logged in." {
                    return Err(HarnessError::Unexpected(format!(
                        "console login: {}",
                        answer.text
                    )));
                }
                serial.expect(MENU_PROMPT, SCREEN_TIMEOUT)?;
                return Ok(false);
            }
            _ => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

/// Opens menu entry `choice` and returns what it printed until the menu
/// prompt came back (for entries that ask nothing).
pub fn show(serial: &mut Serial, choice: &str) -> Result<String> {
    serial.send_line(choice)?;
    serial.expect(MENU_PROMPT, SCREEN_TIMEOUT)
}

/// Menu entry 2: gives `interface` the static IPv4 `address` (e.g.
/// `192.168.77.10/24`), no gateway, keeping DNS and the host name; returns
/// the screen's report (the interfaces as they now are).
pub fn set_static_address(serial: &mut Serial, interface: &str, address: &str) -> Result<String> {
    serial.send_line("2")?;
    let first = serial.expect_re(
        r"(Interface to configure [^\n]*: |IPv4 on (\S+): dhcp or static\? \S+: )",
        SCREEN_TIMEOUT,
    )?;
    if first.text.starts_with("Interface") {
        serial.send_line(interface)?;
        serial.expect(
            &format!("IPv4 on {interface}: dhcp or static?"),
            SCREEN_TIMEOUT,
        )?;
    } else if first.groups.get(1).and_then(Option::as_deref) != Some(interface) {
        return Err(HarnessError::Unexpected(format!(
            "the network screen offers only {:?}, not {interface}",
            first.groups
        )));
    }
    serial.send_line("static")?;
    serial.expect("IPv4 address/prefix", SCREEN_TIMEOUT)?;
    serial.send_line(address)?;
    serial.expect("Default gateway", SCREEN_TIMEOUT)?;
    serial.send_line("none")?;
    serial.expect("DNS servers", SCREEN_TIMEOUT)?;
    serial.send_line("")?;
    serial.expect("Host name [", SCREEN_TIMEOUT)?;
    serial.send_line("")?;
    serial.expect("Apply these settings now? (y/n): ", SCREEN_TIMEOUT)?;
    serial.send_line("y")?;
    let outcome = serial.expect_re(
        r"(The new settings are in force\.|Not applied: [^\n]*)",
        SCREEN_TIMEOUT,
    )?;
    if outcome.text.starts_with("Not applied") {
        return Err(HarnessError::Unexpected(format!(
            "network settings: {}",
            outcome.text
        )));
    }
    serial.expect(MENU_PROMPT, SCREEN_TIMEOUT)
}

/// Menu entry 11: erases the data partition; the box reboots.
pub fn factory_reset(serial: &mut Serial) -> Result<()> {
    serial.send_line("11")?;
    serial.expect("Type \"factory reset\"", SCREEN_TIMEOUT)?;
    serial.send_line("factory reset")?;
    serial.expect("erasing all data", SCREEN_TIMEOUT).map(drop)
}

/// Menu entry 9: reboots the box.
pub fn reboot(serial: &mut Serial) -> Result<()> {
    serial.send_line("9")?;
    serial.expect("Reboot the box now? (y/n): ", SCREEN_TIMEOUT)?;
    serial.send_line("y")?;
    serial.expect("rebooting", SCREEN_TIMEOUT).map(drop)
}

/// Menu entry 8 with a stick in: installs the offered bundle of `version`
/// and confirms; returns once the console says it reboots into it (or GRUB
/// boots it).
pub fn install_from_usb(serial: &mut Serial, version: &str, timeout: Duration) -> Result<()> {
    serial.send_line("8")?;
    let offer = serial.expect_re(
        &format!(
            r"(\s*(\d+)\) version {}\s|No update on a USB stick)",
            regex::escape(version)
        ),
        SCREEN_TIMEOUT,
    )?;
    let Some(number) = offer.groups.get(1).cloned().flatten() else {
        return Err(HarnessError::Unexpected(format!(
            "the firmware entry offers no version {version}: {}{}",
            offer.before, offer.text
        )));
    };
    serial.expect("Install which one?", SCREEN_TIMEOUT)?;
    serial.send_line(&number)?;
    serial.expect(
        &format!("Install version {version} and reboot into it? (y/n): "),
        SCREEN_TIMEOUT,
    )?;
    serial.send_line("y")?;
    // The console may not get to say so before the box reboots: GRUB
    // booting the new slot is the same news.
    let outcome = serial.expect_re(
        r"(Rebooting into it now|filterbox: booting slot|Install failed: [^\n]*|Refused: [^\n]*)",
        timeout,
    )?;
    if outcome.text.starts_with("Rebooting") || outcome.text.starts_with("filterbox: booting") {
        Ok(())
    } else {
        Err(HarnessError::Unexpected(format!(
            "USB install: {}",
            outcome.text
        )))
    }
}
