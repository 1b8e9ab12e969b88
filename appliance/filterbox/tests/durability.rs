//! A message acknowledged with 250 is never lost: the mta is killed with
//! SIGKILL right after the last 250, the supervisor restarts it, and every
//! message arrives downstream with its body byte for byte (a delivery in
//! flight at the kill may arrive twice).

mod common;

use std::time::Duration;

use common::{free_port, wait_until, Recorder, Smtp, TestBox};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The body of message `i`: dots at line starts, a long line, trailing spaces.
fn body(i: usize) -> Vec<u8> {
    format!(
        "Message number {i}.\r\n.a line that starts with a dot\r\n..two dots\r\n{}\r\ntrailing spaces   \r\n\r\nlast line {i}\r\n",
        "x".repeat(900)
    )
    .into_bytes()
}

/// The whole message as written by the sender (before dot-stuffing).
fn message(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: <sender@sender.test>\r\nTo: <user@example.test>\r\nSubject: durability {i}\r\nMessage-ID: <dur{i}@sender.test>\r\n\r\n"
    )
    .into_bytes();
    m.extend(body(i));
    m
}

/// SMTP transparency (RFC 5321 4.5.2): a leading dot is doubled on the wire.
fn stuff(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + 16);
    for line in m.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out
}

fn send_all(smtp: &str, range: std::ops::Range<usize>) {
    let mut s = Smtp::connect(smtp);
    s.cmd("EHLO client.test");
    for i in range {
        let (code, text) = s.send_mail(
            "sender@sender.test",
            &["user@example.test"],
            &stuff(&message(i)),
        );
        assert_eq!(code, 250, "message {i}: {text}");
    }
    s.cmd("QUIT");
}

fn kill_mta(b: &TestBox) -> u32 {
    let pid = b.role_pid("mta").expect("the mta runs");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    pid
}

/// Waits until every one of the `n` bodies has arrived downstream intact.
fn assert_all_arrived(downstream: &Recorder, n: usize) {
    let missing = |got: &[common::Received]| -> Vec<usize> {
        (0..n)
            .filter(|&i| !got.iter().any(|m| m.body() == body(i).as_slice()))
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let got = downstream.messages();
        let lost = missing(&got);
        if lost.is_empty() {
            assert!(got.len() >= n);
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "messages missing or altered downstream: {lost:?} ({} received)",
            got.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn queued_messages_survive_sigkill_while_downstream_is_down() {
    let port = free_port();
    let b = TestBox::start(port); // nothing listens downstream yet
    let n = 40;
    send_all(b.smtp(), 0..n);
    let old = kill_mta(&b);
    wait_until(Duration::from_secs(30), "the mta to be restarted", || {
        b.role_pid("mta").filter(|p| *p != old)
    });
    b.wait_for_log("mta is healthy", Duration::from_secs(30));
    let downstream = Recorder::start_on(port, 0);
    assert_all_arrived(&downstream, n);
}

#[test]
fn messages_in_flight_survive_sigkill() {
    let downstream = Recorder::start();
    let b = TestBox::start(downstream.port);
    let n = 120;
    let smtp = b.smtp().to_string();
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let smtp = smtp.clone();
            std::thread::spawn(move || send_all(&smtp, t * n / 4..(t + 1) * n / 4))
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    kill_mta(&b);
    assert_all_arrived(&downstream, n);
}
