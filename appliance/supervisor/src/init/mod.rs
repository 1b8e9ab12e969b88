//! `filterbox init`: the box's PID 1.
//!
//! Mounts the kernel filesystems, finds, checks (or creates) and mounts the
//! data partition on `/data`, then supervises exactly like `filterbox up`
//! with the data in `/data` and the network's runtime files in `/run`. Its
//! signals are busybox init's: SIGTERM and SIGINT reboot, SIGUSR1 halts,
//! SIGUSR2 powers off. It ends with every process stopped, the data
//! unmounted and reboot(2); it never returns.

pub mod cmdline;
pub mod disk;
pub mod finish;
mod mounts;

use std::path::PathBuf;
use std::time::Duration;

use crate::core::{Finale, Mode};
use crate::driver::Context;
use crate::{CommonArgs, Overrides, SupervisorError};

/// The box's busybox, whose `ip` brings up the loopback interface.
const BUSYBOX: &str = "/bin/busybox";

/// How long a fatal boot error stays on the console before the reboot.
const FATAL_PAUSE: Duration = Duration::from_secs(30);

/// Runs as the box's init. Refuses (returns an error) when not PID 1;
/// otherwise ends with reboot(2).
pub async fn init() -> Result<(), SupervisorError> {
    if std::process::id() != 1 {
        return Err(SupervisorError::NotInit);
    }
    mounts::mount_basics();
    loopback_up();
    // Ctrl-Alt-Del becomes SIGINT (an orderly reboot), not an instant reset.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        log::warn!("cannot turn Ctrl-Alt-Del into a signal: {e}");
    }
    crate::process::print_unit_lines(false);
    let cmdline = cmdline::KernelCmdline::read();
    let device = match disk::mount_data(&cmdline) {
        Ok(device) => device,
        Err(e) => fatal(e, None),
    };
    let args = CommonArgs {
        data_dir: PathBuf::from(disk::DATA_DIR),
        overrides: Overrides::default(),
    };
    let mut ctx = match Context::new(Mode::Init, args) {
        Ok(ctx) => ctx,
        Err(e) => fatal(e, Some(&device)),
    };
    let finale = match ctx.supervise().await {
        Ok(outcome) => outcome.finale,
        Err(e) => fatal(e, Some(&device)),
    };
    if let Some(logbook) = crate::process::logbook() {
        logbook.flush();
    }
    finish::finish(finale, Some(&device), ctx.watchdog.as_ref())
}

/// Brings up `lo`, which the kernel starts down: the supervisor's health
/// probes, the console and the roles reach one another through it.
fn loopback_up() {
    let status = std::process::Command::new(BUSYBOX)
        .args(["ip", "link", "set", "lo", "up"])
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => log::error!("cannot bring up lo: ip link set lo up: {s}"),
        Err(e) => log::error!("cannot bring up lo: {BUSYBOX}: {e}"),
    }
}

/// A boot that cannot go on: said on the console, then a reboot (after
/// repeated failures the bootloader falls back to the other slot).
fn fatal(error: SupervisorError, device: Option<&PathBuf>) -> ! {
    log::error!("cannot start the box: {error}; rebooting in {FATAL_PAUSE:?}");
    std::thread::sleep(FATAL_PAUSE);
    finish::finish(Finale::Reboot, device.map(PathBuf::as_path), None)
}
