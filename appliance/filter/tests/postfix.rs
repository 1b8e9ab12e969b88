//! Postfix 3.7 as the milter client of the filter: the real peer the
//! filter must serve. swaks sends through a private Postfix instance whose
//! `smtpd_milters` is the filter; Postfix relays to smtp-sink.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use model::api::{QuarantineItem, QuarantineKind};
use model::client::ApiClient;
use model::config::SystemConfig;
use model::Endpoint;
use support::{peers_installed, swaks, wait_for, Postfix, Sink};
use tokio::sync::oneshot;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
const EICAR_B64: &str =
    "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=";

/// The filter running in its own runtime until dropped.
struct Filter {
    runtime: tokio::runtime::Runtime,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), filter::FilterError>>>,
    /// The filter's DNS (SPF, DKIM, DMARC): empty, on loopback.
    _dns: test_harness::dns::DnsServer,
}

impl Filter {
    fn start(data_dir: &Path, listen: Endpoint, manager: Endpoint) -> Filter {
        let mut config = SystemConfig::default();
        config.filter.listen = vec![listen.clone()];
        config.filter.manager = manager;
        let dns = test_harness::dns::DnsServer::start(&[]).unwrap();
        config.filter.nameservers = vec![dns.addr().to_string()];
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = runtime.spawn(filter::run(
            Arc::new(config),
            data_dir.to_path_buf(),
            async move {
                let _ = stopped.await;
            },
        ));
        let ready = wait_for(Duration::from_secs(10), || match &listen {
            Endpoint::Unix(p) => std::os::unix::net::UnixStream::connect(p).ok().map(drop),
            Endpoint::Tcp(a) => std::net::TcpStream::connect(a).ok().map(drop),
        });
        assert!(ready.is_some(), "the filter did not listen on {listen}");
        Filter {
            runtime,
            stop: Some(stop),
            done: Some(done),
            _dns: dns,
        }
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        if let (Some(stop), Some(done)) = (self.stop.take(), self.done.take()) {
            let _ = stop.send(());
            let r = self.runtime.block_on(done);
            if !std::thread::panicking() {
                assert!(matches!(r, Ok(Ok(()))), "filter::run ended with {r:?}");
            }
        }
    }
}

/// The real manager role (`manager::run`) on its own unix socket, in its
/// own runtime, until dropped.
struct Manager {
    runtime: tokio::runtime::Runtime,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), manager::ManagerError>>>,
    socket: PathBuf,
}

impl Manager {
    fn start(data_dir: &Path) -> Manager {
        let socket = data_dir.join("manager.sock");
        let mut config = SystemConfig::default();
        config.manager.api_socket = socket.clone();
        config.manager.http_listen = None;
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = runtime.spawn(manager::run(
            Arc::new(config),
            data_dir.to_path_buf(),
            async move {
                let _ = stopped.await;
            },
        ));
        let m = Manager {
            runtime,
            stop: Some(stop),
            done: Some(done),
            socket,
        };
        let up = wait_for(Duration::from_secs(20), || m.client().health().ok());
        assert!(up.is_some(), "the manager did not answer /health");
        m
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::Unix(self.socket.clone())
    }

    fn client(&self) -> ApiClient {
        ApiClient::new(self.endpoint())
    }

    /// Quarantine entries whose `Message-ID` is `id@sender.test`.
    fn quarantined(&self, id: &str) -> Vec<QuarantineItem> {
        let mid = format!("{id}@sender.test");
        self.client()
            .quarantine_list(None)
            .expect("quarantine list")
            .into_iter()
            .filter(|q| q.message_id.as_deref() == Some(mid.as_str()))
            .collect()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if let (Some(stop), Some(done)) = (self.stop.take(), self.done.take()) {
            let _ = stop.send(());
            let _ = self.runtime.block_on(done);
        }
    }
}

/// A message as swaks sends it (LF here; swaks sends CRLF).
fn message(id: &str, subject: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "From: Alice <alice@sender.test>\nTo: Bob <bob@example.test>\n\
         Date: Sun, 22 Nov 2026 02:20:48 +0000\nMessage-ID: <{id}@sender.test>\n\
         Subject: {subject}\n{extra_headers}MIME-Version: 1.0\n\n{body}"
    )
}

