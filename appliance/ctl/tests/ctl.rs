//! `filterbox ctl` against a real manager started in-process on a temporary
//! data directory, as an administrator would use it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use model::api::{Base64Bytes, Domain, NewQuarantine, QuarantineKind};
use model::client::ApiClient;
use model::config::SystemConfig;
use model::Endpoint;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ctl::CtlArgs,
}

/// Runs `filterbox ctl ARGS`; stdout on success, the `{:#}` message on error.
fn ctl(dir: &Path, argv: &[&str]) -> Result<Vec<u8>, String> {
    let dir = dir.to_str().unwrap();
    let full = ["ctl", "--data-dir", dir]
        .into_iter()
        .chain(argv.iter().copied());
    let args = Cli::try_parse_from(full).map_err(|e| e.to_string())?.args;
    let mut out = Vec::new();
    ctl::run_to(args, &mut out).map_err(|e| format!("{e:#}"))?;
    Ok(out)
}

fn text(dir: &Path, argv: &[&str]) -> String {
    String::from_utf8(ctl(dir, argv).unwrap_or_else(|e| panic!("ctl {argv:?}: {e}"))).unwrap()
}

/// A manager role running through `manager::run` until dropped.
struct Running {
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), manager::ManagerError>>>,
}

impl Running {
    fn start(dir: &Path, config: SystemConfig) -> Running {
        config.write(dir).unwrap();
        let config = SystemConfig::load(dir).unwrap().resolve(dir);
        let socket = config.manager.api_socket.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(manager::run(Arc::new(config), dir.to_path_buf(), async {
            let _ = rx.await;
        }));
        let client = ApiClient::new(Endpoint::Unix(socket));
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.health().is_err() {
            assert!(Instant::now() < deadline, "the manager did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Running {
            rt,
            stop: Some(tx),
            task: Some(task),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let result = self.rt.block_on(self.task.take().unwrap()).unwrap();
        result.unwrap();
    }
}

/// The default configuration (one domain, one user) with everything inside `dir`.
fn config(dir: &Path, inject: Endpoint) -> SystemConfig {
    let mut c = SystemConfig::default();
    c.manager.http_listen = None;
    c.manager.mta_inject = inject;
    c.manager.api_socket = dir.join("api.sock");
    c
}

#[test]
fn domains_and_users() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _m = Running::start(d, config(d, Endpoint::Unix(d.join("mta.sock"))));

    let list = text(d, &["domain", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("DELIVERY"),
        "{list}"
    );
    assert!(
        lines[1].starts_with("example.test  127.0.0.1:2626/10  "),
        "{list}"
    );

    let added = text(
        d,
        &[
            "domain",
            "add",
            "B.test",
            "--server",
            "mx2.b.test:2525/20",
            "--server",
            "127.0.0.1",
        ],
    );
    assert!(added.contains("name:     b.test\n"), "{added}");
    assert!(
        added.contains("delivery: 127.0.0.1:25/10, mx2.b.test:2525/20\n"),
        "{added}"
    );
    let e = ctl(d, &["domain", "add", "b.test", "--server", "mx"]).unwrap_err();
    assert!(
        e.contains("adding domain b.test") && e.contains("409"),
        "{e}"
    );
    assert_eq!(text(d, &["domain", "show", "b.test"]), added);

    text(d, &["user", "add", "Alice@B.test"]);
    let e = ctl(d, &["user", "add", "x@missing.test"]).unwrap_err();
    assert!(
        e.contains("missing.test does not exist") && e.contains("422"),
        "{e}"
    );
    let users = text(d, &["user", "list", "--domain", "b.test"]);
    assert_eq!(users.lines().count(), 2, "{users}");
    assert!(
        users
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("alice@b.test  b.test  "),
        "{users}"
    );
    assert_eq!(
        text(d, &["user", "list", "--search", "user@"])
            .lines()
            .count(),
        2
    );

    let json: Vec<Domain> =
        serde_json::from_slice(&ctl(d, &["domain", "list", "--json"]).unwrap()).unwrap();
    assert_eq!(
        json.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["b.test", "example.test"]
    );

    assert_eq!(
        text(d, &["domain", "delete", "b.test"]),
        "deleted domain b.test and its users\n"
    );
    assert_eq!(
        text(d, &["user", "list", "--domain", "b.test"])
            .lines()
            .count(),
        1,
        "header only"
    );
    let e = ctl(d, &["domain", "show", "b.test"]).unwrap_err();
    assert!(e.contains("404"), "{e}");
    assert_eq!(
        ctl(d, &["user", "delete", "user@example.test", "--json"]).unwrap(),
        b""
    );
}

#[test]
fn arguments_are_checked_before_any_api_call() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No manager runs: only the argument checks can answer.
    let e = ctl(d, &["user", "add", "not-an-address"]).unwrap_err();
    assert!(e.contains("expected local-part@domain"), "{e}");
    let e = ctl(d, &["domain", "add", "a.test", "--server", "mx:99999"]).unwrap_err();
    assert!(e.contains("HOST[:PORT][/PRIORITY]"), "{e}");
    let e = ctl(d, &["quarantine", "release", "nope"]).unwrap_err();
    assert!(e.contains("21 lowercase hex digits"), "{e}");
    let e = ctl(d, &["domain", "list"]).unwrap_err();
    assert!(e.contains("manager running"), "{e}");
}

#[test]
fn tcp_with_the_token_file_or_a_given_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut c = config(d, Endpoint::Unix(d.join("mta.sock")));
    c.manager.http_listen = Some("127.0.0.1:0".into());
    let m = manager::Manager::start(&c, d).unwrap();
    let api = m.tcp_addr().unwrap().to_string();
    let list = text(d, &["--api", &api, "domain", "list"]);
    assert!(list.contains("example.test"), "{list}");
    let e = ctl(d, &["--api", &api, "--token", "wrong", "domain", "list"]).unwrap_err();
    assert!(e.contains("401"), "{e}");
    let other = tempfile::tempdir().unwrap();
    let e = ctl(other.path(), &["--api", &api, "domain", "list"]).unwrap_err();
    assert!(e.contains("needs a token"), "{e}");
    m.stop().unwrap();
}

