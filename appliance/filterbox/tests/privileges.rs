//! Least privilege: with `users` in system.json and `up` running as root,
//! every role runs as its user, in the shared group, with no supplementary
//! groups and no capabilities; the mta serves a port below 1024 through the
//! listener the supervisor bound and passed, and mail flows.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::{swaks, Recorder, TestBox};
use model::config::RoleUsers;

/// A privileged loopback port nobody listens on (25 when free).
fn free_privileged_port() -> u16 {
    [25, 24, 26, 587, 465, 1023, 1022]
        .into_iter()
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024")
}

/// The value of `key` in /proc/PID/status, blanks collapsed.
fn proc_status(pid: u32, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    line[key.len() + 1..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn roles_run_unprivileged_and_the_mta_serves_a_privileged_port() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: switching users needs root (the tests run as root in CI)");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let nogroup = nix::unistd::Group::from_name("nogroup").unwrap().unwrap();
    let downstream = Recorder::start();
    let mut config = TestBox::config(downstream.port);
    let port = free_privileged_port();
    config.mta.smtp_listen = format!("127.0.0.1:{port}");
    config.users = Some(RoleUsers {
        manager: "nobody".into(),
        filter: "nobody".into(),
        mta: "nobody".into(),
        group: "nogroup".into(),
    });
    let b = TestBox::start_with(config);
    assert!(b.logs().contains("roles run as nobody"), "{}", b.logs());

    let (uid, gid) = (nobody.uid.as_raw(), nogroup.gid.as_raw());
    for role in ["manager", "filter", "mta"] {
        let pid = b.role_pid(role).expect("role runs");
        assert_eq!(
            proc_status(pid, "Uid"),
            format!("{uid} {uid} {uid} {uid}"),
            "{role}"
        );
        assert_eq!(
            proc_status(pid, "Gid"),
            format!("{gid} {gid} {gid} {gid}"),
            "{role}"
        );
        assert_eq!(
            proc_status(pid, "Groups"),
            "",
            "{role} keeps no supplementary group"
        );
        assert_eq!(proc_status(pid, "CapEff"), "0000000000000000", "{role}");
        assert_eq!(proc_status(pid, "CapPrm"), "0000000000000000", "{role}");
    }
    // The mta did not bind the port itself: it was handed the listener.
    let mta = b.role_pid("mta").unwrap();
    let environ = std::fs::read(format!("/proc/{mta}/environ")).unwrap();
    assert!(
        environ
            .split(|c| *c == 0)
            .any(|v| v.starts_with(b"FILTERBOX_LISTEN_FDS=smtp:3,submission:4")),
        "the mta got no listeners"
    );
    // The data directory and the sockets belong to the roles' group.
    let dir = std::fs::metadata(b.dir.path()).unwrap();
    assert_eq!(
        (dir.uid(), dir.gid(), dir.mode() & 0o7777),
        (0, gid, 0o1770)
    );
    for socket in [
        "manager.sock",
        "filter.sock",
        "mta-inject.sock",
        "control.sock",
    ] {
        let meta = std::fs::metadata(b.dir.path().join(socket)).unwrap();
        assert_eq!((meta.gid(), meta.mode() & 0o777), (gid, 0o660), "{socket}");
    }

    let out = swaks(&[
        "--server",
        b.smtp(),
        "--to",
        "user@example.test",
        "--body",
        "through a privileged port",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let got = downstream.wait_for(1, Duration::from_secs(30));
    assert!(got[0].text().contains("through a privileged port"));
    assert!(
        got[0].header("X-Spam-Score")[0].parse::<f64>().unwrap() < 5.0,
        "scored as ham"
    );
}
