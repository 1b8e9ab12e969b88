//! `filterbox up`: the supervisor in host mode, on a workstation or as PID 1
//! of a PID namespace (`unshare --pid --fork`).
//!
//! It never mounts anything or calls reboot(2): SIGINT and SIGTERM stop
//! every unit in order and end it; a reboot requested on the control socket
//! starts everything again from a re-read `system.json`.

use crate::core::Mode;
use crate::driver::Context;
use crate::{init, CommonArgs, SupervisorError};

/// Runs the box on this machine until SIGINT, SIGTERM or a shutdown request:
/// creates the data directory with the default configuration on first run,
/// starts the roles in order and the services, restarts those that die, and
/// stops them in reverse order.
pub async fn up(args: CommonArgs) -> Result<(), SupervisorError> {
    let mut ctx = Context::new(Mode::Host, args)?;
    log::info!("supervising with data in {}", ctx.data_dir.display());
    let outcome = ctx.supervise().await;
    if std::process::id() == 1 {
        // PID 1 of a namespace: what is left would be killed with us anyway.
        init::finish::end_all_processes(None);
    }
    if let Some(w) = ctx.watchdog.take() {
        w.close();
    }
    if let Some(logbook) = crate::process::logbook() {
        logbook.flush();
    }
    match outcome?.crash_looped.first() {
        Some(name) => Err(SupervisorError::CrashLoop(name.clone())),
        None => Ok(()),
    }
}
