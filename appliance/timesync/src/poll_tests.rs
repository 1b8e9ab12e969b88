//! Server combination, the step decision, the poll interval and the
//! kiss-o'-death rules.

use super::*;

const MS: i64 = 1_000_000;

fn answered(offset_ms: i64) -> Outcome {
    Outcome::Answered(Sample {
        offset: offset_ms * MS,
        delay: MS,
        stratum: 2,
    })
}

fn failed() -> Outcome {
    Outcome::Failed("no answer".into())
}

/// Asks every due server and has each give `outcome(i)`.
fn poll(p: &mut Poller, outcome: impl Fn(usize) -> Outcome) -> (Vec<usize>, Verdict) {
    let due = p.due();
    let outcomes: Vec<_> = due.iter().map(|&i| (i, outcome(i))).collect();
    (due, p.conclude(&outcomes))
}

#[test]
fn the_median_of_the_servers_wins() {
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [7]), Some(7));
    assert_eq!(median(&mut [30, -10, 5000]), Some(30));
    assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
    assert_eq!(median(&mut [-3, -4]), Some(-3));
    assert_eq!(median(&mut [i64::MAX, i64::MAX - 2]), Some(i64::MAX - 1));
    // One server far off among three does not move the clock.
    let mut p = Poller::new(3);
    let (_, v) = poll(&mut p, |i| answered([2, 3_600_000, -1][i]));
    assert_eq!(
        (v.offset, v.answered, v.asked, v.step),
        (Some(2 * MS), 3, 3, false)
    );
}

#[test]
fn beyond_128_ms_either_way_is_stepped() {
    for (offset, step) in [
        (128, false),
        (-128, false),
        (129, true),
        (-129, true),
        (0, false),
    ] {
        let (_, v) = poll(&mut Poller::new(1), |_| answered(offset));
        assert_eq!(v.step, step, "{offset} ms");
    }
}

#[test]
fn the_interval_doubles_while_right_and_resets_after_a_step_or_a_failure() {
    let mut p = Poller::new(2);
    let mut waits = Vec::new();
    for _ in 0..6 {
        waits.push(poll(&mut p, |_| answered(5)).1.next_poll.as_secs());
    }
    assert_eq!(waits, [64, 128, 256, 512, 1024, 1024]);
    let (_, stepped) = poll(&mut p, |_| answered(500));
    assert_eq!((stepped.step, stepped.next_poll), (true, MIN_POLL));
    assert_eq!(poll(&mut p, |_| answered(1)).1.next_poll.as_secs(), 64);
    assert_eq!(poll(&mut p, |_| answered(1)).1.next_poll.as_secs(), 128);
    let (_, lost) = poll(&mut p, |_| failed());
    assert_eq!(
        (lost.offset, lost.answered, lost.next_poll),
        (None, 0, MIN_POLL)
    );
    // One server answering is enough to keep going.
    assert_eq!(
        poll(&mut p, |i| if i == 0 { failed() } else { answered(1) })
            .1
            .next_poll
            .as_secs(),
        64
    );
}

#[test]
fn rate_makes_a_server_sit_out_doubling_numbers_of_polls() {
    let mut p = Poller::new(2);
    let rate = |i: usize| {
        if i == 0 {
            Outcome::Kissed(Kiss::Rate)
        } else {
            answered(0)
        }
    };
    assert_eq!(poll(&mut p, rate).0, [0, 1]);
    assert_eq!(poll(&mut p, rate).0, [1], "rests one poll");
    assert_eq!(poll(&mut p, rate).0, [0, 1]);
    assert_eq!(poll(&mut p, rate).0, [1]);
    assert_eq!(poll(&mut p, rate).0, [1], "then two");
    assert_eq!(poll(&mut p, |_| answered(0)).0, [0, 1]);
    // A good answer forgives: the next RATE rests one poll again.
    assert_eq!(poll(&mut p, rate).0, [0, 1]);
    assert_eq!(poll(&mut p, rate).0, [1]);
    assert_eq!(poll(&mut p, rate).0, [0, 1]);
    // The rest never exceeds MAX_REST_POLLS.
    let mut q = Poller::new(1);
    let asked: Vec<bool> = (0..60)
        .map(|_| !poll(&mut q, |_| Outcome::Kissed(Kiss::Rate)).0.is_empty())
        .collect();
    let longest_rest = asked.split(|&a| a).map(<[bool]>::len).max();
    assert_eq!(longest_rest, Some(MAX_REST_POLLS as usize));
}

#[test]
fn while_everybody_rests_the_interval_stays() {
    let mut p = Poller::new(1);
    poll(&mut p, |_| answered(0));
    let (_, kissed) = poll(&mut p, |_| Outcome::Kissed(Kiss::Rate));
    assert_eq!(kissed.next_poll, MIN_POLL, "nobody answered");
    let (due, idle) = poll(&mut p, |_| unreachable!("resting"));
    assert!(due.is_empty());
    assert_eq!(
        (idle.asked, idle.offset, idle.next_poll),
        (0, None, MIN_POLL)
    );
}

#[test]
fn deny_and_rstr_drop_a_server_for_good() {
    let mut p = Poller::new(3);
    let (_, v) = poll(&mut p, |i| match i {
        0 => Outcome::Kissed(Kiss::Deny),
        1 => Outcome::Kissed(Kiss::Other(*b"INIT")),
        _ => answered(3),
    });
    assert_eq!((v.offset, v.answered), (Some(3 * MS), 1));
    assert!(!p.all_refused());
    for _ in 0..20 {
        assert!(!poll(&mut p, |_| answered(0)).0.contains(&0));
    }
    poll(&mut p, |i| {
        Outcome::Kissed(if i == 1 { Kiss::Rstr } else { Kiss::Deny })
    });
    assert!(p.all_refused());
    assert!(p.due().is_empty());
}
