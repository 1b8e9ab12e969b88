//! The box's time client: `filterbox timesync --server S [--server S...]`.
//!
//! Debian's busybox-static has no `ntpd` applet, so the box brings its own
//! SNTP client (RFC 4330; RFC 5905 client mode, version 4). netconf runs it
//! as a supervised service when `system.json` lists NTP servers.
//!
//! Each poll asks every server a few times ([`query`], UDP, 2 s timeout),
//! keeps each server's lowest-delay sample, and takes the median offset of
//! the servers ([`Poller`]). Beyond 128 ms the clock is stepped
//! (`clock_settime`, which needs root); smaller offsets are left alone: there
//! is no slewing (see [`poll`] for why). Polls are 64 s apart at first,
//! doubling up to 1024 s while the clock stays right, and back to 64 s after
//! a step or a poll no server answered. Each poll logs one line; each server
//! that did not answer logs a warning.
//!
//! The protocol itself ([`packet`], [`timestamp`], [`poll`]) has no I/O and
//! is unit-tested on its own; [`query`] (UDP) and `clock` (the step) do the
//! I/O.

#![forbid(unsafe_code)]

mod clock;
mod error;
pub mod packet;
pub mod poll;
pub mod query;
mod server;
pub mod timestamp;

pub use error::TimesyncError;
pub use packet::{Kiss, Rejection, Request, Sample};
pub use poll::{Outcome, Poller, Verdict};
pub use server::{ServerSpec, NTP_PORT};

/// The most servers one client asks (all at once, each poll).
pub const MAX_SERVERS: usize = 8;

