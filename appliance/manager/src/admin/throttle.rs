//! Throttling of admin password guesses: a plain state machine fed the
//! outcome of each check and the current time, tested without clocks.
//!
//! Every [`LockoutPolicy::max_failures`] consecutive failures lock checking
//! for a while; each lockout lasts twice as long as the one before, up to
//! [`LockoutPolicy::max_lockout`]. A right password resets everything. The
//! state lives in memory only: a restart of the manager resets it, which
//! costs an attacker a restart they cannot cause (the API needs the token
//! on TCP, and the console is someone at the box).

use std::time::{Duration, Instant};

/// How guesses are limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that start a lockout.
    pub max_failures: u32,
    /// Length of the first lockout; each next one doubles.
    pub first_lockout: Duration,
    /// Longest lockout.
    pub max_lockout: Duration,
}

impl Default for LockoutPolicy {
    /// 5 failures; 30 s, 60 s, ... up to 15 minutes.
    fn default() -> LockoutPolicy {
        LockoutPolicy {
            max_failures: 5,
            first_lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(15 * 60),
        }
    }
}

/// The consecutive failures and the lockout in force.
#[derive(Debug)]
pub struct Throttle {
    policy: LockoutPolicy,
    failures: u32,
    lockouts: u32,
    locked_until: Option<Instant>,
}

impl Throttle {
    /// No failures yet.
    pub fn new(policy: LockoutPolicy) -> Throttle {
        Throttle {
            policy,
            failures: 0,
            lockouts: 0,
            locked_until: None,
        }
    }

    /// `Err(remaining)` while a lockout is in force at `now`: the password
    /// must then not even be checked.
    pub fn check(&self, now: Instant) -> Result<(), Duration> {
        match self.locked_until {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a wrong password; returns the lockout it started, if any.
    pub fn failed(&mut self, now: Instant) -> Option<Duration> {
        self.failures += 1;
        if self.failures < self.policy.max_failures.max(1) {
            return None;
        }
        self.failures = 0;
        self.lockouts = self.lockouts.saturating_add(1);
        let doublings = (self.lockouts - 1).min(31);
        let length = self
            .policy
            .first_lockout
            .saturating_mul(1 << doublings)
            .min(self.policy.max_lockout);
        self.locked_until = Some(now + length);
        Some(length)
    }

    /// Records a right password (or a reset by someone at the box).
    pub fn succeeded(&mut self) {
        *self = Throttle::new(self.policy);
    }

    /// Consecutive failures since the last lockout or success, for the log.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail_round(t: &mut Throttle, now: Instant) -> Option<Duration> {
        (0..4).for_each(|_| assert_eq!(t.failed(now), None));
        t.failed(now)
    }

    #[test]
    fn five_failures_lock_for_doubling_periods_up_to_the_cap() {
        let start = Instant::now();
        let mut t = Throttle::new(LockoutPolicy::default());
        let mut now = start;
        let mut lengths = Vec::new();
        for _ in 0..8 {
            assert_eq!(t.check(now), Ok(()));
            let length = fail_round(&mut t, now).expect("the fifth failure locks");
            assert_eq!(t.check(now), Err(length));
            assert_eq!(
                t.check(now + length - Duration::from_secs(1)),
                Err(Duration::from_secs(1))
            );
            lengths.push(length.as_secs());
            now += length;
        }
        assert_eq!(lengths, [30, 60, 120, 240, 480, 900, 900, 900]);
    }

    #[test]
    fn success_resets_failures_and_lockout_length() {
        let now = Instant::now();
        let mut t = Throttle::new(LockoutPolicy::default());
        t.failed(now);
        t.failed(now);
        assert_eq!(t.failures(), 2);
        t.succeeded();
        assert_eq!(t.failures(), 0);
        assert_eq!(
            fail_round(&mut t, now),
            Some(Duration::from_secs(30)),
            "earlier failures were forgotten"
        );
        t.succeeded();
        assert_eq!(t.check(now), Ok(()));
        assert_eq!(fail_round(&mut t, now), Some(Duration::from_secs(30)));
    }
}
