//! How long to wait before the next attempt to reach the syslog server.

use std::time::Duration;

/// The wait after the first failed attempt.
pub const FIRST_RETRY: Duration = Duration::from_millis(250);

/// The longest wait: a server back after an outage is reached within it.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// Exponential backoff: each failure doubles the wait up to [`MAX_RETRY`];
/// a success starts over.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_RETRY }
    }
}

impl Backoff {
    /// Records a failure; returns how long to wait before trying again.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(MAX_RETRY);
        wait
    }

    /// Records a success.
    pub fn reset(&mut self) {
        self.next = FIRST_RETRY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.failed(), FIRST_RETRY);
        assert_eq!(backoff.failed(), FIRST_RETRY * 2);
        assert_eq!(backoff.failed(), FIRST_RETRY * 4);
        for _ in 0..20 {
            backoff.failed();
        }
        assert_eq!(backoff.failed(), MAX_RETRY);
        backoff.reset();
        assert_eq!(backoff.failed(), FIRST_RETRY);
    }
}
