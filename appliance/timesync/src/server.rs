//! An NTP server as written in `system.json` or on the command line: a name
//! or an address, with an optional port (tests run servers on other ports).

use std::fmt;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use crate::TimesyncError;

/// NTP's port.
pub const NTP_PORT: u16 = 123;

/// Longest host name (RFC 1035).
pub const MAX_HOST_LEN: usize = 253;

/// A server to ask: `HOST`, `HOST:PORT`, `IPV6` or `[IPV6]:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// The name or address (an IPv6 address without brackets).
    pub host: String,
    /// The UDP port, [`NTP_PORT`] unless given.
    pub port: u16,
}

impl FromStr for ServerSpec {
    type Err = TimesyncError;

    fn from_str(spec: &str) -> Result<ServerSpec, TimesyncError> {
        let bad = |reason| TimesyncError::BadServer {
            spec: spec.into(),
            reason,
        };
        let (host, port) = if spec.parse::<Ipv6Addr>().is_ok() {
            (spec, None)
        } else if let Some(rest) = spec.strip_prefix('[') {
            let (v6, after) = rest.split_once(']').ok_or(bad("no closing ]"))?;
            v6.parse::<Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address between [ ]"))?;
            match after {
                "" => (v6, None),
                _ => (
                    v6,
                    Some(after.strip_prefix(':').ok_or(bad("junk after ]"))?),
                ),
            }
        } else {
            match spec.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (spec, None),
            }
        };
        if host.is_empty() || host.len() > MAX_HOST_LEN {
            return Err(bad("the host must have 1 to 253 characters"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("spaces in the host"));
        }
        let port = match port {
            None => NTP_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(bad("the port must be a number from 1 to 65535")),
            },
        };
        Ok(ServerSpec {
            host: host.into(),
            port,
        })
    }
}

impl fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.host.contains(':'), self.port) {
            (_, NTP_PORT) => f.write_str(&self.host),
            (true, port) => write!(f, "[{}]:{port}", self.host),
            (false, port) => write!(f, "{}:{port}", self.host),
        }
    }
}

impl ServerSpec {
    /// The server's first address. Names are looked up again at every poll,
    /// so a changed DNS record is followed; the system resolver's own
    /// timeouts and attempts (resolv.conf) bound the lookup.
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name has no address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> (String, u16) {
        let parsed: ServerSpec = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(parsed.to_string(), s, "round trip");
        (parsed.host, parsed.port)
    }

    #[test]
    fn names_addresses_and_ports() {
        assert_eq!(spec("pool.ntp.org"), ("pool.ntp.org".into(), 123));
        assert_eq!(spec("192.0.2.1"), ("192.0.2.1".into(), 123));
        assert_eq!(spec("127.0.0.1:12123"), ("127.0.0.1".into(), 12123));
        assert_eq!(
            spec("ntp.example.test:1123"),
            ("ntp.example.test".into(), 1123)
        );
        assert_eq!(spec("2001:db8::1"), ("2001:db8::1".into(), 123));
        assert_eq!(spec("[2001:db8::1]:4123"), ("2001:db8::1".into(), 4123));
        let bracketed: ServerSpec = "[::1]".parse().unwrap();
        assert_eq!((bracketed.host.as_str(), bracketed.port), ("::1", 123));
        assert_eq!(
            "host:123".parse::<ServerSpec>().unwrap().to_string(),
            "host"
        );
    }

    #[test]
    fn bad_specs_say_why() {
        for bad in [
            "",
            ":123",
            "host:",
            "host:0",
            "host:65536",
            "host:x",
            "a:b:c",
            "[::1",
            "[nope]:1",
            "[::1]x",
            "two words",
            "tab\there",
        ] {
            let err = bad.parse::<ServerSpec>().unwrap_err();
            assert!(
                matches!(err, TimesyncError::BadServer { .. }),
                "{bad}: {err}"
            );
        }
        let long = format!("{}.test", "a".repeat(MAX_HOST_LEN));
        assert!(long.parse::<ServerSpec>().is_err());
    }

    #[test]
    fn loopback_resolves_without_dns() {
        let s: ServerSpec = "127.0.0.1:4123".parse().unwrap();
        assert_eq!(s.resolve().unwrap(), "127.0.0.1:4123".parse().unwrap());
        let s: ServerSpec = "[::1]:4123".parse().unwrap();
        assert_eq!(s.resolve().unwrap(), "[::1]:4123".parse().unwrap());
    }
}
