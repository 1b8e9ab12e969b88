//! Recipient verification by SMTP call-out, with real peers: Postfix's
//! smtp-sink as the domains' servers (accepting, refusing RCPT with 5xx or
//! 4xx, or down), the real manager (provisioning) and the real filter
//! (GTUBE is quarantined).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::sink::{free_port, Sink};
use common::test_manager::TestManager;
use common::{managed_config, queue_id, wait_for, Client};
use model::api::{DeliveryServer, NewDomain, NewUser, Provisioning, UserSource};
use model::config::InitialData;
use model::Endpoint;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn domain(name: &str, port: u16, provisioning: Provisioning) -> NewDomain {
    NewDomain {
        name: name.into(),
        delivery: vec![DeliveryServer {
            host: "127.0.0.1".into(),
            port,
            priority: 10,
        }],
        provisioning,
        tls: Default::default(),
        relay_networks: Vec::new(),
    }
}

/// The domains' servers, and the filter's DNS (empty, on loopback).
struct Servers {
    auto: Sink,
    manual: Sink,
    gone: Sink,
    _soft: Sink,
    dns: test_harness::dns::DnsServer,
}

/// The manager, the filter and the mta on `dir`, with `auto.test`
/// (automatic), `manual.test` (manual, user `user`), `gone.test` (its
/// server refuses every RCPT), `soft.test` (4xx to every RCPT) and
/// `down.test` (nothing listens).
async fn setup(
    dir: &Path,
) -> (
    mta::Mta,
    TestManager,
    Servers,
    tokio::sync::oneshot::Sender<()>,
) {
    let servers = Servers {
        auto: Sink::start(dir, "auto", &[]).await,
        manual: Sink::start(dir, "manual", &[]).await,
        gone: Sink::start(dir, "gone", &["-f", "RCPT"]).await,
        _soft: Sink::start(dir, "soft", &["-r", "RCPT"]).await,
        dns: test_harness::dns::DnsServer::start(&[]).unwrap(),
    };
    let mut cfg = managed_config(dir, servers.auto.port);
    cfg.initial_data = InitialData {
        domains: vec![
            domain("auto.test", servers.auto.port, Provisioning::Automatic),
            domain("manual.test", servers.manual.port, Provisioning::Manual),
            domain("gone.test", servers.gone.port, Provisioning::Automatic),
            domain("soft.test", servers._soft.port, Provisioning::Automatic),
            domain("down.test", free_port(), Provisioning::Manual),
        ],
        users: vec![NewUser {
            address: "user@manual.test".into(),
            source: UserSource::Admin,
        }],
    };
    let socket = dir.join("filter.sock");
    cfg.filter.listen = vec![Endpoint::Unix(socket.clone())];
    cfg.filter.nameservers = vec![servers.dns.addr().to_string()];
    cfg.mta.milter = Some(Endpoint::Unix(socket.clone()));
    let manager = TestManager::start(&cfg, dir).await;
    let cfg = Arc::new(cfg);
    let (stop_filter, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(filter::run(cfg.clone(), dir.to_path_buf(), async move {
        let _ = stopped.await;
    }));
    assert!(wait_for(Duration::from_secs(5), || socket.exists()).await);
    let mta = mta::Mta::start(cfg, dir.to_path_buf()).await.unwrap();
    (mta, manager, servers, stop_filter)
}

async fn rcpt(c: &mut Client, address: &str) -> String {
    c.cmd(&format!("RCPT TO:<{address}>")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_mailboxes_are_verified_by_callout_per_provisioning_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (mta, manager, mut servers, stop_filter) = setup(dir.path()).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.cmd("MAIL FROM:<s@sender.test>").await, "250 2.1.0 Ok\r\n");
    // Verified, automatic: provisioned and filtered.
    assert_eq!(rcpt(&mut c, "new@auto.test").await, "250 2.1.5 Ok\r\n");
    // The server refuses the mailbox: 550 5.1.1.
    assert!(rcpt(&mut c, "x@gone.test").await.starts_with("550 5.1.1 "));
    // 4xx, or no server: 451, never 550.
    assert!(rcpt(&mut c, "x@soft.test").await.starts_with("451 4.4.3 "));
    assert!(rcpt(&mut c, "x@down.test").await.starts_with("451 4.4.3 "));
    // Verified, manual: relayed unfiltered; a provisioned mailbox is filtered.
    assert_eq!(rcpt(&mut c, "walkin@manual.test").await, "250 2.1.5 Ok\r\n");
    assert_eq!(rcpt(&mut c, "user@manual.test").await, "250 2.1.5 Ok\r\n");
    c.cmd("DATA").await;
    c.send(format!("Subject: spam\r\n\r\n{GTUBE}\r\n").as_bytes())
        .await;
    let id = queue_id(&c.cmd(".").await);
    c.cmd("QUIT").await;

    let users = manager.call(|api| api.users(None, None)).await;
    let new = users.iter().find(|u| u.address == "new@auto.test");
    assert_eq!(
        new.map(|u| u.source),
        Some(UserSource::Callout),
        "{users:?}"
    );
    assert!(!users.iter().any(|u| u.address == "walkin@manual.test"));

    // The filter quarantined the filtered recipients' copy; the unfiltered
    // one still gets the message, and only that one.
    assert!(
        wait_for(Duration::from_secs(10), || !servers
            .manual
            .dumps()
            .is_empty())
        .await
    );
    let dumps = servers.manual.dumps();
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    assert!(
        dumps[0].contains("X-Rcpt-Args: <walkin@manual.test>\n"),
        "{}",
        dumps[0]
    );
    assert!(!dumps[0].contains("user@manual.test"), "{}", dumps[0]);
    assert!(dumps[0].contains(GTUBE), "delivered as received");
    let quarantined = manager.call(|api| api.quarantine_list(None)).await;
    assert!(
        quarantined
            .iter()
            .any(|q| q.queue_id.as_deref() == Some(id.as_str())),
        "{quarantined:?}"
    );
    assert!(
        servers.auto.dumps().is_empty(),
        "quarantined, not delivered"
    );

    // Decisions are cached: with gone.test's server stopped, the refused
    // mailbox is still refused, while a new one cannot be verified.
    servers.gone.stop().await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<s@sender.test>").await;
    assert!(rcpt(&mut c, "x@gone.test").await.starts_with("550 5.1.1 "));
    assert!(rcpt(&mut c, "y@gone.test").await.starts_with("451 4.4.3 "));
    c.cmd("QUIT").await;

    mta.shutdown().await.unwrap();
    let _ = stop_filter.send(());
    manager.stop().await;
}