/// `filterbox timesync`'s arguments.
#[derive(Clone, Debug, clap::Args)]
pub struct TimesyncArgs {
    /// An NTP server: a name or an address, with `:PORT` unless it is 123
    /// (an IPv6 address with a port goes in brackets); repeat for more.
    #[arg(long = "server", value_name = "HOST[:PORT]", required = true)]
    pub servers: Vec<ServerSpec>,
    /// Poll once and exit: 0 if a server answered (and the clock is right
    /// now), 1 if none did.
    #[arg(long)]
    pub once: bool,
    /// Never set the clock: only measure, and print each poll's offset on
    /// standard output.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the client until killed (SIGTERM: nothing to save), or for one poll
/// with `--once`. Errors: bad arguments, no answer with `--once`, every
/// server refusing us, or the clock not settable.
pub fn run(args: &TimesyncArgs) -> Result<(), TimesyncError> {
    if args.servers.len() > MAX_SERVERS {
        return Err(TimesyncError::TooManyServers(args.servers.len()));
    }
    let mut poller = Poller::new(args.servers.len());
    loop {
        let due: Vec<_> = poller
            .due()
            .into_iter()
            .map(|i| (i, &args.servers[i]))
            .collect();
        let outcomes = query::ask_all(&due);
        for (i, outcome) in &outcomes {
            warn_unless_answered(&args.servers[*i], outcome);
        }
        let verdict = poller.conclude(&outcomes);
        let action = act(&verdict, args.dry_run)?;
        let line = summary(&verdict, &action, args.once);
        match verdict.offset {
            Some(_) => log::info!("{line}"),
            None => log::warn!("{line}"),
        }
        if args.dry_run {
            println!("{line}");
        }
        if args.once {
            return match verdict.offset {
                Some(_) => Ok(()),
                None => Err(TimesyncError::NoAnswer(reasons(&args.servers, &outcomes))),
            };
        }
        if poller.all_refused() {
            return Err(TimesyncError::AllRefused);
        }
        std::thread::sleep(verdict.next_poll);
    }
}

/// Steps the clock if the verdict says so (not in a dry run); says what
/// was done.
fn act(verdict: &Verdict, dry_run: bool) -> Result<String, TimesyncError> {
    Ok(match verdict.offset {
        None => "clock left alone".into(),
        Some(_) if !verdict.step => "within 128 ms: clock left alone".into(),
        Some(offset) if dry_run => format!("dry run: would step the clock by {}", seconds(offset)),
        Some(offset) => {
            clock::step(offset)?;
            format!("stepped the clock by {}", seconds(offset))
        }
    })
}

/// The poll's line: `offset +0.000123 s (median of 2/3 servers), within
/// 128 ms: clock left alone; next poll in 128 s` (no next poll with `once`).
fn summary(verdict: &Verdict, action: &str, once: bool) -> String {
    let measured = match verdict.offset {
        Some(offset) => format!(
            "offset {} (median of {}/{} servers)",
            seconds(offset),
            verdict.answered,
            verdict.asked
        ),
        None if verdict.asked == 0 => "every server is resting after a RATE kiss".into(),
        None => format!("no server answered ({} asked)", verdict.asked),
    };
    match once {
        true => format!("{measured}, {action}"),
        false => format!(
            "{measured}, {action}; next poll in {} s",
            verdict.next_poll.as_secs()
        ),
    }
}

fn warn_unless_answered(server: &ServerSpec, outcome: &Outcome) {
    match outcome {
        Outcome::Answered(_) => {}
        Outcome::Kissed(kiss) if kiss.refuses() => {
            log::warn!("{server}: kiss-o'-death {kiss}: never asking it again")
        }
        Outcome::Kissed(Kiss::Rate) => {
            log::warn!("{server}: kiss-o'-death RATE: asking it less often")
        }
        Outcome::Kissed(kiss) => log::warn!("{server}: kiss-o'-death {kiss}: no time this poll"),
        Outcome::Failed(reason) => log::warn!("{server}: unreachable: {reason}"),
    }
}

/// `server: why` for each server that gave no time, for the error message.
fn reasons(servers: &[ServerSpec], outcomes: &[(usize, Outcome)]) -> String {
    let why: Vec<String> = outcomes
        .iter()
        .filter_map(|(i, outcome)| match outcome {
            Outcome::Answered(_) => None,
            Outcome::Kissed(kiss) => Some(format!("{}: kiss-o'-death {kiss}", servers[*i])),
            Outcome::Failed(reason) => Some(format!("{}: {reason}", servers[*i])),
        })
        .collect();
    why.join("; ")
}

/// `+0.000123 s`: nanoseconds as signed seconds, to the microsecond.
pub fn seconds(nanos: i64) -> String {
    format!("{:+.6} s", nanos as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_poll_line_says_what_was_measured_and_done() {
        let verdict = Verdict {
            offset: Some(-1_500_000_000),
            answered: 2,
            asked: 3,
            step: true,
            next_poll: Duration::from_secs(64),
        };
        let action = act(&verdict, true).unwrap();
        assert_eq!(
            summary(&verdict, &action, false),
            "offset -1.500000 s (median of 2/3 servers), dry run: would step the clock by -1.500000 s; next poll in 64 s"
        );
        let quiet = Verdict {
            offset: None,
            answered: 0,
            step: false,
            ..verdict
        };
        assert_eq!(
            summary(&quiet, &act(&quiet, false).unwrap(), true),
            "no server answered (3 asked), clock left alone"
        );
        assert_eq!(seconds(123_456), "+0.000123 s");
    }

    #[test]
    fn the_reasons_name_each_silent_server() {
        let servers: Vec<ServerSpec> = ["a.test", "b.test:1123"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let outcomes = [
            (0, Outcome::Failed("connection refused".into())),
            (1, Outcome::Kissed(Kiss::Deny)),
        ];
        assert_eq!(
            reasons(&servers, &outcomes),
            "a.test: connection refused; b.test:1123: kiss-o'-death DENY"
        );
    }

    #[test]
    fn more_servers_than_the_cap_are_refused_before_any_query() {
        let args = TimesyncArgs {
            servers: vec!["127.0.0.1:9".parse().unwrap(); MAX_SERVERS + 1],
            once: true,
            dry_run: true,
        };
        assert!(matches!(run(&args), Err(TimesyncError::TooManyServers(9))));
    }
}
