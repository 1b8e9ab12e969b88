//! The one line logged when an SMTP session ends.
//!
//! The supervisor's health probe connects every few seconds, reads the
//! banner and quits; logging every connection at info would bury the mail.
//! So connect and disconnect are debug lines, and a session that did
//! something (a MAIL command, a message, an error reply, or an end by
//! timeout or I/O failure) gets one info line at its end: peer, HELO name,
//! what it sent and how it ended. The rest stays at debug.

use std::fmt;

use super::connection::Peer;
use super::queueing::clean_helo;
use crate::session::Activity;

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The session closed itself: QUIT answered, or a final reply.
    Quit,
    /// The client closed the connection without QUIT.
    ClientClosed,
    /// The client was silent too long (or the session deadline passed).
    TimedOut,
    /// The mta is shutting down.
    Shutdown,
    /// Reading from the client failed.
    ReadFailed,
    /// Writing to the client failed.
    WriteFailed,
    /// The client sent STARTTLS: the session goes on after the handshake.
    StartTls,
}

impl End {
    /// True when the session ended by a failure worth a look.
    fn is_error(self) -> bool {
        matches!(self, End::TimedOut | End::ReadFailed | End::WriteFailed)
    }
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            End::Quit => "quit",
            End::ClientClosed => "client-closed",
            End::TimedOut => "timeout",
            End::Shutdown => "shutdown",
            End::ReadFailed => "read-failed",
            End::WriteFailed => "write-failed",
            End::StartTls => "starttls",
        })
    }
}

/// The end-of-session line and its level: info when the session did
/// something, debug otherwise.
pub(crate) fn summary(
    sid: &str,
    peer: &Peer,
    helo: Option<&str>,
    activity: &Activity,
    end: End,
) -> (log::Level, String) {
    let busy = activity.mail_commands > 0
        || activity.accepted > 0
        || activity.refused > 0
        || activity.error_replies > 0
        || end.is_error();
    let level = if busy {
        log::Level::Info
    } else {
        log::Level::Debug
    };
    let helo = helo.map_or_else(|| "none".to_string(), clean_helo);
    let line = format!(
        "{sid}: session client={peer} helo={helo} mail={} accepted={} refused={} errors={} end={end}",
        activity.mail_commands, activity.accepted, activity.refused, activity.error_replies
    );
    (level, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        Peer::Tcp("192.0.2.7:40000".parse().unwrap())
    }

    #[test]
    fn a_banner_and_quit_stays_at_debug() {
        let (level, line) = summary("smtp#1", &peer(), None, &Activity::default(), End::Quit);
        assert_eq!(level, log::Level::Debug);
        assert_eq!(
            line,
            "smtp#1: session client=192.0.2.7:40000 helo=none mail=0 accepted=0 refused=0 errors=0 end=quit"
        );
        let (level, _) = summary(
            "smtp#1",
            &peer(),
            Some("probe"),
            &Activity::default(),
            End::ClientClosed,
        );
        assert_eq!(level, log::Level::Debug);
    }

    #[test]
    fn mail_messages_errors_and_failures_are_info() {
        let mail = Activity {
            mail_commands: 2,
            accepted: 1,
            refused: 1,
            error_replies: 1,
        };
        let (level, line) = summary("smtp#2", &peer(), Some("mx.example.test"), &mail, End::Quit);
        assert_eq!(level, log::Level::Info);
        assert_eq!(
            line,
            "smtp#2: session client=192.0.2.7:40000 helo=mx.example.test mail=2 accepted=1 refused=1 errors=1 end=quit"
        );
        let errors = Activity {
            error_replies: 1,
            ..Activity::default()
        };
        let only_mail = Activity {
            mail_commands: 1,
            ..Activity::default()
        };
        for (activity, end) in [
            (&errors, End::ClientClosed),
            (&only_mail, End::ClientClosed),
            (&Activity::default(), End::TimedOut),
            (&Activity::default(), End::ReadFailed),
            (&Activity::default(), End::WriteFailed),
        ] {
            let (level, line) = summary("smtp#3", &Peer::Local, Some("c"), activity, end);
            assert_eq!(level, log::Level::Info, "{line}");
        }
        // A HELO name cannot forge fields of the line.
        let (_, line) = summary("smtp#4", &peer(), Some("x end=quit"), &mail, End::TimedOut);
        assert!(
            line.contains("helo=x_end_quit ") && line.ends_with("end=timeout"),
            "{line}"
        );
    }
}
