//! The API over its real listeners (unix socket and TCP) with the real
//! client every role uses, `model::client::ApiClient`.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{new_quarantine, TestManager, GTUBE};
use model::api::{DeliveryServer, EventKind, NewDomain, NewUser, TrackingEvent};
use model::client::{ApiClient, TrackingQuery};
use model::config::{InitialData, API_TOKEN_FILE};

fn domain(name: &str) -> NewDomain {
    NewDomain {
        provisioning: Default::default(),
        relay_networks: Default::default(),
        tls: Default::default(),
        name: name.into(),
        delivery: vec![DeliveryServer {
            host: "127.0.0.1".into(),
            port: 2626,
            priority: 10,
        }],
    }
}

fn status<T: std::fmt::Debug>(r: Result<T, model::client::ClientError>) -> Option<u16> {
    r.err().and_then(|e| e.status())
}

#[test]
fn tcp_needs_the_token_unix_does_not() {
    let m = TestManager::start(None);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&m.config.manager.api_socket), 0o660);
    assert_eq!(mode(&m.dir.path().join(API_TOKEN_FILE)), 0o600);
    let token = m.token();
    assert_eq!(token.len(), 64);

    assert_eq!(m.unix().health().unwrap().role, "manager");
    assert!(m.unix().domains().unwrap().is_empty());
    assert_eq!(
        m.tcp(None).health().unwrap().status,
        "ok",
        "/health is open"
    );
    assert_eq!(status(m.tcp(None).domains()), Some(401));
    assert_eq!(status(m.tcp(Some("0".repeat(64))).domains()), Some(401));
    assert_eq!(
        status(m.tcp(Some(token[..63].to_string())).generation()),
        Some(401)
    );
    let tcp = m.tcp(Some(token));
    tcp.create_domain(&domain("a.test")).unwrap();
    assert_eq!(m.unix().domains().unwrap()[0].name, "a.test");
    assert_eq!(
        status(m.tcp(None).create_domain(&domain("b.test"))),
        Some(401)
    );
    assert_eq!(
        tcp.domains().unwrap().len(),
        1,
        "a refused request changes nothing"
    );
}

#[test]
fn directory_changes_over_the_socket() {
    let m = TestManager::start(None);
    let c = m.unix();
    assert_eq!(
        status(c.create_user(&NewUser {
            source: Default::default(),
            address: "u@a.test".into()
        })),
        Some(422)
    );
    c.create_domain(&domain("a.test")).unwrap();
    assert_eq!(status(c.create_domain(&domain("A.test"))), Some(409));
    let mut bad = domain("b.test");
    bad.delivery[0].port = 0;
    assert_eq!(status(c.create_domain(&bad)), Some(422));
    c.create_user(&NewUser {
        source: Default::default(),
        address: "U@a.test".into(),
    })
    .unwrap();
    assert_eq!(
        status(c.create_user(&NewUser {
            source: Default::default(),
            address: "u@a.test".into()
        })),
        Some(409)
    );
    let dir = c.directory().unwrap();
    assert_eq!(
        (dir.generation, dir.users.as_slice()),
        (2, ["u@a.test".to_string()].as_slice())
    );
    assert_eq!(c.users(Some("a.test"), Some("u@")).unwrap().len(), 1);
    c.delete_domain("a.test").unwrap();
    assert!(
        c.users(None, None).unwrap().is_empty(),
        "users go with their domain"
    );
    assert_eq!(c.generation().unwrap().generation, 3);
    assert_eq!(status(c.delete_user("u@a.test")), Some(404));
}

