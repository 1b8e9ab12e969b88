//! STARTTLS under each policy: upgrade, EHLO again, and what happens when
//! the server does not offer it or refuses it.

use super::*;

const EHLO_TLS: &str = "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n";
const EHLO_AFTER_TLS: &str = "250-mx.test\r\n250 PIPELINING\r\n";
const PIPELINED_OK: &str = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n";

#[test]
fn opportunistic_upgrades_and_says_ehlo_again() {
    let out = exchange_tls(
        TlsMode::Opportunistic,
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_TLS,
            "220 2.0.0 Ready to start TLS\r\n",
            EHLO_AFTER_TLS,
            PIPELINED_OK,
            "250 2.0.0 Ok: queued\r\n",
            "221 Bye\r\n",
        ],
    );
    assert_eq!(
        out.written,
        [
            "EHLO client.test\r\n",
            "STARTTLS\r\n",
            "<tls>",
            "EHLO client.test\r\n",
            "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\n",
            "<body>",
            "QUIT\r\n",
        ]
    );
    assert_eq!(out.replies(), ["250 2.0.0 Ok: queued"]);
}

#[test]
fn disabled_ignores_an_offered_starttls() {
    let out = exchange(
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[BANNER, EHLO_TLS, PIPELINED_OK, "250 ok\r\n", "221 Bye\r\n"],
    );
    assert!(!out.written.iter().any(|w| w.contains("STARTTLS")));
    assert_eq!(out.replies(), ["250 ok"]);
}

#[test]
fn required_without_starttls_sends_nothing_and_defers() {
    let out = exchange_tls(
        TlsMode::Required,
        "a@src.test",
        &["b@mx.test", "c@mx.test"],
        MESSAGE,
        &[BANNER, EHLO_PIPELINING, "221 Bye\r\n"],
    );
    assert_eq!(out.written, ["EHLO client.test\r\n", "QUIT\r\n"]);
    let report = out.report();
    assert_eq!(report.transient().count(), 2);
    assert!(
        out.replies()[0]
            .starts_with("450 4.7.4 TLS is required, but the server did not offer STARTTLS"),
        "{:?}",
        out.replies()
    );
    assert_eq!(report.bytes_sent, 0);
}

#[test]
fn required_and_refused_defers_with_the_refusal() {
    let out = exchange_tls(
        TlsMode::Required,
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_TLS,
            "454 4.7.0 TLS not available\r\n",
            "221 Bye\r\n",
        ],
    );
    assert_eq!(
        out.written,
        ["EHLO client.test\r\n", "STARTTLS\r\n", "QUIT\r\n"]
    );
    let reply = &out.replies()[0];
    assert!(
        reply.starts_with("450 4.7.4 ") && reply.contains("454 4.7.0 TLS not available"),
        "{reply}"
    );
}

#[test]
fn opportunistic_and_refused_goes_on_in_clear() {
    let out = exchange_tls(
        TlsMode::Opportunistic,
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[
            BANNER,
            EHLO_TLS,
            "454 4.7.0 TLS not available\r\n",
            PIPELINED_OK,
            "250 ok\r\n",
            "221 Bye\r\n",
        ],
    );
    assert_eq!(
        out.written[2],
        "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\n"
    );
    assert_eq!(out.replies(), ["250 ok"]);
}

#[test]
fn required_over_helo_fallback_defers() {
    let out = exchange_tls(
        TlsMode::Required,
        "a@src.test",
        &["b@mx.test"],
        MESSAGE,
        &[BANNER, "502 no EHLO\r\n", "250 mx.test\r\n", "221 Bye\r\n"],
    );
    assert_eq!(
        out.written,
        ["EHLO client.test\r\n", "HELO client.test\r\n", "QUIT\r\n"]
    );
    assert!(out.replies()[0].starts_with("450 4.7.4 "));
}
