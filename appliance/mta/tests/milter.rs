//! The milter client against a real milter server (the miltr-server crate,
//! which the filter role also uses): a small test milter whose verdict
//! depends on the message.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::downstream::Downstream;
use common::test_manager::TestManager;
use common::{after_received, config, managed_config, queue_id, start, wait_for, Client, HOSTNAME};
use miltr_common::actions::{Action, Continue, Discard, Reject, Replycode, Tempfail};
use miltr_common::commands::{Body, Connect, Header, Helo, Macro, Mail, Recipient};
use miltr_common::modifications::headers::{AddHeader, ChangeHeader};
use miltr_common::modifications::recipients::DeleteRecipient;
use miltr_common::modifications::ModificationResponse;
use miltr_common::optneg::{OptNeg, Protocol};
use miltr_server::{Milter, Server};
use model::api::{EventKind, NewUser, TrackingEvent};
use model::client::TrackingQuery;
use model::Endpoint;
use tokio_util::compat::TokioAsyncReadCompatExt;

/// What the test milter saw, over all its connections.
#[derive(Debug, Default)]
struct Seen {
    macros: Vec<(String, String)>,
    connects: Vec<String>,
    helos: Vec<String>,
    senders: Vec<String>,
    headers: Vec<(String, String)>,
    aborts: usize,
    quits: usize,
}

struct TestMilter {
    seen: Arc<Mutex<Seen>>,
    body: Vec<u8>,
    /// Protocol flags this milter asks for (steps to skip, leading spaces).
    protocol: Protocol,
}

#[async_trait]
impl Milter for TestMilter {
    type Error = &'static str;

    async fn option_negotiation(
        &mut self,
        theirs: OptNeg,
    ) -> Result<OptNeg, miltr_server::Error<Self::Error>> {
        let mut ours = OptNeg::default()
            .merge_compatible(&theirs)
            .map_err(miltr_common::ProtocolError::CompatibilityError)?;
        ours.protocol = self.protocol;
        Ok(ours)
    }

    async fn macro_(&mut self, m: Macro) -> Result<(), Self::Error> {
        let mut seen = self.seen.lock().unwrap();
        for (k, v) in m.macros() {
            seen.macros.push((
                String::from_utf8_lossy(k).into(),
                String::from_utf8_lossy(v).into(),
            ));
        }
        Ok(())
    }

    async fn connect(&mut self, c: Connect) -> Result<Action, Self::Error> {
        self.seen
            .lock()
            .unwrap()
            .connects
            .push(c.address().into_owned());
        Ok(Continue.into())
    }

    async fn helo(&mut self, h: Helo) -> Result<Action, Self::Error> {
        self.seen.lock().unwrap().helos.push(h.helo().into_owned());
        Ok(Continue.into())
    }

    async fn mail(&mut self, m: Mail) -> Result<Action, Self::Error> {
        self.seen
            .lock()
            .unwrap()
            .senders
            .push(m.sender().into_owned());
        Ok(Continue.into())
    }

    async fn rcpt(&mut self, r: Recipient) -> Result<Action, Self::Error> {
        if r.recipient().contains("rcptreject") {
            return Ok(Reject.into());
        }
        Ok(Continue.into())
    }

    async fn header(&mut self, h: Header) -> Result<Action, Self::Error> {
        self.seen
            .lock()
            .unwrap()
            .headers
            .push((h.name().into(), h.value().into()));
        Ok(Continue.into())
    }

    async fn body(&mut self, b: Body) -> Result<Action, Self::Error> {
        self.body.extend_from_slice(b.as_bytes());
        Ok(Continue.into())
    }

    async fn end_of_body(&mut self) -> Result<ModificationResponse, Self::Error> {
        let body = String::from_utf8_lossy(&self.body).into_owned();
        let mut b = ModificationResponse::builder();
        if body.contains("REJECT-ME") {
            return Ok(b.build(Reject));
        }
        if body.contains("REPLYCODE-ME") {
            return Ok(b.build(Replycode::new([5, 5, 4], [5, 7, 0], "spam refused")));
        }
        if body.contains("TEMPFAIL-ME") {
            return Ok(b.build(Tempfail));
        }
        if body.contains("DISCARD-ME") {
            return Ok(b.build(Discard));
        }
        if body.contains("QUARANTINE-OTHER") {
            b.push(DeleteRecipient::new(b"<other@example.test>"));
        }
        b.push(AddHeader::new(b"X-Spam-Status", b"No, score=0.1"));
        b.push(ChangeHeader::new(1, b"X-Remove-Me", b""));
        Ok(b.contin())
    }

    async fn abort(&mut self) -> Result<(), Self::Error> {
        self.body.clear();
        self.seen.lock().unwrap().aborts += 1;
        Ok(())
    }

    async fn quit(&mut self) -> Result<(), Self::Error> {
        self.seen.lock().unwrap().quits += 1;
        Ok(())
    }
}

