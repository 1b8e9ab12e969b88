//! The customer's mail server, as far as a box under test can tell: a
//! recording SMTP server on the host's loopback (`tools/smtp_recorder.py`,
//! on aiosmtpd), which the box reaches through a guest forward.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::qemu::free_port;

/// The Python that has aiosmtpd (Debian's, not a user's pyenv).
pub const PYTHON: &str = "/usr/bin/python3";

/// A message the recorder accepted.
#[derive(Clone, Debug)]
pub struct Received {
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt_tos: Vec<String>,
    /// The message as received.
    pub bytes: Vec<u8>,
}

/// A running recorder; killed when dropped.
pub struct Recorder {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Recorder {
    /// Starts one on a free loopback port.
    pub fn start() -> Result<Recorder> {
        let port = free_port()?;
        let dir = tempfile::tempdir().map_err(HarnessError::io("recorder directory"))?;
        let mut child = Command::new(PYTHON)
            .arg(script())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(HarnessError::io("starting smtp_recorder.py"))?;
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        let read = BufReader::new(stdout).read_line(&mut line);
        if !matches!(read, Ok(n) if n > 0) || !line.starts_with("listening") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HarnessError::Unexpected(format!(
                "smtp_recorder.py did not start ({line:?}): is python3-aiosmtpd installed (scripts/deps)?"
            )));
        }
        Ok(Recorder { port, dir, child })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every complete message received so far, in arrival order.
    pub fn messages(&self) -> Result<Vec<Received>> {
        let entries =
            std::fs::read_dir(self.dir.path()).map_err(HarnessError::io("recorder directory"))?;
        let mut metas: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        metas.sort();
        metas.iter().map(|m| read_message(m)).collect()
    }

    /// Waits until at least `n` messages arrived; returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<Received>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages()?;
            if messages.len() >= n {
                return Ok(messages);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Unexpected(format!(
                    "the recorder has {} messages after {timeout:?}, not {n}",
                    messages.len()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/smtp_recorder.py")
}

fn read_message(meta_path: &Path) -> Result<Received> {
    let bad = |what: &str| HarnessError::Unexpected(format!("{}: {what}", meta_path.display()));
    let raw = std::fs::read(meta_path)
        .map_err(HarnessError::io(format!("reading {}", meta_path.display())))?;
    let meta: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| bad(&e.to_string()))?;
    let mail_from = meta["mail_from"]
        .as_str()
        .ok_or_else(|| bad("no mail_from"))?;
    let rcpt_tos = meta["rcpt_tos"]
        .as_array()
        .ok_or_else(|| bad("no rcpt_tos"))?
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    let eml = meta_path.with_extension("eml");
    Ok(Received {
        mail_from: mail_from.to_string(),
        rcpt_tos,
        bytes: std::fs::read(&eml)
            .map_err(HarnessError::io(format!("reading {}", eml.display())))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_what_swaks_sends() {
        let recorder = Recorder::start().unwrap();
        crate::error::run(Command::new("swaks").args([
            "--server",
            &format!("127.0.0.1:{}", recorder.port()),
            "--from",
            "a@example.org",
            "--to",
            "b@example.test",
            "--body",
            "recorded",
        ]))
        .unwrap();
        let got = recorder.wait_for(1, Duration::from_secs(10)).unwrap();
        assert_eq!(got[0].mail_from, "a@example.org");
        assert_eq!(got[0].rcpt_tos, vec!["b@example.test".to_string()]);
        assert!(String::from_utf8_lossy(&got[0].bytes).contains("recorded"));
    }
}
