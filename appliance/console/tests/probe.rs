//! The network tests of the menu against real peers: Postfix's smtp-sink,
//! a closed port, a server that does not speak SMTP, and ping on loopback.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use console::machine::{Action, Outcome};
use console::Effects;
use model::config::SystemConfig;

/// Effects of a box named `box.example.test` (no manager needed here).
fn effects() -> (tempfile::TempDir, Effects) {
    let dir = tempfile::tempdir().unwrap();
    let config = SystemConfig {
        hostname: "box.example.test".into(),
        ..Default::default()
    };
    config.write(dir.path()).unwrap();
    let effects = Effects::new(&config.resolve(dir.path()), dir.path());
    (dir, effects)
}

fn transcript(effects: &Effects, port: u16) -> String {
    match effects.perform(&Action::SmtpTest {
        host: "127.0.0.1".into(),
        port,
    }) {
        Outcome::Transcript(t) => t,
        other => panic!("{other:?}"),
    }
}

/// Postfix's smtp-sink on a free loopback port; killed on drop.
struct Sink(Child, u16);

impl Sink {
    fn start() -> Sink {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("smtp-sink");
        if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
            cmd.args(["-u", "nobody"]);
        }
        let child = cmd
            .args([&format!("inet:127.0.0.1:{port}"), "10"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink (Debian package postfix)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "smtp-sink did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Sink(child, port)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn smtp_test_shows_the_conversation_with_a_real_server() {
    let (_dir, effects) = effects();
    let sink = Sink::start();
    let t = transcript(&effects, sink.1);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0],
        format!("-- connecting to 127.0.0.1 port {}", sink.1)
    );
    assert_eq!(lines[1], format!("-- connected to 127.0.0.1:{}", sink.1));
    assert!(lines[2].starts_with("S: 220 "), "{t}");
    assert_eq!(lines[3], "C: EHLO box.example.test");
    assert!(lines[4].starts_with("S: 250-"), "{t}");
    let quit = lines.iter().position(|l| *l == "C: QUIT").expect(&t);
    assert!(lines[quit - 1].starts_with("S: 250 "), "{t}");
    assert!(lines[quit + 1].starts_with("S: 221"), "{t}");
    assert_eq!(lines.last().unwrap(), &"-- done: the server speaks SMTP");
}

#[test]
fn smtp_test_reports_a_closed_port_and_a_server_that_is_not_smtp() {
    let (_dir, effects) = effects();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = transcript(&effects, port);
    assert!(
        t.contains("-- cannot connect: 127.0.0.1:") && t.contains("refused"),
        "{t}"
    );

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
        // Stay until the console hangs up: closing first, with anything it
        // sent still unread, would reset the connection before it reads.
        let _ = std::io::copy(&mut s, &mut std::io::sink());
    });
    let t = transcript(&effects, port);
    server.join().unwrap();
    assert!(
        t.contains("S: SSH-2.0-OpenSSH_9.2\n-- that is not an SMTP reply"),
        "{t}"
    );
}

#[test]
fn ping_runs_the_program_on_loopback() {
    let (_dir, effects) = effects();
    match effects.perform(&Action::Ping("127.0.0.1".into())) {
        Outcome::Ping { output, answered } => {
            assert!(answered, "{output}");
            assert!(output.contains("3 packets transmitted"), "{output}");
        }
        other => panic!("{other:?}"),
    }
}
