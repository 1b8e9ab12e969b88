//! Test helpers: a manager in a temporary data directory, API clients for
//! both listeners, and Postfix's smtp-sink as the receiving mta.
#![allow(dead_code)] // each test binary uses a different subset

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use manager::{Manager, ManagerOptions};
use model::api::{Base64Bytes, NewQuarantine, QuarantineKind};
use model::client::ApiClient;
use model::config::{InitialData, SystemConfig, API_TOKEN_FILE};
use model::Endpoint;

/// A configuration for `dir`: socket inside it, TCP on an ephemeral port.
pub fn config(dir: &Path, mta_inject: Endpoint) -> SystemConfig {
    let mut c = SystemConfig {
        hostname: "box.example.test".into(),
        initial_data: InitialData::default(),
        ..Default::default()
    };
    c.manager.api_socket = dir.join("manager.sock");
    c.manager.http_listen = Some("127.0.0.1:0".into());
    c.manager.mta_inject = mta_inject;
    c
}

/// A manager started on a fresh directory.
pub struct TestManager {
    // Dropped first: the manager stops before its directory goes.
    pub manager: Option<Manager>,
    pub config: SystemConfig,
    pub dir: tempfile::TempDir,
}

impl TestManager {
    pub fn start(mta_inject: Option<Endpoint>) -> TestManager {
        TestManager::start_with(mta_inject, ManagerOptions::default())
    }

    pub fn start_with(mta_inject: Option<Endpoint>, options: ManagerOptions) -> TestManager {
        let dir = tempfile::tempdir().unwrap();
        let inject = mta_inject.unwrap_or_else(|| Endpoint::Unix(dir.path().join("no-mta.sock")));
        let config = config(dir.path(), inject);
        let manager = Some(Manager::start_with(&config, dir.path(), options).unwrap());
        TestManager {
            dir,
            config,
            manager,
        }
    }

    pub fn unix(&self) -> ApiClient {
        ApiClient::new(Endpoint::Unix(self.config.manager.api_socket.clone()))
            .with_timeout(Duration::from_secs(40))
    }

    pub fn tcp_addr(&self) -> std::net::SocketAddr {
        self.manager.as_ref().unwrap().tcp_addr().unwrap()
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(API_TOKEN_FILE))
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn tcp(&self, token: Option<String>) -> ApiClient {
        ApiClient::new(Endpoint::Tcp(self.tcp_addr().to_string())).with_token(token)
    }

    pub fn stop(&mut self) {
        self.manager.take().unwrap().stop().unwrap();
    }

    pub fn restart(&mut self) {
        self.manager = Some(Manager::start(&self.config, self.dir.path()).unwrap());
    }
}

/// A quarantine entry with the given message.
pub fn new_quarantine(recipients: &[&str], message: &[u8]) -> NewQuarantine {
    NewQuarantine {
        queue_id: Some("4XqQ1".into()),
        message_id: Some("gtube@sender.test".into()),
        sender: "spammer@sender.test".into(),
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        subject: "Test spam mail (GTUBE)".into(),
        date: Some("Sun, 22 Nov 2026 02:20:48 +0000".into()),
        client_ip: Some("192.0.2.7".into()),
        outbound: false,
        kind: QuarantineKind::Spam,
        score: 1000.0,
        reasons: vec!["GTUBE".into()],
        message: Base64Bytes(message.to_vec()),
    }
}

/// A GTUBE message with a line starting with a dot (to see dot-stuffing work).
pub const GTUBE: &[u8] = b"From: spammer@sender.test\r\nTo: user@example.test\r\nSubject: Test spam mail (GTUBE)\r\nMessage-ID: <gtube@sender.test>\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n.leading dot line\r\nlast line\r\n";

/// Postfix's smtp-sink, capturing every transaction into a dump directory.
pub struct Sink {
    child: Child,
    dump: PathBuf,
    pub endpoint: Endpoint,
}

impl Sink {
    /// Listens on `unix:DIR/sink.sock`; `extra` are smtp-sink options.
    pub fn unix(dir: &Path, extra: &[&str]) -> Sink {
        let path = dir.join("sink.sock");
        let endpoint = Endpoint::Unix(path.clone());
        Sink::spawn(dir, extra, &format!("unix:{}", path.display()), endpoint)
            .expect("smtp-sink starts on a unix socket")
    }

    /// Listens on a free loopback port.
    pub fn tcp(dir: &Path, extra: &[&str]) -> Sink {
        for _ in 0..5 {
            // The port may be taken again between probing and smtp-sink's
            // bind; then smtp-sink exits and we try another.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let address = format!("127.0.0.1:{port}");
            if let Some(sink) = Sink::spawn(
                dir,
                extra,
                &format!("inet:{address}"),
                Endpoint::Tcp(address.clone()),
            ) {
                return sink;
            }
        }
        panic!("smtp-sink did not start on a loopback port");
    }

    fn spawn(dir: &Path, extra: &[&str], listen: &str, endpoint: Endpoint) -> Option<Sink> {
        let dump = dir.join(format!("dump-{}", std::process::id()));
        std::fs::create_dir_all(&dump).unwrap();
        let mut cmd = Command::new("smtp-sink");
        if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
            // smtp-sink refuses to run as root without dropping privileges;
            // the unprivileged user must reach and write the dump directory.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::set_permissions(&dump, std::fs::Permissions::from_mode(0o777)).unwrap();
            cmd.args(["-u", "nobody"]);
        }
        cmd.arg("-d")
            .arg(format!("{}/msg.", dump.display()))
            .args(extra)
            .args([listen, "10"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .expect("smtp-sink is installed (Debian package postfix)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return None; // exited (and reaped by try_wait)
            }
            let up = match &endpoint {
                Endpoint::Unix(p) => std::os::unix::net::UnixStream::connect(p).is_ok(),
                Endpoint::Tcp(a) => std::net::TcpStream::connect(a).is_ok(),
            };
            if up {
                return Some(Sink {
                    child,
                    dump,
                    endpoint,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// The captured transactions (smtp-sink's headers, then the message with LF line ends).
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&self.dump)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect()
    }

    /// Waits until at least `n` transactions were captured.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let messages = self.messages();
            if messages.len() >= n || Instant::now() > deadline {
                return messages;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
