//! The terminal: a serial device, a pty, or stdin/stdout. Input is read
//! byte by byte (non-canonical, no kernel echo, Ctrl-C as a byte rather than
//! a signal); the settings in force before are restored on drop. Output is
//! plain ASCII with CRLF line ends, whatever the text held, so nothing the
//! console prints (a remote SMTP banner included) can drive the terminal.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{
    tcgetattr, tcsetattr, ControlFlags, InputFlags, LocalFlags, OutputFlags, SetArg,
    SpecialCharacterIndices, Termios,
};

/// What one read gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadResult {
    /// This many bytes arrived.
    Data(usize),
    /// Nothing arrived in time (or the wait was interrupted).
    Nothing,
    /// The line was closed or hung up (EOF or EIO).
    Closed,
}

/// An open terminal in the console's raw mode.
#[derive(Debug)]
pub struct Terminal {
    input: File,
    output: File,
    /// The settings to restore; `None` when the input is not a terminal.
    saved: Option<Termios>,
}

impl Terminal {
    /// Opens a terminal device (not as the controlling terminal, without
    /// waiting for a modem carrier).
    pub fn open(path: &Path) -> io::Result<Terminal> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags((OFlag::O_NOCTTY | OFlag::O_NONBLOCK).bits())
            .open(path)?;
        // Non-blocking only for the open: writes at 9600 baud must wait.
        let flags = OFlag::from_bits_truncate(fcntl(file.as_raw_fd(), FcntlArg::F_GETFL)?);
        fcntl(
            file.as_raw_fd(),
            FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK),
        )?;
        let output = file.try_clone()?;
        Terminal::raw(file, output)
    }

    /// Uses this process's stdin and stdout (a terminal, or pipes).
    pub fn stdio() -> io::Result<Terminal> {
        let input = File::from(io::stdin().as_fd().try_clone_to_owned()?);
        let output = File::from(io::stdout().as_fd().try_clone_to_owned()?);
        Terminal::raw(input, output)
    }

    fn raw(input: File, output: File) -> io::Result<Terminal> {
        let saved = match tcgetattr(&input) {
            Ok(t) => Some(t),
            // Pipes (tests, scripts) have no settings to change.
            Err(Errno::ENOTTY) | Err(Errno::EINVAL) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(saved) = &saved {
            tcsetattr(&input, SetArg::TCSANOW, &raw_mode(saved))?;
        }
        Ok(Terminal {
            input,
            output,
            saved,
        })
    }

    /// Waits up to `timeout` for input and reads what is there.
    pub fn read(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<ReadResult> {
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.input.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => return Ok(ReadResult::Nothing),
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        match self.input.read(buf) {
            Ok(0) => Ok(ReadResult::Closed),
            Ok(n) => Ok(ReadResult::Data(n)),
            Err(e) if e.raw_os_error() == Some(Errno::EIO as i32) => Ok(ReadResult::Closed),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(ReadResult::Nothing)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes bytes as they are (the line editor's echo).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.output.write_all(bytes)?;
        self.output.flush()
    }

    /// Writes text as plain ASCII lines with CRLF ends.
    pub fn write_text(&mut self, text: &str) -> io::Result<()> {
        self.write_raw(&to_wire(text))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(&self.input, SetArg::TCSADRAIN, saved);
        }
    }
}

/// Byte-at-a-time input without kernel echo or signals; output untouched
/// by the kernel (the console writes CRLF itself); modem lines ignored.
fn raw_mode(saved: &Termios) -> Termios {
    let mut t = saved.clone();
    t.local_flags.remove(
        LocalFlags::ICANON
            | LocalFlags::ECHO
            | LocalFlags::ECHOE
            | LocalFlags::ECHOK
            | LocalFlags::ECHONL
            | LocalFlags::ISIG
            | LocalFlags::IEXTEN,
    );
    t.input_flags.remove(
        InputFlags::ICRNL
            | InputFlags::INLCR
            | InputFlags::IGNCR
            | InputFlags::ISTRIP
            | InputFlags::BRKINT,
    );
    t.output_flags.remove(OutputFlags::OPOST);
    t.control_flags
        .insert(ControlFlags::CLOCAL | ControlFlags::CREAD);
    t.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    t.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    t
}

/// `\n` becomes CRLF; control and non-ASCII characters become `?`.
pub(crate) fn to_wire(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    for c in text.chars() {
        match c {
            '\n' => out.extend_from_slice(b"\r\n"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c as u8),
            _ => out.push(b'?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_plain_ascii_with_crlf() {
        assert_eq!(to_wire("a\nb\n"), b"a\r\nb\r\n");
        assert_eq!(to_wire("\x1b[2J\x07 é\r\u{9b}x"), b"?[2J? ???x");
    }
}
