//! The box's serial console, driven expect-style over QEMU's socket.
//!
//! A thread reads everything the box prints into a transcript (and a log
//! file, to follow a test live and to read after a failure); the test waits
//! for text or a pattern with [`Serial::expect`] and types with
//! [`Serial::send_line`]. Reading all the time also keeps the guest's UART
//! from stalling when no one is waiting.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use regex::bytes::Regex;

use crate::error::{HarnessError, Result};

/// Most console output kept; a box printing more than this is broken.
const MAX_TRANSCRIPT: usize = 64 * 1024 * 1024;

/// How much of the transcript an error shows.
const TAIL_CHARS: usize = 6000;

/// What the reader thread collected.
#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    buffer: Mutex<Buffer>,
    arrived: Condvar,
}

/// A match found by [`Serial::expect_re`].
#[derive(Clone, Debug)]
pub struct Found {
    /// The output between the previous match and this one.
    pub before: String,
    /// The matched text.
    pub text: String,
    /// The pattern's capture groups (1..), `None` where a group did not take part.
    pub groups: Vec<Option<String>>,
}

/// The console as a person at the serial port sees it.
pub struct Serial {
    stream: UnixStream,
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
    /// Transcript bytes already consumed by an expectation.
    consumed: usize,
}

impl Serial {
    /// Connects to QEMU's serial socket at `path`, copying everything read
    /// to `log` as well.
    pub fn connect(path: &Path, log: Option<File>) -> Result<Serial> {
        let stream = UnixStream::connect(path).map_err(HarnessError::io(format!(
            "connecting to {}",
            path.display()
        )))?;
        let shared = Arc::new(Shared::default());
        let reading = stream
            .try_clone()
            .map_err(HarnessError::io("cloning the serial socket"))?;
        let sink = Arc::clone(&shared);
        let reader = std::thread::Builder::new()
            .name("serial-reader".into())
            .spawn(move || read_all(reading, &sink, log))
            .map_err(HarnessError::io("starting the serial reader"))?;
        Ok(Serial {
            stream,
            shared,
            reader: Some(reader),
            consumed: 0,
        })
    }

    /// Types `text` as it is (use `\r` for Enter, `\x03` for Ctrl-C).
    pub fn send(&mut self, text: &str) -> Result<()> {
        self.stream
            .write_all(text.as_bytes())
            .map_err(HarnessError::io("typing on the serial console"))
    }

