//! The real manager and filter roles on unix sockets in a test's directory,
//! and a milter client standing in for the mta: what the learning and
//! policy tests share.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use miltr_client::Client;
use miltr_common::commands::{Body, Connect, Family, Header, Mail, Recipient};
use miltr_common::modifications::ModificationAction;
use miltr_common::optneg::{OptNeg, Protocol};
use model::api::QuarantineItem;
use model::client::ApiClient;
use model::config::SystemConfig;
use model::policy::{DomainPolicy, UserPolicy};
use model::Endpoint;
use tokio::net::UnixStream;
use tokio::sync::watch;
use tokio_util::compat::TokioAsyncReadCompatExt;

/// A spam the shipped model holds.
pub const SPAM_SUBJECT: &str = "FREE!!! Make $5000 a week from home";
/// Its HTML body.
pub const SPAM_BODY: &str = "<html><body><font color=#ffffff>x</font><a href=\"http://10.1.2.3/\">CLICK HERE</a> to be removed from our mailing list. Guaranteed income, no risk, order now! Limited time offer, act now! $$$ cash</body></html>\r\n";
/// A ham the shipped model passes.
pub const HAM_SUBJECT: &str = "Re: the build on Monday";
/// Its plain body.
pub const HAM_BODY: &str = "I had a look at the patch; the test suite passes on my machine now.\r\nCan you merge it before the release?\r\n";

/// A message as header fields and a body.
pub struct Msg {
    headers: Vec<(String, String)>,
    body: String,
}

/// A message from `offers1234@sender.test` to `user@example.test`.
pub fn message(subject: &str, html: bool, body: &str) -> Msg {
    let mut headers = vec![
        (
            "From".to_string(),
            "Sender <offers1234@sender.test>".to_string(),
        ),
        ("To".into(), "user@example.test".into()),
        ("Subject".into(), subject.into()),
    ];
    if html {
        headers.push(("Content-Type".into(), "text/html".into()));
    }
    Msg {
        headers,
        body: body.into(),
    }
}

/// A message with a plain text part and an attachment named `name`.
pub fn with_attachment(subject: &str, name: &str, content: &str) -> Msg {
    let mut m = message(subject, false, "");
    m.headers.push(("MIME-Version".into(), "1.0".into()));
    m.headers.push((
        "Content-Type".into(),
        "multipart/mixed; boundary=\"b1\"".into(),
    ));
    m.body = format!(
        "--b1\r\nContent-Type: text/plain\r\n\r\nThe notes from today's meeting are attached.\r\n\
         --b1\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{content}\r\n--b1--\r\n"
    );
    m
}

impl Msg {
    /// The message as the manager stores it.
    pub fn raw(&self) -> Vec<u8> {
        let mut out = String::new();
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&self.body);
        out.into_bytes()
    }
}

/// What the filter did with a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Let through; `tagged` with `X-Spam-Flag: YES`; `removed` the
    /// recipients taken off it (held in the quarantine).
    Delivered {
        /// Marked as spam.
        tagged: bool,
        /// Recipients removed.
        removed: Vec<String>,
    },
    /// Held for every recipient.
    Discarded,
    /// Refused.
    Rejected,
}

/// The two roles, until [`Roles::stop`].
pub struct Roles {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    dir: PathBuf,
    filter_sock: PathBuf,
    /// The manager's API.
    pub manager: ApiClient,
    /// The filter's DNS (SPF, DKIM, DMARC): empty, on loopback.
    _dns: test_harness::dns::DnsServer,
}

impl Roles {
    /// Starts both roles under `dir` (state kept there across restarts),
    /// polling the manager every second.
    pub async fn start(dir: &Path) -> Roles {
        Roles::start_with(dir, |_| {}).await
    }

    /// [`Roles::start`] with `tweak` applied to the settings.
    pub async fn start_with(dir: &Path, tweak: impl FnOnce(&mut SystemConfig)) -> Roles {
        let mut config = SystemConfig::default();
        let manager_sock = dir.join("manager.sock");
        config.manager.api_socket = manager_sock.clone();
        config.manager.http_listen = None;
        let filter_sock = dir.join("filter.sock");
        config.filter.listen = vec![Endpoint::Unix(filter_sock.clone())];
        config.filter.manager = Endpoint::Unix(manager_sock.clone());
        config.filter.policy_refresh_secs = 1;
        let dns = test_harness::dns::DnsServer::start(&[]).unwrap();
        config.filter.nameservers = vec![dns.addr().to_string()];
        tweak(&mut config);
        let config = Arc::new(config);
        let (stop, rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        std::fs::create_dir_all(dir.join("manager")).unwrap();
        std::fs::create_dir_all(dir.join("filter")).unwrap();
        let m = manager::run(
            Arc::clone(&config),
            dir.join("manager"),
            stopped(rx.clone()),
        );
        let f = filter::run(Arc::clone(&config), dir.join("filter"), stopped(rx));
        let tasks = vec![
            tokio::spawn(async move { m.await.expect("manager") }),
            tokio::spawn(async move { f.await.expect("filter") }),
        ];
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
            dir: dir.to_path_buf(),
            filter_sock,
            manager: ApiClient::new(Endpoint::Unix(manager_sock)),
            _dns: dns,
        }
    }

