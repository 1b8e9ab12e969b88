//! Bad input gets a precise error and changes nothing: SMTP command and data
//! errors keep the session alive, bare LF/CR never ends a message or
//! smuggles a second one, and the API answers every mistake in JSON.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{Recorder, Smtp, TestBox};

fn ehlo(s: &mut Smtp) -> String {
    let (code, text) = s.cmd("EHLO client.test");
    assert_eq!(code, 250, "{text}");
    text
}

#[test]
fn smtp_command_errors_keep_the_session() {
    let downstream = Recorder::start();
    let b = TestBox::start(downstream.port);
    let mut s = Smtp::connect(b.smtp());
    let caps = ehlo(&mut s);
    for ext in ["PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES"] {
        assert!(caps.contains(ext), "{ext} missing in {caps}");
    }
    let (code, text) = s.cmd("FROBNICATE now");
    assert!(code == 500 && text.contains("5.5."), "{text}");
    let (code, text) = s.cmd("MAIL FROM:<not an address");
    assert!(code == 501 && text.contains("501 5.1.7"), "{text}");
    let (code, text) = s.cmd("RCPT TO:<user@example.test>");
    assert!(
        code == 503 && text.contains("5.5.1"),
        "RCPT before MAIL: {text}"
    );
    let (code, text) = s.cmd(&format!("NOOP {}", "a".repeat(600)));
    assert!(
        code == 500 && text.contains("5.5.2"),
        "long command: {text}"
    );
    let (code, text) = s.cmd("VRFY user@example.test");
    assert!(code == 252 && !text.contains("user@example.test"), "{text}");
    assert_eq!(s.cmd("HELP").0 / 100, 2);
    assert_eq!(s.cmd("NOOP").0, 250);
    // The session still works after all of that.
    let (code, text) = s.send_mail(
        "a@sender.test",
        &["user@example.test"],
        b"Subject: ok\r\n\r\nstill fine\r\n",
    );
    assert_eq!(code, 250, "{text}");
    assert_eq!(s.cmd("QUIT").0, 221);
    downstream.wait_for(1, Duration::from_secs(30));
}

#[test]
fn data_errors_refuse_the_message_and_keep_the_session() {
    let downstream = Recorder::start();
    let mut config = TestBox::config(downstream.port);
    config.mta.max_message_size = 64 * 1024;
    let b = TestBox::start_with(config);
    let mut s = Smtp::connect(b.smtp());
    ehlo(&mut s);
    // Declared size over the limit.
    let (code, text) = s.cmd("MAIL FROM:<a@sender.test> SIZE=100000000");
    assert!(code == 552 && text.contains("5.3.4"), "{text}");
    // Actual size over the limit.
    let big = format!(
        "Subject: big\r\n\r\n{}",
        "0123456789012345678901234567890123456789\r\n".repeat(3000)
    );
    let (code, text) = s.send_mail("a@sender.test", &["user@example.test"], big.as_bytes());
    assert!(code == 552 && text.contains("5.3.4"), "{text}");
    // A text line over 1000 octets.
    let long = format!("Subject: long\r\n\r\n{}\r\n", "y".repeat(1200));
    let (code, text) = s.send_mail("a@sender.test", &["user@example.test"], long.as_bytes());
    assert!(code == 500 && text.contains("5.5.6"), "{text}");
    // And a good message afterwards on the same session.
    let (code, text) = s.send_mail(
        "a@sender.test",
        &["user@example.test"],
        b"Subject: fine\r\n\r\nok\r\n",
    );
    assert_eq!(code, 250, "{text}");
    let got = downstream.wait_for(1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        downstream.messages().len(),
        1,
        "refused messages must not be delivered"
    );
    assert!(got[0].text().contains("Subject: fine"));
}

