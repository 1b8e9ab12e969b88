//! Helpers shared by the integration tests: configuration, a raw SMTP
//! client, a recording downstream SMTP server, the real manager on the
//! test's data directory, and polling.
#![allow(dead_code)] // each test binary uses a different subset

pub mod downstream;
pub mod sink;
pub mod test_manager;
pub mod tls_client;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::api::{self, DeliveryServer, NewDomain, NewUser};
use model::config::{InitialData, SystemConfig};
use model::Endpoint;
use mta::Mta;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The mta's host name in tests.
pub const HOSTNAME: &str = "mx.filterbox.test";

/// A configuration on ephemeral ports inside `dir`, delivering nowhere yet.
pub fn config(dir: &Path) -> SystemConfig {
    let mut c = SystemConfig {
        hostname: HOSTNAME.into(),
        ..SystemConfig::default()
    };
    c.mta.smtp_listen = "127.0.0.1:0".into();
    c.mta.submission_listen = None;
    c.mta.smtps_listen = None;
    c.mta.inject_socket = "inject.sock".into();
    c.mta.milter = None;
    c.mta.manager = Endpoint::Unix("no-manager.sock".into());
    c.mta.max_message_size = 100_000;
    c.mta.delivery_workers = 4;
    c.mta.retry_initial_secs = 1;
    c.mta.retry_max_secs = 2;
    c.resolve(dir)
}

/// `config(dir)` for an mta whose directory and tracking go through a real
/// manager in `dir` (as on the box: one data directory, one `system.json`):
/// the API on the unix socket `mta.manager` points at, no TCP listener, and
/// [`initial_data`] for `port`.
pub fn managed_config(dir: &Path, port: u16) -> SystemConfig {
    let mut c = config(dir);
    let socket = dir.join("manager.sock");
    c.manager.api_socket = socket.clone();
    c.manager.http_listen = None;
    c.manager.mta_inject = Endpoint::Unix(c.mta.inject_socket.clone());
    c.mta.manager = Endpoint::Unix(socket);
    c.initial_data = initial_data(port);
    c
}

/// Two domains delivered to `port`: `example.test` (users `user`, `other`,
/// `bad`) and `sender.test` (user `sender`, where bounces go).
pub fn initial_data(port: u16) -> InitialData {
    let domain = |name: &str| NewDomain {
        provisioning: Default::default(),
        relay_networks: Default::default(),
        tls: Default::default(),
        name: name.into(),
        delivery: vec![DeliveryServer {
            host: "127.0.0.1".into(),
            port,
            priority: 10,
        }],
    };
    let users = [
        "user@example.test",
        "other@example.test",
        "bad@example.test",
        "sender@sender.test",
    ];
    InitialData {
        domains: vec![domain("example.test"), domain("sender.test")],
        users: users
            .map(|a| NewUser {
                source: Default::default(),
                address: a.into(),
            })
            .to_vec(),
    }
}

/// [`initial_data`] as the manager would serve it, for mtas started
/// without a manager.
pub fn directory(port: u16) -> api::Directory {
    let data = initial_data(port);
    api::Directory {
        dkim: Default::default(),
        generation: 1,
        domains: data
            .domains
            .into_iter()
            .map(|d| api::Domain {
                provisioning: Default::default(),
                relay_networks: Default::default(),
                tls: Default::default(),
                name: d.name,
                delivery: d.delivery,
                created: 0,
            })
            .collect(),
        users: data.users.into_iter().map(|u| u.address).collect(),
    }
}

/// Starts an mta with `config` and fills its directory for `port`.
pub async fn start(dir: &Path, config: SystemConfig, port: u16) -> Mta {
    let mta = Mta::start(Arc::new(config), dir.to_path_buf())
        .await
        .expect("mta starts");
    mta.directory().apply(directory(port));
    mta
}

/// Applies `settings` (`name = value`) and `services` (master.cf entries)
/// to the harness Postfix under `base`, reloads it, and waits until its
/// smtpd offers `keyword` in the EHLO reply.
pub async fn reconfigure_postfix(
    base: &Path,
    port: u16,
    settings: &[String],
    services: &[&str],
    keyword: &str,
) {
    use std::process::Command;
    use test_harness::postfix::{run, POSTFIX};
    let etc = base.join("postfix/etc");
    for setting in settings {
        run(Command::new("postconf")
            .arg("-c")
            .arg(&etc)
            .arg("-e")
            .arg(setting));
    }
    for service in services {
        run(Command::new("postconf")
            .arg("-c")
            .arg(&etc)
            .arg("-M")
            .arg(service));
    }
    run(Command::new(POSTFIX).arg("-c").arg(&etc).arg("reload"));
    let addr = ([127, 0, 0, 1], port).into();
    let mut offered = false;
    for _ in 0..100 {
        let (mut c, _) = Client::connect(addr).await;
        offered = c.cmd("EHLO probe.test").await.contains(keyword);
        c.cmd("QUIT").await;
        if offered {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(offered, "Postfix offers {keyword} after the reload");
}

/// Polls `check` every 50 ms until it holds or `limit` passes.
pub async fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

/// A raw SMTP client: exact bytes out, whole replies in.
pub struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Client {
    /// Connects and returns the client with the banner read.
    pub async fn connect(addr: SocketAddr) -> (Client, String) {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut c = Client {
            stream,
            pending: Vec::new(),
        };
        let banner = c.reply().await;
        (c, banner)
    }

    /// This end's address (it names the session in the mta's log).
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local address")
    }

    /// Writes `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends one command line and returns its reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Reads one complete (possibly multi-line) reply, CRLFs included.
    pub async fn reply(&mut self) -> String {
        let mut out = String::new();
        loop {
            let line = self.line().await;
            let last = line.as_bytes().get(3) != Some(&b'-');
            out.push_str(&line);
            if last {
                return out;
            }
        }
    }

    /// Reads `n` replies.
    pub async fn replies(&mut self, n: usize) -> Vec<String> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(self.reply().await);
        }
        v
    }

    /// Everything until the server closes the connection.
    pub async fn read_to_end(&mut self) -> String {
        let mut rest = std::mem::take(&mut self.pending);
        let _ =
            tokio::time::timeout(Duration::from_secs(10), self.stream.read_to_end(&mut rest)).await;
        String::from_utf8_lossy(&rest).into_owned()
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                return String::from_utf8(line).expect("utf-8 reply");
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(20), self.stream.read(&mut buf))
                .await
                .expect("reply within 20 s")
                .expect("read");
            assert!(
                n > 0,
                "server closed the connection; got so far: {:?}",
                String::from_utf8_lossy(&self.pending)
            );
            self.pending.extend_from_slice(&buf[..n]);
        }
    }
}

/// The queue id from a `250 2.0.0 Ok: queued as ID` reply.
pub fn queue_id(reply: &str) -> String {
    reply
        .trim_end()
        .rsplit(' ')
        .next()
        .filter(|_| reply.starts_with("250 2.0.0 Ok: queued as "))
        .unwrap_or_else(|| panic!("not a queued reply: {reply:?}"))
        .to_string()
}

/// The message after the first header field (our `Received:`), which is
/// folded over continuation lines.
pub fn after_received(data: &[u8]) -> &[u8] {
    assert!(
        data.starts_with(b"Received: "),
        "{:?}",
        String::from_utf8_lossy(data)
    );
    let mut pos = 0;
    loop {
        let end = pos
            + data[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("CRLF")
            + 2;
        pos = end;
        if !matches!(data.get(pos), Some(b' ' | b'\t')) {
            return &data[pos..];
        }
    }
}
