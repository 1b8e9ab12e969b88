//! Releasing quarantined mail to a real SMTP receiver: Postfix's smtp-sink,
//! on a unix socket (the default inject endpoint) and on a loopback port.

mod common;

use common::{new_quarantine, Sink, TestManager, GTUBE};
use model::api::EventKind;
use model::client::TrackingQuery;

/// The message as smtp-sink writes it: LF line ends, dot-stuffing undone.
fn as_dumped(message: &[u8]) -> String {
    String::from_utf8(message.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
}

fn release_reaches(sink: &Sink, m: &TestManager) {
    let c = m.unix();
    let ids = c
        .quarantine_create(&new_quarantine(
            &["user@example.test", "boss@example.test"],
            GTUBE,
        ))
        .unwrap()
        .ids;
    let released = c.quarantine_release(&ids[0]).unwrap();
    assert_eq!(released.id, ids[0]);
    assert!(released.reply.starts_with("250"), "{}", released.reply);

    let dumps = sink.wait_for(1);
    assert_eq!(dumps.len(), 1, "exactly one transaction");
    let dump = &dumps[0];
    assert!(
        dump.contains("X-Mail-Args: <spammer@sender.test>"),
        "{dump}"
    );
    assert!(dump.contains("X-Rcpt-Args: <user@example.test>"), "{dump}");
    assert!(
        !dump.contains("boss@example.test"),
        "only the released copy's recipient"
    );
    assert!(dump.contains("X-Helo-Args: box.example.test"), "{dump}");
    assert!(
        dump.contains(&as_dumped(GTUBE)),
        "the message arrived whole:\n{dump}"
    );

    assert_eq!(
        c.quarantine_show(&ids[0]).unwrap_err().status(),
        Some(404),
        "released items leave the quarantine"
    );
    let taught = c.learn_after(0, 100).unwrap();
    let last = taught.last().expect("a released spam is taught as ham");
    assert!(!last.spam);
    assert_eq!(last.message.0, GTUBE);
    assert_eq!(
        c.quarantine_message(&ids[1]).unwrap(),
        GTUBE,
        "the other recipient's copy stays"
    );
    let q = TrackingQuery {
        recipient: Some("user@example.test".into()),
        ..Default::default()
    };
    let events = c.tracking(&q).unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.kind, EventKind::Released);
    assert_eq!(last.reply.as_deref(), Some(released.reply.as_str()));
}

#[test]
fn release_over_a_unix_socket_reaches_smtp_sink() {
    let sink_dir = tempfile::tempdir().unwrap();
    let sink = Sink::unix(sink_dir.path(), &[]);
    let m = TestManager::start(Some(sink.endpoint.clone()));
    release_reaches(&sink, &m);
}

#[test]
fn release_over_tcp_reaches_smtp_sink() {
    let sink_dir = tempfile::tempdir().unwrap();
    let sink = Sink::tcp(sink_dir.path(), &[]);
    let m = TestManager::start(Some(sink.endpoint.clone()));
    release_reaches(&sink, &m);
}

#[test]
fn a_refused_release_keeps_the_item_and_says_why() {
    let sink_dir = tempfile::tempdir().unwrap();
    // Answer the end of the message with a temporary failure.
    let sink = Sink::unix(
        sink_dir.path(),
        &["-b", "451 4.3.0 try again later", "-r", "."],
    );
    let m = TestManager::start(Some(sink.endpoint.clone()));
    let c = m.tcp(Some(m.token()));
    let id = c
        .quarantine_create(&new_quarantine(&["user@example.test"], GTUBE))
        .unwrap()
        .ids
        .remove(0);
    let e = c.quarantine_release(&id).unwrap_err();
    assert_eq!(e.status(), Some(502), "{e}");
    assert!(e.to_string().contains("451 4.3.0 try again later"), "{e}");
    assert_eq!(
        c.quarantine_message(&id).unwrap(),
        GTUBE,
        "still in the quarantine"
    );

    drop(sink);
    let e = c.quarantine_release(&id).unwrap_err();
    assert_eq!(e.status(), Some(502), "mta down: {e}");
    assert_eq!(c.quarantine_show(&id).unwrap().id, id);
}

#[test]
fn concurrent_releases_of_one_item_deliver_once() {
    let sink_dir = tempfile::tempdir().unwrap();
    // A slow DATA answer keeps the first release in flight while the others arrive.
    let sink = Sink::unix(sink_dir.path(), &["-w", "1"]);
    let m = TestManager::start(Some(sink.endpoint.clone()));
    let id = m
        .unix()
        .quarantine_create(&new_quarantine(&["user@example.test"], GTUBE))
        .unwrap()
        .ids
        .remove(0);
    let outcomes: Vec<Result<(), Option<u16>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    m.unix()
                        .quarantine_release(&id)
                        .map(drop)
                        .map_err(|e| e.status())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(()) | Err(Some(409 | 404)))),
        "{outcomes:?}"
    );
    // Every release has answered, so every delivery has happened.
    assert_eq!(sink.wait_for(1).len(), 1);
    assert_eq!(sink.messages().len(), 1, "delivered once");
}
