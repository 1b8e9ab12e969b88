//! Session timeouts and shutdown over an in-memory stream with paused time.

use std::sync::Arc;
use std::time::Duration;

use model::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, watch};

use super::connection::{serve, Peer};
use super::{Mode, Shared};
use crate::directory::Directory;
use crate::queue::{Committer, Store};
use crate::session::SessionConfig;
use crate::tracking::Tracker;

fn shared(dir: &std::path::Path) -> Arc<Shared> {
    let store = Store::open(&dir.join("q.db"), None).unwrap();
    let (committer, _) = Committer::start(store);
    let (_, never) = watch::channel(false);
    let api = model::client::ApiClient::new(Endpoint::Unix(dir.join("none.sock")));
    let callout = crate::callout::Callout::new(api.clone(), "mx.test", &Default::default());
    let security = super::tls::Security {
        acceptor: None,
        api: api.clone(),
    };
    let (tracker, _) = Tracker::start(api, never);
    let (queued, _) = mpsc::unbounded_channel();
    Arc::new(Shared {
        session: SessionConfig {
            hostname: "mx.test".into(),
            max_message_size: 10_000,
            max_recipients: 10,
        },
        milter: None,
        directory: Arc::new(Directory::default()),
        committer,
        tracker,
        queued,
        limits: Arc::new(super::limits::Limits::new(&Default::default())),
        callout,
        security,
    })
}

async fn read_some(client: &mut DuplexStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = client.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Reads until the server closes its end.
async fn read_rest(client: &mut DuplexStream) -> String {
    let mut out = Vec::new();
    client.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(start_paused = true)]
async fn idle_client_gets_421_after_the_command_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (mut client, server) = tokio::io::duplex(4096);
    let (_stop, stop_rx) = watch::channel(false);
    let session = tokio::spawn(serve(
        server,
        shared(dir.path()),
        Peer::Local,
        Mode::Inject,
        stop_rx,
    ));
    assert_eq!(
        read_some(&mut client).await,
        "220 mx.test ESMTP filterbox\r\n"
    );
    let started = tokio::time::Instant::now();
    assert_eq!(
        read_rest(&mut client).await,
        "421 4.4.2 timeout exceeded\r\n"
    );
    assert!(started.elapsed() >= Duration::from_secs(300));
    session.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn stalled_message_text_times_out_sooner() {
    let dir = tempfile::tempdir().unwrap();
    let (mut client, server) = tokio::io::duplex(4096);
    let (_stop, stop_rx) = watch::channel(false);
    let session = tokio::spawn(serve(
        server,
        shared(dir.path()),
        Peer::Local,
        Mode::Inject,
        stop_rx,
    ));
    read_some(&mut client).await;
    client
        .write_all(b"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@b.test>\r\nDATA\r\nhalf a line")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let out = read_rest(&mut client).await;
    assert!(
        out.ends_with("354 End data with <CR><LF>.<CR><LF>\r\n421 4.4.2 timeout exceeded\r\n"),
        "{out}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(180) && waited < Duration::from_secs(300),
        "{waited:?}"
    );
    session.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_a_message_in_progress_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (mut client, server) = tokio::io::duplex(4096);
    let (stop, stop_rx) = watch::channel(false);
    let session = tokio::spawn(serve(
        server,
        shared(dir.path()),
        Peer::Local,
        Mode::Inject,
        stop_rx,
    ));
    read_some(&mut client).await;
    client
        .write_all(b"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@b.test>\r\nDATA\r\nSubject: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.send(true).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    client
        .write_all(b"\r\nbody\r\n.\r\nNOOP\r\n")
        .await
        .unwrap();
    let out = read_rest(&mut client).await;
    assert!(out.contains("250 2.0.0 Ok: queued as "), "{out}");
    assert!(
        out.ends_with("421 4.3.0 shutting down, try again later\r\n"),
        "{out}"
    );
    session.await.unwrap();
}
