//! Reporting the logbook's own trouble (a full disk, an unreachable syslog
//! server) on stderr, at most once a minute per kind of trouble.
//!
//! Straight to stderr, not through `log`: the supervisor's own log lines may
//! be recorded in this logbook, and a failing logbook must not feed itself.

use std::io::Write;
use std::time::{Duration, Instant};

/// How often one kind of trouble is reported at most.
pub const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Counts failures and says when the next report is due.
#[derive(Debug, Default)]
pub struct Throttle {
    last_report: Option<Instant>,
    failures: u64,
}

impl Throttle {
    /// Counts one failure at `now`; returns how many failures the report due
    /// now covers, or `None` when a report was made less than
    /// [`REPORT_EVERY`] ago.
    pub fn fail(&mut self, now: Instant) -> Option<u64> {
        self.failures += 1;
        let due = self
            .last_report
            .is_none_or(|last| now.duration_since(last) >= REPORT_EVERY);
        if !due {
            return None;
        }
        self.last_report = Some(now);
        Some(std::mem::take(&mut self.failures))
    }
}

/// Writes one line about the logbook itself to stderr, in the supervisor's
/// line format; a closed stderr is ignored.
pub fn to_stderr(message: &str) {
    let ts = model::time::format_rfc3339(model::time::now_ms());
    let _ = writeln!(std::io::stderr().lock(), "{ts} logbook | {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_first_failure_then_once_a_minute() {
        let start = Instant::now();
        let mut throttle = Throttle::default();
        assert_eq!(throttle.fail(start), Some(1));
        assert_eq!(throttle.fail(start + Duration::from_secs(1)), None);
        assert_eq!(throttle.fail(start + Duration::from_secs(59)), None);
        // The report a minute later covers the three failures since the last one.
        assert_eq!(throttle.fail(start + REPORT_EVERY), Some(3));
        assert_eq!(throttle.fail(start + REPORT_EVERY), None);
    }
}