/// Serves the test milter on a unix socket at `path`.
fn start_milter(path: &Path, protocol: Protocol) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = shared.clone();
            tokio::spawn(async move {
                let mut milter = TestMilter {
                    protocol,
                    seen,
                    body: Vec::new(),
                };
                let mut server = Server::default_postfix(&mut milter);
                let _ = server.handle_connection(&mut stream.compat()).await;
            });
        }
    });
    seen
}

/// An mta using the test milter, with its directory and tracking on a real
/// manager in `dir`.
async fn filtered_mta(dir: &Path, port: u16) -> (mta::Mta, Arc<Mutex<Seen>>, TestManager) {
    let socket = dir.join("filter.sock");
    // As the filter role does: header values with their leading space.
    let seen = start_milter(&socket, Protocol::SMFIP_HDR_LEADSPC);
    let mut cfg = managed_config(dir, port);
    cfg.initial_data.users.push(NewUser {
        source: Default::default(),
        address: "rcptreject@example.test".into(),
    });
    cfg.mta.milter = Some(Endpoint::Unix(socket));
    let manager = TestManager::start(&cfg, dir).await;
    let mta = mta::Mta::start(Arc::new(cfg), dir.to_path_buf())
        .await
        .unwrap();
    let generation = manager.call(|api| api.generation()).await.generation;
    assert_eq!(
        mta.directory().snapshot().map(|d| d.generation),
        Some(generation),
        "the mta starts with the manager's directory"
    );
    (mta, seen, manager)
}

/// One transaction on an open session; returns the final reply to DATA.
async fn transaction(c: &mut Client, rcpts: &[&str], message: &str) -> String {
    assert_eq!(
        c.cmd("MAIL FROM:<sender@sender.test>").await,
        "250 2.1.0 Ok\r\n"
    );
    for r in rcpts {
        assert_eq!(c.cmd(&format!("RCPT TO:<{r}>")).await, "250 2.1.5 Ok\r\n");
    }
    assert!(c.cmd("DATA").await.starts_with("354 "));
    c.send(message.as_bytes()).await;
    c.cmd(".").await
}

#[tokio::test]
async fn clean_message_gets_the_filter_edits_and_the_filter_sees_everything() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let (mta, seen, manager) = filtered_mta(dir.path(), down.port).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    let message = "Subject: clean\r\nX-Remove-Me: yes\r\n\r\nhello\r\n";
    let id = queue_id(&transaction(&mut c, &["user@example.test"], message).await);
    c.cmd("QUIT").await;
    assert!(wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await);
    assert_eq!(
        after_received(&down.messages()[0].data),
        b"Subject: clean\r\nX-Spam-Status: No, score=0.1\r\n\r\nhello\r\n"
    );
    assert!(
        wait_for(Duration::from_secs(5), || seen.lock().unwrap().quits == 1).await,
        "SMFIC_QUIT at the end"
    );
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let has = |k: &str, v: &str| seen.macros.iter().any(|(a, b)| a == k && b == v);
    assert!(
        has("j", HOSTNAME) && has("{daemon_name}", "filterbox") && has("_", "[127.0.0.1]"),
        "{seen:?}"
    );
    assert!(
        has("{mail_addr}", "sender@sender.test") && has("i", &id),
        "{seen:?}"
    );
    assert_eq!(seen.connects, ["127.0.0.1"]);
    assert_eq!(seen.helos, ["client.test"]);
    assert_eq!(seen.senders, ["<sender@sender.test>"]);
    assert_eq!(
        seen.headers[0].0, "Received",
        "the filter sees our Received header first"
    );
    assert_eq!(
        seen.headers[1],
        ("Subject".to_string(), " clean".to_string())
    );
    assert_eq!(seen.aborts, 1, "SMFIC_ABORT after the message");
    let events = manager.events_until(&id, EventKind::Delivered).await;
    let verdict = events
        .iter()
        .find(|e| e.kind == EventKind::Verdict)
        .unwrap();
    assert_eq!(verdict.detail, "accept; X-Spam-Status: No, score=0.1");
    mta.shutdown().await.unwrap();
    manager.stop().await;
}

