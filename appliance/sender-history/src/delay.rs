//! The delay queue's decision, a pure function of the stored entry, the
//! time and the settings (the seeds' defence against snowshoe spam).
//!
//! A pattern never seen gets a temporary refusal and is recorded as
//! pending. A legitimate MTA retries: a retry after `delay_secs` and within
//! `retry_window_secs` of the first attempt passes and makes the pattern
//! known. Spamware rarely retries, or retries at once. A known pattern is
//! forgotten after `remember_days` without mail.

use model::config::DelayQueueConfig;
use serde::{Deserialize, Serialize};

/// A known pattern's `last_seen` is rewritten at most this often, so a busy
/// correspondent does not cost a database write per recipient.
pub const REFRESH_SECS: u64 = 3600;

/// What the delay queue remembers about one pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// Delayed; waiting for a retry.
    Pending {
        /// When the first attempt came (unix seconds).
        first_attempt: u64,
        /// Attempts refused so far.
        attempts: u32,
    },
    /// Passed the delay; mail goes through.
    Known {
        /// Last time mail from it was let through (within [`REFRESH_SECS`]).
        last_seen: u64,
    },
}

/// Why mail goes through, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// The pattern is known.
    Known,
    /// This is the legitimate retry that makes it known.
    Retried,
}

/// The delay queue's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let the recipient through.
    Pass(Pass),
    /// Refuse it temporarily; a retry in `retry_in` seconds will pass.
    Delay {
        /// Seconds until a retry is accepted.
        retry_in: u64,
        /// Whether this is the first attempt (else a retry came too soon).
        first: bool,
    },
}

/// The decision for a pattern in state `entry` at `now`, and the entry to
/// store (`None`: keep the stored one).
pub fn decide(
    entry: Option<Entry>,
    now: u64,
    config: &DelayQueueConfig,
) -> (Decision, Option<Entry>) {
    let remember = config.remember_days.saturating_mul(86_400);
    let first_attempt = |now| {
        let d = Decision::Delay {
            retry_in: config.delay_secs,
            first: true,
        };
        let e = Entry::Pending {
            first_attempt: now,
            attempts: 1,
        };
        (d, Some(e))
    };
    match entry {
        None => first_attempt(now),
        Some(Entry::Known { last_seen }) if now.saturating_sub(last_seen) > remember => {
            first_attempt(now)
        }
        Some(Entry::Known { last_seen }) => {
            let store = (now.saturating_sub(last_seen) >= REFRESH_SECS)
                .then_some(Entry::Known { last_seen: now });
            (Decision::Pass(Pass::Known), store)
        }
        Some(Entry::Pending {
            first_attempt: first,
            attempts,
        }) => {
            let waited = now.saturating_sub(first);
            if waited > config.retry_window_secs {
                first_attempt(now)
            } else if waited < config.delay_secs {
                let d = Decision::Delay {
                    retry_in: config.delay_secs - waited,
                    first: false,
                };
                let e = Entry::Pending {
                    first_attempt: first,
                    attempts: attempts.saturating_add(1),
                };
                (d, Some(e))
            } else {
                let e = Entry::Known { last_seen: now };
                (Decision::Pass(Pass::Retried), Some(e))
            }
        }
    }
}

/// Whether `entry` may be removed at `now`: a pending pattern whose retry
/// window is over, a known one not seen for `remember_days`.
pub fn expired(entry: &Entry, now: u64, config: &DelayQueueConfig) -> bool {
    match *entry {
        Entry::Pending { first_attempt, .. } => {
            now.saturating_sub(first_attempt) > config.retry_window_secs
        }
        Entry::Known { last_seen } => {
            now.saturating_sub(last_seen) > config.remember_days.saturating_mul(86_400)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DelayQueueConfig {
        DelayQueueConfig {
            enabled: true,
            delay_secs: 300,
            retry_window_secs: 4 * 3600,
            remember_days: 36,
        }
    }

    /// Runs `decide` like the store does: feeding back what it says to store.
    fn at(state: &mut Option<Entry>, now: u64) -> Decision {
        let (d, store) = decide(*state, now, &config());
        if store.is_some() {
            *state = store;
        }
        d
    }

    #[test]
    fn new_pattern_is_delayed_then_a_timely_retry_passes() {
        let mut s = None;
        let t0 = 1_000_000;
        let first = Decision::Delay {
            retry_in: 300,
            first: true,
        };
        assert_eq!(at(&mut s, t0), first);
        let early = Decision::Delay {
            retry_in: 240,
            first: false,
        };
        assert_eq!(at(&mut s, t0 + 60), early, "too soon: delayed again");
        assert_eq!(
            s,
            Some(Entry::Pending {
                first_attempt: t0,
                attempts: 2
            }),
            "a too-early retry does not restart the clock"
        );
        assert_eq!(at(&mut s, t0 + 300), Decision::Pass(Pass::Retried));
        assert_eq!(at(&mut s, t0 + 301), Decision::Pass(Pass::Known));
    }

    #[test]
    fn a_retry_after_the_window_starts_over() {
        let mut s = None;
        at(&mut s, 0);
        let late = 4 * 3600 + 1;
        let first = Decision::Delay {
            retry_in: 300,
            first: true,
        };
        assert_eq!(at(&mut s, late), first);
        assert_eq!(at(&mut s, late + 300), Decision::Pass(Pass::Retried));
    }

    #[test]
    fn known_patterns_are_refreshed_sparingly_and_expire() {
        let day = 86_400;
        let mut s = Some(Entry::Known { last_seen: 0 });
        assert_eq!(decide(s, REFRESH_SECS - 1, &config()).1, None, "no write");
        assert_eq!(at(&mut s, 30 * day), Decision::Pass(Pass::Known));
        assert_eq!(
            s,
            Some(Entry::Known {
                last_seen: 30 * day
            })
        );
        assert_eq!(at(&mut s, 66 * day), Decision::Pass(Pass::Known), "36 days");
        assert!(!expired(s.as_ref().unwrap(), 102 * day, &config()));
        assert!(expired(s.as_ref().unwrap(), 102 * day + 1, &config()));
        assert!(
            matches!(
                at(&mut s, 102 * day + 1),
                Decision::Delay { first: true, .. }
            ),
            "forgotten after 36 days without mail"
        );
    }

    #[test]
    fn clock_going_backwards_never_panics_or_passes_early() {
        let mut s = None;
        at(&mut s, 1000);
        assert!(matches!(
            at(&mut s, 10),
            Decision::Delay { first: false, .. }
        ));
    }
}
