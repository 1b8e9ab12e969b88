//! When to ask which server, and what a poll concludes, without I/O.
//!
//! Each server's best sample counts once; the servers are combined by the
//! median of their offsets, so one wrong server among three cannot move the
//! clock. An offset beyond [`STEP_THRESHOLD`] is stepped; a smaller one is
//! left alone: the box has no slewing (adjtimex), and a mail filter does not
//! need better than a few tenths of a second, while a step backwards by a
//! few milliseconds would do more harm (log times out of order) than good.
//!
//! The poll interval starts at [`MIN_POLL`] and doubles up to [`MAX_POLL`]
//! while the clock stays within the threshold; a step or a poll nobody
//! answered brings it back to [`MIN_POLL`]. Kiss-o'-death packets are
//! honoured: RATE makes that server sit out a number of polls that doubles
//! with each RATE (up to [`MAX_REST_POLLS`]); DENY and RSTR drop it for
//! good.

use std::time::Duration;

use crate::packet::{Kiss, Sample};

/// The first poll interval, and the one after a step or a failure.
pub const MIN_POLL: Duration = Duration::from_secs(64);

/// The longest poll interval, reached while the clock stays right.
pub const MAX_POLL: Duration = Duration::from_secs(1024);

/// Offsets beyond this (either way) are stepped, smaller ones left alone.
pub const STEP_THRESHOLD: Duration = Duration::from_millis(128);

/// The most polls a server sits out after a RATE kiss.
pub const MAX_REST_POLLS: u32 = 8;

/// What asking one server gave in one poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its best (lowest-delay) sample.
    Answered(Sample),
    /// A kiss-o'-death packet.
    Kissed(Kiss),
    /// No usable answer, and why (no reply, refused, unsynchronised...).
    Failed(String),
}

/// What one poll concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The median offset in nanoseconds (see [`Sample::offset`]); `None`
    /// when no server answered.
    pub offset: Option<i64>,
    /// How many servers answered.
    pub answered: usize,
    /// How many servers were asked.
    pub asked: usize,
    /// The offset is beyond [`STEP_THRESHOLD`]: the clock should be stepped.
    pub step: bool,
    /// How long to wait before the next poll.
    pub next_poll: Duration,
}

#[derive(Clone, Debug, Default)]
struct Standing {
    refused: Option<Kiss>,
    resting: u32,
    penalty: u32,
}

/// The polling state of a list of servers, addressed by their index.
#[derive(Clone, Debug)]
pub struct Poller {
    interval: Duration,
    servers: Vec<Standing>,
}

impl Poller {
    /// A poller for `servers` servers, all in good standing.
    pub fn new(servers: usize) -> Poller {
        Poller {
            interval: MIN_POLL,
            servers: vec![Standing::default(); servers],
        }
    }

    /// The servers to ask in this poll: not refused, not resting. A resting
    /// server has sat out one more poll.
    pub fn due(&mut self) -> Vec<usize> {
        let mut due = Vec::new();
        for (i, s) in self.servers.iter_mut().enumerate() {
            if s.refused.is_some() {
                continue;
            }
            if s.resting > 0 {
                s.resting -= 1;
            } else {
                due.push(i);
            }
        }
        due
    }

    /// Takes the outcome of each server asked (indices from [`Poller::due`])
    /// and concludes the poll.
    pub fn conclude(&mut self, outcomes: &[(usize, Outcome)]) -> Verdict {
        let mut offsets = Vec::new();
        for (i, outcome) in outcomes {
            let server = &mut self.servers[*i];
            match outcome {
                Outcome::Answered(sample) => {
                    server.penalty = 0;
                    offsets.push(sample.offset);
                }
                Outcome::Kissed(kiss) if kiss.refuses() => server.refused = Some(*kiss),
                Outcome::Kissed(Kiss::Rate) => {
                    server.penalty = (server.penalty * 2).clamp(1, MAX_REST_POLLS);
                    server.resting = server.penalty;
                }
                Outcome::Kissed(_) | Outcome::Failed(_) => {}
            }
        }
        let offset = median(&mut offsets);
        let step = offset.is_some_and(|o| o.unsigned_abs() > STEP_THRESHOLD.as_nanos() as u64);
        let next_poll = if outcomes.is_empty() {
            // Everybody rests: not a failure of the clock, wait as planned.
            self.interval
        } else if offset.is_none() || step {
            self.interval = MIN_POLL;
            MIN_POLL
        } else {
            let now = self.interval;
            self.interval = (now * 2).min(MAX_POLL);
            now
        };
        Verdict {
            offset,
            answered: offsets.len(),
            asked: outcomes.len(),
            step,
            next_poll,
        }
    }

    /// True once every server refused us (DENY or RSTR): none may be asked
    /// again.
    pub fn all_refused(&self) -> bool {
        self.servers.iter().all(|s| s.refused.is_some())
    }
}

/// The median of `values` (the mean of the middle two for an even count);
/// `None` for none. Sorts `values`.
pub fn median(values: &mut [i64]) -> Option<i64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        // Halves first: the sum of two offsets could overflow.
        _ => {
            let (a, b) = (values[n / 2 - 1], values[n / 2]);
            Some(a / 2 + b / 2 + (a % 2 + b % 2) / 2)
        }
    }
}

#[cfg(test)]
#[path = "poll_tests.rs"]
mod tests;