/// The bytes Postfix received for `message`: CRLF line ends, and swaks ends
/// the data with CRLF before the final dot.
fn on_the_wire(message: &str) -> Vec<u8> {
    format!("{}\r\n", message.replace('\n', "\r\n")).into_bytes()
}

fn eicar_message(id: &str) -> String {
    message(
        id,
        "The file you asked for",
        "Content-Type: multipart/mixed; boundary=\"b1\"\n",
        &format!(
            "--b1\nContent-Type: text/plain\n\nAttached.\n\n--b1\n\
             Content-Type: application/octet-stream; name=\"eicar.txt\"\n\
             Content-Disposition: attachment; filename=\"eicar.txt\"\n\
             Content-Transfer-Encoding: base64\n\n{EICAR_B64}\n--b1--"
        ),
    )
}

/// Postfix's queue id from its `250 2.0.0 Ok: queued as ID` reply.
fn queue_id(reply: &str) -> String {
    reply
        .rsplit(' ')
        .next()
        .filter(|_| reply.contains("queued as"))
        .unwrap_or_else(|| panic!("no queue id in {reply:?}"))
        .to_string()
}

/// Sends a message that must be quarantined; checks swaks got 250, Postfix
/// discarded it, and the manager holds it for every recipient, byte for byte.
fn assert_quarantined(
    postfix: &Postfix,
    manager: &Manager,
    id: &str,
    msg: &str,
    kind: QuarantineKind,
    reasons: &[&str],
) {
    let rcpts = ["bob@example.test", "carol@example.test"];
    let s = swaks(postfix.port, "alice@sender.test", &rcpts, msg);
    let reply = s.data_reply();
    assert!(reply.contains("250"), "{}", s.transcript);
    let qid = queue_id(reply);
    postfix.wait_log(&[&qid, "milter-discard", "END-OF-MESSAGE"]);
    let items = manager.quarantined(id);
    let mut got: Vec<&str> = items.iter().map(|q| q.recipient.as_str()).collect();
    got.sort();
    assert_eq!(got, rcpts, "{items:#?}");
    for q in &items {
        assert_eq!(q.kind, kind);
        // The check's own reason first, then the classifier's, with scores.
        assert_eq!(q.reasons[..reasons.len()], reasons[..], "{q:?}");
        assert!(
            q.reasons.iter().any(|r| r.starts_with("CLASSIFIER=")),
            "{q:?}"
        );
        assert_eq!(q.queue_id.as_deref(), Some(qid.as_str()));
        assert_eq!(q.client_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(q.sender, "alice@sender.test");
        let stored = manager.client().quarantine_message(&q.id).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&stored),
            String::from_utf8_lossy(&on_the_wire(msg)),
            "the quarantine must hold the message exactly as Postfix received it"
        );
    }
}

