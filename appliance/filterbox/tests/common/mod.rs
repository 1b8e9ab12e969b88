//! Helpers of the end-to-end tests: the box started with `filterbox up`, a
//! recording SMTP server downstream, and a raw SMTP client.
//!
//! Every test gets its own data directory and its own free loopback ports, so
//! the tests run in parallel.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use model::client::ApiClient;
use model::config::SystemConfig;
use model::Endpoint;

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_filterbox");

/// The workspace root, to find test-harness scripts.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A message the downstream server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt_tos: Vec<String>,
    /// The message bytes as received (dot-unstuffed).
    pub bytes: Vec<u8>,
}

impl Received {
    /// The message as text, for header checks.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The body: everything after the first empty line.
    pub fn body(&self) -> &[u8] {
        let pos = self
            .bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("message has a header/body separator");
        &self.bytes[pos + 4..]
    }

    /// Values of header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Vec<String> {
        let text = self.text();
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut out: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(c) = current.as_mut() {
                    c.push_str(line);
                }
                continue;
            }
            if let Some(c) = current.take() {
                out.push(c);
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case(name) {
                    current = Some(v.trim().to_string());
                }
            }
        }
        out.extend(current);
        out
    }
}

/// A receiving SMTP server (test-harness/tools/smtp_recorder.py, on aiosmtpd)
/// standing in for the customer's mail server.
pub struct Recorder {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Recorder {
    /// Starts one that accepts everything.
    pub fn start() -> Recorder {
        Recorder::start_on(free_port(), 0)
    }

