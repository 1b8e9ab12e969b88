//! The end of init: every process ended, the data written and unmounted,
//! then reboot(2).

use std::path::Path;
use std::time::{Duration, Instant};

use nix::mount::{umount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::disk;
use crate::core::Finale;
use crate::reaper::{children_left, reap, Scope};
use crate::watchdog::Watchdog;

/// How long the processes left get between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// As PID 1 only: SIGTERM to every process, up to [`TERM_GRACE`] reaping
/// them (feeding `watchdog` meanwhile), then SIGKILL to those left.
pub fn end_all_processes(watchdog: Option<&Watchdog>) {
    if std::process::id() != 1 {
        return; // kill(-1) from anything but PID 1 would hit the whole machine
    }
    let all = Pid::from_raw(-1);
    let _ = kill(all, Signal::SIGTERM);
    let deadline = Instant::now() + TERM_GRACE;
    while Instant::now() < deadline {
        reap(Scope::All);
        if !children_left() {
            return;
        }
        if let Some(w) = watchdog {
            w.feed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    log::warn!("processes still running after {TERM_GRACE:?}; killing them");
    let _ = kill(all, Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(100));
    reap(Scope::All);
}

/// Ends the machine's run: processes, sync, unmount the data partition
/// (recreating its filesystem for a factory reset), then reboot(2).
pub fn finish(finale: Finale, data_device: Option<&Path>, watchdog: Option<&Watchdog>) -> ! {
    end_all_processes(watchdog);
    nix::unistd::sync();
    if let Err(e) = umount(disk::DATA_DIR) {
        log::error!(
            "cannot unmount {}: {e}; remounting it read-only",
            disk::DATA_DIR
        );
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        let _ = nix::mount::mount(
            None::<&str>,
            disk::DATA_DIR,
            None::<&str>,
            flags,
            None::<&str>,
        );
    }
    if finale == crate::core::Finale::ResetAndReboot {
        if let Some(device) = data_device {
            reset_filesystem(device);
        }
    }
    nix::unistd::sync();
    let mode = match finale {
        Finale::Halt => RebootMode::RB_HALT_SYSTEM,
        Finale::PowerOff => RebootMode::RB_POWER_OFF,
        _ => RebootMode::RB_AUTOBOOT,
    };
    log::info!("{finale:?}: calling reboot(2)");
    let error = reboot(mode).unwrap_err();
    log::error!("reboot(2) failed: {error}; halting here");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Wipes the data partition first (so an interrupted reset still ends in a
/// fresh filesystem at the next boot), then creates the new filesystem.
fn reset_filesystem(device: &Path) {
    log::warn!(
        "factory reset: recreating the filesystem on {}",
        device.display()
    );
    if let Err(e) = disk::wipe(device) {
        log::error!("cannot erase {}: {e}", device.display());
        return;
    }
    if let Err(e) = disk::make_filesystem(device) {
        log::error!("{e}; the next boot will try again");
    }
}