const MESSAGE: &[u8] = b"From: s@sender.test\r\nSubject: cheap \x1b[31mstuff\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n";

#[test]
fn quarantine_list_show_message_release_and_tracking() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sink = Sink::start(d);
    let _m = Running::start(d, config(d, Endpoint::Unix(sink.socket.clone())));
    let api = ApiClient::new(Endpoint::Unix(d.join("api.sock")));
    let ids = api
        .quarantine_create(&NewQuarantine {
            queue_id: Some("Q42".into()),
            message_id: Some("m42@sender.test".into()),
            sender: "s@sender.test".into(),
            recipients: vec!["user@example.test".into(), "boss@example.test".into()],
            subject: "cheap \x1b[31mstuff".into(),
            date: None,
            client_ip: Some("192.0.2.1".into()),
            outbound: false,
            kind: QuarantineKind::Spam,
            score: 999.5,
            reasons: vec!["GTUBE".into()],
            message: Base64Bytes(MESSAGE.to_vec()),
        })
        .unwrap()
        .ids;

    let list = text(d, &["quarantine", "list"]);
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(list.starts_with("ID  "), "{list}");
    assert!(
        list.contains(&ids[0])
            && list
                .contains("spam  999.5  user@example.test  s@sender.test  cheap \u{fffd}[31mstuff"),
        "{list}"
    );
    assert!(!list.contains('\x1b'), "no terminal escapes from mail");
    assert_eq!(
        text(
            d,
            &["quarantine", "list", "--recipient", "BOSS@example.test"]
        )
        .lines()
        .count(),
        2
    );
    let show = text(d, &["quarantine", "show", &ids[0]]);
    assert!(
        show.contains(&format!("id:          {}\n", ids[0])) && show.contains("queue id:    Q42\n"),
        "{show}"
    );
    assert_eq!(
        ctl(d, &["quarantine", "message", &ids[0]]).unwrap(),
        MESSAGE
    );

    let released = text(d, &["quarantine", "release", &ids[0]]);
    assert!(
        released.starts_with(&format!("released {}: 250 ", ids[0])),
        "{released}"
    );
    assert_eq!(sink.wait_for_one().matches("GTUBE-STANDARD").count(), 1);
    let e = ctl(d, &["quarantine", "release", &ids[0]]).unwrap_err();
    assert!(e.contains("404"), "{e}");

    assert_eq!(
        text(d, &["quarantine", "delete", &ids[1]]),
        format!("deleted quarantine item {}\n", ids[1])
    );
    assert_eq!(text(d, &["quarantine", "list"]).lines().count(), 1);

    let tracking = text(d, &["tracking", "show", "--queue-id", "Q42"]);
    let events: Vec<&str> = tracking
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        events,
        ["EVENT", "quarantined", "released", "deleted"],
        "{tracking}"
    );
    assert!(
        tracking.contains("250 "),
        "the release's reply is shown: {tracking}"
    );
    let by_mid = text(
        d,
        &[
            "tracking",
            "show",
            "--message-id",
            "<m42@sender.test>",
            "--recipient",
            "boss@example.test",
        ],
    );
    assert_eq!(by_mid.lines().count(), 3, "{by_mid}");
}

/// Postfix's smtp-sink on a unix socket, capturing into `DIR/dump`.
struct Sink {
    child: Child,
    socket: std::path::PathBuf,
    dump: std::path::PathBuf,
}

impl Sink {
    fn start(dir: &Path) -> Sink {
        let socket = dir.join("sink.sock");
        let dump = dir.join("dump");
        std::fs::create_dir(&dump).unwrap();
        let mut cmd = Command::new("smtp-sink");
        if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
            // smtp-sink must drop root; the user it becomes must write the dump.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::set_permissions(&dump, std::fs::Permissions::from_mode(0o777)).unwrap();
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .arg("-d")
            .arg(format!("{}/msg.", dump.display()))
            .arg(format!("unix:{}", socket.display()))
            .arg("10")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink is installed (Debian package postfix)");
        let sink = Sink {
            child,
            socket,
            dump,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::os::unix::net::UnixStream::connect(&sink.socket).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        sink
    }

    fn wait_for_one(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let files: Vec<_> = std::fs::read_dir(&self.dump)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            if let [only] = files.as_slice() {
                return std::fs::read_to_string(only).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "expected one captured message, found {}",
                files.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
