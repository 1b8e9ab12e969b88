//! Unit processes: starting one, forwarding its output, signalling it.
//!
//! Processes are started with `std::process::Command` and never waited for
//! through it: the driver reaps every child itself ([`crate::reaper`]), so
//! that orphans re-parented to it are reaped too. A role's stdin is a pipe
//! the supervisor holds open: when the supervisor dies, however it dies, the
//! role reads end-of-file there and shuts down instead of living on as an
//! orphan (the binary watches stdin when `FILTERBOX_SUPERVISED` is set).
//! Units get their own process group, so a terminal's Ctrl-C reaches only
//! the supervisor, which then stops them in order.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use futures::StreamExt;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

/// Environment variable telling a role it runs under the supervisor.
pub const SUPERVISED_ENV: &str = "FILTERBOX_SUPERVISED";

/// Longest log line forwarded whole; longer lines are cut.
const MAX_LOG_LINE: usize = 16 * 1024;

/// The log files (and remote syslog) every printed line also goes to.
static LOGBOOK: OnceLock<logbook::Logbook> = OnceLock::new();

/// Cleared as init: units' lines then go to the log files only, not to the
/// console the supervisor's own lines are printed on.
static PRINT_UNIT_LINES: AtomicBool = AtomicBool::new(true);

/// Sends every line from now on to `logbook` as well.
pub(crate) fn set_logbook(logbook: logbook::Logbook) {
    let _ = LOGBOOK.set(logbook);
}

/// The logbook in use, if one was opened.
pub(crate) fn logbook() -> Option<&'static logbook::Logbook> {
    LOGBOOK.get()
}

/// Whether units' lines are printed on stderr besides being filed.
pub(crate) fn print_unit_lines(print: bool) {
    PRINT_UNIT_LINES.store(print, Ordering::Relaxed);
}

/// A started unit process.
pub struct Started {
    /// Its pid, to signal and to recognise its exit.
    pub pid: u32,
    /// A role's stdin, held open for its lifetime (see the module docs).
    pub stdin: Option<ChildStdin>,
}

/// Starts `command` as unit `name` in its own process group, its output
/// forwarded line by line; `stdin_pipe` gives it a stdin held open by us.
/// Must run inside the tokio runtime (the output pipes are registered there).
pub fn start(mut command: Command, name: &str, stdin_pipe: bool) -> std::io::Result<Started> {
    let stdin = if stdin_pipe {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let outputs = [
        child.stdout.take().map(OwnedFd::from),
        child.stderr.take().map(OwnedFd::from),
    ];
    for fd in outputs.into_iter().flatten() {
        match pipe::Receiver::from_owned_fd(fd) {
            Ok(rx) => {
                tokio::spawn(forward(name.to_string(), rx));
            }
            Err(e) => log::warn!("cannot read the output of {name}: {e}"),
        }
    }
    // The exit is seen by the reaper; the Child handle itself is dropped.
    Ok(Started {
        pid: child.id(),
        stdin: child.stdin.take(),
    })
}

/// Files (and prints, unless init) every line of a unit's output.
async fn forward(name: String, output: pipe::Receiver) {
    let mut lines = FramedRead::new(output, LinesCodec::new_with_max_length(MAX_LOG_LINE));
    while let Some(line) = lines.next().await {
        match line {
            Ok(line) => unit_line(&name, &line),
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                unit_line(&name, "[log line longer than 16 KiB dropped]")
            }
            Err(LinesCodecError::Io(_)) => break,
        }
    }
}

fn unit_line(source: &str, line: &str) {
    if PRINT_UNIT_LINES.load(Ordering::Relaxed) {
        write_stderr(source, line);
    }
    if let Some(logbook) = LOGBOOK.get() {
        logbook.record(source, line);
    }
}

/// Writes one prefixed line to stderr, the supervisor's log output, and
/// files it with the units' lines.
pub fn print_line(source: &str, line: &str) {
    write_stderr(source, line);
    if let Some(logbook) = LOGBOOK.get() {
        logbook.record(source, line);
    }
}

fn write_stderr(source: &str, line: &str) {
    use std::io::Write;
    let ts = model::time::format_rfc3339(model::time::now_ms());
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{ts} {source:<7} | {line}");
}

/// Sends `signal` to a unit's process; a process that is already gone is fine.
pub fn signal(pid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    if raw <= 1 {
        return; // never the whole system, a process group or init
    }
    if let Err(e) = kill(Pid::from_raw(raw), signal) {
        if e != nix::errno::Errno::ESRCH {
            log::warn!("cannot send {signal} to pid {pid}: {e}");
        }
    }
}
