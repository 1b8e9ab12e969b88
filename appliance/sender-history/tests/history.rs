//! `history.db` on disk (a real sled in a temporary directory), driven with
//! an explicit clock: the delay queue's life cycle, statistics, snowshoe
//! detection, purging, and reopening.

use std::net::IpAddr;

use model::config::DelayQueueConfig;
use sender_history::{Decision, History, Kind, Outcome, Pass, Sender};

const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn config() -> DelayQueueConfig {
    DelayQueueConfig {
        enabled: true,
        delay_secs: 300,
        retry_window_secs: 4 * 3600,
        remember_days: 36,
    }
}

fn sender(ip: &str, helo: &str, from: &str) -> Sender {
    Sender::new(ip.parse::<IpAddr>().unwrap(), helo, from)
}

const CAMPAIGN: &str = "Congratulations WINNER, you have been selected for an exclusive \
    reward. Claim your prize voucher before midnight by confirming your shipping \
    address at our secure partner website. Reference code CODE applies.";

fn campaign(winner: &str, code: u32) -> Vec<u8> {
    CAMPAIGN
        .replace("WINNER", winner)
        .replace("CODE", &code.to_string())
        .into_bytes()
}

#[test]
fn delay_queue_life_cycle_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = sender("203.0.113.5", "mx.sender.test", "alice@sender.test");
    {
        let h = History::open(dir.path()).unwrap();
        assert!(matches!(
            h.delay(&s, T0, &config()).unwrap(),
            Decision::Delay { first: true, .. }
        ));
        // Another address of the same /24 with the same HELO and domain is
        // the same pattern: delayed again, the clock not restarted.
        let sibling = sender("203.0.113.77", "MX.sender.test", "bob@Sender.Test");
        assert_eq!(
            h.delay(&sibling, T0 + 100, &config()).unwrap(),
            Decision::Delay {
                retry_in: 200,
                first: false
            }
        );
        // A different HELO is a different pattern.
        let other = sender("203.0.113.5", "other.sender.test", "alice@sender.test");
        assert!(matches!(
            h.delay(&other, T0 + 100, &config()).unwrap(),
            Decision::Delay { first: true, .. }
        ));
        h.flush().unwrap();
    }
    let h = History::open(dir.path()).unwrap();
    assert_eq!(
        h.delay(&s, T0 + 300, &config()).unwrap(),
        Decision::Pass(Pass::Retried)
    );
    assert_eq!(
        h.delay(&s, T0 + 10 * DAY, &config()).unwrap(),
        Decision::Pass(Pass::Known)
    );
    assert!(
        matches!(
            h.delay(&s, T0 + 47 * DAY, &config()).unwrap(),
            Decision::Delay { first: true, .. }
        ),
        "forgotten after remember_days without mail"
    );
}

#[test]
fn statistics_count_messages_and_verdicts_per_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(dir.path()).unwrap();
    let a = sender("2001:db8:1:2::10", "mail.sender.test", "a@sender.test");
    let b = sender("2001:db8:1:2::20", "relay.other.test", "b@sender.test");
    h.record(&a, Outcome::Clean, T0).unwrap();
    h.record(&a, Outcome::Spam, T0 + 50).unwrap();
    h.record(&b, Outcome::Virus, T0 + 90).unwrap();
    let net = h
        .stats(Kind::Network, "2001:db8:1:2::/64")
        .unwrap()
        .unwrap();
    assert_eq!(
        (net.first_seen, net.last_seen, net.messages),
        (T0, T0 + 90, 3)
    );
    assert_eq!(
        (net.clean, net.spam, net.virus, net.attachment),
        (1, 1, 1, 0)
    );
    let dom = h.stats(Kind::Domain, "sender.test").unwrap().unwrap();
    assert_eq!(dom.messages, 3);
    let helo = h.stats(Kind::Helo, "mail.sender.test").unwrap().unwrap();
    assert_eq!((helo.messages, helo.spam), (2, 1));
    assert_eq!(h.stats(Kind::Helo, "nobody.test").unwrap(), None);
}