#[test]
fn quarantine_round_trip_keeps_the_bytes() {
    let m = TestManager::start(None);
    let c = m.tcp(Some(m.token()));
    // Not valid UTF-8, bare LF, NUL: stored and served byte for byte.
    let mut message = GTUBE.to_vec();
    message.extend_from_slice(b"\xff\xfe bare\nlf \0 end\r\n");
    let created = c
        .quarantine_create(&new_quarantine(
            &["user@example.test", "other@example.test"],
            &message,
        ))
        .unwrap();
    assert_eq!(created.ids.len(), 2);
    let list = c.quarantine_list(None).unwrap();
    assert_eq!(
        list.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        [created.ids[1].clone(), created.ids[0].clone()]
    );
    let mine = c.quarantine_list(Some("USER@example.test")).unwrap();
    assert_eq!(mine.len(), 1);
    let item = c.quarantine_show(&created.ids[0]).unwrap();
    assert_eq!(item, mine[0]);
    assert_eq!(
        (item.size, item.subject.as_str()),
        (message.len() as u64, "Test spam mail (GTUBE)")
    );
    let raw = c
        .request_raw(
            "GET",
            &format!("/api/v1/quarantine/{}/message", item.id),
            None,
        )
        .unwrap();
    assert_eq!(raw.content_type.as_deref(), Some("message/rfc822"));
    assert_eq!(raw.body, message);
    assert_eq!(c.quarantine_message(&created.ids[1]).unwrap(), message);
    c.quarantine_delete(&item.id).unwrap();
    assert_eq!(status(c.quarantine_show(&item.id)), Some(404));
    assert_eq!(status(c.quarantine_delete(&item.id)), Some(404));
    assert_eq!(
        c.quarantine_message(&created.ids[1]).unwrap(),
        message,
        "the other copy stays"
    );
    let q = TrackingQuery {
        recipient: Some("user@example.test".into()),
        ..Default::default()
    };
    let kinds: Vec<EventKind> = c.tracking(&q).unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Quarantined, EventKind::Deleted]);
}

fn event(time: u64, queue_id: &str, kind: EventKind, rcpt: &str) -> TrackingEvent {
    TrackingEvent {
        proof: Default::default(),
        time,
        queue_id: queue_id.into(),
        message_id: Some(format!("{queue_id}@sender.test")),
        kind,
        sender: format!("from-{queue_id}@sender.test"),
        recipients: vec![rcpt.into()],
        detail: "detail".into(),
        remote: Some("mx.example.test [127.0.0.1]:25".into()),
        reply: Some("250 2.0.0 Ok".into()),
    }
}

#[test]
fn tracking_by_each_key() {
    let m = TestManager::start(None);
    let c = m.unix();
    let batch = [
        event(1000, "Q1", EventKind::Received, "a@example.test"),
        event(3000, "Q1", EventKind::Delivered, "a@example.test"),
        event(2000, "Q2", EventKind::Received, "b@example.test"),
    ];
    c.track(&batch).unwrap();
    let times = |q: TrackingQuery| {
        c.tracking(&q)
            .unwrap()
            .iter()
            .map(|e| e.time)
            .collect::<Vec<_>>()
    };
    let q = |f: &dyn Fn(&mut TrackingQuery)| {
        let mut q = TrackingQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(times(q(&|q| q.queue_id = Some("Q1".into()))), [1000, 3000]);
    assert_eq!(
        times(q(&|q| q.message_id = Some("<Q2@sender.test>".into()))),
        [2000]
    );
    assert_eq!(
        times(q(&|q| q.sender = Some("from-Q1@sender.test".into()))),
        [1000, 3000]
    );
    assert_eq!(
        times(q(&|q| q.recipient = Some("b@example.test".into()))),
        [2000]
    );
    assert_eq!(
        times(q(&|q| {
            q.recipient = Some("a@example.test".into());
            q.queue_id = Some("Q2".into());
        })),
        Vec::<u64>::new()
    );
    assert_eq!(
        c.tracking(&q(&|q| q.queue_id = Some("Q1".into()))).unwrap()[1],
        batch[1]
    );
    let mut bad = batch[0].clone();
    bad.queue_id = String::new();
    assert_eq!(status(c.track(&[batch[0].clone(), bad])), Some(422));
    assert_eq!(
        times(q(&|q| q.queue_id = Some("Q1".into()))),
        [1000, 3000],
        "the bad batch stored nothing"
    );
}

#[test]
fn data_survives_a_restart_and_initial_data_is_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(
        dir.path(),
        model::Endpoint::Unix(dir.path().join("mta.sock")),
    );
    config.initial_data = InitialData {
        domains: vec![domain("example.test")],
        users: vec![NewUser {
            source: Default::default(),
            address: "user@example.test".into(),
        }],
    };
    let mut m = TestManager {
        dir,
        config,
        manager: None,
    };
    m.restart();
    let c = m.unix();
    assert_eq!(c.directory().unwrap().users, ["user@example.test"]);
    c.delete_user("user@example.test").unwrap();
    c.create_domain(&domain("other.test")).unwrap();
    let ids = c
        .quarantine_create(&new_quarantine(&["x@other.test"], GTUBE))
        .unwrap()
        .ids;
    let token = m.token();
    m.stop();
    assert!(
        !m.config.manager.api_socket.exists(),
        "the socket is removed on stop"
    );

    m.restart();
    let dir = c.directory().unwrap();
    assert!(dir.users.is_empty(), "the deleted user is not re-imported");
    assert_eq!(
        dir.domains
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["example.test", "other.test"]
    );
    assert_eq!(dir.generation, 4);
    assert_eq!(c.quarantine_message(&ids[0]).unwrap(), GTUBE);
    assert_eq!(m.token(), token, "the token is kept");
}

