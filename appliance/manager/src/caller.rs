//! Who is on the other end of an API connection.
//!
//! Decided once, at accept time, and carried with the connection: the
//! listener it came in on and, for the unix socket, the peer's uid as the
//! kernel reports it (`SO_PEERCRED`, not something the client claims). The
//! unix socket is shared by every role (mode 0660, one group), so "unix"
//! alone does not mean "someone at the box": routes that need that ask for
//! the uid too.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

/// The origin of a request, as the listener saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Over TCP, from this address: must present the API token.
    Tcp(SocketAddr),
    /// Over the unix socket, from a process running as `uid`.
    Unix {
        /// The peer's user id, from the kernel.
        uid: u32,
    },
}

impl Caller {
    /// The caller on the far end of an accepted unix connection.
    pub fn of_unix_peer(stream: &UnixStream) -> io::Result<Caller> {
        let credentials = getsockopt(stream, PeerCredentials).map_err(io::Error::from)?;
        Ok(Caller::Unix {
            uid: credentials.uid(),
        })
    }

    /// True for the unix socket, whose file permissions admit only the
    /// box's own processes (so no token is needed there).
    pub fn is_local(&self) -> bool {
        matches!(self, Caller::Unix { .. })
    }
}

/// `unix uid N` or `TCP ADDRESS`: for logs.
impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Tcp(peer) => write!(f, "TCP {peer}"),
            Caller::Unix { uid } => write!(f, "unix uid {uid}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_names_the_unix_peer() {
        let (a, _b) = UnixStream::pair().unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let caller = Caller::of_unix_peer(&a).unwrap();
        assert_eq!(caller, Caller::Unix { uid: me });
        assert!(caller.is_local());
        assert_eq!(caller.to_string(), format!("unix uid {me}"));
        let tcp = Caller::Tcp("192.0.2.1:4321".parse().unwrap());
        assert!(!tcp.is_local());
        assert_eq!(tcp.to_string(), "TCP 192.0.2.1:4321");
    }
}
