//! Menu entry 8: the firmware. Shows what runs and from which slot, what
//! is in the other slot, a notice when the last update failed to start,
//! and the update bundles found on USB sticks; installs the chosen one on
//! confirmation, showing its progress, after which the box reboots into it.

use std::time::Duration;

use model::control::{ControlRequest, ControlResponse, FirmwareStatus, InstallState, UsbBundle};

use super::{unexpected, yes_no, Action, Flow, Out, Outcome, Screen};

/// Pause between two looks at an install's progress.
pub(super) const POLL: Duration = Duration::from_secs(1);

/// Where the screen stands.
#[derive(Debug, Default)]
enum Phase {
    /// Asking the supervisor for the firmware status.
    #[default]
    Reading,
    /// Waiting for the number of a bundle.
    Choosing(Vec<UsbBundle>),
    /// Waiting for y/n about this bundle.
    Confirming(UsbBundle),
    /// Asked the supervisor to install it.
    Starting,
    /// Pausing, then asking for the progress; the last tenth shown.
    Waiting(Option<u64>),
    /// Asked for the progress.
    Polling(Option<u64>),
}

/// The firmware screen.
#[derive(Debug, Default)]
pub(super) struct Firmware {
    phase: Phase,
}

impl Screen for Firmware {
    fn start(&mut self, out: &mut Out) -> Flow {
        out.perform(Action::Control(ControlRequest::FirmwareStatus));
        Flow::Stay
    }

    fn line(&mut self, line: &str, out: &mut Out) -> Flow {
        match std::mem::take(&mut self.phase) {
            Phase::Choosing(valid) => self.choose(line, valid, out),
            Phase::Confirming(bundle) => self.confirm(line, bundle, out),
            other => {
                self.phase = other;
                Flow::Stay
            }
        }
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        match std::mem::take(&mut self.phase) {
            Phase::Reading => self.show(outcome, out),
            Phase::Starting => match outcome {
                Outcome::Control(ControlResponse::Ok { message }) => {
                    out.say(&format!("{message}."));
                    self.wait(None, out)
                }
                Outcome::Control(ControlResponse::Error { message }) => {
                    out.say(&format!("Refused: {message}"));
                    Flow::Menu
                }
                other => unexpected("The supervisor did not answer", &other, out),
            },
            Phase::Waiting(shown) => {
                self.phase = Phase::Polling(shown);
                out.perform(Action::Control(ControlRequest::FirmwareStatus));
                Flow::Stay
            }
            Phase::Polling(shown) => self.progress(outcome, shown, out),
            other => {
                self.phase = other;
                Flow::Stay
            }
        }
    }
}

impl Firmware {
    fn show(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        let s = match outcome {
            Outcome::Control(ControlResponse::Firmware(s)) => s,
            other => return unexpected("Cannot get the firmware status", &other, out),
        };
        out.text.push_str(&render(&s));
        if let Some(InstallState::Installing { .. }) = &s.install {
            out.say("An install is under way; its progress follows.");
            return self.wait(None, out);
        }
        if s.usb_bundles.is_empty() {
            out.say("No update on a USB stick. To update, insert a stick (FAT) with a .fbu");
            out.say("file in its top directory, then open this entry again.");
            return Flow::Menu;
        }
        let valid: Vec<UsbBundle> = s.usb_bundles.iter().filter(|b| b.valid).cloned().collect();
        out.say("Updates found on USB:");
        let mut n = 0;
        for b in &s.usb_bundles {
            let version = b.version.as_deref().unwrap_or("?");
            if b.valid {
                n += 1;
                out.say(&format!("{n:>2}) version {version}  {}", b.path.display()));
            } else {
                out.say(&format!("    {}: {}", b.path.display(), b.message));
            }
        }
        if valid.is_empty() {
            out.say("None of them can be installed.");
            return Flow::Menu;
        }
        self.phase = Phase::Choosing(valid);
        out.ask(
            "Install which one? (number; empty: back to the menu): ",
            true,
        );
        Flow::Stay
    }