#[test]
fn invalid_initial_data_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(
        dir.path(),
        model::Endpoint::Unix(dir.path().join("mta.sock")),
    );
    config.initial_data.users = vec![NewUser {
        source: Default::default(),
        address: "user@missing.test".into(),
    }];
    let e = manager::Manager::start(&config, dir.path())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("missing.test does not exist"), "{e}");
}

#[test]
fn a_second_manager_on_the_same_directory_is_refused() {
    let m = TestManager::start(None);
    assert!(manager::Manager::start(&m.config, m.dir.path()).is_err());
    assert_eq!(
        m.unix().health().unwrap().status,
        "ok",
        "the first one still serves"
    );
}

#[test]
fn raw_http_errors_are_json_and_slow_clients_do_not_block() {
    let m = TestManager::start(None);
    // Silent TCP clients occupy TCP workers (until the head deadline), never
    // the unix socket's, where the other roles talk.
    let silent: Vec<_> = (0..8)
        .map(|_| std::net::TcpStream::connect(m.tcp_addr()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let started = std::time::Instant::now();
    assert_eq!(m.unix().health().unwrap().status, "ok");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(silent);

    let exchange = |req: &[u8]| {
        let mut s = std::os::unix::net::UnixStream::connect(&m.config.manager.api_socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(req).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let answer = exchange(b"GET /api/v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        answer.starts_with("HTTP/1.1 404 ") && answer.contains(r#""code":"not_found""#),
        "{answer}"
    );
    let answer = exchange(
        format!(
            "POST /api/v1/quarantine HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            manager::MAX_BODY + 1
        )
        .as_bytes(),
    );
    assert!(
        answer.starts_with("HTTP/1.1 413 ") && answer.contains(r#""code":"too_large""#),
        "{answer}"
    );
    let answer = exchange(b"POST /api/v1/domains HTTP/1.1\r\nContent-Length: 5\r\n\r\n{nope");
    assert!(
        answer.starts_with("HTTP/1.1 400 ") && answer.contains(r#""code":"bad_json""#),
        "{answer}"
    );
    let answer = exchange(b"PATCH /api/v1/domains HTTP/1.1\r\n\r\n");
    assert!(
        answer.starts_with("HTTP/1.1 405 ") && answer.contains("Allow: GET, POST\r\n"),
        "{answer}"
    );
}

#[test]
fn run_serves_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        dir.path(),
        model::Endpoint::Unix(dir.path().join("mta.sock")),
    );
    let socket = config.manager.api_socket.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(manager::run(
        std::sync::Arc::new(config),
        dir.path().to_path_buf(),
        async {
            let _ = rx.await;
        },
    ));
    let client = ApiClient::new(model::Endpoint::Unix(socket.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.health().is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "manager did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    client.create_domain(&domain("a.test")).unwrap();
    tx.send(()).unwrap();
    rt.block_on(task).unwrap().unwrap();
    assert!(!socket.exists());
    assert!(client.health().is_err());
}
