//! The sender history through real milter clients: Postfix delaying a new
//! sender pattern at RCPT and letting its timely retry through, and
//! `miltr-client` posing as an MTA that receives one campaign from many
//! addresses of one range (snowshoe).

#[allow(dead_code)]
mod support;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use miltr_client::Client;
use miltr_common::actions::Action;
use miltr_common::commands::{Connect, Family, Header, Helo, Mail, Recipient};
use miltr_common::modifications::ModificationAction;
use miltr_common::optneg::{OptNeg, Protocol};
use model::config::{DelayQueueConfig, SystemConfig};
use model::Endpoint;
use sender_history::{History, Kind};
use support::{peers_installed, swaks, wait_for, Postfix, Sink};
use tokio_util::compat::TokioAsyncReadCompatExt;

/// The filter with `delay` on a unix socket, in its own runtime, until dropped.
struct Filter {
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), filter::FilterError>>>,
    /// The filter's DNS (SPF, DKIM, DMARC): empty, on loopback.
    _dns: test_harness::dns::DnsServer,
}

impl Filter {
    fn start(data_dir: &Path, sock: &Path, delay: DelayQueueConfig) -> Filter {
        let mut config = SystemConfig::default();
        config.filter.listen = vec![Endpoint::Unix(sock.to_path_buf())];
        config.filter.manager = Endpoint::Unix(data_dir.join("no-manager.sock"));
        config.filter.delay_queue = delay;
        let dns = test_harness::dns::DnsServer::start(&[]).unwrap();
        config.filter.nameservers = vec![dns.addr().to_string()];
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let run = filter::run(Arc::new(config), data_dir.to_path_buf(), shutdown);
        let done = runtime.spawn(run);
        let up = wait_for(Duration::from_secs(10), || {
            std::os::unix::net::UnixStream::connect(sock).ok()
        });
        assert!(up.is_some(), "the filter did not listen");
        Filter {
            runtime,
            stop: Some(stop),
            done: Some(done),
            _dns: dns,
        }
    }

    fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let r = self.runtime.block_on(self.done.take().unwrap());
        assert!(matches!(r, Ok(Ok(()))), "filter::run ended with {r:?}");
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn message(id: &str) -> String {
    format!(
        "From: Alice <alice@sender.test>\nTo: Bob <bob@example.test>\n\
         Date: Sun, 22 Nov 2026 02:20:48 +0000\nMessage-ID: <{id}@sender.test>\n\
         Subject: hello\n\nHello Bob, a first message from a new correspondent."
    )
}

#[test]
fn postfix_delays_a_new_sender_and_passes_its_timely_retry() {
    if !peers_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    support::open_dir(dir.path());
    let sock = dir.path().join("filter.sock");
    let delay = DelayQueueConfig {
        enabled: true,
        delay_secs: 2,
        retry_window_secs: 120,
        remember_days: 36,
    };
    let filter = Filter::start(dir.path(), &sock, delay);
    support::socket_for_postfix(&sock);
    let sink = Sink::start(dir.path());
    let postfix = Postfix::start(dir.path(), &format!("unix:{}", sock.display()), sink.port);
    let send = |id: &str| {
        swaks(
            postfix.port,
            "alice@sender.test",
            &["bob@example.test"],
            &message(id),
        )
    };

    let first = send("try1");
    assert!(
        first
            .transcript
            .contains("451 4.7.1 Sender not yet known here, please try again in 2 seconds"),
        "{}",
        first.transcript
    );
    let early = send("try2");
    assert!(
        early.transcript.contains("451 4.7.1"),
        "{}",
        early.transcript
    );
    std::thread::sleep(Duration::from_millis(2100));
    let retry = send("try3");
    assert!(retry.data_reply().contains("250"), "{}", retry.transcript);
    sink.wait_message("try3@sender.test");
    let again = send("try4");
    assert!(
        again.data_reply().contains("250"),
        "known now: {}",
        again.transcript
    );
    sink.wait_message("try4@sender.test");
    let delivered = sink.messages();
    assert!(!delivered
        .iter()
        .any(|m| m.contains("try1@") || m.contains("try2@")));
    drop(postfix);
    filter.stop();

    // The history counted the two messages that got through, per pattern.
    let history = History::open(&dir.path().join("filter")).unwrap();
    let net = history
        .stats(Kind::Network, "127.0.0.0/24")
        .unwrap()
        .unwrap();
    assert_eq!((net.messages, net.clean), (2, 2), "{net:?}");
    let helo = history.stats(Kind::Helo, "client.sender.test").unwrap();
    assert_eq!(helo.map(|s| s.messages), Some(2), "HELO reaches the filter");
    let domain = history.stats(Kind::Domain, "sender.test").unwrap();
    assert_eq!(domain.map(|s| s.messages), Some(2));
}

/// A campaign the content filter alone would let through (snowshoe mail
/// is written to look ordinary).
const CAMPAIGN: &str = "Hi NAME, following up on our call on Tuesday: I have \
    put the revised schedule for the warehouse project in the shared folder. \
    Could you check the delivery dates for the second phase before Friday? \
    Reference NUMBER.\r\n";

fn campaign(name: &str, n: u32) -> String {
    CAMPAIGN
        .replace("NAME", name)
        .replace("NUMBER", &n.to_string())
}

/// One message through the milter from `ip`; the `X-Spam-Status` it gets.
async fn deliver(sock: &Path, ip: IpAddr, body: &str, n: u32) -> String {
    let stream = tokio::net::UnixStream::connect(sock).await.unwrap();
    let offer = OptNeg {
        protocol: Protocol::empty(),
        ..OptNeg::default()
    };
    let mut c = Client::new(offer)
        .connect_via(stream.compat())
        .await
        .unwrap();
    let addr = ip.to_string();
    c.connect(Connect::new(
        b"x.test",
        Family::Inet,
        Some(25),
        addr.as_bytes(),
    ))
    .await
    .unwrap();
    c.helo(Helo::from(format!("host{n}.rent.test").as_bytes()))
        .await
        .unwrap();
    c.mail(Mail::from(b"<promo@rent.test>".as_slice()))
        .await
        .unwrap();
    c.recipient(Recipient::from(b"<bob@example.test>".as_slice()))
        .await
        .unwrap();
    let id = format!("<{n}.{addr}@rent.test>");
    for (name, value) in [
        ("From", "Project office <promo@rent.test>"),
        ("To", "Bob <bob@example.test>"),
        ("Subject", "Re: warehouse schedule"),
        ("Date", "Sun, 22 Nov 2026 09:12:44 +0100"),
        ("Message-ID", id.as_str()),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
    ] {
        c.header(Header::new(name.as_bytes(), value.as_bytes()))
            .await
            .unwrap();
    }
    c.body(body.as_bytes()).await.unwrap();
    let r = c.end_of_body().await.unwrap();
    assert!(matches!(r.final_action(), Action::Continue(_)));
    let status = r.modifications().iter().find_map(|m| match m {
        ModificationAction::AddHeader(h) if h.name() == "X-Spam-Status" => {
            Some(h.value().into_owned())
        }
        _ => None,
    });
    c.quit().await.unwrap();
    status.expect("an X-Spam-Status header")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_campaign_from_many_new_addresses_of_a_range_scores_snowshoe() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let mut config = SystemConfig::default();
    config.filter.listen = vec![Endpoint::Unix(sock.clone())];
    config.filter.manager = Endpoint::Unix(dir.path().join("no-manager.sock"));
    let dns = test_harness::dns::DnsServer::start(&[]).unwrap();
    config.filter.nameservers = vec![dns.addr().to_string()];
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(filter::run(
        Arc::new(config),
        dir.path().to_path_buf(),
        async move {
            let _ = stopped.await;
        },
    ));
    for _ in 0..200 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let ip = |n: u8| IpAddr::from([203, 0, 113, n]);
    let mut statuses = Vec::new();
    for (n, name) in ["Ann", "Ben", "Cid", "Dot"].iter().enumerate() {
        let n = n as u32;
        let body = campaign(name, 100 + n);
        statuses.push(deliver(&sock, ip(10 + n as u8), &body, n).await);
    }
    for s in &statuses[..3] {
        assert!(!s.contains("SNOWSHOE"), "{statuses:#?}");
    }
    assert!(statuses[3].contains("SNOWSHOE_24 (+3.0)"), "{statuses:#?}");
    // A different text from the same range is not tarred with it.
    let other = "Minutes of the facilities meeting: the garage closes for \
        resurfacing next week and badges for the new building arrive Monday.";
    let s = deliver(&sock, ip(50), other, 0).await;
    assert!(!s.contains("SNOWSHOE"), "{s}");
    let _ = stop.send(());
    done.await.unwrap().unwrap();
}
