//! The serial console driven through a pty, expect-style, against the whole
//! box: `filterbox up` runs inside a network namespace the test creates
//! (with a veth pair, both ends inside it: the host's interfaces are never
//! touched) and manages one veth end; the console sets a new static address
//! from its Network screen, and `ip -n NS addr` shows what was applied.
//! A second test pulls the console's line and plugs in another one.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{free_port, wait_until, TestBox, EXE};
use model::network::{InterfaceConfig, Ipv4Config, Ipv6Config, NetworkConfig};
use test_harness::pty::Expect;

/// Time for one screen; the first password hash and `ip` calls are slow in debug builds.
const WAIT: Duration = Duration::from_secs(60);
const MENU_PROMPT: &str = "Enter an option (? for the menu): ";
/// The veth end the box manages, and its peer (both inside the namespace).
const IFACE: &str = "fbc0";
const PEER: &str = "fbc1";

/// A network namespace with a veth pair; deleted (with the pair) on drop.
struct NetNs {
    name: String,
}

impl NetNs {
    fn create() -> NetNs {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "fbcon{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        let ns = NetNs { name };
        ns.ip(&["link", "add", IFACE, "type", "veth", "peer", "name", PEER]);
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["link", "set", PEER, "up"]);
        ns
    }

    /// Runs `ip -n NS ARGS`, which must succeed; returns its output.
    fn ip(&self, args: &[&str]) -> String {
        ip(&[&["-n", self.name.as_str()], args].concat())
    }

    /// The IPv4 addresses of `IFACE` as `ip` shows them.
    fn addresses(&self) -> String {
        self.ip(&["-4", "-o", "addr", "show", "dev", IFACE])
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("iproute2");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `filterbox console --tty PATH`; killed on drop (its log shown on failure).
struct ConsoleProcess {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl ConsoleProcess {
    fn start(data_dir: &Path, tty: &Path) -> ConsoleProcess {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(EXE)
            .arg("console")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--tty")
            .arg(tty)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        ConsoleProcess { child, log }
    }
}

impl Drop for ConsoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            eprintln!("---- console log ----\n{log}");
        }
    }
}

/// Sets the first admin password at the console and reaches the menu.
fn first_login(pty: &mut Expect, password: &str) {
    pty.expect("New admin password: ", WAIT);
    pty.send(&format!("{password}\r"));
    pty.expect("Repeat the new password: ", WAIT);
    pty.send(&format!("{password}\r"));
    pty.expect("Admin password set", WAIT);
    pty.expect(MENU_PROMPT, WAIT);
}

