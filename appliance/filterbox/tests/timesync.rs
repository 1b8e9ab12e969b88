//! `filterbox timesync` end to end: against a real chronyd on loopback, a
//! closed port, and a scripted server for what chronyd cannot be made to do
//! (be 2 s ahead, send a kiss-o'-death).
//!
//! The clock of the machine running the tests is never set: every run is a
//! `--dry-run`, except one run as an unprivileged user, which the kernel
//! refuses.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use test_harness::chrony::Chrony;
use timesync::timestamp::NtpTimestamp;

const EXE: &str = env!("CARGO_BIN_EXE_filterbox");

/// The unprivileged user and group (nobody/nogroup on Debian).
const NOBODY: u32 = 65534;

fn timesync(args: &[&str]) -> Command {
    let mut cmd = Command::new(EXE);
    cmd.arg("timesync").args(args).env_remove("FILTERBOX_LOG");
    cmd
}

fn output(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// The offset in seconds of a poll line (`offset +0.000123 s (median...`).
fn offset_of(line: &str) -> f64 {
    let rest = line
        .strip_prefix("offset ")
        .unwrap_or_else(|| panic!("not a poll line: {line:?}"));
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// A loopback UDP port nothing listens on.
fn closed_port() -> u16 {
    test_harness::chrony::free_udp_port()
}

/// What the scripted server answers.
#[derive(Clone, Copy)]
enum Script {
    /// A stratum-2 server this many nanoseconds ahead of our clock.
    Ahead(i128),
    /// A kiss-o'-death with this code.
    Kiss(&'static [u8; 4]),
}

/// A scripted NTP server on a loopback port, answering every request.
struct Scripted {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    fn start(script: Script) -> Scripted {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stopped.load(Ordering::Relaxed) {
                if let Ok((len, from)) = socket.recv_from(&mut buf) {
                    if len >= 48 {
                        socket.send_to(&answer(&buf[..48], script), from).unwrap();
                    }
                }
            }
        });
        Scripted {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(request: &[u8], script: Script) -> [u8; 48] {
    let mut p = [0u8; 48];
    p[24..32].copy_from_slice(&request[40..48]);
    match script {
        Script::Ahead(nanos) => {
            let now = timesync::timestamp::unix_nanos(SystemTime::now());
            let t = NtpTimestamp::from_unix_nanos(now + nanos).0.to_be_bytes();
            p[0] = (4 << 3) | 4;
            p[1] = 2;
            p[12..16].copy_from_slice(b"GPS\0");
            p[32..40].copy_from_slice(&t);
            p[40..48].copy_from_slice(&t);
        }
        Script::Kiss(code) => {
            p[0] = (3 << 6) | (4 << 3) | 4;
            p[12..16].copy_from_slice(code);
        }
    }
    p
}

#[test]
fn once_dry_run_against_chronyd_reports_about_no_offset() {
    let dir = tempfile::tempdir().unwrap();
    let chrony = Chrony::start(dir.path());
    let server = format!("127.0.0.1:{}", chrony.port);
    let (out, stdout, stderr) =
        output(&mut timesync(&["--server", &server, "--once", "--dry-run"]));
    assert!(out.status.success(), "{stderr}");
    let line = stdout.lines().next().unwrap_or_default();
    assert!(offset_of(line).abs() < 0.005, "{line}");
    assert!(
        line.ends_with("(median of 1/1 servers), within 128 ms: clock left alone"),
        "{line}"
    );
    assert!(
        stderr.contains(&format!("INFO  timesync: {line}")),
        "logged: {stderr}"
    );
}

#[test]
fn a_closed_port_exits_1_with_a_clear_message() {
    let server = format!("127.0.0.1:{}", closed_port());
    let (out, _, stderr) = output(&mut timesync(&["--server", &server, "--once", "--dry-run"]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "filterbox: no NTP server answered: {server}: connection refused"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("WARN  timesync: {server}: unreachable")),
        "{stderr}"
    );
}

#[test]
fn a_clock_2_s_behind_would_be_stepped_but_only_root_may() {
    let ahead = Scripted::start(Script::Ahead(2_000_000_000));
    let server = format!("127.0.0.1:{}", ahead.port);
    let (out, stdout, stderr) =
        output(&mut timesync(&["--server", &server, "--once", "--dry-run"]));
    assert!(out.status.success(), "{stderr}");
    let line = stdout.lines().next().unwrap_or_default();
    assert!((offset_of(line) - 2.0).abs() < 0.005, "{line}");
    assert!(
        line.contains("dry run: would step the clock by +2.0"),
        "{line}"
    );

    // For real, as nobody: the kernel refuses, so this machine's clock stays.
    let mut as_nobody = timesync(&["--server", &server, "--once"]);
    assert!(
        nix::unistd::geteuid().is_root(),
        "run the tests as root: only root can drop to an unprivileged user here"
    );
    as_nobody.uid(NOBODY).gid(NOBODY);
    let (out, _, stderr) = output(&mut as_nobody);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("filterbox: cannot set the clock: that needs root (CAP_SYS_TIME)"),
        "{stderr}"
    );
}

#[test]
fn a_deny_kiss_is_no_answer_and_the_server_is_given_up() {
    let deny = Scripted::start(Script::Kiss(b"DENY"));
    let server = format!("127.0.0.1:{}", deny.port);
    let (out, _, stderr) = output(&mut timesync(&["--server", &server, "--once", "--dry-run"]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{server}: kiss-o'-death DENY: never asking it again"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("no NTP server answered"), "{stderr}");
}

/// Kills the service when the test ends, however it ends.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_service_polls_then_waits_64_s() {
    let dir = tempfile::tempdir().unwrap();
    let chrony = Chrony::start(dir.path());
    let good = format!("127.0.0.1:{}", chrony.port);
    let dead = format!("127.0.0.1:{}", closed_port());
    let mut service = Service(
        timesync(&["--server", &good, "--server", &dead, "--dry-run"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(service.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(offset_of(&first).abs() < 0.005, "{first}");
    assert!(first.contains("(median of 1/2 servers)"), "{first}");
    assert!(first.ends_with("next poll in 64 s"), "{first}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        service.0.try_wait().unwrap().is_none(),
        "the service exited"
    );
}
