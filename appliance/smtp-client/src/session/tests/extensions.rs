//! SMTPUTF8 (RFC 6531) and DSN (RFC 3461) on the wire: asked for where the
//! server offers them, a UTF-8 message refused locally where it does not,
//! DSN parameters dropped (and not claimed as passed) where DSN is missing.

use super::*;
use crate::{DsnRequest, RecipientDsnRequest};

const EHLO_ALL: &str =
    "250-mx.test\r\n250-PIPELINING\r\n250-SMTPUTF8\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n";
const ACCEPT_ONE: &str = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n";
const ACCEPT_TWO: &str = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n";

fn with(envelope: &Envelope<'_>, server: &[&str]) -> Outcome {
    replay(
        Session::new("client.test", envelope, MESSAGE),
        MESSAGE,
        server,
    )
}

#[test]
fn a_utf8_message_asks_for_smtputf8_where_offered() {
    let recipients = vec!["jörg@mx.test".to_string()];
    let envelope = Envelope {
        sender: "a@src.test",
        recipients: &recipients,
        ..Default::default()
    };
    let out = with(
        &envelope,
        &[
            BANNER,
            EHLO_ALL,
            ACCEPT_ONE,
            "250 2.0.0 Ok\r\n",
            "221 Bye\r\n",
        ],
    );
    assert_eq!(
        out.written[1], "MAIL FROM:<a@src.test> SMTPUTF8\r\nRCPT TO:<jörg@mx.test>\r\nDATA\r\n",
        "a UTF-8 address alone is enough to ask"
    );
    assert_eq!(out.replies(), ["250 2.0.0 Ok"]);
}

#[test]
fn a_message_needing_smtputf8_is_refused_locally_without_it() {
    let recipients = vec!["b@mx.test".to_string()];
    let envelope = Envelope {
        sender: "a@src.test",
        recipients: &recipients,
        smtputf8: true,
        dsn: None,
    };
    let out = with(&envelope, &[BANNER, EHLO_PIPELINING, "221 Bye\r\n"]);
    assert_eq!(out.written, ["EHLO client.test\r\n", "QUIT\r\n"]);
    let reply = &out.report().recipients[0].reply;
    assert_eq!(reply.code, 553);
    assert!(reply.text.starts_with("5.6.7 "), "{reply}");
    assert!(reply.is_permanent(), "bounced, never mangled");
}

fn request() -> DsnRequest {
    DsnRequest {
        ret: Some("HDRS".into()),
        envid: Some("q+1=x y".into()),
        recipients: vec![
            RecipientDsnRequest {
                notify: Some("SUCCESS,FAILURE".into()),
                orcpt: Some("B@mx.test".into()),
            },
            RecipientDsnRequest::default(),
        ],
    }
}

/// Two recipients with [`request`]'s parameters sent to a server whose
/// EHLO reply is `ehlo`.
fn with_dsn(ehlo: &str) -> Outcome {
    let recipients = vec!["b@mx.test".to_string(), "c@mx.test".to_string()];
    let dsn = request();
    let envelope = Envelope {
        sender: "a@src.test",
        recipients: &recipients,
        smtputf8: false,
        dsn: Some(&dsn),
    };
    with(
        &envelope,
        &[BANNER, ehlo, ACCEPT_TWO, "250 2.0.0 Ok\r\n", "221 Bye\r\n"],
    )
}

#[test]
fn dsn_parameters_go_on_in_xtext_where_dsn_is_offered() {
    let out = with_dsn(EHLO_ALL);
    assert_eq!(
        out.written[1],
        "MAIL FROM:<a@src.test> RET=HDRS ENVID=q+2B1+3Dx+20y\r\n\
         RCPT TO:<b@mx.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B@mx.test\r\n\
         RCPT TO:<c@mx.test>\r\nDATA\r\n"
    );
    assert!(out.report().dsn_passed);
}

#[test]
fn without_dsn_offered_nothing_is_passed_and_the_report_says_so() {
    let out = with_dsn("250-mx.test\r\n250 PIPELINING\r\n");
    assert_eq!(
        out.written[1],
        "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@mx.test>\r\nRCPT TO:<c@mx.test>\r\nDATA\r\n"
    );
    assert!(!out.report().dsn_passed, "we still owe the success report");
}
