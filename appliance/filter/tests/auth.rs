//! SPF, DKIM, DMARC and DNS block lists against a DNS server on loopback
//! (`test_harness::dns::DnsServer`), with messages DKIM-signed here:
//! through the real milter socket (the `Authentication-Results` field, the
//! forged one removed, the findings in `X-Spam-Status`) and through
//! `filter::auth::Auth` for what a failed DMARC policy means for a
//! recipient (the milter applying it: tests/policy.rs).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use filter::auth::{Auth, Disposition};
use filter::message::{HeaderField, Message};
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use miltr_client::Client;
use miltr_common::actions::Action;
use miltr_common::commands::{Connect, Family, Header, Helo, Mail, Recipient};
use miltr_common::modifications::ModificationAction;
use miltr_common::optneg::OptNeg;
use model::config::{Blocklist, FilterConfig, SystemConfig};
use model::policy::DmarcEnforcement;
use model::Endpoint;
use test_harness::dns::{DnsServer, Rr};
use tokio::net::UnixStream;
use tokio_util::compat::TokioAsyncReadCompatExt;

const HOSTNAME: &str = "mx.filterbox.test";
const GOOD_IP: &str = "192.0.2.9";
const BAD_IP: &str = "203.0.113.5";

/// The signing key of `sender.test` and the zone publishing it.
struct World {
    dns: DnsServer,
    key_pkcs8: Vec<u8>,
}

fn world() -> World {
    let key_pkcs8 = Ed25519Key::generate_pkcs8().unwrap();
    let public = Ed25519Key::from_pkcs8_der(&key_pkcs8).unwrap().public_key();
    let p = base64::engine::general_purpose::STANDARD.encode(public);
    let txt = |n: &str, v: &str| Rr::Txt(n.into(), v.into());
    let dns = DnsServer::start(&[
        txt("sender.test", &format!("v=spf1 ip4:{GOOD_IP} -all")),
        txt(
            "sel._domainkey.sender.test",
            &format!("v=DKIM1; k=ed25519; p={p}"),
        ),
        txt("_dmarc.sender.test", "v=DMARC1; p=reject"),
        txt("quiet.test", &format!("v=spf1 ip4:{GOOD_IP} -all")),
        txt("_dmarc.quiet.test", "v=DMARC1; p=quarantine"),
        txt(
            "sel._domainkey.forwarder.test",
            &format!("v=DKIM1; k=ed25519; p={p}"),
        ),
        Rr::Address("5.113.0.203.bl.test".into(), "127.0.0.2".parse().unwrap()),
        Rr::Address(
            "spam-shop.test.uribl.test".into(),
            "127.0.0.2".parse().unwrap(),
        ),
    ])
    .unwrap();
    World { dns, key_pkcs8 }
}

fn message(from: &str, body: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <bob@rcpt.test>\r\nSubject: quarterly figures\r\n\
Authentication-Results: {HOSTNAME}; dkim=pass; spf=pass; dmarc=pass\r\n\r\n{body}"
    )
}

fn sign(world: &World, raw: &str) -> String {
    let key = Ed25519Key::from_pkcs8_der(&world.key_pkcs8).unwrap();
    let signature = DkimSigner::from_key(key)
        .domain("sender.test")
        .selector("sel")
        .headers(["From", "To", "Subject"])
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
        .sign(raw.as_bytes())
        .unwrap();
    format!("{}{raw}", signature.to_header())
}

/// Header fields and body of `raw`, values as a client without
/// `SMFIP_HDR_LEADSPC` sends them.
fn split(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().unwrap();
            last.1 = format!("{}\r\n{line}", last.1);
        } else {
            let (n, v) = line.split_once(':').unwrap();
            fields.push((n.into(), v.strip_prefix(' ').unwrap_or(v).into()));
        }
    }
    (fields, body.into())
}

fn filter_config(world: &World) -> FilterConfig {
    FilterConfig {
        nameservers: vec![world.dns.addr().to_string()],
        ip_blocklists: vec![Blocklist {
            zone: "bl.test".into(),
            score: 0.4,
        }],
        uri_blocklists: vec![Blocklist {
            zone: "uribl.test".into(),
            score: 0.6,
        }],
        ..FilterConfig::default()
    }
}

