//! Real peers for the filter's integration tests: a private Postfix instance
//! using the filter as `smtpd_milters`, Postfix's `smtp-sink` receiving what
//! Postfix relays, and `swaks` sending.
//!
//! Everything lives in one temporary directory and listens on loopback
//! ports picked by the kernel; Postfix is stopped by a drop guard even when
//! a test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use test_harness::postfix::{
    chown_postfix, free_port, open_dir, run, wait_for, Postfix, POSTFIX,
};

/// True when Postfix, smtp-sink and swaks are installed; prints why not.
pub fn peers_installed() -> bool {
    let missing: Vec<&str> = [POSTFIX, "/usr/sbin/smtp-sink", "/usr/bin/swaks"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "\n*** SKIPPED: {} not installed (apt-get install postfix swaks) ***\n",
            missing.join(", ")
        );
    }
    missing.is_empty()
}

/// Gives group `postfix` access to a unix socket (mode 0660), as a site
/// running Postfix next to the filter does.
pub fn socket_for_postfix(path: &Path) {
    run(Command::new("chgrp").arg("postfix").arg(path));
}

/// `smtp-sink` on a loopback port, dumping every message into a directory.
pub struct Sink {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
}

impl Sink {
    /// Starts the sink under `base`.
    pub fn start(base: &Path) -> Sink {
        let dir = base.join("sink");
        std::fs::create_dir_all(&dir).unwrap();
        chown_postfix(&dir);
        let port = free_port();
        let child = Command::new("smtp-sink")
            .arg("-u")
            .arg("postfix")
            .arg("-d")
            .arg(format!("{}/%H%M%S.", dir.display()))
            .arg(format!("127.0.0.1:{port}"))
            .arg("64")
            .stdout(Stdio::null())
            .spawn()
            .expect("smtp-sink");
        let up = wait_for(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "smtp-sink did not listen on {port}");
        Sink { child, port, dir }
    }

    /// Every message received so far (smtp-sink's dump: its `X-*` envelope
    /// lines, then the message as sent).
    pub fn messages(&self) -> Vec<String> {
        let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .map(|p| {
                let text =
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
                (p, text)
            })
            .collect();
        out.sort();
        out.into_iter().map(|(_, t)| t).collect()
    }

    /// Waits until a message containing `marker` arrived and returns it.
    pub fn wait_message(&self, marker: &str) -> String {
        wait_for(Duration::from_secs(20), || {
            self.messages().into_iter().find(|m| m.contains(marker))
        })
        .unwrap_or_else(|| {
            panic!(
                "no message with {marker:?} at the sink: {:#?}",
                self.messages()
            )
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What swaks saw.
pub struct Swaks {
    /// The whole transcript.
    pub transcript: String,
}

impl Swaks {
    /// The server's final reply to the message (the line after DATA's body).
    pub fn data_reply(&self) -> &str {
        self.transcript
            .lines()
            .filter(|l| l.starts_with("<~") || l.starts_with("<-") || l.starts_with("<**"))
            .rfind(|l| !l.contains("221") && !l.contains("354"))
            .unwrap_or("")
    }
}

/// Sends `message` (a complete RFC 5322 message) from `from` to `to` through
/// `127.0.0.1:port`.
pub fn swaks(port: u16, from: &str, to: &[&str], message: &str) -> Swaks {
    use std::io::Write;
    let mut child = Command::new("swaks")
        .arg("--server")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--from")
        .arg(from)
        .arg("--to")
        .arg(to.join(","))
        .arg("--helo")
        .arg("client.sender.test")
        .arg("--data")
        .arg("-")
        .arg("--timeout")
        .arg("60")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("swaks");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Swaks {
        transcript: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}
