//! Reading passwords: from a terminal with echo off (so they never show on
//! screen or in a scrollback), or one line each from a pipe (for scripts).
//! Never from the command line, where `ps` and shell history would see them.

use std::io::{self, BufRead, Read, Write};
use std::os::fd::BorrowedFd;

use anyhow::{bail, Context};
use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};

/// Longest line read as a password: well over the API's 128 characters of
/// up to 4 bytes each, so a too-long password gets the API's precise error.
const MAX_LINE: u64 = 1024;

/// Where passwords come from.
pub struct Passwords<'a> {
    lines: &'a mut dyn BufRead,
    terminal: Option<Terminal<'a>>,
}

/// The terminal `lines` reads from, and where its prompts go.
struct Terminal<'a> {
    fd: BorrowedFd<'a>,
    prompts: &'a mut dyn Write,
}

impl<'a> Passwords<'a> {
    /// One line per password from a pipe or file; no prompts.
    pub fn lines(lines: &'a mut dyn BufRead) -> Passwords<'a> {
        Passwords {
            lines,
            terminal: None,
        }
    }

    /// An interactive terminal: `lines` reads from `fd`, whose echo is off
    /// while a password is typed; prompts go to `prompts` (stderr).
    pub fn terminal(
        lines: &'a mut dyn BufRead,
        fd: BorrowedFd<'a>,
        prompts: &'a mut dyn Write,
    ) -> Passwords<'a> {
        Passwords {
            lines,
            terminal: Some(Terminal { fd, prompts }),
        }
    }

    /// True when a person types the passwords (ask twice, then).
    pub fn interactive(&self) -> bool {
        self.terminal.is_some()
    }

    /// Reads one password; `what` names it in the prompt and in errors.
    pub fn read(&mut self, what: &str) -> anyhow::Result<String> {
        let line = match &mut self.terminal {
            Some(t) => {
                let _echo_off = EchoOff::new(t.fd).context("turning off the terminal's echo")?;
                t.prompts.write_all(format!("{what}: ").as_bytes())?;
                t.prompts.flush()?;
                read_line(self.lines)
            }
            None => read_line(self.lines),
        };
        match line.with_context(|| format!("reading the {what}"))? {
            Some(p) => Ok(p),
            None => bail!("no {what} given: expected it on a line of standard input"),
        }
    }
}

/// One line without its line end; `None` at end of input.
fn read_line(lines: &mut dyn BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    let n = lines.take(MAX_LINE + 1).read_line(&mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n as u64 > MAX_LINE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("line longer than {MAX_LINE} bytes"),
        ));
    }
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(Some(line))
}

/// Turns off a terminal's echo (keeping the echo of the final newline) and
/// restores the previous settings when dropped, even on an error.
struct EchoOff<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> EchoOff<'a> {
    fn new(fd: BorrowedFd<'a>) -> nix::Result<EchoOff<'a>> {
        let saved = tcgetattr(fd)?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        tcsetattr(fd, SetArg::TCSANOW, &quiet)?;
        Ok(EchoOff { fd, saved })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        // Nothing better to do on failure: the terminal may be gone.
        let _ = tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::BufReader;
    use std::os::fd::AsFd;
    use std::sync::mpsc;

    #[test]
    fn lines_are_read_one_per_password_without_line_ends() {
        let mut input: &[u8] = b"old pass word\r\nnew  one \n";
        let mut p = Passwords::lines(&mut input);
        assert!(!p.interactive());
        assert_eq!(p.read("current password").unwrap(), "old pass word");
        assert_eq!(p.read("new password").unwrap(), "new  one ");
        let e = p.read("new password").unwrap_err().to_string();
        assert!(e.contains("no new password given"), "{e}");
        let long = vec![b'x'; MAX_LINE as usize + 5];
        let mut input = long.as_slice();
        assert!(Passwords::lines(&mut input).read("password").is_err());
    }

    /// Sends a signal when the prompt is written.
    struct Signal(mpsc::Sender<Vec<u8>>);

    impl Write for Signal {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let _ = self.0.send(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_terminal_does_not_echo_the_password_and_gets_its_echo_back() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut master = File::from(pty.master);
        let slave = File::from(pty.slave);
        let mut lines = BufReader::new(slave.try_clone().unwrap());
        let (tx, rx) = mpsc::channel();
        let mut prompts = Signal(tx);
        let password = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                Passwords::terminal(&mut lines, slave.as_fd(), &mut prompts).read("new password")
            });
            // Echo is off once the prompt is out: only then type. (The
            // answer comes before any assertion: a failing one would leave
            // the reader blocked and the scope waiting for it.)
            let prompt = rx.recv().unwrap();
            master.write_all(b"s3cret pass\n").unwrap();
            assert_eq!(prompt, b"new password: ");
            reader.join().unwrap()
        });
        assert_eq!(password.unwrap(), "s3cret pass");
        (&slave).write_all(b"END\n").unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("END") {
            let n = master.read(&mut buf).unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        let seen = String::from_utf8_lossy(&seen);
        assert!(!seen.contains("s3cret"), "echoed: {seen:?}");
        let flags = tcgetattr(slave.as_fd()).unwrap().local_flags;
        assert!(flags.contains(LocalFlags::ECHO), "echo restored");
    }
}