async fn wait_unix(path: &Path) -> UnixStream {
    for _ in 0..200 {
        if let Ok(s) = UnixStream::connect(path).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {}", path.display());
}

/// What the filter answered for one message: its final action and the
/// header changes as (name, value, index) with `+` for an addition.
async fn through_milter(
    sock: &Path,
    ip: &str,
    sender: &str,
    raw: &str,
) -> (Action, Vec<(String, String, String)>) {
    let offer = OptNeg {
        protocol: miltr_common::optneg::Protocol::empty(),
        ..OptNeg::default()
    };
    let mut c = Client::new(offer)
        .connect_via(wait_unix(sock).await.compat())
        .await
        .unwrap();
    c.connect(Connect::new(
        b"client.test",
        Family::Inet,
        Some(4321),
        ip.as_bytes(),
    ))
    .await
    .unwrap();
    c.helo(Helo::from(b"mail.sender.test".as_slice()))
        .await
        .unwrap();
    c.mail(Mail::from(format!("<{sender}>").as_bytes()))
        .await
        .unwrap();
    c.recipient(Recipient::from(b"<bob@rcpt.test>".as_slice()))
        .await
        .unwrap();
    let (fields, body) = split(raw);
    for (n, v) in &fields {
        c.header(Header::new(n.as_bytes(), v.as_bytes()))
            .await
            .unwrap();
    }
    c.body(body.as_bytes()).await.unwrap();
    let r = c.end_of_body().await.unwrap();
    let mods = r
        .modifications()
        .iter()
        .map(|m| match m {
            ModificationAction::ChangeHeader(h) => (
                h.name().into_owned(),
                h.value().into_owned(),
                h.index().to_string(),
            ),
            ModificationAction::InsertHeader(h) => (
                h.name().into_owned(),
                h.value().into_owned(),
                format!("+{}", h.index()),
            ),
            ModificationAction::AddHeader(h) => {
                (h.name().into_owned(), h.value().into_owned(), "+".into())
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let action = r.final_action().clone();
    c.quit().await.unwrap();
    (action, mods)
}

fn value<'a>(mods: &'a [(String, String, String)], name: &str) -> &'a str {
    let found = mods
        .iter()
        .find(|(n, _, i)| n == name && i.starts_with('+'));
    &found.unwrap_or_else(|| panic!("no {name} in {mods:?}")).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_milter_reports_authentication_and_block_lists() {
    let world = world();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let manager_sock = dir.path().join("manager.sock");
    let mut config = SystemConfig {
        hostname: HOSTNAME.into(),
        filter: FilterConfig {
            listen: vec![Endpoint::Unix(sock.clone())],
            manager: Endpoint::Unix(manager_sock.clone()),
            ..filter_config(&world)
        },
        ..SystemConfig::default()
    };
    config.manager.api_socket = manager_sock.clone();
    config.manager.http_listen = None;
    config.filter.policy_refresh_secs = 1;
    let config = Arc::new(config);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    std::fs::create_dir_all(dir.path().join("manager")).unwrap();
    let manager = tokio::spawn(manager::run(
        Arc::clone(&config),
        dir.path().join("manager"),
        until_stopped(stopped.clone()),
    ));
    let done = tokio::spawn(filter::run(
        config,
        dir.path().to_path_buf(),
        until_stopped(stopped),
    ));
    wait_unix(&manager_sock).await;
    // rcpt.test lets everything through, whatever its score: these tests
    // are about the authentication results, not the content.
    let api = model::client::ApiClient::new(Endpoint::Unix(manager_sock.clone()));
    let generation = tokio::task::spawn_blocking(move || {
        let d: model::api::NewDomain = serde_json::from_value(serde_json::json!({
            "name": "rcpt.test", "delivery": [{"host": "127.0.0.1"}]
        }))
        .unwrap();
        api.create_domain(&d).unwrap();
        let p: model::policy::DomainPolicy = serde_json::from_value(serde_json::json!({
            "thresholds": {"tag": 500.0, "quarantine": 600.0}
        }))
        .unwrap();
        api.set_domain_policy("rcpt.test", &p).unwrap();
        api.filter_policy().unwrap().generation
    })
    .await
    .unwrap();
    let seen = dir.path().join(filter::policy::GENERATION_FILE);
    for _ in 0..200 {
        let now: Option<u64> = std::fs::read_to_string(&seen)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        if now >= Some(generation) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Signed by its domain, sent from its SPF-listed address.
    let signed = sign(
        &world,
        &message("alice@sender.test", "See http://spam-shop.test/x now\r\n"),
    );
    let (action, mods) = through_milter(&sock, GOOD_IP, "alice@sender.test", &signed).await;
    assert!(matches!(action, Action::Continue(_)), "{action:?}");
    assert!(
        mods.contains(&("Authentication-Results".into(), String::new(), "1".into())),
        "the forged field is deleted: {mods:?}"
    );
    let ar = value(&mods, "Authentication-Results");
    assert!(ar.starts_with(&format!("{HOSTNAME};")), "{ar}");
    for result in [
        "dkim=pass header.d=sender.test header.s=sel",
        "spf=pass",
        "dmarc=pass header.from=sender.test policy.dmarc=reject",
    ] {
        assert!(ar.contains(result), "{result} missing from {ar}");
    }
    assert!(
        mods.iter()
            .any(|(n, _, i)| n == "Authentication-Results" && i == "+0"),
        "inserted at the top"
    );
    let status = value(&mods, "X-Spam-Status");
    assert!(status.contains("URIBL[uribl.test] (+0.6)"), "{status}");
    assert!(!status.contains("RCVD_IN_DNSBL"), "{status}");

    // The body altered after signing: DMARC still passes by SPF.
    let tampered = signed.replace("now", "today");
    let (_, mods) = through_milter(&sock, GOOD_IP, "alice@sender.test", &tampered).await;
    let ar = value(&mods, "Authentication-Results");
    for result in [
        "dkim=neutral (body hash did not verify)",
        "spf=pass",
        "dmarc=pass",
    ] {
        assert!(ar.contains(result), "{result} missing from {ar}");
    }
    let status = value(&mods, "X-Spam-Status");
    assert!(status.contains("DKIM_INVALID (+1.0)"), "{status}");

    // Unsigned, from a listed address outside the SPF record of a p=reject domain.
    let unsigned = message("alice@sender.test", "hello\r\n");
    let (action, mods) = through_milter(&sock, BAD_IP, "alice@sender.test", &unsigned).await;
    assert!(matches!(action, Action::Continue(_)), "{action:?}");
    let ar = value(&mods, "Authentication-Results");
    for result in [
        "dkim=none",
        "spf=fail",
        "dmarc=fail header.from=sender.test policy.dmarc=reject",
    ] {
        assert!(ar.contains(result), "{result} missing from {ar}");
    }
    let status = value(&mods, "X-Spam-Status").replace("\n\t", "");
    for rule in [
        "SPF_FAIL (+1.5)",
        "DMARC_REJECT (+3.0)",
        "RCVD_IN_DNSBL[bl.test] (+0.4)",
    ] {
        assert!(status.contains(rule), "{rule} missing from {status}");
    }

    let _ = stop.send(true);
    done.await.unwrap().unwrap();
    manager.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_server_that_does_not_answer_slows_one_message_not_all() {
    // Takes queries on UDP and TCP and never answers.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = udp.local_addr().unwrap();
    let _tcp = std::net::TcpListener::bind(addr).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("f.sock");
    let config = SystemConfig {
        hostname: HOSTNAME.into(),
        filter: FilterConfig {
            listen: vec![Endpoint::Unix(sock.clone())],
            manager: Endpoint::Unix(dir.path().join("no-manager.sock")),
            nameservers: vec![addr.to_string()],
            ..FilterConfig::default()
        },
        ..SystemConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(filter::run(
        Arc::new(config),
        dir.path().to_path_buf(),
        async move {
            let _ = stopped.await;
        },
    ));
    let unsigned = message("alice@sender.test", "hello\r\n");
    let started = std::time::Instant::now();
    let (action, _) = through_milter(&sock, GOOD_IP, "alice@sender.test", &unsigned).await;
    let first = started.elapsed();
    assert!(matches!(action, Action::Continue(_)), "{action:?}");
    assert!(
        first <= filter::auth::AUTH_TIMEOUT + Duration::from_secs(2),
        "{first:?}"
    );
    let started = std::time::Instant::now();
    let (action, mods) = through_milter(&sock, GOOD_IP, "alice@sender.test", &unsigned).await;
    assert!(matches!(action, Action::Continue(_)), "{action:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "DNS skipped: {:?}",
        started.elapsed()
    );
    let ar = value(&mods, "Authentication-Results");
    assert_eq!(ar, format!("{HOSTNAME}; none (DNS unavailable)"));
    let _ = stop.send(());
    done.await.unwrap().unwrap();
}

fn envelope(ip: &str, sender: &str, raw: &str, recipients: &[&str]) -> Message {
    let (fields, body) = split(raw);
    Message {
        client_ip: Some(ip.into()),
        helo: Some("mail.sender.test".into()),
        sender: sender.into(),
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        headers: fields
            .into_iter()
            .map(|(name, value)| HeaderField {
                name: name.into(),
                value: value.into(),
            })
            .collect(),
        body: body.into_bytes(),
        ..Message::default()
    }
}

#[tokio::test]
async fn a_failed_dmarc_policy_applies_where_the_recipient_honours_it() {
    use DmarcEnforcement::{Honour, Report};
    let world = world();
    let auth = Auth::new(&filter_config(&world), HOSTNAME).unwrap();
    let forged = message("ceo@sender.test", "pay now\r\n");
    let m = envelope(BAD_IP, "ceo@sender.test", &forged, &["bob@rcpt.test"]);
    let raw = m.reconstruct();

    let report = auth.check("t1", &m, &raw).await;
    assert_eq!(report.disposition(Honour), Disposition::Reject);
    assert_eq!(report.disposition(Report), Disposition::Accept);
    assert!(report
        .findings
        .iter()
        .any(|f| f.reason == "DMARC_REJECT (+3.0)"));

    let quiet = message("news@quiet.test", "hello\r\n");
    let m = envelope(BAD_IP, "news@quiet.test", &quiet, &["bob@rcpt.test"]);
    let report = auth.check("t4", &m, &m.reconstruct()).await;
    assert_eq!(report.disposition(Honour), Disposition::Quarantine);
    assert!(report
        .findings
        .iter()
        .any(|f| f.reason == "DMARC_QUARANTINE (+2.0)"));

    let ok = envelope(GOOD_IP, "news@quiet.test", &quiet, &["bob@rcpt.test"]);
    let report = auth.check("t5", &ok, &ok.reconstruct()).await;
    assert_eq!(
        report.disposition(Honour),
        Disposition::Accept,
        "aligned SPF passes DMARC"
    );
    assert!(report.findings.is_empty(), "{:?}", report.findings);

    let mut outbound = ok.clone();
    outbound.outbound = true;
    let report = auth.check("t6", &outbound, &raw).await;
    assert_eq!(
        report.header, None,
        "a customer's own mail is not authenticated"
    );
}

/// `raw` with an ARC set added by `forwarder.test` (same key as sender.test).
async fn arc_seal(world: &World, raw: &str) -> String {
    let resolver = filter::auth::Resolver::new(&[world.dns.addr().to_string()])
        .unwrap()
        .get()
        .unwrap();
    let message = mail_auth::AuthenticatedMessage::parse(raw.as_bytes()).unwrap();
    let arc = resolver.verify_arc(&message).await;
    let dkim = resolver.verify_dkim(&message).await;
    let results = mail_auth::AuthenticationResults::new("forwarder.test")
        .with_dkim_results(&dkim, "alice@sender.test");
    let key = Ed25519Key::from_pkcs8_der(&world.key_pkcs8).unwrap();
    let set = mail_auth::arc::ArcSealer::from_key(key)
        .domain("forwarder.test")
        .selector("sel")
        .headers(["From", "To", "Subject", "DKIM-Signature"])
        .seal(&message, &results, &arc)
        .unwrap();
    format!("{}{raw}", set.to_header())
}

#[tokio::test]
async fn arc_chains_are_verified() {
    let world = world();
    let auth = Auth::new(&filter_config(&world), HOSTNAME).unwrap();
    let signed = sign(&world, &message("alice@sender.test", "forwarded\r\n"));
    let sealed = arc_seal(&world, &signed).await;
    let m = envelope(GOOD_IP, "alice@sender.test", &sealed, &["bob@rcpt.test"]);
    let report = auth.check("a1", &m, &m.reconstruct()).await;
    let header = report.header.unwrap();
    assert!(header.contains("arc=pass"), "{header}");
    assert!(!report.findings.iter().any(|f| f.reason.starts_with("ARC_")));

    let broken = sealed.replace("forwarded", "altered");
    let m = envelope(GOOD_IP, "alice@sender.test", &broken, &["bob@rcpt.test"]);
    let report = auth.check("a2", &m, &m.reconstruct()).await;
    let header = report.header.unwrap();
    assert!(
        header.contains("arc=neutral (body hash did not verify)"),
        "{header}"
    );
    let reasons: Vec<&str> = report.findings.iter().map(|f| f.reason.as_str()).collect();
    assert!(reasons.contains(&"ARC_INVALID (+0.5)"), "{reasons:?}");
}
