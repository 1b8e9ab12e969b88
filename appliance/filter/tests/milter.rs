//! The filter's milter server driven by another milter implementation
//! (the `miltr-client` crate) over real sockets: the cases Postfix cannot
//! easily produce (limits, a client that negotiates differently) and the
//! server's life cycle (stale sockets, shutdown).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use filter::message::{MAX_MESSAGE_SIZE, MAX_RECIPIENTS};
use filter::server::SHUTDOWN_GRACE;
use filter::FilterError;
use miltr_client::{Client, Connection, ResponseError};
use miltr_common::actions::Action;
use miltr_common::commands::{Connect, Family, Header, Mail, Recipient};
use miltr_common::decoding::ServerCommand;
use miltr_common::modifications::{ModificationAction, ModificationResponse};
use miltr_common::optneg::{OptNeg, Protocol};
use model::config::{EngineFailure, FilterConfig, SystemConfig};
use model::Endpoint;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

struct Running {
    stop: oneshot::Sender<()>,
    done: JoinHandle<Result<(), FilterError>>,
    /// The filter's DNS (SPF, DKIM, DMARC): empty, on loopback.
    _dns: test_harness::dns::DnsServer,
}

impl Running {
    async fn stop(self) -> Result<(), FilterError> {
        let _ = self.stop.send(());
        self.done.await.expect("filter task")
    }
}

fn start(dir: &Path, listen: Endpoint) -> Running {
    start_with(dir, listen, |_| {})
}

/// [`start`] with `tweak` applied to the filter's settings.
fn start_with(dir: &Path, listen: Endpoint, tweak: impl FnOnce(&mut FilterConfig)) -> Running {
    let mut config = SystemConfig::default();
    config.filter.listen = vec![listen];
    tweak(&mut config.filter);
    // No manager: these tests only produce clean mail or protocol errors.
    config.filter.manager = Endpoint::Unix(dir.join("no-manager.sock"));
    let dns = test_harness::dns::DnsServer::start(&[]).unwrap();
    config.filter.nameservers = vec![dns.addr().to_string()];
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(filter::run(
        Arc::new(config),
        dir.to_path_buf(),
        async move {
            let _ = stopped.await;
        },
    ));
    Running {
        stop,
        done,
        _dns: dns,
    }
}

async fn wait_unix(path: &Path) -> UnixStream {
    for _ in 0..200 {
        if let Ok(s) = UnixStream::connect(path).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {}", path.display());
}

/// What the mta offers: everything Postfix offers but no leading space.
fn offer(protocol: Protocol) -> OptNeg {
    OptNeg {
        protocol,
        ..OptNeg::default()
    }
}

async fn session<S>(stream: S, protocol: Protocol) -> Connection<Compat<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut c = Client::new(offer(protocol))
        .connect_via(stream.compat())
        .await
        .expect("negotiation");
    c.connect(Connect::new(
        b"client.test",
        Family::Inet,
        Some(4321),
        b"192.0.2.9",
    ))
    .await
    .unwrap();
    c.mail(Mail::from(b"<alice@sender.test>".as_slice()))
        .await
        .unwrap();
    c
}

