//! Delivery found through DNS (a hickory DNS server started by the test)
//! to Postfix's smtp-sink on port 25 of private loopback addresses: MX
//! priority with the first host down, the implicit MX, a domain that does
//! not exist (bounced); and the per-destination concurrency limit.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::sink::{ip, loopback_net, Sink};
use common::{config, wait_for};
use model::api::{self, DeliveryServer};
use mta::Mta;
use test_harness::dns::{DnsServer, Rr};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A directory with `sender.test` delivered to `server` (where bounces go).
fn directory(server: DeliveryServer) -> api::Directory {
    api::Directory {
        dkim: Vec::new(),
        generation: 1,
        domains: vec![api::Domain {
            provisioning: Default::default(),
            relay_networks: Vec::new(),
            tls: Default::default(),
            name: "sender.test".into(),
            delivery: vec![server],
            created: 0,
        }],
        users: vec!["sender@sender.test".into()],
    }
}

/// Queues a message through the inject socket (no recipient checks, as
/// for released or relayed mail).
async fn inject(dir: &Path, rcpts: &[&str]) {
    let stream = tokio::net::UnixStream::connect(dir.join("inject.sock"))
        .await
        .unwrap();
    let recipients: Vec<String> = rcpts.iter().map(|r| r.to_string()).collect();
    let envelope = smtp_client::Envelope {
        sender: "sender@sender.test",
        recipients: &recipients,
        ..Default::default()
    };
    let message = b"From: <sender@sender.test>\r\nSubject: found by DNS\r\n\r\nhello\r\n";
    let report = smtp_client::send(stream, &Default::default(), &envelope, message)
        .await
        .unwrap();
    assert_eq!(report.accepted().count(), rcpts.len(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_priority_failover_implicit_mx_and_unknown_domains() {
    let dir = tempfile::tempdir().unwrap();
    let net = loopback_net(100, 100);
    let (down, up) = (ip(net, 1), ip(net, 2));
    let sink = Sink::start_at(dir.path(), "sink", &[], SocketAddr::new(up, 25)).await;
    let dns = DnsServer::start(&[
        Rr::Mx("far.test".into(), 10, "mx1.far.test".into()),
        Rr::Mx("far.test".into(), 20, "mx2.far.test".into()),
        Rr::Address("mx1.far.test".into(), down),
        Rr::Address("mx2.far.test".into(), up),
        Rr::Address("implicit.test".into(), up),
    ])
    .unwrap();
    let mut c = config(dir.path());
    c.mta.dns.nameservers = vec![dns.addr().to_string()];
    let mta = Mta::start(Arc::new(c), dir.path().to_path_buf())
        .await
        .unwrap();
    mta.directory().apply(directory(DeliveryServer {
        host: up.to_string(),
        port: 25,
        priority: 10,
    }));

    inject(
        dir.path(),
        &["a@far.test", "b@implicit.test", "c@nowhere.test"],
    )
    .await;
    let all = wait_for(Duration::from_secs(20), || sink.dumps().len() >= 3).await;
    let dumps = sink.dumps();
    assert!(all, "two deliveries and a bounce: {dumps:#?}");
    let to = |rcpt: &str| {
        dumps
            .iter()
            .find(|d| d.contains(&format!("X-Rcpt-Args: <{rcpt}>")))
            .unwrap_or_else(|| panic!("{rcpt} in {dumps:#?}"))
    };
    assert!(to("a@far.test").contains("Subject: found by DNS"));
    assert!(to("b@implicit.test").contains("Subject: found by DNS"));
    let bounce = to("sender@sender.test");
    assert!(
        bounce.contains("Final-Recipient: rfc822; c@nowhere.test"),
        "{bounce}"
    );
    assert!(bounce.contains("Status: 5.1.2"), "{bounce}");
    mta.shutdown().await.unwrap();
}

/// An SMTP server that holds each message `hold` before its 250 and
/// counts the sessions open at once.
struct SlowServer {
    port: u16,
    open: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    delivered: Arc<AtomicUsize>,
}

impl SlowServer {
    async fn start(hold: Duration) -> SlowServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = SlowServer {
            port: listener.local_addr().unwrap().port(),
            open: Arc::default(),
            most: Arc::default(),
            delivered: Arc::default(),
        };
        let (open, most, delivered) = (
            server.open.clone(),
            server.most.clone(),
            server.delivered.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let (open, delivered) = (open.clone(), delivered.clone());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(30),
                        serve(stream, hold, &delivered),
                    )
                    .await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        server
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    hold: Duration,
    delivered: &AtomicUsize,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 slow.test ESMTP\r\n").await?;
    let mut in_data = false;
    while let Some(line) = lines.next_line().await? {
        let reply: &[u8] = match (in_data, line.to_ascii_uppercase().as_str()) {
            (true, ".") => {
                in_data = false;
                tokio::time::sleep(hold).await;
                delivered.fetch_add(1, Ordering::SeqCst);
                b"250 2.0.0 Ok\r\n"
            }
            (true, _) => continue,
            (false, "DATA") => {
                in_data = true;
                b"354 go\r\n"
            }
            (false, "QUIT") => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            (false, l) if l.starts_with("EHLO") => b"250 slow.test\r\n",
            _ => b"250 Ok\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_destination_gets_at_most_its_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let server = SlowServer::start(Duration::from_millis(400)).await;
    let mut c = config(dir.path());
    c.mta.delivery_workers = 8;
    c.mta.per_destination_concurrency = 2;
    let mta = common::start(dir.path(), c, server.port).await;
    for _ in 0..6 {
        inject(dir.path(), &["user@example.test"]).await;
    }
    let done = wait_for(Duration::from_secs(20), || {
        server.delivered.load(Ordering::SeqCst) == 6
    })
    .await;
    assert!(done, "all six delivered");
    assert_eq!(
        server.most.load(Ordering::SeqCst),
        2,
        "two at a time, never more (and the limit is used)"
    );
    mta.shutdown().await.unwrap();
}

/// Messages piling up for a destination at its limit wait without taking
/// the workers: with two workers and four slow messages for one server, a
/// message for another domain goes out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_destination_does_not_hold_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let slow = SlowServer::start(Duration::from_secs(3)).await;
    let sink = Sink::start(dir.path(), "sink", &[]).await;
    let mut c = config(dir.path());
    c.mta.delivery_workers = 2;
    c.mta.per_destination_concurrency = 1;
    let mta = common::start(dir.path(), c, slow.port).await;
    let mut routes = common::directory(slow.port);
    for d in &mut routes.domains {
        if d.name == "sender.test" {
            d.delivery[0].port = sink.port;
        }
    }
    routes.generation += 1;
    mta.directory().apply(routes);
    for _ in 0..4 {
        inject(dir.path(), &["user@example.test"]).await;
    }
    let slow_busy = wait_for(Duration::from_secs(5), || {
        slow.open.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(slow_busy, "the slow server got its first message");
    inject(dir.path(), &["sender@sender.test"]).await;
    let other = wait_for(Duration::from_secs(2), || !sink.dumps().is_empty()).await;
    assert!(
        other,
        "the other domain's message went out while the slow one was busy"
    );
    assert_eq!(slow.delivered.load(Ordering::SeqCst), 0, "still the first");
    let all = wait_for(Duration::from_secs(30), || {
        slow.delivered.load(Ordering::SeqCst) == 4
    })
    .await;
    assert!(all, "the four slow messages went out one by one");
    assert_eq!(slow.most.load(Ordering::SeqCst), 1);
    mta.shutdown().await.unwrap();
}
