//! Runs Postfix's smtp-sink on a loopback port or a unix socket, dumping
//! every received message into a temporary directory.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

/// A running smtp-sink; killed when dropped.
pub struct SmtpSink {
    child: Child,
    dir: tempfile::TempDir,
    /// The unique hostname in its banner, telling our sink from another test's.
    name: String,
    /// `127.0.0.1:PORT`, or the socket path for [`SmtpSink::start_unix`].
    pub address: String,
}

/// One message as smtp-sink dumped it.
pub struct Dump {
    /// The `X-*` lines smtp-sink writes about the transaction.
    pub meta: Vec<String>,
    /// The message as received: dot-unstuffed, lines ending in LF.
    pub message: Vec<u8>,
}

/// Whether smtp-sink is installed; says so on stderr when it is not.
pub fn available() -> bool {
    let found = Path::new(SMTP_SINK).exists();
    if !found {
        eprintln!("SKIPPED: {SMTP_SINK} is missing (apt-get install postfix)");
    }
    found
}

impl SmtpSink {
    /// Starts smtp-sink on a free loopback TCP port with extra `options`.
    pub fn start_tcp(options: &[&str]) -> SmtpSink {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("probe port")
                .port();
            let address = format!("127.0.0.1:{port}");
            let mut sink = SmtpSink::spawn(options, &address, address.clone());
            let banner = sink.banner(options);
            let ready = sink.wait_ready(|| {
                std::net::TcpStream::connect(&address).is_ok_and(|s| greets_with(s, &banner))
            });
            if ready {
                return sink;
            }
        }
        panic!("smtp-sink did not start on any port");
    }

    /// Starts smtp-sink on a unix socket inside its temporary directory.
    pub fn start_unix(options: &[&str]) -> SmtpSink {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sink.sock").display().to_string();
        let mut sink = SmtpSink::spawn_in(dir, options, &format!("unix:{path}"), path.clone());
        let banner = sink.banner(options);
        let ready = sink.wait_ready(|| {
            std::os::unix::net::UnixStream::connect(&path).is_ok_and(|s| greets_with(s, &banner))
        });
        assert!(ready, "smtp-sink did not start on {path}");
        sink
    }

    fn spawn(options: &[&str], listen: &str, address: String) -> SmtpSink {
        SmtpSink::spawn_in(
            tempfile::tempdir().expect("tempdir"),
            options,
            listen,
            address,
        )
    }

    fn spawn_in(
        dir: tempfile::TempDir,
        options: &[&str],
        listen: &str,
        address: String,
    ) -> SmtpSink {
        // As root smtp-sink insists on dropping privileges; the unprivileged
        // user must then be able to write the dumps.
        let root = fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
        let template = format!("{}/dump/%H%M%S.", dir.path().display());
        let name = format!("sink{}", dir.path().display()).replace(['/', '.'], "-");
        let mut command = Command::new(SMTP_SINK);
        if root {
            command.args(["-u", "nobody"]);
        }
        let child = command
            .args(options)
            .args(["-h", &name, "-d", &template, listen, "10"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn smtp-sink");
        SmtpSink {
            child,
            dir,
            name,
            address,
        }
    }

    /// Polls until `probe` succeeds; false if smtp-sink exited (port taken).
    /// The probe must recognise *this* sink: another test's sink may have
    /// won the race for the same port.
    fn wait_ready(&mut self, probe: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if probe() {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// How this sink's banner starts: its unique name, unless told to refuse
    /// connections with a 421 (then no other test's sink sends that).
    fn banner(&self, options: &[&str]) -> String {
        match options.windows(2).any(|w| w == ["-Q", "connect"]) {
            true => "421 ".to_string(),
            false => format!("220 {}", self.name),
        }
    }

    /// The port of a TCP sink.
    pub fn port(&self) -> u16 {
        self.address.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn dump_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(self.dir.path().join("dump")) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        files
    }

    /// Waits (a few seconds at most) until `count` complete dumps exist.
    pub fn dumps(&self, count: usize) -> Vec<Dump> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let files = self.dump_files();
            let dumps: Vec<Dump> = files
                .iter()
                .filter_map(|f| parse_dump(&fs::read(f).ok()?))
                .collect();
            if dumps.len() >= count || Instant::now() > deadline {
                assert_eq!(dumps.len(), count, "dumps in {:?}", self.dir.path());
                return dumps;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the server on `stream` starts its banner with `expected`.
fn greets_with(mut stream: impl Read + SetTimeout, expected: &str) -> bool {
    stream.set_timeout(Duration::from_secs(1));
    let mut banner = [0u8; 256];
    let read = stream.read(&mut banner).unwrap_or(0);
    banner[..read].starts_with(expected.as_bytes())
}

/// Read time limits for both kinds of std streams.
trait SetTimeout {
    fn set_timeout(&self, timeout: Duration);
}

impl SetTimeout for std::net::TcpStream {
    fn set_timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout)).expect("read timeout");
    }
}

impl SetTimeout for std::os::unix::net::UnixStream {
    fn set_timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout)).expect("read timeout");
    }
}

/// Splits a dump into smtp-sink's own lines and the message; `None` while
/// the three-line `Received:` header that ends smtp-sink's part, or the
/// empty line that ends the dump, is still missing.
fn parse_dump(bytes: &[u8]) -> Option<Dump> {
    let received = bytes.windows(10).position(|w| w == b"Received: ")?;
    let meta = String::from_utf8_lossy(&bytes[..received])
        .lines()
        .map(str::to_string)
        .collect();
    let mut rest = &bytes[received..];
    for _ in 0..3 {
        let end = rest.iter().position(|b| *b == b'\n')?;
        rest = &rest[end + 1..];
    }
    let message = rest.strip_suffix(b"\n")?.to_vec();
    Some(Dump { meta, message })
}

/// The message as smtp-sink writes it: normalised, then LF line endings.
pub fn as_dumped(message: &[u8]) -> Vec<u8> {
    let crlf = crate::normalise(message);
    let mut out = Vec::with_capacity(crlf.len());
    for line in crlf.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(line.strip_suffix(b"\r\n").unwrap_or(line));
        out.push(b'\n');
    }
    out
}
