//! Reaping: collecting the exit of every child, ours and adopted orphans.
//!
//! The driver calls [`reap`] when SIGCHLD arrives, from its main loop, so a
//! pid is always recorded before its exit can be seen. While library code
//! that waits for its own children runs (netconf's `ip` commands), only the
//! supervisor's known pids are reaped, so the library still finds its
//! child's status; orphans are collected on the next full pass.

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Most exits collected in one call; the rest wait for the next SIGCHLD
/// or pass, so a fork bomb of orphans cannot stall the loop.
const MAX_REAPED: usize = 1024;

/// Which children to collect.
pub enum Scope<'a> {
    /// Any child that has ended (`waitpid(-1)`).
    All,
    /// Only these pids.
    Only(&'a [u32]),
}

/// Collects ended children without blocking: `(pid, how it ended)`.
pub fn reap(scope: Scope<'_>) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    match scope {
        Scope::All => {
            while out.len() < MAX_REAPED {
                match collect(Pid::from_raw(-1)) {
                    Some(exit) => out.push(exit),
                    None => break,
                }
            }
        }
        Scope::Only(pids) => {
            for &pid in pids {
                if let Ok(raw) = i32::try_from(pid) {
                    out.extend(collect(Pid::from_raw(raw)));
                }
            }
        }
    }
    out
}

fn collect(pid: Pid) -> Option<(u32, String)> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(status) => {
                let how = describe(&status)?;
                let pid = status.pid()?.as_raw();
                return Some((pid as u32, how));
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::ECHILD) => return None,
            Err(e) => {
                log::warn!("waitpid: {e}");
                return None;
            }
        }
    }
}

/// Whether any child is left (running or not yet reaped).
pub fn children_left() -> bool {
    // WNOWAIT: look without reaping, so no exit goes unnoticed.
    let flags = nix::sys::wait::WaitPidFlag::WNOHANG
        | nix::sys::wait::WaitPidFlag::WEXITED
        | nix::sys::wait::WaitPidFlag::WNOWAIT;
    !matches!(
        nix::sys::wait::waitid(nix::sys::wait::Id::All, flags),
        Err(Errno::ECHILD)
    )
}

/// How a process ended, in words; `None` if it has not ended.
pub fn describe(status: &WaitStatus) -> Option<String> {
    match status {
        WaitStatus::Exited(_, code) => Some(format!("exit status {code}")),
        WaitStatus::Signaled(_, signal, _) => Some(format!("killed by {signal}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use std::time::{Duration, Instant};

    #[test]
    fn exits_are_described_in_words() {
        let p = Pid::from_raw(42);
        assert_eq!(
            describe(&WaitStatus::Exited(p, 3)).as_deref(),
            Some("exit status 3")
        );
        assert_eq!(
            describe(&WaitStatus::Signaled(p, Signal::SIGKILL, false)).as_deref(),
            Some("killed by SIGKILL")
        );
        assert_eq!(describe(&WaitStatus::StillAlive), None);
    }

    #[test]
    #[allow(clippy::zombie_processes)] // reaped with waitpid, which is the point
    fn a_known_child_is_reaped_with_its_status() {
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = reap(Scope::Only(&[pid]));
            if !got.is_empty() {
                assert_eq!(got, vec![(pid, "exit status 7".to_string())]);
                break;
            }
            assert!(Instant::now() < deadline, "child never ended");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Reaped once: a second pass finds nothing.
        assert!(reap(Scope::Only(&[pid])).is_empty());
    }
}
