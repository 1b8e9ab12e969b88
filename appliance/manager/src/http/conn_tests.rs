//! The HTTP framing over real socket pairs: deadlines, early refusals,
//! `100 Continue`, and the answers to malformed heads.

use super::*;
use crate::release::Releaser;
use crate::store::Store;
use model::Endpoint;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::thread;

struct Fixture {
    _dir: tempfile::TempDir,
    router: Router,
    stop: AtomicBool,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("data.db")).unwrap());
    let releaser = Releaser::new(Endpoint::Unix(dir.path().join("mta.sock")), "box.test").unwrap();
    Fixture {
        router: Router::new(store, releaser, "tok".into()),
        _dir: dir,
        stop: AtomicBool::new(false),
    }
}

/// Root on the unix socket.
const ROOT: Caller = Caller::Unix { uid: 0 };
/// A client over TCP.
const TCP: Caller = Caller::Tcp(SocketAddr::V4(SocketAddrV4::new(
    Ipv4Addr::new(192, 0, 2, 9),
    40000,
)));

const SHORT: Limits = Limits {
    head: Duration::from_millis(300),
    body: Duration::from_millis(300),
    write: Duration::from_secs(5),
};

/// Serves one connection on the server end of a pair while `client` runs
/// on the other; returns what `client` returned and how long serving took.
fn exchange<T: Send>(
    f: &Fixture,
    caller: Caller,
    client: impl FnOnce(UnixStream) -> T + Send,
) -> (T, Duration) {
    let (server_end, client_end) = UnixStream::pair().unwrap();
    thread::scope(|scope| {
        let handle = scope.spawn(move || client(client_end));
        let started = Instant::now();
        let ctx = Context {
            router: &f.router,
            caller,
            stop: &f.stop,
            limits: SHORT,
        };
        serve(server_end, &ctx);
        let took = started.elapsed();
        (handle.join().unwrap(), took)
    })
}

/// Sends `request`, then reads the answer to the end.
fn send(request: &[u8]) -> impl FnOnce(UnixStream) -> String + Send + '_ {
    move |mut s| {
        s.write_all(request).unwrap();
        read_all(&mut s)
    }
}

fn read_all(s: &mut UnixStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn serves_a_request_with_a_body() {
    let f = fixture();
    let body = r#"{"name":"a.test","delivery":[{"host":"127.0.0.1"}]}"#;
    let req = format!(
        "POST /api/v1/domains HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (answer, _) = exchange(&f, ROOT, send(req.as_bytes()));
    assert!(answer.starts_with("HTTP/1.1 201 Created\r\n"), "{answer}");
    assert!(answer.contains(r#""name":"a.test""#), "{answer}");
    assert_eq!(f.router.store.domains().unwrap().len(), 1);
}

#[test]
fn sends_100_continue_before_reading_the_body() {
    let f = fixture();
    let body = br#"{"address":"nobody@a.test"}"#;
    let (answer, _) = exchange(&f, ROOT, |mut s| {
        let head = format!(
            "POST /api/v1/users HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut interim = [0u8; 25];
        s.read_exact(&mut interim).unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        s.write_all(body).unwrap();
        read_all(&mut s)
    });
    assert!(answer.starts_with("HTTP/1.1 422 "), "{answer}");
    assert!(answer.contains("a.test does not exist"), "{answer}");
}

#[test]
fn a_silent_client_is_dropped_at_the_head_deadline() {
    let f = fixture();
    let ((), took) = exchange(&f, ROOT, |s| {
        thread::sleep(SHORT.head * 3);
        drop(s);
    });
    assert!(took >= SHORT.head && took < SHORT.head * 3, "{took:?}");
}

#[test]
fn a_trickling_body_is_dropped_at_the_body_deadline() {
    let f = fixture();
    let (answer, took) = exchange(&f, ROOT, |mut s| {
        s.write_all(b"POST /api/v1/tracking HTTP/1.1\r\nContent-Length: 100\r\n\r\n[")
            .unwrap();
        for _ in 0..20 {
            thread::sleep(Duration::from_millis(50));
            if s.write_all(b" ").is_err() {
                break;
            }
        }
        read_all(&mut s)
    });
    assert_eq!(
        answer, "",
        "nothing is answered to a request never completed"
    );
    assert!(took < SHORT.body * 3, "{took:?}");
}

#[test]
fn shutdown_interrupts_a_pending_read() {
    let f = fixture();
    f.stop.store(true, Ordering::SeqCst);
    let ((), took) = exchange(&f, ROOT, |s| {
        thread::sleep(Duration::from_millis(200));
        drop(s);
    });
    assert!(took < Duration::from_millis(150), "{took:?}");
}

#[test]
fn refusals_before_the_body_are_answered_not_reset() {
    let f = fixture();
    let huge = format!(
        "POST /api/v1/quarantine HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        crate::MAX_BODY + 1
    );
    let (answer, _) = exchange(&f, ROOT, |mut s| {
        s.write_all(huge.as_bytes()).unwrap();
        // The client goes on sending its body regardless.
        let _ = s.write_all(&vec![b'x'; 256 * 1024]);
        read_all(&mut s)
    });
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains(r#""code":"too_large""#), "{answer}");
    let (answer, _) = exchange(&f, TCP, send(b"GET /api/v1/domains HTTP/1.1\r\n\r\n"));
    assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
    let (answer, _) = exchange(
        &f,
        TCP,
        send(b"GET /api/v1/domains HTTP/1.1\r\nAuthorization: Bearer tok\r\n\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
}

#[test]
fn malformed_heads_get_json_errors() {
    let f = fixture();
    let cases: [(&[u8], &str); 5] = [
        (b"HELLO\r\n\r\n", "400"),
        (b"GET / HTTP/3\r\n\r\n", "400"),
        (
            b"POST /api/v1/tracking HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "411",
        ),
        (
            b"POST /api/v1/tracking HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "400",
        ),
        (b"GET /health HTTP/1.1\r\nExpect: magic\r\n\r\n", "417"),
    ];
    for (req, status) in cases {
        let (answer, _) = exchange(&f, ROOT, send(req));
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer}"
        );
        assert!(answer.contains(r#"{"error":{"status":"#), "{answer}");
    }
    let mut big = b"GET /health HTTP/1.1\r\nX: ".to_vec();
    big.extend(vec![b'a'; MAX_HEAD]);
    let (answer, _) = exchange(&f, ROOT, send(&big));
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}
