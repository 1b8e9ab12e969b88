//! Listening sockets inherited from the supervisor.
//!
//! When the mta runs unprivileged, the supervisor binds its SMTP ports
//! (below 1024 they need root) and passes them as open file descriptors,
//! named in [`LISTEN_FDS_ENV`] as `smtp:3,submission:4`. Without that
//! variable the mta binds its addresses itself.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::MtaError;

/// The environment variable naming the inherited listeners.
pub const LISTEN_FDS_ENV: &str = "FILTERBOX_LISTEN_FDS";

/// Descriptors below this are stdin, stdout and stderr, never listeners.
const FIRST_FD: RawFd = 3;

/// Set once the inherited descriptors have been taken: each may have one owner.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The inherited listeners.
#[derive(Debug)]
pub(crate) struct Inherited {
    pub smtp: TcpListener,
    pub submission: Option<TcpListener>,
    /// Implicit TLS (465), when passed.
    pub smtps: Option<TcpListener>,
}

/// Parses `smtp:3,submission:4` into `(name, fd)` pairs.
pub(crate) fn parse(value: &str) -> Result<Vec<(&str, RawFd)>, String> {
    let mut out: Vec<(&str, RawFd)> = Vec::new();
    for item in value.split(',') {
        let (name, fd) = item
            .split_once(':')
            .ok_or_else(|| format!("{item:?} is not NAME:FD"))?;
        let fd: RawFd = fd
            .parse()
            .ok()
            .filter(|fd| *fd >= FIRST_FD)
            .ok_or_else(|| format!("{fd:?} is not a descriptor number of 3 or more"))?;
        if !matches!(name, "smtp" | "submission" | "smtps") {
            return Err(format!("unknown listener {name:?}"));
        }
        if out.iter().any(|(n, f)| *n == name || *f == fd) {
            return Err(format!("{item:?} is listed twice"));
        }
        out.push((name, fd));
    }
    if !out.iter().any(|(n, _)| *n == "smtp") {
        return Err("no smtp listener".into());
    }
    Ok(out)
}

/// The listeners named in [`LISTEN_FDS_ENV`], if it is set; taken at most
/// once per process.
pub(crate) fn take() -> Result<Option<Inherited>, MtaError> {
    let Ok(value) = std::env::var(LISTEN_FDS_ENV) else {
        return Ok(None);
    };
    let fail = |message: String| MtaError::Listen {
        address: format!("{LISTEN_FDS_ENV}={value}"),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
    };
    let named = parse(&value).map_err(fail)?;
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(fail("the inherited listeners were already taken".into()));
    }
    let mut smtp = None;
    let mut submission = None;
    let mut smtps = None;
    for (name, fd) in named {
        // Only an open socket inherited from the parent is taken over.
        let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
            .map_err(|e| fail(format!("descriptor {fd}: {e}")))?;
        if !target.to_string_lossy().starts_with("socket:") {
            return Err(fail(format!("descriptor {fd} is not a socket")));
        }
        let listener = adopt(fd);
        listener
            .set_nonblocking(true)
            .map_err(|e| fail(format!("descriptor {fd}: {e}")))?;
        match name {
            "smtp" => smtp = Some(listener),
            "smtps" => smtps = Some(listener),
            _ => submission = Some(listener),
        }
    }
    let smtp = smtp.expect("parse requires smtp");
    Ok(Some(Inherited {
        smtp,
        submission,
        smtps,
    }))
}

/// Takes ownership of an inherited listening socket.
#[allow(unsafe_code)]
fn adopt(fd: RawFd) -> TcpListener {
    // SAFETY: `fd` was inherited open from the supervisor across exec (checked
    // to be a socket in /proc/self/fd by the caller); nothing else in this
    // process owns it, since the numbers are only known from the environment
    // and `TAKEN` lets them be taken once. So this is its only owner.
    unsafe { TcpListener::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listener_list_is_parsed_and_checked() {
        assert_eq!(
            parse("smtp:3,submission:4").unwrap(),
            vec![("smtp", 3), ("submission", 4)]
        );
        assert_eq!(parse("smtp:5").unwrap(), vec![("smtp", 5)]);
        assert_eq!(
            parse("smtp:3,smtps:4").unwrap(),
            vec![("smtp", 3), ("smtps", 4)]
        );
        for bad in [
            "",
            "smtp",
            "smtp:1",
            "smtp:x",
            "submission:4",
            "smtp:3,smtp:4",
            "smtp:3,submission:3",
            "imap:3",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