    /// Starts one on `port` that answers the first `tempfail_first` DATA with 451.
    pub fn start_on(port: u16, tempfail_first: usize) -> Recorder {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("/usr/bin/python3")
            .arg(workspace().join("test-harness/tools/smtp_recorder.py"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--dir")
            .arg(dir.path())
            .args(["--tempfail-first", &tempfail_first.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (run scripts/test to install it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("listening"),
            "recorder did not start: {line:?}"
        );
        Recorder { port, dir, child }
    }

    /// Every complete message received so far, in arrival order.
    pub fn messages(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|json| {
                let meta: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
                Received {
                    mail_from: meta["mail_from"].as_str().unwrap().to_string(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_string())
                        .collect(),
                    bytes: std::fs::read(json.with_extension("eml")).unwrap(),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived and returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        wait_until(timeout, &format!("{n} messages downstream"), || {
            let m = self.messages();
            (m.len() >= n).then_some(m)
        })
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The whole box, started with `filterbox up` in a temporary data directory.
pub struct TestBox {
    /// The data directory.
    pub dir: tempfile::TempDir,
    /// The effective configuration written for this box.
    pub config: SystemConfig,
    child: Option<Child>,
    logs: Arc<Mutex<Vec<String>>>,
    /// The filter's DNS (SPF, DKIM, DMARC): empty, on loopback, unless the
    /// configuration names others.
    _dns: Option<test_harness::dns::DnsServer>,
}

impl TestBox {
    /// A configuration on free ports delivering `example.test` to `downstream_port`.
    pub fn config(downstream_port: u16) -> SystemConfig {
        let mut c = SystemConfig::default();
        c.mta.smtp_listen = format!("127.0.0.1:{}", free_port());
        c.mta.submission_listen = Some(format!("127.0.0.1:{}", free_port()));
        c.mta.smtps_listen = Some(format!("127.0.0.1:{}", free_port()));
        c.manager.http_listen = Some(format!("127.0.0.1:{}", free_port()));
        c.mta.retry_initial_secs = 1;
        c.mta.retry_max_secs = 2;
        c.initial_data.domains[0].delivery[0].port = downstream_port;
        c
    }

    /// Starts a box delivering to `downstream_port` and waits until it is ready.
    pub fn start(downstream_port: u16) -> TestBox {
        TestBox::start_with(TestBox::config(downstream_port))
    }

    /// Starts a box with `config` and waits until it is ready.
    pub fn start_with(config: SystemConfig) -> TestBox {
        let b = TestBox::launch(config);
        b.wait_for_log("ready:", Duration::from_secs(60));
        b
    }

    /// Starts `filterbox up` with `config` without waiting for anything.
    pub fn launch(config: SystemConfig) -> TestBox {
        TestBox::launch_wrapped(&[], config)
    }

    /// Starts `WRAPPER... filterbox up` (e.g. `unshare --pid --fork`) with
    /// `config`, without waiting for anything.
    pub fn launch_wrapped(wrapper: &[&str], mut config: SystemConfig) -> TestBox {
        let dns = config.filter.nameservers.is_empty().then(|| {
            let dns = test_harness::dns::DnsServer::start(&[]).unwrap();
            config.filter.nameservers = vec![dns.addr().to_string()];
            dns
        });
        let dir = tempfile::tempdir().unwrap();
        config.write(dir.path()).unwrap();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(EXE);
                c
            }
            None => Command::new(EXE),
        };
        let mut child = command
            .arg("up")
            .arg("--data-dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    logs.lock().unwrap().push(line);
                }
            });
        }
        TestBox {
            dir,
            config,
            child: Some(child),
            logs,
            _dns: dns,
        }
    }

    /// Waits for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.logs().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no log line with {needle:?} after {timeout:?}; logs:\n{}",
            self.logs()
        );
    }

    /// Everything the box printed so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The SMTP listener's address.
    pub fn smtp(&self) -> &str {
        &self.config.mta.smtp_listen
    }

    /// A client of the API over its unix socket.
    pub fn api(&self) -> ApiClient {
        ApiClient::new(Endpoint::Unix(self.dir.path().join("manager.sock")))
    }

    /// Runs `filterbox ctl --data-dir DIR ARGS`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(EXE)
            .arg("ctl")
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs ctl and returns its stdout, failing the test if it failed.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "ctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The pid of the running process of `role` (`mta`, `filter`, `manager`).
    pub fn role_pid(&self, role: &str) -> Option<u32> {
        let dir = self.dir.path().to_string_lossy().into_owned();
        for entry in std::fs::read_dir("/proc").ok()? {
            let entry = entry.ok()?;
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if args.len() >= 4 && args[1] == role && args[2] == "--data-dir" && args[3] == dir {
                return Some(pid);
            }
        }
        None
    }

    /// The pid of the process started by [`TestBox::launch_wrapped`] (the
    /// wrapper's, when there is one).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits for the process to end by itself (after a signal the test sent
    /// elsewhere); panics after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "still running after {timeout:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM to `up` and returns how it ended.
    pub fn stop(&mut self) -> ExitStatus {
        self.terminate().expect("up was running")
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestBox {
    fn drop(&mut self) {
        self.terminate();
        if std::thread::panicking() {
            eprintln!("---- filterbox output ----\n{}", self.logs());
        }
    }
}

/// Runs swaks with `args`; swaks is the sending peer of the walkthrough.
pub fn swaks(args: &[&str]) -> Output {
    Command::new("swaks")
        .args(["--timeout", "30"])
        .args(args)
        .output()
        .expect("swaks (run scripts/test to install it)")
}

/// A raw SMTP client for byte-exact conversations.
pub struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    /// Connects and reads the greeting, which must be 220.
    pub fn connect(addr: &str) -> Smtp {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut s = Smtp {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        s.expect(220);
        s
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Reads one (possibly multi-line) reply: its code and full text.
    pub fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "connection closed; so far: {text:?}");
            text.push_str(&line);
            if line.len() >= 4 && line.as_bytes()[3] == b' ' {
                return (line[..3].parse().unwrap(), text);
            }
        }
    }

    /// Reads a reply and asserts its code; returns the text.
    pub fn expect(&mut self, code: u16) -> String {
        let (got, text) = self.reply();
        assert_eq!(got, code, "unexpected reply {text:?}");
        text
    }

    /// Sends a command line (CRLF added) and returns the reply.
    pub fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// A full transaction; returns the final reply after the dot.
    pub fn send_mail(&mut self, from: &str, to: &[&str], data: &[u8]) -> (u16, String) {
        assert_eq!(self.cmd(&format!("MAIL FROM:<{from}>")).0, 250);
        for rcpt in to {
            let (code, text) = self.cmd(&format!("RCPT TO:<{rcpt}>"));
            assert_eq!(code, 250, "{text}");
        }
        assert_eq!(self.cmd("DATA").0, 354);
        self.send(data);
        self.send(if data.ends_with(b"\r\n") {
            b".\r\n".as_slice()
        } else {
            b"\r\n.\r\n".as_slice()
        });
        self.reply()
    }
}
