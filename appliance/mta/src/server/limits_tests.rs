//! The per-IP table and the tarpit, fed explicit times.

use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn concurrent_sessions_per_ip_are_capped_and_freed() {
    let now = Instant::now();
    let mut t = ClientTable::new(2, 0);
    let a = ip("192.0.2.1");
    assert_eq!(t.admit(a, now), Ok(()));
    assert_eq!(t.admit(a, now), Ok(()));
    assert_eq!(t.admit(a, now), Err(Refusal::ConcurrentFromIp));
    // Another address is not affected, IPv6 included.
    assert_eq!(t.admit(ip("2001:db8::1"), now), Ok(()));
    assert_eq!(t.admit(ip("2001:db8::2:1"), now), Ok(()));
    // The same /64, however the client picks its address.
    assert_eq!(
        t.admit(ip("2001:db8::ffff:1"), now),
        Err(Refusal::ConcurrentFromIp)
    );
    assert_eq!(t.admit(ip("2001:db8:0:1::1"), now), Ok(()));
    t.release(a, now);
    assert_eq!(t.admit(a, now), Ok(()));
}

#[test]
fn rate_is_a_burst_then_a_steady_trickle() {
    let start = Instant::now();
    let mut t = ClientTable::new(0, 6);
    let a = ip("192.0.2.7");
    for _ in 0..6 {
        assert_eq!(t.admit(a, start), Ok(()));
        t.release(a, start);
    }
    assert_eq!(t.admit(a, start), Err(Refusal::RateFromIp));
    // A refused attempt costs nothing: 10 s later (one token) one more is allowed.
    let later = start + Duration::from_secs(10);
    assert_eq!(t.admit(a, later), Ok(()));
    assert_eq!(t.admit(a, later), Err(Refusal::RateFromIp));
    assert_eq!(t.admit(ip("192.0.2.8"), later), Ok(()));
}

#[test]
fn idle_clients_are_forgotten_once_their_budget_is_full() {
    let start = Instant::now();
    let mut t = ClientTable::new(5, 60);
    let a = ip("192.0.2.9");
    t.admit(a, start).unwrap();
    t.release(a, start + Duration::from_millis(500));
    assert_eq!(t.tracked(), 1, "its budget is not full yet");
    t.admit(a, start + Duration::from_secs(2)).unwrap();
    t.release(a, start + Duration::from_secs(120));
    assert_eq!(t.tracked(), 0);
    let mut unlimited = ClientTable::new(0, 0);
    unlimited.admit(a, start).unwrap();
    unlimited.release(a, start);
    assert_eq!(unlimited.tracked(), 0);
}

#[test]
fn tarpit_grows_then_disconnects() {
    let t = Tarpit {
        after: 3,
        step: Duration::from_millis(100),
        disconnect_after: 6,
    };
    assert_eq!(t.action(1), ErrorAction::Reply);
    assert_eq!(t.action(3), ErrorAction::Reply);
    assert_eq!(t.action(4), ErrorAction::Delay(Duration::from_millis(100)));
    assert_eq!(t.action(5), ErrorAction::Delay(Duration::from_millis(200)));
    assert_eq!(t.action(6), ErrorAction::Disconnect);
    let capped = Tarpit {
        after: 0,
        step: Duration::from_secs(20),
        disconnect_after: 0,
    };
    assert_eq!(capped.action(1000), ErrorAction::Delay(MAX_ERROR_DELAY));
}

#[test]
fn refusals_are_421_4_7_0() {
    for r in [
        Refusal::Overloaded,
        Refusal::ConcurrentFromIp,
        Refusal::RateFromIp,
        Refusal::TooManyClients,
    ] {
        let wire = String::from_utf8(r.reply().to_bytes()).unwrap();
        assert!(wire.starts_with("421 4.7.0 "), "{wire}");
    }
}
