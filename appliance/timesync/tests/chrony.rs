//! The client against a real NTP server: a private chronyd on a loopback
//! port serving this machine's own clock, so the offset must be about zero.
//! Every run here is a dry run: the tests never set the clock.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use test_harness::chrony::Chrony;
use timesync::query::{ask, SAMPLES, SAMPLE_SPACING};
use timesync::{run, Outcome, ServerSpec, TimesyncArgs, TimesyncError};

/// chronyd and we read the same clock: only the loopback round trip and
/// scheduling separate the two readings.
const CLOSE: i64 = 5_000_000;

fn server(port: u16) -> ServerSpec {
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// A loopback UDP port nothing listens on (bound, read, released).
fn closed_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn dry_once(servers: Vec<ServerSpec>) -> TimesyncArgs {
    TimesyncArgs {
        servers,
        once: true,
        dry_run: true,
    }
}

#[test]
fn chronyd_serves_our_own_clock_back() {
    let dir = tempfile::tempdir().unwrap();
    let chrony = Chrony::start(dir.path());
    let start = Instant::now();
    let outcome = ask(&server(chrony.port));
    let Outcome::Answered(sample) = outcome else {
        panic!("chronyd did not answer: {outcome:?}");
    };
    assert_eq!(sample.stratum, 8, "`local stratum 8`");
    assert!(sample.offset.abs() < CLOSE, "{sample:?}");
    assert!((0..CLOSE).contains(&sample.delay), "{sample:?}");
    // All the samples were taken, spaced as servers expect.
    assert!(start.elapsed() >= SAMPLE_SPACING * (SAMPLES as u32 - 1));
}

#[test]
fn a_closed_port_fails_at_once() {
    let start = Instant::now();
    let outcome = ask(&server(closed_port()));
    assert!(
        matches!(&outcome, Outcome::Failed(why) if why.contains("connection refused")),
        "{outcome:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "no timeout waited"
    );
}

#[test]
fn one_answering_server_is_enough_for_a_poll() {
    let dir = tempfile::tempdir().unwrap();
    let chrony = Chrony::start(dir.path());
    run(&dry_once(vec![server(closed_port()), server(chrony.port)])).unwrap();
}

#[test]
fn a_poll_nobody_answers_names_each_server() {
    let (a, b) = (closed_port(), closed_port());
    let err = run(&dry_once(vec![server(a), server(b)])).unwrap_err();
    let TimesyncError::NoAnswer(why) = &err else {
        panic!("{err}");
    };
    for port in [a, b] {
        assert!(
            why.contains(&format!("127.0.0.1:{port}: connection refused")),
            "{why}"
        );
    }
}
