//! A private Postfix instance for tests: smtpd on a loopback port with a
//! milter, relaying everything for `example.test` to a given loopback port.
//!
//! Used wherever Postfix is the real peer (the filter's milter tests, the
//! end-to-end test of the box as Postfix's milter). Everything lives under a
//! directory the caller owns; Postfix is stopped when the value is dropped.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The Postfix binary.
pub const POSTFIX: &str = "/usr/sbin/postfix";

/// A free loopback TCP port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("ephemeral port")
}

/// Polls `f` every 50 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `cmd`, panicking with its output if it fails; returns its output.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// Gives `path` to the `postfix` user.
pub fn chown_postfix(path: &Path) {
    run(Command::new("chown").arg("postfix:postfix").arg(path));
}

/// Lets the `postfix` user into `dir` (temporary directories are 0700).
pub fn open_dir(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A private Postfix instance: smtpd on a loopback port with the filter as
/// its milter, relaying everything for `example.test` to the sink.
pub struct Postfix {
    config: PathBuf,
    queue: PathBuf,
    /// smtpd's port.
    pub port: u16,
    maillog: PathBuf,
}

impl Postfix {
    /// Writes `base/postfix/{main.cf,master.cf}` and starts Postfix with
    /// `smtpd_milters = milter` (Postfix syntax: `unix:PATH`, `inet:HOST:PORT`).
    pub fn start(base: &Path, milter: &str, sink_port: u16) -> Postfix {
        let root = base.join("postfix");
        let (config, queue, data) = (root.join("etc"), root.join("queue"), root.join("data"));
        for d in [&config, &queue, &data] {
            std::fs::create_dir_all(d).unwrap();
        }
        open_dir(&root);
        chown_postfix(&data);
        let port = free_port();
        let maillog = root.join("maillog");
        std::fs::write(config.join("main.cf"), main_cf(&root, milter, sink_port)).unwrap();
        std::fs::write(config.join("master.cf"), master_cf(port)).unwrap();
        let pf = Postfix {
            config,
            queue,
            port,
            maillog,
        };
        run(Command::new(POSTFIX).arg("-c").arg(&pf.config).arg("start"));
        let up = wait_for(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(
            up.is_some(),
            "Postfix smtpd did not listen on {port}: {}",
            pf.log()
        );
        pf
    }

    /// Postfix's log (`maillog_file`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.maillog).unwrap_or_default()
    }

    /// Waits until the log has a line containing all of `parts`; returns it.
    pub fn wait_log(&self, parts: &[&str]) -> String {
        wait_for(Duration::from_secs(20), || {
            self.log()
                .lines()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no log line with {parts:?}:\n{}", self.log()))
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.queue.join("pid/master.pid")).unwrap_or_default();
        let _ = Command::new(POSTFIX)
            .arg("-c")
            .arg(&self.config)
            .arg("stop")
            .output();
        // The master leaves its pid file behind; wait for the process itself.
        let proc = PathBuf::from(format!("/proc/{}", pid.trim()));
        if !pid.trim().is_empty() {
            wait_for(Duration::from_secs(10), || (!proc.exists()).then_some(()));
        }
    }
}

fn main_cf(root: &Path, milter: &str, sink_port: u16) -> String {
    let r = root.display();
    format!(
        "compatibility_level = 3.6
myhostname = mx.postfix.test
mydomain = postfix.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = example.test
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [127.0.0.1]:{sink_port}
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
queue_directory = {r}/queue
data_directory = {r}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {r}/maillog
maillog_file_prefixes = {r}
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
smtpd_milters = {milter}
milter_protocol = 6
milter_default_action = tempfail
"
    )
}

fn master_cf(port: u16) -> String {
    let services = [
        format!("127.0.0.1:{port} inet n - n - - smtpd"),
        "cleanup unix n - n - 0 cleanup".into(),
        "qmgr unix n - n 300 1 qmgr".into(),
        "rewrite unix - - n - - trivial-rewrite".into(),
        "bounce unix - - n - 0 bounce".into(),
        "defer unix - - n - 0 bounce".into(),
        "trace unix - - n - 0 bounce".into(),
        "verify unix - - n - 1 verify".into(),
        "flush unix n - n 1000? 0 flush".into(),
        "proxymap unix - - n - - proxymap".into(),
        "smtp unix - - n - - smtp".into(),
        "relay unix - - n - - smtp".into(),
        "showq unix n - n - - showq".into(),
        "error unix - - n - - error".into(),
        "retry unix - - n - - error".into(),
        "discard unix - - n - - discard".into(),
        "anvil unix - - n - 1 anvil".into(),
        "scache unix - - n - 1 scache".into(),
        "postlog unix-dgram n - n - 1 postlogd".into(),
    ];
    services.join("\n") + "\n"
}
