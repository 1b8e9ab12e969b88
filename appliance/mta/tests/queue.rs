//! The queue as administrators steer it, through the real manager's
//! `/queue` routes (forwarded to the mta's control socket), with Postfix's
//! smtp-sink as the customer's server: down at first, then up.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::sink::{free_port, Sink};
use common::test_manager::TestManager;
use common::{managed_config, queue_id, wait_for, Client};
use model::api::EventKind;
use model::client::{ApiClient, ClientError};
use model::Endpoint;

async fn send(mta: &mta::Mta, rcpt: &str) -> String {
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<sender@sender.test>").await;
    assert_eq!(
        c.cmd(&format!("RCPT TO:<{rcpt}>")).await,
        "250 2.1.5 Ok\r\n"
    );
    c.cmd("DATA").await;
    c.send(b"Subject: queued\r\n\r\nwaiting\r\n").await;
    let id = queue_id(&c.cmd(".").await);
    c.cmd("QUIT").await;
    id
}

/// The HTTP status of a call expected to fail.
async fn status(
    api: &ApiClient,
    f: impl FnOnce(&ApiClient) -> Result<(), ClientError> + Send + 'static,
) -> Option<u16> {
    let api = api.clone();
    match tokio::task::spawn_blocking(move || f(&api)).await.unwrap() {
        Err(ClientError::Api { status, .. }) => Some(status),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_server_queues_mail_and_holds_flush_delete_and_release_work() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = managed_config(dir.path(), port);
    cfg.mta.give_up_after_secs = 3;
    let manager = TestManager::start(&cfg, dir.path()).await;
    let api = ApiClient::new(Endpoint::Unix(cfg.manager.api_socket.clone()));
    let mta = mta::Mta::start(Arc::new(cfg), dir.path().to_path_buf())
        .await
        .unwrap();

    // The server is down: the message waits in the queue, it does not bounce.
    let id = send(&mta, "user@example.test").await;
    manager.events_until(&id, EventKind::Deferred).await;
    let items = manager.call(|api| api.queue(None, None)).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].id, id);
    let r = &items[0].recipients[0];
    assert_eq!(r.address, "user@example.test");
    assert!(
        r.attempts >= 1 && r.last_error.is_some() && !r.held,
        "{r:?}"
    );

    // Held: kept past the give-up age, not delivered even once the server is up.
    manager.call(|api| api.queue_hold("Example.TEST")).await;
    assert_eq!(
        manager.call(|api| api.queue_holds()).await,
        ["example.test"]
    );
    let sink = Sink::start_on(dir.path(), "sink", &[], port).await;
    let item = manager.call(move |api| api.queue_item(&id)).await;
    assert!(item.recipients[0].held, "{item:?}");
    let id = item.id;
    let flushed = manager.call(|api| api.queue_flush(None, None)).await;
    assert_eq!(flushed.messages, 1);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(sink.dumps().is_empty(), "held mail is not delivered");
    let events = manager.events(&id).await;
    assert!(
        !events.iter().any(|e| e.kind == EventKind::Bounced),
        "{events:?}"
    );
    assert_eq!(manager.call(|api| api.queue(None, None)).await.len(), 1);

    // A second message for the held domain is deleted without a bounce.
    let doomed = send(&mta, "other@example.test").await;
    let d = doomed.clone();
    manager.call(move |api| api.queue_delete(&d)).await;
    manager.events_until(&doomed, EventKind::Deleted).await;
    let d = doomed.clone();
    let missing = status(&api, move |api| api.queue_item(&d).map(|_| ())).await;
    assert_eq!(missing, Some(404));

    // Released: delivered at once, and the queue is empty.
    manager.call(|api| api.queue_release("example.test")).await;
    assert!(wait_for(Duration::from_secs(10), || sink.dumps().len() == 1).await);
    assert!(sink.dumps()[0].contains("X-Rcpt-Args: <user@example.test>"));
    manager.events_until(&id, EventKind::Delivered).await;
    assert!(manager.call(|api| api.queue(None, None)).await.is_empty());
    assert!(manager.call(|api| api.queue_holds()).await.is_empty());
    let again = status(&api, |api| api.queue_release("example.test")).await;
    assert_eq!(again, Some(404), "not held any more");

    mta.shutdown().await.unwrap();
    manager.stop().await;
}
