//! QEMU's human monitor over a unix socket: start the CPU, plug and pull
//! USB sticks, quit.
//!
//! The monitor prints `(qemu) ` when it waits for a command and echoes
//! what it is sent; [`Monitor::command`] returns what it printed between
//! the echo and the next prompt.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

/// The monitor's prompt.
const PROMPT: &[u8] = b"(qemu) ";

/// How long a command may take (drive_add opens a file; nothing is slow).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Most output of one command.
const MAX_ANSWER: usize = 1024 * 1024;

/// A connection to QEMU's monitor.
pub struct Monitor {
    stream: UnixStream,
}

impl Monitor {
    /// Connects and waits for the first prompt.
    pub fn connect(path: &Path) -> Result<Monitor> {
        let stream = UnixStream::connect(path).map_err(HarnessError::io(format!(
            "connecting to {}",
            path.display()
        )))?;
        let mut monitor = Monitor { stream };
        monitor.read_to_prompt()?;
        Ok(monitor)
    }

    /// Runs `command`; returns its output (without the echo and the prompt).
    pub fn command(&mut self, command: &str) -> Result<String> {
        self.send(command)?;
        let raw = self.read_to_prompt()?;
        Ok(answer_of(&raw))
    }

    /// Sends `command` without waiting for an answer (`quit` gives none).
    pub fn send(&mut self, command: &str) -> Result<()> {
        self.stream
            .write_all(format!("{command}\n").as_bytes())
            .map_err(HarnessError::io(format!("monitor command {command:?}")))
    }

    fn read_to_prompt(&mut self) -> Result<String> {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        while !seen.ends_with(PROMPT) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || seen.len() > MAX_ANSWER {
                return Err(HarnessError::Unexpected(format!(
                    "QEMU's monitor gave no prompt; it printed {:?}",
                    String::from_utf8_lossy(&seen)
                )));
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(HarnessError::io("monitor socket"))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(HarnessError::Unexpected(
                        "QEMU closed its monitor".to_string(),
                    ))
                }
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(HarnessError::io("reading QEMU's monitor")(e)),
            }
        }
        seen.truncate(seen.len() - PROMPT.len());
        Ok(String::from_utf8_lossy(&seen).into_owned())
    }
}

/// The output of a command: the readline echo (the first line, with any
/// terminal escapes) dropped, line ends normalised.
fn answer_of(raw: &str) -> String {
    let text = raw.replace("\r\n", "\n");
    let body = text.split_once('\n').map_or("", |(_echo, rest)| rest);
    body.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_and_the_prompt_are_not_the_answer() {
        assert_eq!(answer_of("cont\r\n"), "");
        assert_eq!(answer_of("drive_add 0 if=none\u{1b}[K\r\nOK\r\n"), "OK");
        assert_eq!(
            answer_of("info status\r\nVM status: running\r\n"),
            "VM status: running"
        );
    }
}
