//! STARTTLS and AUTH exchanges replayed through the session (see `security.rs`).

use super::*;

/// A session on a TCP listener with a certificate, after EHLO.
fn offering() -> Driver {
    let mut d = Driver::new();
    d.session.offer_security(true);
    d.send(b"EHLO client.test\r\n");
    d
}

/// [`offering`], after STARTTLS and a new EHLO.
fn encrypted() -> Driver {
    let mut d = offering();
    d.send(b"STARTTLS\r\n");
    d.send(b"EHLO client.test\r\n");
    d
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn starttls_is_refused_where_not_offered() {
    let mut d = Driver::new();
    assert!(!d.send(b"EHLO c\r\n").contains("STARTTLS"));
    assert_eq!(
        d.send(b"STARTTLS\r\n"),
        "502 5.5.1 STARTTLS not available\r\n"
    );
    assert!(!d.session.tls_active());
}

#[test]
fn starttls_drops_pipelined_commands_and_the_greeting() {
    let mut d = Driver::new();
    d.session.offer_security(true);
    let ehlo = d.send(b"EHLO client.test\r\n");
    assert!(
        ehlo.ends_with("250 STARTTLS\r\n") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    let out = d.send(b"MAIL FROM:<a@x.test>\r\nSTARTTLS\r\nRSET\r\nNOOP\r\n");
    assert_eq!(out, "250 2.1.0 Ok\r\n220 2.0.0 Ready to start TLS\r\n");
    assert!(d.session.tls_active());
    assert_eq!(d.aborts, 1, "the open transaction is dropped");
    assert_eq!(d.session.helo_name(), None);
    assert_eq!(
        d.send(b"MAIL FROM:<a@x.test>\r\n"),
        "503 5.5.1 send EHLO or HELO first\r\n"
    );
    let ehlo = d.send(b"EHLO client.test\r\n");
    assert!(ehlo.ends_with("250 AUTH PLAIN LOGIN\r\n") && !ehlo.contains("STARTTLS"));
    assert_eq!(d.send(b"STARTTLS\r\n"), "503 5.5.1 TLS already active\r\n");
}

#[test]
fn auth_needs_tls() {
    let mut d = offering();
    let plain = format!("AUTH PLAIN {}\r\n", b64("\0u\0right"));
    let out = d.send(plain.as_bytes());
    assert!(out.starts_with("538 5.7.11 "), "{out}");
    assert!(d.send(b"AUTH LOGIN\r\n").starts_with("538 5.7.11 "));
    assert!(d.asks.iter().all(|a| !matches!(a, Ask::Auth(_))));
    assert_eq!(d.session.authenticated(), None);
}

#[test]
fn auth_plain_with_and_without_initial_response() {
    let mut d = encrypted();
    let wrong = format!("AUTH PLAIN {}\r\n", b64("\0u@x.test\0wrong"));
    assert_eq!(
        d.send(wrong.as_bytes()),
        "535 5.7.8 authentication credentials invalid\r\n"
    );
    assert_eq!(
        (d.session.auth_failures(), d.session.authenticated()),
        (1, None)
    );
    assert_eq!(d.send(b"AUTH PLAIN\r\n"), "334 \r\n");
    let out = d.send(format!("{}\r\n", b64("u@x.test\0u@x.test\0right")).as_bytes());
    assert_eq!(out, "235 2.7.0 Authentication successful\r\n");
    assert_eq!(d.session.authenticated(), Some("u@x.test"));
    assert!(!d.send(b"EHLO again\r\n").contains("AUTH"));
    assert_eq!(
        d.send(b"AUTH PLAIN\r\n"),
        "503 5.5.1 already authenticated\r\n"
    );
}

#[test]
fn auth_login_exchange_and_its_errors() {
    let mut d = encrypted();
    assert_eq!(d.send(b"AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(
        d.send(format!("{}\r\n", b64("u@x.test")).as_bytes()),
        "334 UGFzc3dvcmQ6\r\n"
    );
    let out = d.send(format!("{}\r\n", b64("right")).as_bytes());
    assert_eq!(out, "235 2.7.0 Authentication successful\r\n");
    let Some(Ask::Auth(c)) = d.asks.last() else {
        panic!("no AUTH question: {:?}", d.asks);
    };
    assert_eq!(c.username, "u@x.test");
    assert!(
        !format!("{c:?}").contains("right"),
        "the password is never in Debug"
    );

    let mut d = encrypted();
    assert_eq!(d.send(b"AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(d.send(b"*\r\n"), "501 5.0.0 authentication cancelled\r\n");
    assert_eq!(
        d.send(b"AUTH LOGIN !!!\r\n"),
        "501 5.5.2 cannot decode base64 response\r\n"
    );
    let other = format!("AUTH PLAIN {}\r\n", b64("admin\0u\0right"));
    assert_eq!(
        d.send(other.as_bytes()),
        "501 5.5.2 malformed PLAIN response\r\n"
    );
    assert_eq!(
        d.send(b"AUTH CRAM-MD5\r\n"),
        "504 5.5.4 unrecognized authentication type\r\n"
    );
    d.send(b"MAIL FROM:<a@x.test>\r\n");
    assert_eq!(
        d.send(b"AUTH LOGIN\r\n"),
        "503 5.5.1 AUTH not permitted during a mail transaction\r\n"
    );
    assert_eq!(d.send(b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

#[test]
fn the_mail_auth_parameter_is_accepted() {
    let mut d = encrypted();
    d.send(format!("AUTH PLAIN {}\r\n", b64("\0u\0right")).as_bytes());
    assert_eq!(
        d.send(b"MAIL FROM:<a@x.test> AUTH=<>\r\n"),
        "250 2.1.0 Ok\r\n"
    );
}
