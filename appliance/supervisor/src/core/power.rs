//! What a stop request means once everything is stopped: on a workstation
//! `filterbox up` exits or starts again; as the box's init it reboots, halts
//! or powers off, the way busybox init reads its signals.

use nix::sys::signal::Signal;

/// How the supervisor runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `filterbox up`: on a workstation, or as PID 1 of a PID namespace.
    Host,
    /// `filterbox init`: the box's PID 1, which owns the machine.
    Init,
}

/// Why the supervisor stops everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// A signal arrived.
    Signal(Signal),
    /// The control socket asked for a reboot.
    Reboot,
    /// The control socket asked for a shutdown.
    Shutdown,
    /// The control socket asked for a factory reset.
    FactoryReset,
}

/// What to do once every unit has stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finale {
    /// Exit the process (host mode).
    Exit,
    /// Read `system.json` again and start everything again (host mode).
    Restart,
    /// Empty the data directory, write the default configuration, start again (host mode).
    ResetAndRestart,
    /// Restart the machine.
    Reboot,
    /// Stop the machine without powering it off.
    Halt,
    /// Power the machine off.
    PowerOff,
    /// Recreate the data filesystem, then restart the machine.
    ResetAndReboot,
}

/// The meaning of `request` in `mode`; `None` for signals that mean nothing.
/// As init, SIGTERM and SIGINT (Ctrl-Alt-Del) reboot, SIGUSR1 halts and
/// SIGUSR2 powers off, as with busybox init; in host mode SIGTERM and SIGINT
/// end `up`.
pub fn finale(mode: Mode, request: Request) -> Option<Finale> {
    use Signal::*;
    Some(match (mode, request) {
        (Mode::Host, Request::Signal(SIGTERM | SIGINT)) => Finale::Exit,
        (Mode::Host, Request::Signal(_)) => return None,
        (Mode::Host, Request::Reboot) => Finale::Restart,
        (Mode::Host, Request::Shutdown) => Finale::Exit,
        (Mode::Host, Request::FactoryReset) => Finale::ResetAndRestart,
        (Mode::Init, Request::Signal(SIGTERM | SIGINT)) => Finale::Reboot,
        (Mode::Init, Request::Signal(SIGUSR1)) => Finale::Halt,
        (Mode::Init, Request::Signal(SIGUSR2)) => Finale::PowerOff,
        (Mode::Init, Request::Signal(_)) => return None,
        (Mode::Init, Request::Reboot) => Finale::Reboot,
        (Mode::Init, Request::Shutdown) => Finale::PowerOff,
        (Mode::Init, Request::FactoryReset) => Finale::ResetAndReboot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_reads_signals_like_busybox_init() {
        let init = |s| finale(Mode::Init, Request::Signal(s));
        assert_eq!(init(Signal::SIGTERM), Some(Finale::Reboot));
        assert_eq!(init(Signal::SIGINT), Some(Finale::Reboot));
        assert_eq!(init(Signal::SIGUSR1), Some(Finale::Halt));
        assert_eq!(init(Signal::SIGUSR2), Some(Finale::PowerOff));
        assert_eq!(init(Signal::SIGHUP), None);
    }

    #[test]
    fn host_mode_exits_or_restarts_and_never_powers_off() {
        let host = |r| finale(Mode::Host, r);
        assert_eq!(host(Request::Signal(Signal::SIGTERM)), Some(Finale::Exit));
        assert_eq!(host(Request::Signal(Signal::SIGINT)), Some(Finale::Exit));
        assert_eq!(host(Request::Signal(Signal::SIGUSR2)), None);
        assert_eq!(host(Request::Reboot), Some(Finale::Restart));
        assert_eq!(host(Request::Shutdown), Some(Finale::Exit));
        assert_eq!(host(Request::FactoryReset), Some(Finale::ResetAndRestart));
    }

    #[test]
    fn control_requests_as_init_act_on_the_machine() {
        let init = |r| finale(Mode::Init, r);
        assert_eq!(init(Request::Reboot), Some(Finale::Reboot));
        assert_eq!(init(Request::Shutdown), Some(Finale::PowerOff));
        assert_eq!(init(Request::FactoryReset), Some(Finale::ResetAndReboot));
    }
}
