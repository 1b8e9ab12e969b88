//! `filterbox ctl queue …` against a real manager and a real mta on a
//! temporary data directory: the customer's server is down, so the message
//! waits in the queue, where the administrator looks at it, holds its
//! domain, releases it and deletes it.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use model::client::ApiClient;
use model::config::SystemConfig;
use model::Endpoint;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ctl::CtlArgs,
}

/// Runs `filterbox ctl ARGS`; stdout on success, the `{:#}` message on error.
fn ctl(dir: &Path, argv: &[&str]) -> Result<String, String> {
    let dir = dir.to_str().unwrap();
    let full = ["ctl", "--data-dir", dir]
        .into_iter()
        .chain(argv.iter().copied());
    let args = Cli::try_parse_from(full).map_err(|e| e.to_string())?.args;
    let mut out = Vec::new();
    ctl::run_to(args, &mut out).map_err(|e| format!("{e:#}"))?;
    Ok(String::from_utf8(out).unwrap())
}

fn text(dir: &Path, argv: &[&str]) -> String {
    ctl(dir, argv).unwrap_or_else(|e| panic!("ctl {argv:?}: {e}"))
}

/// Everything in `dir`, on ephemeral ports; `example.test` delivers to a
/// port where nothing listens.
fn config(dir: &Path) -> SystemConfig {
    let mut c = SystemConfig::default();
    c.manager.http_listen = None;
    c.manager.api_socket = dir.join("api.sock");
    c.mta.manager = Endpoint::Unix(dir.join("api.sock"));
    c.mta.smtp_listen = "127.0.0.1:0".into();
    c.mta.submission_listen = None;
    c.mta.smtps_listen = None;
    c.mta.milter = None;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    c.initial_data.domains[0].delivery[0].port = closed.local_addr().unwrap().port();
    c.write(dir).unwrap();
    SystemConfig::load(dir).unwrap().resolve(dir)
}

/// Sends one message to `user@example.test`; returns the queue id.
fn send(addr: SocketAddr) -> String {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let mut reply = || loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line.as_bytes().get(3) != Some(&b'-') {
            return line;
        }
    };
    reply();
    for cmd in [
        "EHLO client.test",
        "MAIL FROM:<s@sender.test>",
        "RCPT TO:<user@example.test>",
        "DATA",
    ] {
        write!(w, "{cmd}\r\n").unwrap();
        let line = reply();
        assert!(
            line.starts_with('2') || line.starts_with('3'),
            "{cmd}: {line}"
        );
    }
    w.write_all(b"Subject: waiting\r\n\r\nbody\r\n.\r\n")
        .unwrap();
    let line = reply();
    line.trim_end().rsplit(' ').next().unwrap().to_string()
}

#[test]
fn queue_list_show_hold_release_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = Arc::new(config(d));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let manager = rt.spawn(manager::run(cfg.clone(), d.to_path_buf(), async {
        let _ = stopped.await;
    }));
    let api = ApiClient::new(Endpoint::Unix(cfg.manager.api_socket.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.health().is_err() {
        assert!(Instant::now() < deadline, "the manager did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mta = rt
        .block_on(mta::Mta::start(cfg.clone(), d.to_path_buf()))
        .unwrap();

    let id = send(mta.smtp_addr());
    let list = text(d, &["queue", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("RECIPIENTS"),
        "{list}"
    );
    assert!(
        lines[1].starts_with(&id) && lines[1].ends_with("user@example.test"),
        "{list}"
    );

    assert_eq!(
        text(d, &["queue", "hold", "example.test"]),
        "mail for example.test is held\n"
    );
    assert_eq!(text(d, &["queue", "holds"]), "example.test\n");
    let show = text(d, &["queue", "show", &id]);
    assert!(show.contains("recipient:  user@example.test: "), "{show}");
    assert!(show.contains(", held"), "{show}");
    let json: serde_json::Value = serde_json::from_str(&text(
        d,
        &["--json", "queue", "list", "--domain", "example.test"],
    ))
    .unwrap();
    assert_eq!(json[0]["recipients"][0]["held"], true, "{json}");
    assert_eq!(
        text(d, &["queue", "release", "example.test"]),
        "mail for example.test released\n"
    );
    assert_eq!(text(d, &["queue", "holds"]), "");
    assert_eq!(text(d, &["queue", "flush"]), "flushed 1 message(s)\n");

    assert_eq!(
        text(d, &["queue", "delete", &id]),
        format!("deleted {id} from the queue\n")
    );
    let gone = ctl(d, &["queue", "show", &id]).unwrap_err();
    assert!(gone.contains("no queued message"), "{gone}");
    assert_eq!(
        text(d, &["queue", "list"]).lines().count(),
        1,
        "only the header"
    );

    rt.block_on(mta.shutdown()).unwrap();
    let _ = stop.send(());
    rt.block_on(manager).unwrap().unwrap();
}