#[test]
fn postfix_passes_clean_mail_with_headers_and_quarantines_gtube_and_eicar() {
    if !peers_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    support::open_dir(dir.path());
    let manager = Manager::start(dir.path());
    let sock = dir.path().join("filter.sock");
    let _filter = Filter::start(dir.path(), Endpoint::Unix(sock.clone()), manager.endpoint());
    support::socket_for_postfix(&sock);
    let sink = Sink::start(dir.path());
    let postfix = Postfix::start(dir.path(), &format!("unix:{}", sock.display()), sink.port);

    // Clean mail: the filter's headers are added, forged ones removed.
    let clean = message(
        "clean1",
        "Lunch\n\ton Friday",
        "X-Spam-Status: Yes, score=99.0 forged\nX-Spam-Score: 99.0\nx-spam-status: Yes, again\n\
         Authentication-Results: filterbox.example.test; spf=pass (forged)\n",
        "Hello Bob,\nlunch on Friday?",
    );
    let s = swaks(
        postfix.port,
        "alice@sender.test",
        &["bob@example.test"],
        &clean,
    );
    assert!(s.data_reply().contains("250"), "{}", s.transcript);
    let got = sink.wait_message("clean1@sender.test");
    assert!(got.contains("\nX-Spam-Score: "), "{got}");
    assert!(
        got.contains("\nX-Spam-Status: No, score=") && got.contains(" tests=CLASSIFIER="),
        "{got}"
    );
    assert_eq!(
        got.matches("X-Spam-").count(),
        2,
        "forged headers left: {got}"
    );
    assert!(!got.contains("99.0") && !got.contains("again"), "{got}");
    // Ours replaces the forged Authentication-Results (see tests/auth.rs).
    let ours = "\nAuthentication-Results: filterbox.example.test;\n\tspf=none";
    assert_eq!(got.matches("Authentication-Results:").count(), 1, "{got}");
    assert!(
        got.contains(ours) && got.contains("\tdkim=none;\n"),
        "{got}"
    );
    assert!(
        got.contains("\tdmarc=none header.from=sender.test"),
        "{got}"
    );
    assert!(
        got.contains("Subject: Lunch\n\ton Friday\n"),
        "folding kept: {got}"
    );
    assert!(got.contains("\n\nHello Bob,\nlunch on Friday?\n"), "{got}");

    // GTUBE: quarantined for both recipients, swaks got 250, nothing delivered.
    let gtube = message(
        "gtube1",
        "Test\n spam",
        "X-Note: folded\n\tvalue\n",
        &format!("spam body\n{GTUBE}"),
    );
    assert_quarantined(
        &postfix,
        &manager,
        "gtube1",
        &gtube,
        QuarantineKind::Spam,
        &["GTUBE"],
    );
    assert!(manager.quarantined("gtube1")[0].score >= 990.0);

    // EICAR in a base64 attachment: quarantined as a virus.
    assert_quarantined(
        &postfix,
        &manager,
        "eicar1",
        &eicar_message("eicar1"),
        QuarantineKind::Virus,
        &["EICAR-Test-File in eicar.txt"],
    );

    // A clean message sent last arrives; the held ones never did.
    let marker = message("marker1", "after", "", "last one");
    let s = swaks(
        postfix.port,
        "alice@sender.test",
        &["bob@example.test"],
        &marker,
    );
    assert!(s.data_reply().contains("250"), "{}", s.transcript);
    sink.wait_message("marker1@sender.test");
    for held in ["gtube1@sender.test", "eicar1@sender.test"] {
        assert!(
            !sink.messages().iter().any(|m| m.contains(held)),
            "{held} was delivered"
        );
    }
}

#[test]
fn postfix_over_tcp_gets_a_4xx_when_the_manager_is_down() {
    if !peers_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    support::open_dir(dir.path());
    let addr = format!("127.0.0.1:{}", support::free_port());
    let nowhere = Endpoint::Unix(dir.path().join("no-manager.sock"));
    let _filter = Filter::start(dir.path(), Endpoint::Tcp(addr.clone()), nowhere);
    let sink = Sink::start(dir.path());
    let postfix = Postfix::start(dir.path(), &format!("inet:{addr}"), sink.port);

    // Clean mail does not need the manager.
    let clean = message("clean2", "hello", "", "Hello over TCP");
    let s = swaks(
        postfix.port,
        "alice@sender.test",
        &["bob@example.test"],
        &clean,
    );
    assert!(s.data_reply().contains("250"), "{}", s.transcript);
    let got = sink.wait_message("clean2@sender.test");
    assert!(got.contains("\nX-Spam-Status: No, score="), "{got}");

    // Spam cannot be quarantined: the sender is told to retry.
    let gtube = message("gtube2", "spam", "", GTUBE);
    let s = swaks(
        postfix.port,
        "alice@sender.test",
        &["bob@example.test"],
        &gtube,
    );
    let reply = s.data_reply();
    assert!(
        reply.contains("451 4.3.0 Quarantine unavailable, try again later"),
        "{}",
        s.transcript
    );
    postfix.wait_log(&[
        "milter-reject",
        "END-OF-MESSAGE",
        "4.3.0 Quarantine unavailable",
    ]);

    let marker = message("marker2", "after", "", "last one");
    let s = swaks(
        postfix.port,
        "alice@sender.test",
        &["bob@example.test"],
        &marker,
    );
    assert!(s.data_reply().contains("250"), "{}", s.transcript);
    sink.wait_message("marker2@sender.test");
    assert!(!sink
        .messages()
        .iter()
        .any(|m| m.contains("gtube2@sender.test")));
}
