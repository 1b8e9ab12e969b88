//! The one error type of the time client.

use crate::MAX_SERVERS;

/// Why `filterbox timesync` stopped (or would not start).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimesyncError {
    /// A `--server` that is not `HOST`, `HOST:PORT` or `[IPV6]:PORT`.
    #[error("bad NTP server {spec:?}: {reason}")]
    BadServer {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More servers than [`MAX_SERVERS`] (each poll asks them all at once).
    #[error("at most {MAX_SERVERS} NTP servers, not {0}")]
    TooManyServers(usize),
    /// `--once`: no server gave a usable answer; one reason per server.
    #[error("no NTP server answered: {0}")]
    NoAnswer(String),
    /// Every server sent DENY or RSTR: asking again is not allowed.
    #[error("every NTP server refused us (kiss-o'-death DENY or RSTR): change the server list")]
    AllRefused,
    /// `clock_gettime(CLOCK_REALTIME)` failed.
    #[error("cannot read the clock: {0}")]
    ReadClock(nix::Error),
    /// `clock_settime` refused for lack of privilege.
    #[error("cannot set the clock: that needs root (CAP_SYS_TIME); --dry-run only measures")]
    NotPermitted,
    /// `clock_settime` failed otherwise.
    #[error("cannot set the clock: {0}")]
    SetClock(nix::Error),
}
