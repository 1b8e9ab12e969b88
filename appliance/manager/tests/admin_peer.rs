//! Who may reset the admin password without the current one, over the real
//! unix socket, told apart by the kernel's peer credentials: root (or the
//! manager's own user) may; another user in the socket's group, as the mta
//! and the filter run on the appliance, may not.
//!
//! The other user is a real process: this test binary itself, re-run as
//! `nobody` with [`CLIENT_ENV`] naming the socket, acts as the client.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::TestManager;
use nix::unistd::{geteuid, User};

/// Set in the re-run child: the socket it is to try, as another user.
const CLIENT_ENV: &str = "MANAGER_TEST_OTHER_USER_SOCKET";
/// How the child reports the status it got, on a line of its own.
const STATUS_LINE: &str = "other user got status ";
const FIRST: &str = "the first password";

/// `PUT /api/v1/admin/password` on `socket` by hand; the answer's status.
fn put_password(socket: &Path, password: &str, current: Option<&str>) -> u16 {
    let body = serde_json::json!({ "password": password, "current": current }).to_string();
    let mut s = UnixStream::connect(socket).expect("the socket admits this user");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "PUT /api/v1/admin/password HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok());
    status.unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// The child's part: try a reset without the current password.
fn act_as_the_other_user(socket: &Path) {
    let status = put_password(socket, "a stolen password", None);
    println!("\n{STATUS_LINE}{status} as uid {}", geteuid());
}

/// Lets `uid`/`gid` reach the socket as a role of the box would: through
/// the group (the socket is 0660; its directory gets group search rights).
fn share_with_group(socket: &Path, gid: u32) {
    let dir = socket.parent().unwrap();
    std::os::unix::fs::chown(dir, None, Some(gid)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710)).unwrap();
    std::os::unix::fs::chown(socket, None, Some(gid)).unwrap();
}

/// Re-runs this test as `user`, acting as the client; its reported status.
fn status_as(user: &User, socket: &Path) -> u16 {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "only_root_resets_without_the_current_password"])
        .arg("--nocapture")
        .env(CLIENT_ENV, socket)
        .uid(user.uid.as_raw())
        .gid(user.gid.as_raw())
        .current_dir("/")
        .output()
        .expect("the test binary runs as the other user");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(STATUS_LINE))
        .unwrap_or_else(|| panic!("the child reported nothing: {stdout}"));
    assert!(line.ends_with(&format!(" as uid {}", user.uid)), "{line}");
    line.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn only_root_resets_without_the_current_password() {
    if let Some(socket) = std::env::var_os(CLIENT_ENV) {
        return act_as_the_other_user(Path::new(&socket));
    }
    let m = TestManager::start(None);
    let socket = m.config.manager.api_socket.clone();
    assert_eq!(put_password(&socket, FIRST, None), 204);

    if geteuid().is_root() {
        let nobody = User::from_name("nobody").unwrap().expect("a user nobody");
        share_with_group(&socket, nobody.gid.as_raw());
        assert_eq!(status_as(&nobody, &socket), 401);
        m.unix().verify_admin_password(FIRST).expect("unchanged");
        m.unix()
            .verify_admin_password("a stolen password")
            .unwrap_err();
        let with_current = put_password(&socket, "second password", Some(FIRST));
        assert_eq!(with_current, 204, "root may give the current one too");
    } else {
        eprintln!("not root: cannot run a client as another user; that part is skipped");
    }
    // Root at the box, or the manager's own user (this process is both here).
    assert_eq!(put_password(&socket, "reset at the box", None), 204);
    m.unix().verify_admin_password("reset at the box").unwrap();
}