fn replycode(e: ResponseError) -> String {
    match e {
        ResponseError::Unexpected(ServerCommand::Replycode(r)) => format!(
            "{} {} {}",
            r.rcode().code().map(|d| d.to_string()).concat(),
            r.xcode()
                .as_ref()
                .map(|x| x.code().map(|d| d.to_string()).join("."))
                .unwrap_or_default(),
            r.message()
        ),
        other => panic!("expected a reply code, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_leading_space_gets_values_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let running = start(dir.path(), Endpoint::Unix(sock.clone()));
    let mut c = session(wait_unix(&sock).await, Protocol::empty()).await;
    c.recipient(Recipient::from(b"<bob@example.test>".as_slice()))
        .await
        .unwrap();
    for (n, v) in [
        ("Subject", "hello"),
        ("X-Spam-Flag", "YES"),
        ("x-spam-flag", "YES"),
    ] {
        c.header(Header::new(n.as_bytes(), v.as_bytes()))
            .await
            .unwrap();
    }
    c.body(b"hi\r\n".as_slice()).await.unwrap();
    let r = c.end_of_body().await.unwrap();
    assert!(matches!(r.final_action(), Action::Continue(_)));
    let mods: Vec<(String, String, Option<u32>)> = r
        .modifications()
        .iter()
        // Authentication-Results: see tests/auth.rs.
        .filter(|m| !matches!(m, ModificationAction::InsertHeader(_)))
        .map(|m| match m {
            ModificationAction::ChangeHeader(h) => (
                h.name().into_owned(),
                h.value().into_owned(),
                Some(h.index()),
            ),
            ModificationAction::AddHeader(h) => {
                (h.name().into_owned(), h.value().into_owned(), None)
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        mods[..2],
        [
            (s("x-spam-flag"), s(""), Some(2)),
            (s("X-Spam-Flag"), s(""), Some(1)),
        ]
    );
    assert_eq!(mods.len(), 4, "{mods:?}");
    assert_eq!(mods[2].0, "X-Spam-Score");
    assert!(mods[2].1.parse::<f64>().unwrap() < 5.0, "{mods:?}");
    assert_eq!(mods[3].0, "X-Spam-Status");
    assert!(
        mods[3].1.starts_with("No, score=") && mods[3].1.contains(" tests=CLASSIFIER="),
        "{mods:?}"
    );
    c.quit().await.unwrap();
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_over_the_limit_get_452() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let running = start(dir.path(), Endpoint::Unix(sock.clone()));
    let mut c = session(wait_unix(&sock).await, Protocol::empty()).await;
    for i in 0..MAX_RECIPIENTS {
        c.recipient(Recipient::from(format!("<r{i}@example.test>").as_bytes()))
            .await
            .unwrap();
    }
    let e = c
        .recipient(Recipient::from(b"<one-too-many@example.test>".as_slice()))
        .await
        .unwrap_err();
    assert_eq!(replycode(e), "452 4.5.3 Too many recipients");
    drop(c);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_size_cap_is_tempfailed() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let running = start(dir.path(), Endpoint::Unix(sock.clone()));
    let mut c = session(wait_unix(&sock).await, Protocol::empty()).await;
    c.recipient(Recipient::from(b"<bob@example.test>".as_slice()))
        .await
        .unwrap();
    c.header(Header::new(b"Subject", b"big")).await.unwrap();
    let chunk = vec![b'x'; 65_535];
    let mut sent = 0;
    let err = loop {
        match c.body(chunk.as_slice()).await {
            Ok(()) => sent += chunk.len(),
            Err(e) => break e,
        }
        assert!(sent <= MAX_MESSAGE_SIZE, "no refusal after {sent} bytes");
    };
    assert_eq!(
        replycode(err),
        "451 4.3.4 Message too big for the filter, try again later"
    );
    assert!(
        sent + chunk.len() > MAX_MESSAGE_SIZE - 64,
        "refused early at {sent}"
    );
    drop(c);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_protocol_versions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let running = start(dir.path(), Endpoint::Unix(sock.clone()));
    let old = OptNeg {
        version: 2,
        ..OptNeg::default()
    };
    let r = Client::new(old)
        .connect_via(wait_unix(&sock).await.compat())
        .await;
    assert!(r.is_err(), "a version 2 client must not be served");
    running.stop().await.unwrap();
}

/// Each clean message ends with several small packets from the filter
/// (header edits, then the final action). Without TCP_NODELAY, Nagle holds
/// each after the first until the client's delayed ACK (40 ms on Linux).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_answers_are_not_delayed_by_nagle() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let running = start(dir.path(), Endpoint::Tcp(addr.clone()));
    let mut stream = None;
    for _ in 0..200 {
        if let Ok(s) = TcpStream::connect(&addr).await {
            stream = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut c = session(stream.expect("filter on TCP"), Protocol::empty()).await;
    let messages = 20;
    let started = Instant::now();
    for i in 0..messages {
        if i > 0 {
            c.mail(Mail::from(b"<alice@sender.test>".as_slice()))
                .await
                .unwrap();
        }
        c.recipient(Recipient::from(b"<bob@example.test>".as_slice()))
            .await
            .unwrap();
        c.header(Header::new(b"X-Spam-Status", b"forged"))
            .await
            .unwrap();
        c.body(b"hi\r\n".as_slice()).await.unwrap();
        let r = c.end_of_body().await.unwrap();
        // X-Spam-Status deleted, Authentication-Results, X-Spam-Score and -Status added.
        assert_eq!(r.modifications().len(), 4);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(700),
        "{messages} messages took {took:?}: a Nagle stall per message?"
    );
    c.quit().await.unwrap();
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_file_is_replaced_and_a_live_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap()); // left by a crash
    assert!(sock.exists());
    let running = start(dir.path(), Endpoint::Unix(sock.clone()));
    drop(wait_unix(&sock).await);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o660);

    let second = start(dir.path(), Endpoint::Unix(sock.clone()));
    let r = tokio::time::timeout(Duration::from_secs(10), second.done)
        .await
        .expect("the second filter must give up at once")
        .unwrap();
    assert!(matches!(r, Err(FilterError::InUse { .. })), "{r:?}");
    drop(wait_unix(&sock).await);
    running.stop().await.unwrap();
    assert!(!sock.exists(), "the socket is removed at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_that_is_no_socket_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("important.txt");
    std::fs::write(&path, b"keep me").unwrap();
    let r = start(dir.path(), Endpoint::Unix(path.clone()))
        .done
        .await
        .unwrap();
    assert!(matches!(r, Err(FilterError::NotASocket { .. })), "{r:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_idle_connections_after_the_grace_period() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let running = start(dir.path(), Endpoint::Unix(sock.clone()));
    let mut idle = wait_unix(&sock).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    running.stop().await.unwrap();
    let took = started.elapsed();
    assert!(took >= SHUTDOWN_GRACE, "returned after {took:?}");
    assert!(
        took < SHUTDOWN_GRACE + Duration::from_secs(3),
        "took {took:?}"
    );
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(2), idle.read(&mut buf))
        .await
        .expect("the connection is closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_without_connections_is_immediate() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let running = start(dir.path(), Endpoint::Unix(sock.clone()));
    drop(wait_unix(&sock).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    running.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!sock.exists());
}

/// A 4 MiB message (milliseconds of scanning even in a release build)
/// through a filter whose scans get no time at all.
async fn out_of_time(on_failure: EngineFailure) -> Result<ModificationResponse, ResponseError> {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let running = start_with(dir.path(), Endpoint::Unix(sock.clone()), |f| {
        f.scan_timeout_ms = 0;
        f.on_engine_failure = on_failure;
    });
    let mut c = session(wait_unix(&sock).await, Protocol::empty()).await;
    c.recipient(Recipient::from(b"<bob@example.test>".as_slice()))
        .await
        .unwrap();
    c.header(Header::new(b"Subject", b"hi")).await.unwrap();
    let lines = b"a line of text that takes time to scan\r\n".repeat(1600);
    for _ in 0..64 {
        c.body(lines.as_slice()).await.unwrap();
    }
    let r = c.end_of_body().await;
    drop(c);
    running.stop().await.unwrap();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_out_of_time_is_tempfailed_by_default() {
    let r = out_of_time(EngineFailure::Tempfail).await.unwrap();
    let Action::Replycode(code) = r.final_action() else {
        panic!("{r:?}");
    };
    let text = format!("{code:?}");
    assert!(text.contains(r#"b"451""#), "{text}");
    assert!(
        text.contains("Message could not be scanned, try again later"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_out_of_time_passes_marked_when_set() {
    let r = out_of_time(EngineFailure::Pass).await.unwrap();
    assert!(matches!(r.final_action(), Action::Continue(_)));
    let status: Vec<String> = r
        .modifications()
        .iter()
        .filter_map(|m| match m {
            ModificationAction::AddHeader(h) if h.name() == "X-Spam-Status" => {
                Some(h.value().into_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(status, ["No, score=0.0 required=5.0 tests=NOT_SCANNED"]);
}