#[tokio::test]
async fn filter_verdicts_become_smtp_replies_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let (mta, seen, manager) = filtered_mta(dir.path(), down.port).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    let user = ["user@example.test"];
    assert_eq!(
        transaction(&mut c, &user, "Subject: a\r\n\r\nREJECT-ME\r\n").await,
        "550 5.7.1 message rejected by the content filter\r\n"
    );
    assert_eq!(
        transaction(&mut c, &user, "Subject: b\r\n\r\nREPLYCODE-ME\r\n").await,
        "554 5.7.0 spam refused\r\n"
    );
    assert_eq!(
        transaction(&mut c, &user, "Subject: c\r\n\r\nTEMPFAIL-ME\r\n").await,
        "451 4.7.1 try again later\r\n"
    );
    let discarded = queue_id(&transaction(&mut c, &user, "Subject: d\r\n\r\nDISCARD-ME\r\n").await);
    assert_eq!(
        c.cmd("MAIL FROM:<sender@sender.test>").await,
        "250 2.1.0 Ok\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<rcptreject@example.test>").await,
        "550 5.7.1 message rejected by the content filter\r\n"
    );
    assert_eq!(c.cmd("RSET").await, "250 2.0.0 Ok\r\n");
    let split = transaction(
        &mut c,
        &["user@example.test", "other@example.test"],
        "Subject: e\r\n\r\nQUARANTINE-OTHER\r\n",
    )
    .await;
    c.cmd("QUIT").await;
    assert!(wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delivered = down.messages();
    assert_eq!(
        delivered.len(),
        1,
        "only the last message is delivered: {delivered:?}"
    );
    assert_eq!(
        delivered[0].recipients,
        ["user@example.test"],
        "the filter removed the other recipient"
    );
    assert!(String::from_utf8_lossy(&delivered[0].data).contains("QUARANTINE-OTHER"));
    assert_eq!(
        seen.lock().unwrap().aborts,
        6,
        "one SMFIC_ABORT per transaction"
    );
    let kinds = |events: &[TrackingEvent]| -> Vec<(EventKind, Vec<String>)> {
        events
            .iter()
            .map(|e| (e.kind, e.recipients.clone()))
            .collect()
    };
    let verdicts = |events: &[TrackingEvent]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.kind == EventKind::Verdict)
            .map(|e| e.detail.clone())
            .collect()
    };
    let user = || vec!["user@example.test".to_string()];
    let other = vec!["other@example.test".to_string()];
    let both = vec![
        "user@example.test".to_string(),
        "other@example.test".to_string(),
    ];
    // Delivered is the last event the mta sends about this session, and
    // events reach the manager in the order they were sent: all the events
    // of the session's earlier messages are there by now.
    let split = manager
        .events_until(&queue_id(&split), EventKind::Delivered)
        .await;
    assert_eq!(
        kinds(&split),
        [
            (EventKind::Received, both),
            (EventKind::Verdict, other),
            (EventKind::Verdict, user()),
            (EventKind::Queued, user()),
            (EventKind::Delivered, user())
        ]
    );
    assert_eq!(
        verdicts(&split),
        [
            "recipient removed by the filter",
            "accept; X-Spam-Status: No, score=0.1"
        ]
    );
    // A discarded message is the filter's to keep (the filter role
    // quarantines it through the manager, which records that): the mta
    // records only its verdict, and queues nothing.
    let discarded = manager.events(&discarded).await;
    assert_eq!(
        kinds(&discarded),
        [(EventKind::Received, user()), (EventKind::Verdict, user())]
    );
    assert_eq!(verdicts(&discarded), ["discarded by the filter"]);
    let all = manager.tracking(TrackingQuery::default()).await;
    let refusals = all.iter().filter(|e| e.kind == EventKind::Rejected).count();
    assert_eq!(
        refusals, 4,
        "three refused messages and one refused recipient"
    );
    mta.shutdown().await.unwrap();
    manager.stop().await;
}

#[tokio::test]
async fn unreachable_or_broken_filter_tempfails() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mta.milter = Some(Endpoint::Unix(dir.path().join("missing.sock")));
    let mta = start(dir.path(), cfg, 9).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<sender@sender.test>").await,
        "451 4.7.1 content filter unavailable, try again later\r\n"
    );
    mta.shutdown().await.unwrap();

    // A filter that answers option negotiation with garbage.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("broken.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"\0\0\0\x02zz").await;
        }
    });
    let mut cfg = config(dir.path());
    cfg.mta.milter = Some(Endpoint::Unix(socket));
    let mta = start(dir.path(), cfg, 9).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(
        c.cmd("MAIL FROM:<sender@sender.test>").await,
        "451 4.7.1 content filter unavailable, try again later\r\n"
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn steps_the_filter_asks_to_skip_are_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let socket = dir.path().join("filter.sock");
    let skip = Protocol::NO_CONNECT | Protocol::NO_HELO | Protocol::NO_HEADER | Protocol::NO_BODY;
    let seen = start_milter(&socket, skip);
    let mut cfg = config(dir.path());
    cfg.mta.milter = Some(Endpoint::Unix(socket));
    let mta = start(dir.path(), cfg, down.port).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    let reply = transaction(
        &mut c,
        &["user@example.test"],
        "Subject: s\r\n\r\nREJECT-ME\r\n",
    )
    .await;
    assert!(
        reply.starts_with("250 2.0.0 Ok: queued as "),
        "the milter never saw the body: {reply}"
    );
    c.cmd("QUIT").await;
    assert!(wait_for(Duration::from_secs(10), || !down.messages().is_empty()).await);
    let delivered = String::from_utf8_lossy(&down.messages()[0].data).into_owned();
    assert!(
        delivered.contains("X-Spam-Status: No, score=0.1\r\n"),
        "{delivered}"
    );
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.connects.is_empty() && seen.helos.is_empty() && seen.headers.is_empty(),
        "{seen:?}"
    );
    assert_eq!(
        seen.senders,
        ["<sender@sender.test>"],
        "MAIL was not skipped"
    );
    mta.shutdown().await.unwrap();
}