    /// Stops both roles.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.await.unwrap();
        }
    }

    /// Runs `f` on the manager's API client off the async threads.
    pub async fn api<T: Send + 'static>(
        &self,
        f: impl FnOnce(ApiClient) -> T + Send + 'static,
    ) -> T {
        let c = self.manager.clone();
        tokio::task::spawn_blocking(move || f(c)).await.unwrap()
    }

    /// Creates domain `example.test` and `users` in it, unless the
    /// manager's first-start data already has them.
    pub async fn directory(&self, users: &[&str]) {
        let users: Vec<String> = users.iter().map(|u| u.to_string()).collect();
        self.api(move |c| {
            let d = serde_json::from_value(serde_json::json!({
                "name": "example.test",
                "delivery": [{"host": "127.0.0.1"}]
            }))
            .unwrap();
            let exists = |e: &model::client::ClientError| e.status() == Some(409);
            if let Err(e) = c.create_domain(&d) {
                assert!(exists(&e), "{e}");
            }
            for u in users {
                let u = serde_json::from_value(serde_json::json!({ "address": u })).unwrap();
                if let Err(e) = c.create_user(&u) {
                    assert!(exists(&e), "{e}");
                }
            }
        })
        .await
    }

    /// Sets a domain's policy and waits until the filter has it.
    pub async fn set_domain(&self, p: DomainPolicy) {
        let name = p.domain.clone();
        self.api(move |c| c.set_domain_policy(&name, &p).unwrap())
            .await;
        self.wait_for_policy().await;
    }

    /// Sets a user's policy and waits until the filter has it.
    pub async fn set_user(&self, p: UserPolicy) {
        let address = p.address.clone();
        self.api(move |c| c.set_user_policy(&address, &p).unwrap())
            .await;
        self.wait_for_policy().await;
    }

    async fn wait_for_policy(&self) {
        let generation = self.api(|c| c.filter_policy().unwrap().generation).await;
        let file = self
            .dir
            .join("filter")
            .join(filter::policy::GENERATION_FILE);
        for _ in 0..200 {
            let seen: Option<u64> = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            if seen >= Some(generation) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the filter did not take policy generation {generation} within 10 s");
    }

    /// The quarantine.
    pub async fn quarantined(&self) -> Vec<QuarantineItem> {
        self.api(|c| c.quarantine_list(None).unwrap()).await
    }

    /// Teaches through the manager and waits until the filter learned it.
    pub async fn teach(&self, spam: bool, message: Vec<u8>) {
        let event = self.api(move |c| c.learn(spam, &message).unwrap()).await;
        let file = self.dir.join("filter").join(filter::learn::SEQ_FILE);
        for _ in 0..200 {
            let seq: Option<u64> = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            if seq >= Some(event.seq) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the filter did not learn event {} within 10 s", event.seq);
    }

    /// Sends `m` to `recipients` through the milter, as the mta would.
    pub async fn send(&self, m: &Msg, recipients: &[&str]) -> Outcome {
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
        for r in recipients {
            c.recipient(Recipient::from(r.as_bytes())).await.unwrap();
        }
        for (n, v) in &m.headers {
            c.header(Header::new(n.as_bytes(), v.as_bytes()))
                .await
                .unwrap();
        }
        c.body(Body::from(m.body.as_bytes())).await.unwrap();
        let outcome = match c.end_of_body().await {
            Ok(r) => {
                let action = format!("{:?}", r.final_action());
                if action.starts_with("Discard") {
                    Outcome::Discarded
                } else if action.starts_with("Replycode") {
                    assert!(
                        action.contains("b\"550\"") && action.contains("5.7.1"),
                        "{action}"
                    );
                    Outcome::Rejected
                } else {
                    assert!(action.starts_with("Continue"), "{action}");
                    let mut tagged = false;
                    let mut removed = Vec::new();
                    for m in r.modifications() {
                        match m {
                            ModificationAction::AddHeader(h) => {
                                tagged |= h.name() == "X-Spam-Flag" && h.value() == "YES";
                            }
                            ModificationAction::DeleteRecipient(d) => {
                                removed.push(d.recipient().into_owned())
                            }
                            _ => {}
                        }
                    }
                    Outcome::Delivered { tagged, removed }
                }
            }
            Err(e) => {
                let text = format!("{e:?}");
                assert!(text.contains("550") || text.contains("Reject"), "{text}");
                Outcome::Rejected
            }
        };
        let _ = c.quit().await;
        outcome
    }
}