#[test]
fn bare_lf_and_cr_never_end_data_or_smuggle_a_message() {
    let downstream = Recorder::start();
    let b = TestBox::start(downstream.port);
    let mut s = Smtp::connect(b.smtp());
    ehlo(&mut s);
    assert_eq!(s.cmd("MAIL FROM:<a@sender.test>").0, 250);
    assert_eq!(s.cmd("RCPT TO:<user@example.test>").0, 250);
    assert_eq!(s.cmd("DATA").0, 354);
    // Each of these would end DATA for a lax server and start a second message.
    s.send(b"Subject: smuggle\r\n\r\nfirst part\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<user@example.test>\r\nDATA\r\n");
    s.send(b"second\r.\rthird\n.\r\nfourth\r\n.\r\n");
    let (code, text) = s.reply();
    assert_eq!(code, 250, "one message, accepted at the real end: {text}");
    assert_eq!(s.cmd("QUIT").0, 221);
    let got = downstream.wait_for(1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(downstream.messages().len(), 1, "no smuggled second message");
    let m = &got[0];
    assert_eq!(m.mail_from, "a@sender.test");
    // Downstream only ever sees CRLF line ends: no bare CR or LF survives.
    let bytes = &m.bytes;
    for (i, &c) in bytes.iter().enumerate() {
        if c == b'\n' {
            assert_eq!(bytes.get(i.wrapping_sub(1)), Some(&b'\r'), "bare LF at {i}");
        }
        if c == b'\r' {
            assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    let text = m.text();
    for part in [
        "first part",
        "MAIL FROM:<evil@x.test>",
        "second",
        "third",
        "fourth",
    ] {
        assert!(text.contains(part), "{part} missing: {text}");
    }
}

#[test]
fn commands_before_ehlo_and_pipelined_commands_are_answered_in_order() {
    let downstream = Recorder::start();
    let b = TestBox::start(downstream.port);
    let mut s = Smtp::connect(b.smtp());
    // MAIL before any greeting: refused, nothing skipped afterwards.
    let (code, text) = s.cmd("MAIL FROM:<a@sender.test>");
    assert!(code == 503 && text.contains("5.5.1"), "{text}");
    // Everything in one write after EHLO: each command answered exactly once, in order.
    s.send(b"EHLO client.test\r\nMAIL FROM:<a@sender.test>\r\nRCPT TO:<user@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\nSubject: pipelined\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n");
    let codes: Vec<u16> = (0..7).map(|_| s.reply().0).collect();
    assert_eq!(codes, vec![250, 250, 250, 550, 354, 250, 250]);
    assert_eq!(s.reply().0, 221);
    let got = downstream.wait_for(1, Duration::from_secs(30));
    assert_eq!(got[0].rcpt_tos, vec!["user@example.test"]);
}

/// One raw HTTP request to the API's unix socket; returns status and body.
fn http(b: &TestBox, request: &str) -> (u16, serde_json::Value) {
    let mut s = UnixStream::connect(b.dir.path().join("manager.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, json)
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn api_mistakes_get_json_errors_and_change_nothing() {
    let downstream = Recorder::start();
    let b = TestBox::start(downstream.port);
    let before = b.api().domains().unwrap();
    let (status, json) = http(
        &b,
        "GET /api/v1/nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, json) = http(&b, &post("/api/v1/domains", "{\"name\": "));
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (400, Some("bad_json"))
    );
    let (status, json) = http(&b, &post("/api/v1/domains", "{\"name\": \"new.test\"}"));
    assert_eq!(status, 422, "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("delivery"),
        "{json}"
    );
    let (status, _) = http(
        &b,
        &post(
            "/api/v1/domains",
            "{\"name\": \"bad domain\", \"delivery\": [{\"host\": \"h\"}]}",
        ),
    );
    assert_eq!(status, 422);
    assert_eq!(b.api().domains().unwrap(), before, "nothing changed");
    // Over TCP without the token: 401, in JSON.
    let addr = b.config.manager.http_listen.clone().unwrap();
    let mut t = std::net::TcpStream::connect(&addr).unwrap();
    t.write_all(b"GET /api/v1/domains HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    t.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
    assert!(out.contains("\"unauthorized\""), "{out}");
}
