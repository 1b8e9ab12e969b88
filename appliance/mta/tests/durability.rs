//! A 250 means the message is on disk: concurrent sessions share fsyncs
//! (group commit), and what was acknowledged is in the queue files at the
//! moment of the 250, before any graceful shutdown.

mod common;

use std::path::Path;
use std::time::Duration;

use common::downstream::Downstream;
use common::{config, queue_id, start, Client};
use mta::queue::Store;

/// Copies a directory tree: the files as a crash right now would leave them.
fn snapshot(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            snapshot(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// `sessions` clients at once, `each` messages per session; returns the queue ids.
async fn flood(addr: std::net::SocketAddr, sessions: usize, each: usize) -> Vec<String> {
    let mut tasks = Vec::new();
    for s in 0..sessions {
        tasks.push(tokio::spawn(async move {
            let (mut c, _) = Client::connect(addr).await;
            c.cmd("EHLO client.test").await;
            let mut ids = Vec::new();
            for m in 0..each {
                // Pipelined: the whole transaction in one write.
                c.send(
                    format!(
                        "MAIL FROM:<sender@sender.test>\r\nRCPT TO:<user@example.test>\r\nDATA\r\n\
                         Subject: session {s} message {m}\r\n\r\nbody {s}/{m}\r\n.\r\n"
                    )
                    .as_bytes(),
                )
                .await;
                let replies = c.replies(4).await;
                ids.push(queue_id(&replies[3]));
            }
            c.cmd("QUIT").await;
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    ids
}

/// A downstream that defers everyone, so messages stay queued.
async fn deferring() -> Downstream {
    Downstream::start(
        |_, _| "451 4.3.0 not now".into(),
        |_| "451 4.3.0 not now".into(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_are_all_acknowledged_and_queued() {
    let dir = tempfile::tempdir().unwrap();
    let down = deferring().await;
    let mut cfg = config(dir.path());
    // Every session comes from 127.0.0.1: more than one client's default share.
    cfg.mta.max_connections_per_ip = 0;
    let mta = start(dir.path(), cfg, down.port).await;
    let ids = flood(mta.smtp_addr(), 25, 4).await;
    assert_eq!(ids.len(), 100);
    mta.shutdown().await.unwrap();

    let store = Store::open(&dir.path().join(mta::QUEUE_DB), None).unwrap();
    let mut queued: Vec<String> = store
        .load_all()
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    let mut expected = ids.clone();
    queued.sort();
    expected.sort();
    assert_eq!(queued, expected);
    for id in &ids {
        let body = String::from_utf8(store.body(id).unwrap().unwrap()).unwrap();
        assert!(
            body.contains(&format!("id {id}")) && body.contains("\r\n\r\nbody "),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_are_on_disk_at_the_250() {
    let dir = tempfile::tempdir().unwrap();
    let down = deferring().await;
    let mta = start(dir.path(), config(dir.path()), down.port).await;
    let ids = flood(mta.smtp_addr(), 10, 3).await;
    // What a SIGKILL right now would leave on disk; no shutdown has run.
    let crash = dir.path().join("crash-copy");
    snapshot(&dir.path().join(mta::QUEUE_DB), &crash);

    let store = Store::open(&crash, None).unwrap();
    let entries = store.load_all().unwrap();
    for id in &ids {
        assert!(
            entries.iter().any(|e| &e.id == id),
            "{id} acknowledged but not on disk"
        );
        assert!(store.body(id).unwrap().is_some(), "{id} has its message");
    }
    assert!(
        down.connections() < 1000,
        "sanity: the downstream only defers"
    );
    tokio::time::timeout(Duration::from_secs(20), mta.shutdown())
        .await
        .unwrap()
        .unwrap();
}
