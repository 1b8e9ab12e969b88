//! The filter's sender history (`history.db`), delay queue and snowshoe
//! detection: the seeds' defence against spam sent from freshly rented
//! address ranges.
//!
//! Per sending network (/24, /64), HELO name and sender domain the history
//! keeps first and last seen, volume and verdicts. The delay queue
//! ([`delay`]) refuses a never-seen network+HELO+domain pattern once with a
//! 4xx: real mail servers retry, most spamware does not. [`snowshoe`] spots
//! one campaign sent from many new addresses of a range.
//!
//! The decisions are pure functions of stored state and an explicit `now`
//! (unix seconds), so they are tested with any clock; [`store`] is the sled
//! I/O around them. The filter calls it from its milter (RCPT and end of
//! message).

#![forbid(unsafe_code)]

pub mod delay;
pub mod exempt;
pub mod pattern;
pub mod snowshoe;
pub mod store;

pub use delay::{Decision, Pass};
pub use exempt::Exemptions;
pub use pattern::{Kind, Sender};
pub use snowshoe::Snowshoe;
pub use store::{History, HistoryError, Outcome, Stats};

/// The time in unix seconds, for callers with a real clock.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