#[test]
fn many_new_addresses_of_one_range_sending_similar_mail_are_a_snowshoe() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(dir.path()).unwrap();
    let names = ["Ann", "Ben", "Cid", "Dot", "Eve"];
    let mut found = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let s = sender(&format!("198.51.100.{}", 10 + i), "x", "promo@rent.test");
        found.push(
            h.snowshoe(&s, &campaign(name, 1000 + i as u32), T0 + i as u64)
                .unwrap(),
        );
        h.record(&s, Outcome::Clean, T0 + i as u64).unwrap();
    }
    assert_eq!(
        found[..3],
        [None, None, None],
        "three addresses are not yet a snowshoe"
    );
    let hit = found[3]
        .clone()
        .expect("the fourth address trips SNOWSHOE_24");
    assert_eq!((hit.name, hit.addresses), ("SNOWSHOE_24", 4));
    assert_eq!(found[4].as_ref().unwrap().addresses, 5);

    // Unrelated mail from the same range is not flagged.
    let s = sender("198.51.100.99", "x", "promo@rent.test");
    let memo = b"Minutes of the facilities meeting: the parking garage closes for \
        resurfacing next week, badges for the new building arrive Monday morning.";
    assert_eq!(h.snowshoe(&s, memo, T0 + 10).unwrap(), None);
    // Nor the same campaign an hour later, nor from an old, established network.
    let later = sender("198.51.100.50", "x", "promo@rent.test");
    let body = campaign("Fay", 7);
    assert_eq!(h.snowshoe(&later, &body, T0 + 2 * 3600).unwrap(), None);
    let old = sender("192.0.2.1", "x", "news@bulk.test");
    h.record(&old, Outcome::Clean, T0 - 30 * DAY).unwrap();
    for i in 2..8 {
        let s = sender(&format!("192.0.2.{i}"), "x", "news@bulk.test");
        assert_eq!(h.snowshoe(&s, &body, T0).unwrap(), None);
    }
}

#[test]
fn spread_over_a_slash_16_is_a_wider_snowshoe() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(dir.path()).unwrap();
    let mut last = None;
    for i in 0..8u32 {
        let s = sender(&format!("10.20.{i}.7"), "x", "promo@rent.test");
        last = h.snowshoe(&s, &campaign("Gus", i), T0).unwrap();
    }
    let hit = last.expect("eight /24s of one /16");
    assert_eq!((hit.name, hit.addresses), ("SNOWSHOE_16", 8));
}

#[test]
fn purge_removes_only_what_expired() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(dir.path()).unwrap();
    let pending = sender("192.0.2.1", "a", "a@a.test");
    let known = sender("192.0.2.2", "b", "b@b.test");
    h.delay(&pending, T0, &config()).unwrap();
    h.delay(&known, T0, &config()).unwrap();
    h.delay(&known, T0 + 300, &config()).unwrap();
    h.record(&known, Outcome::Clean, T0 + 300).unwrap();
    h.snowshoe(&known, &campaign("Hal", 1), T0).unwrap();

    assert_eq!(
        h.purge(T0 + 3600, &config()).unwrap(),
        0,
        "nothing stale yet"
    );
    // Past the retry window: the pending entry and the sightings go.
    let removed = h.purge(T0 + 5 * 3600, &config()).unwrap();
    assert_eq!(
        removed,
        1 + 2 * 8,
        "one delay entry, 8 bands in /24 and /16"
    );
    assert_eq!(
        h.delay(&known, T0 + 5 * 3600, &config()).unwrap(),
        Decision::Pass(Pass::Known)
    );
    assert!(matches!(
        h.delay(&pending, T0 + 5 * 3600, &config()).unwrap(),
        Decision::Delay { first: true, .. }
    ));
    // After remember_days without mail the statistics go too.
    h.purge(T0 + 40 * DAY, &config()).unwrap();
    assert_eq!(h.stats(Kind::Network, "192.0.2.0/24").unwrap(), None);
}

#[test]
fn a_second_process_cannot_open_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let _h = History::open(dir.path()).unwrap();
    // sled locks the file per process; within one process a second open is
    // allowed by the OS but sled refuses it too.
    let second = History::open(dir.path());
    assert!(second.is_err(), "one owner per database");
}
