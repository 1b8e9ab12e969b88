//! A real Postfix uses filterbox's filter as its milter (the seeds' "Mail
//! Filter role"): GTUBE is quarantined in the box, clean mail passes with the
//! filter's headers added.

mod common;

use std::time::Duration;

use common::{free_port, swaks, wait_until, Recorder, TestBox};
use model::Endpoint;
use test_harness::postfix::Postfix;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

#[test]
fn postfix_with_the_filter_as_milter_quarantines_gtube_and_tags_clean_mail() {
    let downstream = Recorder::start();
    let milter_port = free_port();
    let mut config = TestBox::config(downstream.port);
    config
        .filter
        .listen
        .push(Endpoint::Tcp(format!("127.0.0.1:{milter_port}")));
    let b = TestBox::start_with(config);
    let work = tempfile::tempdir().unwrap();
    let postfix = Postfix::start(
        work.path(),
        &format!("inet:127.0.0.1:{milter_port}"),
        downstream.port,
    );
    let server = format!("127.0.0.1:{}", postfix.port);

    let out = swaks(&[
        "--server",
        &server,
        "--from",
        "alice@sender.test",
        "--to",
        "user@example.test",
        "--header",
        "Subject: via postfix",
        "--body",
        "A clean message through Postfix.",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let got = downstream.wait_for(1, Duration::from_secs(60));
    let m = &got[0];
    assert!(m.text().contains("A clean message through Postfix."));
    assert!(
        m.header("X-Spam-Score")[0].parse::<f64>().unwrap() < 5.0,
        "scored as ham"
    );
    assert!(m.header("X-Spam-Status")[0].starts_with("No"));
    assert!(
        m.header("Received")
            .iter()
            .any(|r| r.contains("mx.postfix.test")),
        "delivered by Postfix, not by the box's own mta"
    );

    let out = swaks(&[
        "--server",
        &server,
        "--from",
        "spammer@sender.test",
        "--to",
        "user@example.test",
        "--header",
        "Subject: spam via postfix",
        "--body",
        GTUBE,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let items = wait_until(Duration::from_secs(30), "the quarantine entry", || {
        let items = b.api().quarantine_list(None).ok()?;
        (!items.is_empty()).then_some(items)
    });
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].subject, "spam via postfix");
    assert_eq!(items[0].recipient, "user@example.test");
    let raw = b.api().quarantine_message(&items[0].id).unwrap();
    assert!(String::from_utf8_lossy(&raw).contains(GTUBE));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(downstream.messages().len(), 1, "spam must not pass Postfix");
    assert!(
        postfix.log().contains("milter-discard"),
        "{}",
        postfix.log()
    );
}
