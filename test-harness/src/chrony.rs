//! A private chronyd for tests: a real NTP server on a free loopback UDP
//! port, serving its own clock at stratum 8 (`local stratum 8`, no
//! sources) and never touching the system clock (`-x`).
//!
//! Everything chronyd writes lives in a directory the caller owns; no
//! command socket is opened. chronyd is killed when the value is dropped.

use std::fs::File;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::postfix::wait_for;

/// Where `scripts/deps` unpacks Debian's chrony when it is not installed
/// (installing it would replace the host's time daemon).
pub const UNPACKED_CHRONYD: &str = "/opt/filterbox-test/chrony/usr/sbin/chronyd";

/// The chronyd to run: the installed one, else the unpacked one.
pub fn chronyd() -> PathBuf {
    ["/usr/sbin/chronyd", UNPACKED_CHRONYD]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("chronyd is missing: run scripts/deps")
}

/// A running chronyd, answering NTP on `127.0.0.1:port`.
pub struct Chrony {
    child: Child,
    /// The NTP port, on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
}

impl Chrony {
    /// Starts chronyd with its files under `dir`, and waits until it
    /// answers as a synchronised stratum-8 server.
    pub fn start(dir: &Path) -> Chrony {
        // A port freed here could be taken before chronyd binds it: retry.
        for _ in 0..3 {
            let port = free_udp_port();
            let mut chrony = Chrony::spawn(dir, port);
            if wait_for(Duration::from_secs(10), || chrony.probe()) == Some(true) {
                return chrony;
            }
            chrony.stop();
        }
        panic!(
            "chronyd did not start; see {}",
            dir.join("chronyd.log").display()
        );
    }

    fn spawn(dir: &Path, port: u16) -> Chrony {
        let conf = dir.join("chrony.conf");
        let d = dir.display();
        let text = format!(
            "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\n\
             cmdport 0\nbindcmdaddress /\ndriftfile {d}/drift\npidfile {d}/chronyd.pid\n\
             dumpdir {d}\nntsdumpdir {d}\n"
        );
        std::fs::write(&conf, text).unwrap();
        let log = dir.join("chronyd.log");
        let mut cmd = Command::new(chronyd());
        cmd.arg("-f").arg(&conf).args(["-d", "-x"]);
        // As root, stay root (the tempdir is root's); otherwise skip the check.
        match nix::unistd::geteuid().is_root() {
            true => cmd.args(["-u", "root"]),
            false => cmd.arg("-U"),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run chronyd: {e}"));
        Chrony { child, port, log }
    }

    /// `Some(true)` once chronyd answers a client request as a synchronised
    /// (leap indicator not 3) stratum-8 server, `Some(false)` if it exited,
    /// `None` meanwhile.
    fn probe(&mut self) -> Option<bool> {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("chronyd exited ({status}):\n{log}");
            return Some(false);
        }
        let ask = || -> std::io::Result<bool> {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            socket.connect(("127.0.0.1", self.port))?;
            socket.set_read_timeout(Some(Duration::from_millis(200)))?;
            let mut request = [0u8; 48];
            request[0] = 0x23; // version 4, client
            request[40] = 1;
            socket.send(&request)?;
            let mut reply = [0u8; 64];
            let len = socket.recv(&mut reply)?;
            Ok(len >= 48 && reply[0] >> 6 != 3 && reply[1] == 8)
        };
        ask().unwrap_or(false).then_some(true)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Chrony {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback UDP port (bound, read, released).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("ephemeral UDP port")
}
