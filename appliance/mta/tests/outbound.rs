//! Outbound relay with the real peers: swaks as the customer's client (from
//! an address inside the customer's relay network, and from one outside
//! it), the real manager (which makes the domain's DKIM key), a hickory DNS
//! server serving the MX of the outside domain and the DKIM record the
//! manager says to publish, and Postfix's smtp-sink as the outside
//! domain's mail server on port 25 of a private loopback address. The
//! delivered message's signature is verified by mail-auth against that DNS.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::sink::{ip, loopback_net, Sink};
use common::test_manager::TestManager;
use common::{managed_config, wait_for};
use mail_auth::hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};
use model::api::{DomainUpdate, EventKind, NewSmtpAccount, QuarantineKind};
use model::client::TrackingQuery;
use model::Endpoint;
use test_harness::dns::{DnsServer, Rr};

/// swaks from local address `from_ip` with `args` (`--to` at least); its
/// transcript.
async fn swaks(server: SocketAddr, from_ip: IpAddr, args: &[&str], body: &str) -> String {
    let out = tokio::process::Command::new("swaks")
        .args(["--server", &server.to_string()])
        .args(["--local-interface", &from_ip.to_string()])
        .args(["--from", "alice@sender.test"])
        .args(args)
        .args(["--header", "Subject: quarterly figures"])
        .args(["--body", body])
        .output()
        .await
        .expect("swaks runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// smtp-sink's dump as the message it received: its own `X-*-Args`
/// lines dropped, CRLF line ends again.
fn received_message(dump: &str) -> Vec<u8> {
    let message = dump
        .split_once("\nReceived: ")
        .map(|(_, rest)| format!("Received: {rest}"))
        .expect("a Received field");
    message.replace('\n', "\r\n").into_bytes()
}

/// The DKIM results of `message` checked against `dns`.
async fn verify_dkim(dns: SocketAddr, message: &[u8]) -> Vec<DkimResult> {
    let servers = NameServerConfigGroup::from_ips_clear(&[dns.ip()], dns.port(), true);
    let config = ResolverConfig::from_parts(None, Vec::new(), servers);
    let authenticator = MessageAuthenticator::new(config, ResolverOpts::default()).unwrap();
    let parsed = AuthenticatedMessage::parse(message).expect("a message");
    authenticator
        .verify_dkim(&parsed)
        .await
        .iter()
        .map(|o| o.result().clone())
        .collect()
}

/// The box with its peers: the filter as milter; `sender.test` is the
/// customer, relaying from `customer()`; `far.test` is outside, its MX an
/// smtp-sink.
struct Env {
    net: [u8; 3],
    sink: Sink,
    down: common::downstream::Downstream,
    manager: TestManager,
    dns: DnsServer,
    selector: String,
    mta: mta::Mta,
    /// Stops the filter (the milter) when dropped.
    _stop_filter: tokio::sync::oneshot::Sender<()>,
}

impl Env {
    async fn start(d: &Path) -> Env {
        let net = loopback_net(210, 40);
        let sink = Sink::start_at(d, "sink", &[], SocketAddr::new(ip(net, 25), 25)).await;
        let down = common::downstream::Downstream::accepting().await;
        let mut cfg = managed_config(d, down.port);
        cfg.manager.notify_admin = Some("admin@sender.test".into());
        let sender_test = cfg
            .initial_data
            .domains
            .iter_mut()
            .find(|d| d.name == "sender.test")
            .unwrap();
        sender_test.relay_networks = vec![format!("{}/32", ip(net, 10))];
        let filter_socket = d.join("filter.sock");
        cfg.filter.listen = vec![Endpoint::Unix(filter_socket.clone())];
        cfg.mta.milter = Some(Endpoint::Unix(filter_socket.clone()));
        let manager = TestManager::start(&cfg, d).await;
        let record = manager.call(|api| api.domain_dkim("sender.test")).await;
        let dns = DnsServer::start(&[
            Rr::Mx("far.test".into(), 10, "mx.far.test".into()),
            Rr::Address("mx.far.test".into(), ip(net, 25)),
            Rr::Txt(record.name.clone(), record.value.clone()),
        ])
        .unwrap();
        cfg.mta.dns.nameservers = vec![dns.addr().to_string()];
        cfg.filter.nameservers = vec![dns.addr().to_string()];
        let cfg = Arc::new(cfg);
        let (stop_filter, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(filter::run(cfg.clone(), d.to_path_buf(), async move {
            let _ = stopped.await;
        }));
        assert!(wait_for(Duration::from_secs(5), || filter_socket.exists()).await);
        let mta = mta::Mta::start(cfg, d.to_path_buf()).await.unwrap();
        assert!(
            wait_for(Duration::from_secs(10), || mta
                .directory()
                .snapshot()
                .is_some_and(|x| x.dkim.has("sender.test")))
            .await,
            "the directory with the DKIM key reached the mta"
        );
        Env {
            net,
            sink,
            down,
            manager,
            dns,
            selector: record.selector,
            mta,
            _stop_filter: stop_filter,
        }
    }

    /// Inside the customer's relay network.
    fn customer(&self) -> IpAddr {
        ip(self.net, 10)
    }

    /// Anywhere else.
    fn outsider(&self) -> IpAddr {
        ip(self.net, 11)
    }

    /// The one message the outside MX received, checked for a signature
    /// that verifies; returns it.
    async fn delivered_signed(&self, recipient: &str) -> String {
        assert!(
            wait_for(Duration::from_secs(20), || !self.sink.dumps().is_empty()).await,
            "delivered to the outside domain's MX"
        );
        let dumps = self.sink.dumps();
        assert_eq!(dumps.len(), 1, "{dumps:?}");
        assert!(
            dumps[0].contains(&format!("X-Rcpt-Args: <{recipient}>")),
            "{dumps:?}"
        );
        let message = received_message(&dumps[0]);
        let text = String::from_utf8_lossy(&message).into_owned();
        assert!(text.contains("DKIM-Signature: "), "{text}");
        assert!(text.contains(&format!("s={}", self.selector)), "{text}");
        assert_eq!(
            verify_dkim(self.dns.addr(), &message).await,
            [DkimResult::Pass]
        );
        text
    }

    async fn stop(self) {
        self.mta.shutdown().await.unwrap();
        self.manager.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_network_mail_leaves_dkim_signed_and_outsiders_get_554() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::start(dir.path()).await;
    let smtp = env.mta.smtp_addr();

    // From the customer's network: relayed, signed, delivered by MX.
    let log = swaks(
        smtp,
        env.customer(),
        &["--to", "bob@far.test"],
        "figures attached",
    )
    .await;
    assert!(log.contains("<-  250 2.1.5 Ok"), "{log}");
    assert!(log.contains("<-  250 2.0.0 Ok: queued as "), "{log}");
    let text = env.delivered_signed("bob@far.test").await;

    // The same signature does not survive a changed body.
    let forged = text.replace("figures attached", "figures detached");
    let results = verify_dkim(env.dns.addr(), forged.as_bytes()).await;
    assert_eq!(
        results,
        [DkimResult::Neutral(mail_auth::Error::FailedBodyHashMatch)]
    );

    // From outside the network: refused at RCPT, and tracked.
    let log = swaks(
        smtp,
        env.outsider(),
        &["--to", "eve@far.test"],
        "let me relay",
    )
    .await;
    assert!(
        log.contains("<** 554 5.7.1 <eve@far.test>: relay access denied"),
        "{log}"
    );
    let mut rejected = Vec::new();
    for _ in 0..100 {
        rejected = env
            .manager
            .tracking(TrackingQuery {
                recipient: Some("eve@far.test".into()),
                ..TrackingQuery::default()
            })
            .await;
        if !rejected.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let event = rejected.first().expect("the refusal is tracked");
    assert_eq!(event.kind, EventKind::Rejected);
    assert_eq!(
        event.reply.as_deref(),
        Some("554 5.7.1 <eve@far.test>: relay access denied")
    );
    assert!(
        event.detail.contains(&env.outsider().to_string()),
        "{event:?}"
    );
    assert_eq!(
        env.sink.dumps().len(),
        1,
        "nothing more reached the outside"
    );

    // The outsider may still write to our own domains (inbound mail), unsigned.
    let log = swaks(
        smtp,
        env.outsider(),
        &["--to", "user@example.test"],
        "hello",
    )
    .await;
    assert!(log.contains("<-  250 2.0.0 Ok: queued as "), "{log}");
    assert!(wait_for(Duration::from_secs(10), || !env.down.messages().is_empty()).await);
    let inbound = String::from_utf8_lossy(&env.down.messages()[0].data).into_owned();
    assert!(!inbound.contains("DKIM-Signature"), "{inbound}");

    // A relay network added through the API applies without a restart.
    let network = format!("{}/32", env.outsider());
    let update = DomainUpdate {
        relay_networks: Some(vec![network]),
        ..DomainUpdate::default()
    };
    env.manager
        .call(move |api| api.update_domain("sender.test", &update))
        .await;
    let outsider = env.outsider();
    assert!(
        wait_for(Duration::from_secs(10), || env
            .mta
            .directory()
            .snapshot()
            .is_some_and(
                |x| x.relay.network_of(outsider) == Some("sender.test")
            ))
        .await
    );
    let log = swaks(smtp, outsider, &["--to", "eve@far.test"], "now allowed").await;
    assert!(log.contains("<-  250 2.0.0 Ok: queued as "), "{log}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_roaming_user_relays_from_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::start(dir.path()).await;
    let smtp = env.mta.smtp_addr();
    env.manager
        .call(|api| {
            api.create_smtp_account(&NewSmtpAccount {
                username: "alice@sender.test".into(),
                domain: "sender.test".into(),
                password: "a long roaming secret".into(),
            })
        })
        .await;
    let auth = [
        "--to",
        "carol@far.test",
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice@sender.test",
    ];
    let wrong = [&auth[..], &["--auth-password", "guessed"]].concat();
    let log = swaks(smtp, env.outsider(), &wrong, "from the road").await;
    assert!(log.contains("<~* 535 5.7.8"), "{log}");
    assert!(env.sink.dumps().is_empty());

    let right = [&auth[..], &["--auth-password", "a long roaming secret"]].concat();
    let log = swaks(smtp, env.outsider(), &right, "from the road").await;
    assert!(log.contains("<~  235 "), "{log}");
    assert!(log.contains("<~  250 2.0.0 Ok: queued as "), "{log}");
    env.delivered_signed("carol@far.test").await;
    env.stop().await;
}

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_viruses_and_spam_are_held_and_the_sender_and_admin_told() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::start(dir.path()).await;
    let smtp = env.mta.smtp_addr();

    // A virus going out is held, not sent: the client gets its 250.
    let log = swaks(smtp, env.customer(), &["--to", "bob@far.test"], EICAR).await;
    assert!(log.contains("<-  250 2.0.0 Ok: queued as "), "{log}");
    // So is spam.
    let log = swaks(smtp, env.customer(), &["--to", "bob@far.test"], GTUBE).await;
    assert!(log.contains("<-  250 2.0.0 Ok: queued as "), "{log}");
    let held = env.manager.call(|api| api.quarantine_list(None)).await;
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        held.iter()
            .all(|q| q.outbound && q.recipient == "bob@far.test"),
        "{held:?}"
    );
    let mut kinds: Vec<QuarantineKind> = held.iter().map(|q| q.kind).collect();
    kinds.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(kinds, [QuarantineKind::Spam, QuarantineKind::Virus]);

    // The sender and the administrator are told, each time, by the
    // postmaster with the null sender; nothing reached far.test.
    assert!(
        wait_for(Duration::from_secs(20), || env.down.messages().len() >= 2).await,
        "two notices delivered to sender.test's server"
    );
    let notices = env.down.messages();
    assert_eq!(notices.len(), 2, "{notices:?}");
    for n in &notices {
        let mut to = n.recipients.clone();
        to.sort();
        assert_eq!(to, ["admin@sender.test", "alice@sender.test"]);
        assert_eq!(n.sender, "");
        let text = String::from_utf8_lossy(&n.data);
        assert!(text.contains("Subject: Held: quarterly figures"), "{text}");
        assert!(text.contains("Recipients: bob@far.test"), "{text}");
    }
    let texts: String = notices
        .iter()
        .map(|n| String::from_utf8_lossy(&n.data).into_owned())
        .collect();
    assert!(texts.contains("it carries a virus"), "{texts}");
    assert!(texts.contains("EICAR"), "{texts}");
    assert!(texts.contains("GTUBE"), "{texts}");
    assert!(env.sink.dumps().is_empty(), "nothing went out");

    // The same spam coming in to one of our users is quarantined as before.
    let log = swaks(smtp, env.outsider(), &["--to", "user@example.test"], GTUBE).await;
    assert!(log.contains("<-  250 2.0.0 Ok: queued as "), "{log}");
    let held = env.manager.call(|api| api.quarantine_list(None)).await;
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(held
        .iter()
        .any(|q| q.recipient == "user@example.test" && !q.outbound));
    env.stop().await;
}
