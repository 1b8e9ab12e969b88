//! An expect-style driver of a pseudo-terminal: a test opens a pty, gives
//! the program under test the slave's path (`filterbox console --tty PATH`)
//! and plays the person at the serial console on the master side.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Most output kept unread; a test that never reads is a broken test.
const MAX_BUFFERED: usize = 4 * 1024 * 1024;

/// The person at the terminal: sends keystrokes, waits for text.
pub struct Expect {
    master: File,
    /// Held open so the line stays up while the program (re)opens it.
    slave: Option<OwnedFd>,
    slave_path: PathBuf,
    /// Output received and not yet consumed by [`Expect::expect`].
    unread: Vec<u8>,
    /// Everything received, for failure messages.
    transcript: Vec<u8>,
}

impl Expect {
    /// Opens a new pty pair.
    pub fn open() -> io::Result<Expect> {
        let pty = nix::pty::openpty(None, None)?;
        // Programs the test starts must not inherit either side: a line
        // whose master lives on in a child never closes.
        for fd in [&pty.master, &pty.slave] {
            fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        }
        let slave_path = nix::unistd::ttyname(pty.slave.as_fd())?;
        Ok(Expect {
            master: File::from(pty.master),
            slave: Some(pty.slave),
            slave_path,
            unread: Vec::new(),
            transcript: Vec::new(),
        })
    }

    /// The slave's device path, for the program under test.
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// Closes this side's handle on the slave: once the program closes it
    /// too, reads here fail, as on a cable pulled out.
    pub fn release_slave(&mut self) {
        self.slave = None;
    }

    /// Types `text` (use `\r` for Enter, `\x03` for Ctrl-C).
    pub fn send(&mut self, text: &str) {
        self.send_bytes(text.as_bytes());
    }

    /// Types raw bytes (garbage, escape sequences).
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.master
            .write_all(bytes)
            .expect("write to the pty master");
    }

    /// Waits until `needle` appears in the output; returns the output up to
    /// and including it (consumed), or panics with the transcript after `timeout`.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = find(&self.unread, needle.as_bytes()) {
                let rest = self.unread.split_off(pos + needle.len());
                let seen = std::mem::replace(&mut self.unread, rest);
                return String::from_utf8_lossy(&seen).into_owned();
            }
            let now = Instant::now();
            if now >= deadline || !self.fill(deadline - now) {
                panic!(
                    "no {needle:?} after {timeout:?}; the terminal showed:\n{}",
                    self.transcript()
                );
            }
        }
    }

    /// Reads what arrives within `quiet` and returns it (consumed): to
    /// check that nothing unexpected was printed.
    pub fn drain(&mut self, quiet: Duration) -> String {
        while self.fill(quiet) {}
        let seen = std::mem::take(&mut self.unread);
        String::from_utf8_lossy(&seen).into_owned()
    }

    /// Everything the terminal showed so far.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.transcript).into_owned()
    }

    /// Waits up to `timeout` for output; false when none came or the line closed.
    fn fill(&mut self, timeout: Duration) -> bool {
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(n) if n > 0 => {}
            _ => return false,
        }
        let mut buf = [0u8; 4096];
        match self.master.read(&mut buf) {
            Ok(n) if n > 0 => {
                self.unread.extend_from_slice(&buf[..n]);
                self.transcript.extend_from_slice(&buf[..n]);
                assert!(
                    self.unread.len() <= MAX_BUFFERED,
                    "unread pty output piles up"
                );
                true
            }
            // EOF or EIO: nobody has the slave open any more.
            _ => false,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len().max(1)).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn talks_to_a_program_on_the_slave() {
        let mut pty = Expect::open().unwrap();
        assert!(pty.slave_path().starts_with("/dev/pts"));
        // `cat` on the slave in raw-ish mode echoes back what it reads.
        let slave = File::options()
            .read(true)
            .write(true)
            .open(pty.slave_path())
            .unwrap();
        let mut child = std::process::Command::new("head")
            .args(["-n", "1"])
            .stdin(slave.try_clone().unwrap())
            .stdout(slave)
            .spawn()
            .unwrap();
        pty.send("hello\r");
        // The kernel's own echo, then head's output.
        pty.expect("hello", Duration::from_secs(5));
        let rest = pty.expect("hello", Duration::from_secs(5));
        assert!(rest.ends_with("hello"), "{rest:?}");
        child.wait().unwrap();
        assert!(pty.transcript().matches("hello").count() >= 2);
    }
}
