//! `filterbox ctl admin …` and `ctl stats` against a real manager (unix
//! socket and TCP with the token) on a temporary data directory.

use std::path::Path;

use clap::Parser;
use model::api::{EventKind, MailStats, TrackingEvent};
use model::client::ApiClient;
use model::config::SystemConfig;
use model::Endpoint;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ctl::CtlArgs,
}

/// Runs `filterbox ctl ARGS` with `input` as standard input (a pipe):
/// stdout on success, the `{:#}` message on error.
fn ctl(dir: &Path, input: &str, argv: &[&str]) -> Result<String, String> {
    let full = ["ctl", "--data-dir", dir.to_str().unwrap()]
        .into_iter()
        .chain(argv.iter().copied());
    let args = Cli::try_parse_from(full).map_err(|e| e.to_string())?.args;
    let mut lines = input.as_bytes();
    let mut out = Vec::new();
    ctl::run_with(args, &mut ctl::Passwords::lines(&mut lines), &mut out)
        .map_err(|e| format!("{e:#}"))?;
    Ok(String::from_utf8(out).unwrap())
}

fn ok(dir: &Path, input: &str, argv: &[&str]) -> String {
    ctl(dir, input, argv).unwrap_or_else(|e| panic!("ctl {argv:?}: {e}"))
}

/// A manager on `dir` with its socket there and TCP on an ephemeral port.
fn start(dir: &Path) -> (manager::Manager, String) {
    let mut c = SystemConfig::default();
    c.manager.api_socket = dir.join("manager.sock");
    c.manager.http_listen = Some("127.0.0.1:0".into());
    c.manager.mta_inject = Endpoint::Unix(dir.join("mta.sock"));
    c.write(dir).unwrap();
    let m = manager::Manager::start(&c, dir).unwrap();
    let tcp = m.tcp_addr().unwrap().to_string();
    (m, tcp)
}

fn unix(dir: &Path) -> ApiClient {
    ApiClient::new(Endpoint::Unix(dir.join("manager.sock")))
}

#[test]
fn admin_status_and_password_over_the_socket_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (m, tcp) = start(d);
    assert!(ok(d, "", &["admin", "status"]).contains("admin password: not set"));

    let e = ctl(d, "short\n", &["admin", "password"]).unwrap_err();
    assert!(
        e.contains("422") && e.contains("8 to 128 characters"),
        "{e}"
    );
    let e = ctl(d, "", &["admin", "password"]).unwrap_err();
    assert!(e.contains("no new admin password given"), "{e}");
    assert_eq!(
        ok(d, "first password\n", &["admin", "password"]),
        "admin password set\n"
    );
    assert_eq!(ok(d, "", &["admin", "status"]), "admin password: set\n");
    let json: serde_json::Value =
        serde_json::from_str(&ok(d, "", &["--json", "admin", "status"])).unwrap();
    assert_eq!(json, serde_json::json!({"password_set": true}));
    unix(d).verify_admin_password("first password").unwrap();

    // Over TCP the current password is asked first, and must be right.
    let e = ctl(
        d,
        "not it\nsecond password\n",
        &["--api", &tcp, "admin", "password"],
    )
    .unwrap_err();
    assert!(
        e.contains("401") && e.contains("wrong admin password"),
        "{e}"
    );
    let e = ctl(d, "first password\n", &["--api", &tcp, "admin", "password"]).unwrap_err();
    assert!(e.contains("no new admin password given"), "{e}");
    ok(
        d,
        "first password\nsecond password\n",
        &["--api", &tcp, "admin", "password"],
    );
    unix(d).verify_admin_password("second password").unwrap();

    // On the box, `--current` asks for it too; without, nothing is asked.
    ok(
        d,
        "second password\nthird password\n",
        &["admin", "password", "--current"],
    );
    unix(d).verify_admin_password("third password").unwrap();
    ok(d, "fourth password\n", &["admin", "password"]);
    unix(d).verify_admin_password("fourth password").unwrap();
    m.stop().unwrap();
}

#[test]
fn admin_networks_show_set_and_clear() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (m, tcp) = start(d);
    let any = "admin networks: any (no restriction)\n";
    assert_eq!(ok(d, "", &["admin", "networks"]), any);
    assert_eq!(
        ok(
            d,
            "",
            &["admin", "networks", "192.168.1.0/24", "2001:DB8::/32"]
        ),
        "192.168.1.0/24\n2001:db8::/32\n"
    );
    assert_eq!(
        ok(d, "", &["--api", &tcp, "admin", "networks"]),
        "192.168.1.0/24\n2001:db8::/32\n"
    );
    let e = ctl(d, "", &["admin", "networks", "10.0.0.0/8", "lan"]).unwrap_err();
    assert!(e.contains("\"lan\" needs a prefix length"), "{e}");
    assert_eq!(
        unix(d).admin_networks().unwrap().networks,
        ["192.168.1.0/24", "2001:db8::/32"],
        "a bad argument changes nothing"
    );
    assert_eq!(ok(d, "", &["admin", "networks", "--clear"]), any);
    assert!(unix(d).admin_networks().unwrap().networks.is_empty());
    m.stop().unwrap();
}

#[test]
fn stats_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (m, _tcp) = start(d);
    let now = model::time::now_ms();
    let event = |kind, rcpts: &[&str]| TrackingEvent {
        proof: Default::default(),
        time: now,
        queue_id: "Q7".into(),
        message_id: None,
        kind,
        sender: "s@sender.test".into(),
        recipients: rcpts.iter().map(|r| r.to_string()).collect(),
        detail: String::new(),
        remote: None,
        reply: None,
    };
    unix(d)
        .track(&[
            event(EventKind::Received, &["a@example.test", "b@example.test"]),
            event(EventKind::Delivered, &["a@example.test", "b@example.test"]),
            event(EventKind::Rejected, &["c@example.test"]),
        ])
        .unwrap();
    let table = ok(d, "", &["stats"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 26, "header, 24 hours, total:\n{table}");
    assert!(lines[0].starts_with("HOUR") && lines[0].ends_with("BOUNCED"));
    let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(words(lines[25]), ["total", "1", "2", "0", "1", "0", "0"]);
    assert_eq!(words(lines[1])[1..], ["0", "0", "0", "0", "0", "0"]);

    let stats: MailStats = serde_json::from_str(&ok(d, "", &["--json", "stats"])).unwrap();
    assert_eq!((stats.total.received, stats.total.delivered), (1, 2));
    assert_eq!(stats.hours.len(), 24);
    m.stop().unwrap();
}
