//! Postfix's smtp-sink as a customer's mail server, started on a free
//! loopback port with extra options (e.g. `-f RCPT` to refuse every
//! recipient with 5xx, `-r RCPT` with 4xx), dumping each message to a file.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// A running smtp-sink; killed when dropped.
pub struct Sink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dump: PathBuf,
    child: Option<tokio::process::Child>,
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// A free loopback port (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sink {
    /// Starts smtp-sink on a free port; `name` names its dump directory in `dir`.
    pub async fn start(dir: &Path, name: &str, extra: &[&str]) -> Sink {
        Sink::start_on(dir, name, extra, free_port()).await
    }

    /// Starts smtp-sink on `port` (e.g. one that was down so far).
    pub async fn start_on(dir: &Path, name: &str, extra: &[&str], port: u16) -> Sink {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Sink::start_at(dir, name, extra, addr).await
    }

    /// Starts smtp-sink on `addr`, e.g. port 25 of a private loopback
    /// address that DNS in a test names as a domain's MX.
    pub async fn start_at(dir: &Path, name: &str, extra: &[&str], addr: SocketAddr) -> Sink {
        use std::os::unix::fs::PermissionsExt;
        let port = addr.port();
        let dump = dir.join(name);
        std::fs::create_dir_all(&dump).unwrap();
        // smtp-sink drops to nobody when started as root, and must still write here.
        std::fs::set_permissions(&dump, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut cmd = tokio::process::Command::new("/usr/sbin/smtp-sink");
        if running_as_root() {
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .args(extra)
            .args([
                "-d",
                &format!("{}/%M.", dump.display()),
                &addr.to_string(),
                "10",
            ])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("smtp-sink runs");
        let up = super::wait_for(Duration::from_secs(5), || {
            std::net::TcpStream::connect(addr).is_ok()
        })
        .await;
        assert!(up, "smtp-sink listens on {addr}");
        Sink {
            port,
            dump,
            child: Some(child),
        }
    }

    /// The messages received so far, as smtp-sink dumped them (LF line ends).
    pub fn dumps(&self) -> Vec<String> {
        std::fs::read_dir(&self.dump)
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Stops it and waits until the port is closed.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

/// A /24 of loopback addresses for this run (all of 127/8 is local), its
/// second octet in `base..base + span` so that tests picking from different
/// ranges never share one.
pub fn loopback_net(base: u8, span: u8) -> [u8; 3] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = std::process::id().wrapping_mul(104_729) ^ nanos;
    let span = u32::from(span);
    [127, base + (n % span) as u8, 1 + (n / span % 250) as u8]
}

/// Host `host` of `net`.
pub fn ip(net: [u8; 3], host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(net[0], net[1], net[2], host))
}