#[test]
fn static_address_set_from_the_console_is_applied_and_bad_input_changes_nothing() {
    let ns = NetNs::create();
    let mut config = TestBox::config(free_port());
    config.hostname = "mx1.example.test".into();
    config.network = Some(NetworkConfig {
        interfaces: vec![InterfaceConfig {
            name: IFACE.into(),
            ipv4: Ipv4Config::Static {
                address: "10.77.0.2/24".into(),
                gateway: None,
            },
            ipv6: Ipv6Config::Disabled,
        }],
        dns: vec![],
        ntp: vec![],
    });
    // A UTS namespace too, so no host name of the host is ever changed.
    let b = TestBox::launch_wrapped(
        &["ip", "netns", "exec", &ns.name, "unshare", "--uts"],
        config,
    );
    b.wait_for_log("ready:", WAIT);
    let control = b.dir.path().join("control.sock");
    wait_until(WAIT, "the control socket", || {
        control.exists().then_some(())
    });
    wait_until(WAIT, "the boot address", || {
        ns.addresses().contains("10.77.0.2/24").then_some(())
    });

    let mut pty = Expect::open().unwrap();
    let _console = ConsoleProcess::start(b.dir.path(), pty.slave_path());
    first_login(&mut pty, "console-secret");

    // Network -> static, new address, prefix and gateway -> confirm.
    pty.send("2\r");
    pty.expect(
        &format!("{IFACE}       IPv4 static 10.77.0.2/24, no gateway"),
        WAIT,
    );
    pty.expect(
        &format!("IPv4 on {IFACE}: dhcp or static? [static]: "),
        WAIT,
    );
    pty.send("static\r");
    pty.expect(
        "IPv4 address/prefix, e.g. 192.0.2.10/24 [10.77.0.2/24]: ",
        WAIT,
    );
    pty.send("10.77.1.5/24\r");
    pty.expect("Default gateway (none for no gateway): ", WAIT);
    pty.send("10.77.1.1\r");
    pty.expect("DNS servers", WAIT);
    pty.send("\r");
    pty.expect("Host name [mx1.example.test]: ", WAIT);
    pty.send("\r");
    pty.expect(
        &format!("{IFACE}       IPv4 static 10.77.1.5/24, gateway 10.77.1.1"),
        WAIT,
    );
    pty.expect("Apply these settings now? (y/n): ", WAIT);
    pty.send("y\r");
    pty.expect("The new settings are in force.", WAIT);
    pty.expect("Interfaces now:", WAIT);
    pty.expect("10.77.1.5/24", WAIT);
    pty.expect(MENU_PROMPT, WAIT);
    let addresses = ns.addresses();
    assert!(addresses.contains("10.77.1.5/24"), "{addresses}");
    assert!(!addresses.contains("10.77.0.2"), "{addresses}");
    let routes = ns.ip(&["-4", "route", "show", "default"]);
    assert!(routes.contains("via 10.77.1.1"), "{routes}");

    // An invalid address is refused with a message; Ctrl-C leaves the screen.
    pty.send("2\r");
    pty.expect("dhcp or static? [static]: ", WAIT);
    pty.send("\r");
    pty.expect("[10.77.1.5/24]: ", WAIT);
    pty.send("10.0.0.300/24\r");
    pty.expect("\"10.0.0.300\" is not an IP address", WAIT);
    pty.expect("[10.77.1.5/24]: ", WAIT);
    pty.send("\x03");
    pty.expect("Cancelled.", WAIT);
    pty.expect(MENU_PROMPT, WAIT);
    let after = ns.addresses();
    assert!(
        after.contains("10.77.1.5/24") && !after.contains("10.0.0."),
        "{after}"
    );

    // Status shows the new address and every role healthy.
    pty.send("1\r");
    let status = pty.expect("received", WAIT);
    for needle in [
        "Host name  mx1.example.test",
        "10.77.1.5/24",
        "All processes healthy.",
    ] {
        assert!(status.contains(needle), "{needle:?} missing from\n{status}");
    }
    for role in ["manager", "filter", "mta"] {
        assert!(
            status
                .lines()
                .any(|l| l.trim_start().starts_with(role) && l.contains("healthy")),
            "{role} not healthy:\n{status}"
        );
    }
    pty.expect(MENU_PROMPT, WAIT);
    pty.send("0\r");
    pty.expect("Logged out.", WAIT);
}

/// Points `link` at `target`, replacing it atomically.
fn point(link: &Path, target: &Path) {
    let tmp: PathBuf = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

#[test]
fn a_closed_line_is_reopened_and_must_log_in_again() {
    let b = TestBox::start(free_port());
    let links = tempfile::tempdir().unwrap();
    let line = links.path().join("ttyS0");
    let mut first = Expect::open().unwrap();
    point(&line, first.slave_path());
    let _console = ConsoleProcess::start(b.dir.path(), &line);
    first_login(&mut first, "console-secret");

    // The cable moves to another port: the old line closes.
    let mut second = Expect::open().unwrap();
    point(&line, second.slave_path());
    first.release_slave();
    drop(first);

    // The console reopens the device and starts at the login again.
    second.expect("filterbox ", WAIT);
    second.expect("Admin password: ", WAIT);
    second.send("wrong-secret\r");
    second.expect("Wrong password.", WAIT);
    second.send("console-secret\r");
    second.expect("Logged in.", WAIT);
    second.expect(MENU_PROMPT, WAIT);
    assert!(
        !second.transcript().contains("secret"),
        "a password was echoed"
    );
}