    /// Types `line` and Enter.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.send(&format!("{line}\r"))
    }

    /// Waits for `needle` to appear after the last match; returns the output
    /// up to and including it.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let re = Regex::new(&regex::escape(needle)).expect("an escaped literal is a valid pattern");
        let found = self.wait(&re, &format!("{needle:?}"), timeout)?;
        Ok(found.before + &found.text)
    }

    /// Waits for `pattern` (a regular expression) to match after the last
    /// match.
    pub fn expect_re(&mut self, pattern: &str, timeout: Duration) -> Result<Found> {
        let re = Regex::new(pattern).map_err(|e| {
            HarnessError::Unexpected(format!("bad pattern {pattern:?} in a test: {e}"))
        })?;
        self.wait(&re, &format!("/{pattern}/"), timeout)
    }

    /// Whether `needle` appears in the output not yet consumed, without
    /// waiting or consuming.
    pub fn pending_contains(&self, needle: &str) -> bool {
        let buffer = self.shared.buffer.lock().expect("serial buffer lock");
        let rest = &buffer.bytes[self.consumed.min(buffer.bytes.len())..];
        rest.windows(needle.len().max(1))
            .any(|w| w == needle.as_bytes())
    }

    /// Consumes everything received so far, so that the next expectation
    /// sees only newer output.
    pub fn skip_pending(&mut self) {
        self.consumed = self
            .shared
            .buffer
            .lock()
            .expect("serial buffer lock")
            .bytes
            .len();
    }

    /// Everything the console showed so far.
    pub fn transcript(&self) -> String {
        let buffer = self.shared.buffer.lock().expect("serial buffer lock");
        String::from_utf8_lossy(&buffer.bytes).into_owned()
    }

    /// The last lines of the transcript, for error messages.
    pub fn tail(&self) -> String {
        tail_of(&self.shared.buffer.lock().expect("serial buffer lock").bytes)
    }

    fn wait(&mut self, re: &Regex, wanted: &str, timeout: Duration) -> Result<Found> {
        let deadline = Instant::now() + timeout;
        let mut buffer = self.shared.buffer.lock().expect("serial buffer lock");
        loop {
            let start = self.consumed.min(buffer.bytes.len());
            if let Some(caps) = re.captures(&buffer.bytes[start..]) {
                let whole = caps.get(0).expect("group 0 always matches");
                let text =
                    |m: regex::bytes::Match<'_>| String::from_utf8_lossy(m.as_bytes()).into_owned();
                let found = Found {
                    before: String::from_utf8_lossy(&buffer.bytes[start..start + whole.start()])
                        .into_owned(),
                    text: text(whole),
                    groups: caps.iter().skip(1).map(|g| g.map(text)).collect(),
                };
                self.consumed = start + whole.end();
                return Ok(found);
            }
            if buffer.closed {
                return Err(HarnessError::Closed {
                    wanted: wanted.to_string(),
                    tail: tail_of(&buffer.bytes),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(HarnessError::Timeout {
                    wanted: wanted.to_string(),
                    after: timeout,
                    tail: tail_of(&buffer.bytes),
                });
            }
            buffer = self
                .shared
                .arrived
                .wait_timeout(buffer, deadline - now)
                .expect("serial buffer lock")
                .0;
        }
    }
}

impl Drop for Serial {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The reader thread: appends to the transcript until the socket closes.
fn read_all(mut stream: UnixStream, shared: &Shared, mut log: Option<File>) {
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(file) = log.as_mut() {
            // The log is a convenience; the transcript is what tests read.
            let _ = file.write_all(&chunk[..n]);
        }
        let mut buffer = shared.buffer.lock().expect("serial buffer lock");
        if buffer.bytes.len() + n > MAX_TRANSCRIPT {
            break;
        }
        buffer.bytes.extend_from_slice(&chunk[..n]);
        shared.arrived.notify_all();
    }
    shared.buffer.lock().expect("serial buffer lock").closed = true;
    shared.arrived.notify_all();
}

fn tail_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let skip = text.chars().count().saturating_sub(TAIL_CHARS);
    text.chars().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn pair() -> (Serial, UnixStream, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let serial = Serial::connect(&path, None).unwrap();
        let (peer, _) = listener.accept().unwrap();
        (serial, peer, dir)
    }

    #[test]
    fn expects_text_and_patterns_in_order() {
        let (mut serial, mut peer, _dir) = pair();
        peer.write_all(b"booting\r\nfilterbox ready at 10.0.2.15\r\nlogin: ")
            .unwrap();
        let seen = serial.expect("ready", Duration::from_secs(5)).unwrap();
        assert!(
            seen.starts_with("booting") && seen.ends_with("ready"),
            "{seen:?}"
        );
        let found = serial
            .expect_re(r"at (\d+\.\d+\.\d+\.\d+)", Duration::from_secs(5))
            .unwrap();
        assert_eq!(found.groups, vec![Some("10.0.2.15".to_string())]);
        // Consumed: the first "ready" is not found again.
        let err = serial
            .expect("ready", Duration::from_millis(200))
            .unwrap_err();
        assert!(matches!(err, HarnessError::Timeout { .. }), "{err}");
        assert!(
            err.to_string().contains("login: "),
            "the error shows the tail: {err}"
        );
        serial.send_line("admin").unwrap();
        let mut typed = [0u8; 6];
        peer.read_exact(&mut typed).unwrap();
        assert_eq!(&typed, b"admin\r");
    }

    #[test]
    fn waits_for_output_that_comes_later_and_notices_the_close() {
        let (mut serial, mut peer, _dir) = pair();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            peer.write_all(b"late text").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            drop(peer);
        });
        assert!(!serial.pending_contains("late"));
        serial.expect("late", Duration::from_secs(5)).unwrap();
        let err = serial.expect("never", Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, HarnessError::Closed { .. }), "{err}");
        assert_eq!(serial.transcript(), "late text");
        writer.join().unwrap();
    }
}
