//! Role processes: starting one, forwarding its log lines, signalling it.
//!
//! A role is this same executable run as `filterbox <role>`. Its stdin is a
//! pipe the supervisor holds open: when the supervisor dies, however it dies,
//! the role reads end-of-file there and shuts down instead of living on as an
//! orphan (the binary watches stdin when `FILTERBOX_SUPERVISED` is set).
//! Roles get their own process group, so a terminal's Ctrl-C reaches only the
//! supervisor, which then stops them in order.

use std::path::Path;
use std::process::Stdio;

use futures::StreamExt;
use model::config::Role;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncRead;
use tokio::process::{Child, ChildStdin, Command};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use crate::Overrides;

/// Environment variable telling a role it runs under the supervisor.
pub const SUPERVISED_ENV: &str = "FILTERBOX_SUPERVISED";

/// Longest log line forwarded whole; longer lines are cut.
const MAX_LOG_LINE: usize = 16 * 1024;

/// A started role process.
pub struct RoleProcess {
    /// The process, to wait for.
    pub child: Child,
    /// Its pid, to signal.
    pub pid: u32,
    /// Held open for the role's lifetime (see the module docs).
    pub stdin: Option<ChildStdin>,
}

/// Starts `exe <role> --data-dir DIR <overrides>` and forwards its output.
pub fn spawn(
    exe: &Path,
    role: Role,
    data_dir: &Path,
    overrides: &Overrides,
) -> std::io::Result<RoleProcess> {
    let mut child = Command::new(exe)
        .arg(role.as_str())
        .arg("--data-dir")
        .arg(data_dir)
        .args(overrides.to_args())
        .env(SUPERVISED_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward(role, out));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward(role, err));
    }
    let stdin = child.stdin.take();
    Ok(RoleProcess { child, pid, stdin })
}

/// Prints every line of a role's output with the time and the role's name.
async fn forward(role: Role, output: impl AsyncRead + Unpin) {
    let mut lines = FramedRead::new(output, LinesCodec::new_with_max_length(MAX_LOG_LINE));
    while let Some(line) = lines.next().await {
        match line {
            Ok(line) => print_line(role.as_str(), &line),
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                print_line(role.as_str(), "[log line longer than 16 KiB dropped]")
            }
            Err(LinesCodecError::Io(_)) => break,
        }
    }
}

/// Writes one prefixed line to stderr, the supervisor's log output.
pub fn print_line(source: &str, line: &str) {
    use std::io::Write;
    let ts = model::time::format_rfc3339(model::time::now_ms());
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{ts} {source:<7} | {line}");
}

/// Sends `signal` to a role's process; a process that is already gone is fine.
pub fn signal(pid: u32, signal: Signal) {
    if pid == 0 {
        return;
    }
    if let Err(e) = kill(Pid::from_raw(pid as i32), signal) {
        if e != nix::errno::Errno::ESRCH {
            log::warn!("cannot send {signal} to pid {pid}: {e}");
        }
    }
}

/// How a process ended, in words.
pub fn describe_exit(status: std::io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => match Signal::try_from(sig) {
                Ok(sig) => format!("killed by {sig}"),
                Err(_) => format!("killed by signal {sig}"),
            },
            (None, None) => "ended".into(),
        },
        Err(e) => format!("cannot be waited for: {e}"),
    }
}
