//! Quarantine digests end to end: held mail for a user, the digest sent
//! through a real SMTP receiver (Postfix's smtp-sink standing in for the
//! mta), its release link used from the message as received (once), the
//! schedule honoured.

mod common;

use common::{new_quarantine, Sink, TestManager, GTUBE};
use model::api::{NewDomain, NewUser};
use model::tenancy::{DigestRun, DigestSchedule, DigestSetting};
use serde_json::Value;

fn run(c: &model::client::ApiClient, force: bool) -> u32 {
    let path = format!("/api/v1/digest/run?force={force}");
    c.call::<(), DigestRun>("POST", &path, None).unwrap().sent
}

/// The link tokens in a dumped digest's text part, in order.
fn tokens(dump: &str) -> Vec<String> {
    let raw = dump.replace('\n', "\r\n");
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    let text = parsed.body_text(0).unwrap().into_owned();
    text.lines()
        .filter_map(|l| l.split("/api/v1/links/").nth(1))
        .map(|t| t.trim().to_string())
        .collect()
}

#[test]
fn a_digest_lists_new_held_mail_and_its_release_link_works_once() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::unix(dir.path(), &[]);
    let m = TestManager::start(Some(sink.endpoint.clone()));
    let c = m.unix();
    let domain: NewDomain = serde_json::from_value(serde_json::json!({
        "name": "example.test", "delivery": [{"host": "127.0.0.1"}]
    }))
    .unwrap();
    c.create_domain(&domain).unwrap();
    for u in ["user@example.test", "quiet@example.test"] {
        let u: NewUser = serde_json::from_value(serde_json::json!({ "address": u })).unwrap();
        c.create_user(&u).unwrap();
    }
    let never = DigestSetting {
        schedule: DigestSchedule::Never,
    };
    let path = "/api/v1/digest/users/quiet@example.test";
    c.call::<_, DigestSetting>("PUT", path, Some(&never))
        .unwrap();
    let ids = c
        .quarantine_create(&new_quarantine(
            &["user@example.test", "quiet@example.test"],
            GTUBE,
        ))
        .unwrap()
        .ids;

    // The first check only starts the daily interval; asked for at once,
    // the digest goes out; the one who said never gets none.
    assert_eq!(run(&c, false), 0);
    assert_eq!(run(&c, true), 1);
    let dumps = sink.wait_for(1);
    assert_eq!(dumps.len(), 1);
    let dump = &dumps[0];
    assert!(dump.contains("X-Rcpt-Args: <user@example.test>"), "{dump}");
    assert!(dump.contains("X-Mail-Args: <>"), "null sender: {dump}");
    assert!(dump.contains("Subject: Quarantine digest: 1 new message(s)"));
    let t = tokens(dump);
    assert_eq!(t.len(), 2, "release and block: {dump}");

    // Nothing new, and daily: no second digest now, even when forced.
    assert_eq!(run(&c, false), 0);
    assert_eq!(run(&c, true), 0);

    // The release link from the message as received: it describes, then
    // releases once (the released copy goes to the sink too).
    let link = format!("/api/v1/links/{}", t[0]);
    let v: Value = c.call::<(), Value>("GET", &link, None).unwrap();
    assert_eq!(v["id"], ids[0].as_str());
    assert_eq!(v["used"], false);
    let v: Value = c.call::<(), Value>("POST", &link, None).unwrap();
    assert_eq!(v["used"], true);
    let dumps = sink.wait_for(2);
    assert!(dumps
        .iter()
        .any(|d| d.contains("X-Mail-Args: <spammer@sender.test>")
            && d.contains("X-Rcpt-Args: <user@example.test>")));
    assert_eq!(
        c.quarantine_show(&ids[0]).unwrap_err().status(),
        Some(404),
        "released"
    );
    let again = c.call::<(), Value>("POST", &link, None).unwrap_err();
    assert_eq!(again.status(), Some(410));
    // The other recipient's copy is untouched.
    assert!(c.quarantine_show(&ids[1]).is_ok());

    // New mail: forced, a digest with only the new message.
    c.quarantine_create(&new_quarantine(&["user@example.test"], GTUBE))
        .unwrap();
    assert_eq!(run(&c, true), 1);
    let dumps = sink.wait_for(3);
    let digests: Vec<&String> = dumps
        .iter()
        .filter(|d| d.contains("Subject: Quarantine digest: 1 new message(s)"))
        .collect();
    assert_eq!(digests.len(), 2, "{dumps:#?}");
}