    fn choose(&mut self, line: &str, valid: Vec<UsbBundle>, out: &mut Out) -> Flow {
        let line = line.trim();
        if line.is_empty() {
            return Flow::Menu;
        }
        let Some(bundle) = line
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| valid.get(i))
            .cloned()
        else {
            out.say(&format!("Enter a number from 1 to {}.", valid.len()));
            self.phase = Phase::Choosing(valid);
            out.ask(
                "Install which one? (number; empty: back to the menu): ",
                true,
            );
            return Flow::Stay;
        };
        let version = bundle.version.clone().unwrap_or_default();
        out.say(&format!("{}: {}", bundle.path.display(), bundle.message));
        out.ask(
            &format!("Install version {version} and reboot into it? (y/n): "),
            true,
        );
        self.phase = Phase::Confirming(bundle);
        Flow::Stay
    }

    fn confirm(&mut self, line: &str, bundle: UsbBundle, out: &mut Out) -> Flow {
        match yes_no(line) {
            Some(true) => {
                log::warn!(
                    "console: firmware install of {} requested",
                    bundle.path.display()
                );
                out.perform(Action::Control(ControlRequest::InstallBundle {
                    path: bundle.path,
                    force: false,
                    reboot: true,
                }));
                self.phase = Phase::Starting;
                Flow::Stay
            }
            Some(false) => {
                out.say("Cancelled: nothing was installed.");
                Flow::Menu
            }
            None => {
                out.say("Please answer y or n.");
                out.ask("Install and reboot? (y/n): ", true);
                self.phase = Phase::Confirming(bundle);
                Flow::Stay
            }
        }
    }

    fn wait(&mut self, shown: Option<u64>, out: &mut Out) -> Flow {
        self.phase = Phase::Waiting(shown);
        out.perform(Action::Sleep(POLL));
        Flow::Stay
    }

    fn progress(&mut self, outcome: Outcome, shown: Option<u64>, out: &mut Out) -> Flow {
        let s = match outcome {
            Outcome::Control(ControlResponse::Firmware(s)) => s,
            other => return unexpected("Lost the install's progress", &other, out),
        };
        match s.install {
            Some(InstallState::Installing { done, total, .. }) => {
                let tenth = (total > 0).then(|| done * 10 / total);
                if tenth.is_some() && tenth != shown {
                    let t = tenth.unwrap_or_default();
                    out.say(&format!(
                        "{:>3}% written ({} of {} MiB)",
                        t * 10,
                        done >> 20,
                        total >> 20
                    ));
                    return self.wait(tenth, out);
                }
                self.wait(shown, out)
            }
            Some(InstallState::Installed { message, .. }) => {
                out.say(&format!("{message}. Rebooting into it now..."));
                Flow::Menu
            }
            Some(InstallState::Failed { message, .. }) => {
                out.say(&format!("Install failed: {message}"));
                out.say(&format!(
                    "Nothing was switched: the box keeps running {}.",
                    s.version
                ));
                Flow::Menu
            }
            None => {
                out.say("The install ended without an outcome (the supervisor restarted?).");
                Flow::Menu
            }
        }
    }
}

/// The firmware at a glance.
pub(super) fn render(s: &FirmwareStatus) -> String {
    let mut t = match &s.boot_slot {
        Some(slot) => format!(
            "Firmware version {}, running from boot slot {slot}.\n",
            s.version
        ),
        None => format!(
            "Firmware version {}, not booted from a firmware slot.\n",
            s.version
        ),
    };
    for slot in s.slots.iter().filter(|x| !x.booted) {
        let version = slot.version.as_deref().unwrap_or("unknown version");
        let state = if slot.ok { "usable" } else { "abandoned" };
        t.push_str(&format!("Other slot {}: {version} ({state}).\n", slot.name));
    }
    if let Some(next) = s
        .next_boot
        .as_ref()
        .filter(|n| s.boot_slot.as_ref() != Some(n))
    {
        t.push_str(&format!("The next boot starts slot {next}.\n"));
    }
    if let Some(f) = &s.fallback {
        t.push_str(&format!("!! {f}\n"));
    }
    if let Some(e) = &s.error {
        t.push_str(&format!("!! Cannot read the boot slots: {e}\n"));
    }
    match &s.install {
        Some(InstallState::Installed { message, .. }) => {
            t.push_str(&format!("Last install: {message}.\n"))
        }
        Some(InstallState::Failed { message, .. }) => {
            t.push_str(&format!("Last install failed: {message}\n"))
        }
        _ => {}
    }
    t
}
