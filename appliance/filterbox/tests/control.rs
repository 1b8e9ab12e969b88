//! The supervisor's control socket against a real `filterbox up`: status,
//! bad input, network requests refused on an unmanaged machine, reboot and
//! factory reset in host mode (every role back with a new pid), shutdown.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, wait_until, EXE};
use model::config::{SystemConfig, SYSTEM_JSON};
use model::control::{ask, ControlRequest, ControlResponse, SystemStatus};
use model::network::NetworkConfig;

const ROLES: [&str; 3] = ["manager", "filter", "mta"];

/// `filterbox up` with its listeners moved to free ports by command-line
/// overrides, which outlive a factory reset (the default ports may be taken).
struct Up {
    dir: tempfile::TempDir,
    child: Option<Child>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Up {
    fn start() -> Up {
        let dir = tempfile::tempdir().unwrap();
        let port = || format!("127.0.0.1:{}", free_port());
        let mut child = Command::new(EXE)
            .arg("up")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--smtp-listen", &port()])
            .args(["--submission-listen", &port()])
            .args(["--smtps-listen", &port()])
            .args(["--api-listen", &port()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (out, sink) = (child.stderr.take().unwrap(), logs.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let up = Up {
            dir,
            child: Some(child),
            logs,
        };
        up.wait_for_log("ready:", 1);
        up
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("control.sock")
    }

    fn ask(&self, request: &ControlRequest) -> ControlResponse {
        ask(&self.socket(), request, Duration::from_secs(20)).unwrap()
    }

    fn status(&self) -> SystemStatus {
        match self.ask(&ControlRequest::Status) {
            ControlResponse::Status(s) => s,
            other => panic!("{other:?}"),
        }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits until `needle` has been logged `count` times.
    fn wait_for_log(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.logs().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "no {count}x {needle:?} in:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "up did not exit:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- filterbox output ----\n{}", self.logs());
        }
    }
}

/// Every role healthy, with its pid.
fn healthy_role_pids(status: &SystemStatus) -> Option<Vec<u32>> {
    ROLES
        .iter()
        .map(|role| {
            let p = status.processes.iter().find(|p| p.name == *role)?;
            (p.state == "healthy").then_some(p.pid?)
        })
        .collect()
}

/// Sends raw bytes to the socket and returns the answer line.
fn raw(socket: &Path, bytes: &[u8]) -> ControlResponse {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(bytes).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    serde_json::from_str(answer.trim_end()).unwrap()
}

/// Pids of the roles once all are healthy again, none of them in `old`.
fn new_healthy_pids(up: &Up, old: &[u32]) -> Vec<u32> {
    wait_until(
        Duration::from_secs(60),
        "every role back and healthy",
        || {
            // The socket is gone for a moment while the box restarts.
            let response = ask(
                &up.socket(),
                &ControlRequest::Status,
                Duration::from_secs(5),
            )
            .ok()?;
            let ControlResponse::Status(status) = response else {
                return None;
            };
            healthy_role_pids(&status).filter(|pids| pids.iter().all(|p| !old.contains(p)))
        },
    )
}

#[test]
fn status_bad_input_unmanaged_network_reboot_and_shutdown() {
    let mut up = Up::start();
    let status = up.status();
    assert_eq!(status.version, model::VERSION);
    assert_eq!(status.boot_slot, None, "no slots on a workstation");
    assert_eq!(status.hostname, "filterbox.example.test");
    let pids = healthy_role_pids(&status).expect("every role healthy");
    let names: Vec<&str> = status.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ROLES);
    assert!(status.processes.iter().all(|p| p.restarts == 0));

    // Garbage, an unknown command, an oversized line: answered, nothing changes.
    for bad in [
        &b"this is not json\n"[..],
        br#"{"cmd":"format_disk"}"#,
        &[b'x'; 70 * 1024][..],
    ] {
        match raw(&up.socket(), bad) {
            ControlResponse::Error { message } => assert!(!message.is_empty()),
            other => panic!("{other:?}"),
        }
    }
    let refused = up.ask(&ControlRequest::ApplyNetwork {
        hostname: "mx1.example.test".into(),
        network: NetworkConfig::dhcp_on("eth0"),
    });
    assert_eq!(
        refused,
        ControlResponse::Error {
            message: "this machine's network is not managed (no `network` in system.json)".into()
        }
    );
    assert_eq!(
        up.ask(&ControlRequest::MarkBootGood),
        ControlResponse::Ok {
            message: "no firmware slots on this system".into()
        }
    );
    assert_eq!(healthy_role_pids(&up.status()), Some(pids.clone()));

    // Reboot: every role stops in order and comes back with a new pid.
    assert!(matches!(
        up.ask(&ControlRequest::Reboot),
        ControlResponse::Ok { .. }
    ));
    let after = new_healthy_pids(&up, &pids);
    assert_eq!(after.len(), 3);
    up.wait_for_log("ready:", 2);
    let status = up.status();
    let restarted = status.processes.iter().find(|p| p.name == "mta").unwrap();
    assert_eq!(restarted.state, "healthy");

    // Shutdown: answered, then `up` exits 0 with every role stopped.
    assert_eq!(
        up.ask(&ControlRequest::Shutdown),
        ControlResponse::Ok {
            message: "shutting down".into()
        }
    );
    let code = up.wait();
    assert!(code.success(), "{code:?}\n{}", up.logs());
    let logs = up.logs();
    assert!(logs.find("stopping mta") < logs.find("stopping manager"));
    assert!(!up.socket().exists(), "the socket is removed at exit");
}

#[test]
fn factory_reset_empties_the_data_directory_and_starts_again() {
    let mut up = Up::start();
    let pids = healthy_role_pids(&up.status()).unwrap();
    // Configuration changes and data that a reset must erase.
    let mut changed = SystemConfig::load(up.dir.path()).unwrap();
    changed.hostname = "changed.example.test".into();
    changed.write(up.dir.path()).unwrap();
    let marker = up.dir.path().join("left-behind");
    std::fs::write(&marker, b"x").unwrap();

    assert!(matches!(
        up.ask(&ControlRequest::FactoryReset),
        ControlResponse::Ok { .. }
    ));
    let after = new_healthy_pids(&up, &pids);
    assert_eq!(after.len(), 3);
    assert!(!marker.exists(), "the data directory was emptied");
    assert_eq!(
        SystemConfig::load(up.dir.path()).unwrap(),
        SystemConfig::default()
    );
    assert!(up.dir.path().join(SYSTEM_JSON).exists());
    assert!(up.logs().contains("factory reset: erasing everything"));
    assert!(matches!(
        up.ask(&ControlRequest::Shutdown),
        ControlResponse::Ok { .. }
    ));
    assert!(up.wait().success());
}
