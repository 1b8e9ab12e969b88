//! The README's walkthrough, end to end: clean mail arrives with the filter's
//! headers, GTUBE is quarantined, `filterbox ctl` shows and releases it, and
//! tracking shows every step. Senders are swaks and Postfix's smtp-source.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{swaks, Recorder, TestBox};
use model::client::TrackingQuery;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

#[test]
fn clean_mail_arrives_with_the_filters_headers_and_gtube_is_quarantined_then_released() {
    let downstream = Recorder::start();
    let b = TestBox::start(downstream.port);

    // Clean mail: delivered downstream with the verdict headers.
    let out = swaks(&[
        "--server",
        b.smtp(),
        "--from",
        "alice@sender.test",
        "--to",
        "user@example.test",
        "--header",
        "Subject: hello",
        "--header",
        "X-Spam-Status: Yes, forged by the sender",
        "--body",
        "Just a normal message.",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let got = downstream.wait_for(1, Duration::from_secs(30));
    let m = &got[0];
    assert_eq!(m.rcpt_tos, vec!["user@example.test"]);
    assert_eq!(m.mail_from, "alice@sender.test");
    assert!(
        m.header("X-Spam-Score")[0].parse::<f64>().unwrap() < 5.0,
        "scored as ham"
    );
    let status = m.header("X-Spam-Status");
    assert_eq!(
        status.len(),
        1,
        "the forged header must be gone: {status:?}"
    );
    assert!(status[0].starts_with("No"), "{status:?}");
    assert!(
        m.header("Received")[0].contains("filterbox"),
        "{:?}",
        m.header("Received")
    );
    assert!(m.text().contains("Just a normal message."));

    // GTUBE: the sender gets 250, nothing goes downstream, the quarantine has it.
    let out = swaks(&[
        "--server",
        b.smtp(),
        "--from",
        "spammer@sender.test",
        "--to",
        "user@example.test",
        "--header",
        "Subject: buy now",
        "--body",
        GTUBE,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let list = b.ctl_ok(&["quarantine", "list"]);
    assert!(
        list.contains("buy now") && list.contains("user@example.test"),
        "{list}"
    );
    let items = b.api().quarantine_list(None).unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item.sender, "spammer@sender.test");
    assert!(
        item.reasons.iter().any(|r| r.contains("GTUBE")),
        "{:?}",
        item.reasons
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(downstream.messages().len(), 1, "spam must not be delivered");

    // Release: it goes downstream, and leaves the quarantine.
    let out = b.ctl_ok(&["quarantine", "release", &item.id]);
    assert!(
        out.contains("250") || out.to_lowercase().contains("released"),
        "{out}"
    );
    let got = downstream.wait_for(2, Duration::from_secs(30));
    assert!(got[1].text().contains(GTUBE));
    assert_eq!(got[1].rcpt_tos, vec!["user@example.test"]);
    assert!(b.api().quarantine_list(None).unwrap().is_empty());

    // Tracking tells the story of the clean message.
    let events = b
        .api()
        .tracking(&TrackingQuery {
            sender: Some("alice@sender.test".into()),
            ..TrackingQuery::default()
        })
        .unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            serde_json::to_value(e.kind)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for step in ["received", "queued", "delivered"] {
        assert!(
            kinds.iter().any(|k| k == step),
            "no {step} event in {kinds:?}"
        );
    }
    let shown = b.ctl_ok(&["tracking", "show", "--sender", "alice@sender.test"]);
    assert!(shown.contains("delivered"), "{shown}");
}

#[test]
fn unknown_recipients_and_foreign_domains_are_refused() {
    let downstream = Recorder::start();
    let b = TestBox::start(downstream.port);
    let out = swaks(&[
        "--server",
        b.smtp(),
        "--to",
        "nobody@example.test",
        "--quit-after",
        "RCPT",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("550 5.1.1"), "{text}");
    let out = swaks(&[
        "--server",
        b.smtp(),
        "--to",
        "someone@elsewhere.test",
        "--quit-after",
        "RCPT",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("554 5.7.1"), "{text}");
    // A user added through ctl is accepted at once, without a restart.
    b.ctl_ok(&["user", "add", "new@example.test"]);
    common::wait_until(
        Duration::from_secs(10),
        "the new user to be accepted",
        || {
            let out = swaks(&[
                "--server",
                b.smtp(),
                "--to",
                "new@example.test",
                "--body",
                "hi",
            ]);
            out.status.success().then_some(())
        },
    );
    let got = downstream.wait_for(1, Duration::from_secs(30));
    assert_eq!(got[0].rcpt_tos, vec!["new@example.test"]);
}

#[test]
fn smtp_source_load_is_delivered_completely() {
    let downstream = Recorder::start();
    let b = TestBox::start(downstream.port);
    let out = Command::new("smtp-source")
        .args([
            "-s",
            "5",
            "-m",
            "100",
            "-l",
            "2000",
            "-f",
            "load@sender.test",
        ])
        .args(["-t", "user@example.test", b.smtp()])
        .output()
        .expect("smtp-source (Debian package postfix)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // smtp-source's messages (no subject, lines of X) sit near the spam
    // threshold: each is either delivered or held, none is lost.
    let api = b.api();
    let (got, held) = common::wait_until(
        Duration::from_secs(120),
        "100 messages delivered or held",
        || {
            let got = downstream.messages();
            let held = api.quarantine_list(None).ok()?.len();
            (got.len() + held >= 100).then_some((got, held))
        },
    );
    assert_eq!(got.len() + held, 100);
    assert!(got
        .iter()
        .all(|m| m.header("X-Spam-Status")[0].starts_with("No, score=")));
}
