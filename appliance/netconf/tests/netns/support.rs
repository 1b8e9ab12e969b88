//! Network namespaces for the tests: created with unique names, deleted by a
//! Drop guard, and entered by a dedicated thread (setns), so the host's own
//! interfaces, routes and host name are never touched.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use netconf::NetOptions;
use nix::sched::{setns, unshare, CloneFlags};

/// iproute2, as on a workstation.
pub const IPROUTE2: &[&str] = &["/usr/sbin/ip"];
/// busybox, as on the box.
pub const BUSYBOX: &[&str] = &["/bin/busybox", "ip"];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace, deleted when dropped.
pub struct NetNs {
    /// Its name under /run/netns.
    pub name: String,
}

impl NetNs {
    /// A new, empty namespace with a name no other test run uses.
    pub fn new() -> NetNs {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("fbnc-{}-{n}", std::process::id());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NS ARGS`: its output; panics if it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        run_ok(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// A veth pair inside this namespace, both ends up.
    pub fn veth(&self, a: &str, b: &str) {
        self.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
        self.ip(&["link", "set", b, "up"]);
    }

    /// Runs `f` on a thread inside this namespace (commands it starts too).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.run_with(false, f)
    }

    /// Like [`NetNs::run`], in a fresh UTS namespace as well (own host name).
    pub fn run_uts<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.run_with(true, f)
    }

    fn run_with<T: Send>(&self, uts: bool, f: impl FnOnce() -> T + Send) -> T {
        let path = Path::new("/run/netns").join(&self.name);
        std::thread::scope(|s| {
            let handle = s.spawn(move || {
                let fd = File::open(&path).expect("open the namespace");
                setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns");
                if uts {
                    unshare(CloneFlags::CLONE_NEWUTS).expect("unshare UTS");
                }
                f()
            });
            handle
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let status = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("could not delete network namespace {}", self.name);
        }
    }
}

/// Runs `cmd`; its stdout, or a panic with its stderr.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Options for a test: `ip` as given, files in `dir`, this test binary as the hook.
pub fn options(dir: &Path, ip: &[&str]) -> NetOptions {
    let exe = std::env::current_exe().expect("the test binary's path");
    NetOptions {
        ip_program: ip.iter().map(|s| s.to_string()).collect(),
        resolv_conf: dir.join("resolv.conf"),
        set_hostname: false,
        udhcpc: vec!["/bin/busybox".into(), "udhcpc".into()],
        dhcp_hook: vec![exe.to_string_lossy().into_owned(), "dhcp-hook".into()],
        timesync: vec![exe.to_string_lossy().into_owned(), "timesync".into()],
        runtime_dir: dir.join("run"),
    }
}

/// Waits until `check` is true, for at most `limit`.
pub fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test binary as udhcpc's hook: `<exe> dhcp-hook FILE EVENT`.
pub fn hook_main(args: &[String]) -> ExitCode {
    let [file, event] = args else {
        eprintln!("usage: dhcp-hook FILE EVENT");
        return ExitCode::FAILURE;
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    match netconf::dhcp_hook_file(Path::new(file), event, &env) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dhcp-hook {event}: {e}");
            ExitCode::FAILURE
        }
    }
}
