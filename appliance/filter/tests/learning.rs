//! Learning on the box, with the real manager and filter roles: a message
//! taught as ham (what releasing it from the quarantine does) passes next
//! time, a message reported as spam is held next time, and the learned
//! model survives a restart of the filter.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use miltr_client::Client;
use miltr_common::commands::{Body, Connect, Family, Header, Mail, Recipient};
use miltr_common::optneg::{OptNeg, Protocol};
use model::client::ApiClient;
use model::config::SystemConfig;
use model::Endpoint;
use tokio::net::UnixStream;
use tokio::sync::watch;
use tokio_util::compat::TokioAsyncReadCompatExt;

const SPAM_SUBJECT: &str = "FREE!!! Make $5000 a week from home";
const SPAM_BODY: &str = "<html><body><font color=#ffffff>x</font><a href=\"http://10.1.2.3/\">CLICK HERE</a> to be removed from our mailing list. Guaranteed income, no risk, order now! Limited time offer, act now! $$$ cash</body></html>\r\n";
const HAM_SUBJECT: &str = "Re: the build on Monday";
const HAM_BODY: &str = "I had a look at the patch; the test suite passes on my machine now.\r\nCan you merge it before the release?\r\n";

fn message(subject: &str, html: bool, body: &str) -> Vec<(String, String)> {
    let mut h = vec![
        (
            "From".to_string(),
            "Sender <offers1234@sender.test>".to_string(),
        ),
        ("To".into(), "user@example.test".into()),
        ("Subject".into(), subject.into()),
    ];
    if html {
        h.push(("Content-Type".into(), "text/html".into()));
    }
    h.push(("X-Body".into(), body.into()));
    h
}

/// The message as the manager stores it: headers, empty line, body.
fn raw(m: &[(String, String)]) -> Vec<u8> {
    let mut out = String::new();
    for (n, v) in m.iter().filter(|(n, _)| n != "X-Body") {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&m.iter().find(|(n, _)| n == "X-Body").unwrap().1);
    out.into_bytes()
}

struct Roles {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    filter_sock: PathBuf,
    manager: ApiClient,
}

async fn start(dir: &Path, with_manager: bool) -> Roles {
    let mut config = SystemConfig::default();
    let manager_sock = dir.join("manager.sock");
    config.manager.api_socket = manager_sock.clone();
    config.manager.http_listen = None;
    let filter_sock = dir.join("filter.sock");
    config.filter.listen = vec![Endpoint::Unix(filter_sock.clone())];
    config.filter.manager = Endpoint::Unix(manager_sock.clone());
    config.filter.policy_refresh_secs = 1;
    let config = Arc::new(config);
    let (stop, rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = Vec::new();
    if with_manager {
        std::fs::create_dir_all(dir.join("manager")).unwrap();
        let m = manager::run(
            Arc::clone(&config),
            dir.join("manager"),
            stopped(rx.clone()),
        );
        tasks.push(tokio::spawn(async move {
            m.await.expect("manager");
        }));
    }
    std::fs::create_dir_all(dir.join("filter")).unwrap();
    let f = filter::run(Arc::clone(&config), dir.join("filter"), stopped(rx));
    tasks.push(tokio::spawn(async move {
        f.await.expect("filter");
    }));
    for _ in 0..400 {
        if UnixStream::connect(&filter_sock).await.is_ok()
            && UnixStream::connect(&manager_sock).await.is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Roles {
        stop,
        tasks,
        filter_sock,
        manager: ApiClient::new(Endpoint::Unix(manager_sock)),
    }
}

impl Roles {
    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.await.unwrap();
        }
    }

    /// Sends `m` through the milter; true when it was held as spam.
    async fn held(&self, m: &[(String, String)]) -> bool {
        let stream = UnixStream::connect(&self.filter_sock).await.unwrap();
        let mut c = Client::new(OptNeg {
            protocol: Protocol::empty(),
            ..OptNeg::default()
        })
        .connect_via(stream.compat())
        .await
        .unwrap();
        c.connect(Connect::new(
            b"sender.test",
            Family::Inet,
            Some(4321),
            b"192.0.2.9",
        ))
        .await
        .unwrap();
        c.mail(Mail::from(b"<offers1234@sender.test>".as_slice()))
            .await
            .unwrap();
        c.recipient(Recipient::from(b"<user@example.test>".as_slice()))
            .await
            .unwrap();
        for (n, v) in m.iter().filter(|(n, _)| n != "X-Body") {
            c.header(Header::new(n.as_bytes(), v.as_bytes()))
                .await
                .unwrap();
        }
        let body = &m.iter().find(|(n, _)| n == "X-Body").unwrap().1;
        c.body(Body::from(body.as_bytes())).await.unwrap();
        let r = c.end_of_body().await.unwrap();
        let action = format!("{:?}", r.final_action());
        let _ = c.quit().await;
        assert!(
            action.starts_with("Continue") || action.starts_with("Discard"),
            "{action}"
        );
        action.starts_with("Discard")
    }

    /// Teaches through the manager and waits until the filter learned it.
    async fn teach(&self, dir: &Path, spam: bool, message: Vec<u8>) {
        let m = self.manager.clone();
        let event = tokio::task::spawn_blocking(move || m.learn(spam, &message).unwrap())
            .await
            .unwrap();
        let seq_file = dir.join("filter").join(filter::learn::SEQ_FILE);
        for _ in 0..200 {
            let seq: Option<u64> = std::fs::read_to_string(&seq_file)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            if seq >= Some(event.seq) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the filter did not learn event {} within 10 s", event.seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_ham_passes_next_time_reported_spam_is_held_and_both_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let roles = start(dir.path(), true).await;
    let spam = message(SPAM_SUBJECT, true, SPAM_BODY);
    let ham = message(HAM_SUBJECT, false, HAM_BODY);

    assert!(roles.held(&spam).await, "the shipped model holds the spam");
    let c = roles.manager.clone();
    let items = tokio::task::spawn_blocking(move || c.quarantine_list(None).unwrap())
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    assert!(
        items[0]
            .reasons
            .iter()
            .any(|r| r.starts_with("CLASSIFIER=")),
        "the reasons are stored with their scores: {:?}",
        items[0].reasons
    );
    roles.teach(dir.path(), false, raw(&spam)).await;
    assert!(!roles.held(&spam).await, "taught as ham, it passes");

    assert!(!roles.held(&ham).await);
    roles.teach(dir.path(), true, raw(&ham)).await;
    assert!(roles.held(&ham).await, "reported as spam, it is held");
    roles.stop().await;

    let model = dir.path().join("filter").join(filter::learn::MODEL_FILE);
    assert!(model.exists(), "the learned model is kept");
    let again = start(dir.path(), true).await;
    assert!(!again.held(&spam).await, "still ham after a restart");
    assert!(again.held(&ham).await, "still spam after a restart");
    again.stop().await;
}
