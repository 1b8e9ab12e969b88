//! Where a role listens, or where another role is reached.
//!
//! Every internal address is a setting so that a role can move to another box
//! (ARCHITECTURE.md, "A role may live on another box"). One type covers both
//! forms so that configuration, flags and logs spell them the same way:
//! `unix:PATH` for a unix socket and `HOST:PORT` for TCP.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A unix socket path or a TCP `host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A unix stream socket; relative paths are relative to the data directory.
    Unix(PathBuf),
    /// A TCP address as `host:port` (a name, an IPv4 address or `[IPv6]`).
    Tcp(String),
}

/// Why a string is not an [`Endpoint`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid endpoint {input:?}: {reason} (expected unix:PATH or HOST:PORT)")]
pub struct EndpointError {
    input: String,
    reason: &'static str,
}

impl Endpoint {
    /// Makes a relative unix socket path absolute against `base` (the data
    /// directory), so that a role started in any working directory finds it.
    pub fn resolve(&self, base: &Path) -> Endpoint {
        match self {
            Endpoint::Unix(p) if p.is_relative() => Endpoint::Unix(base.join(p)),
            other => other.clone(),
        }
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| EndpointError {
            input: s.to_string(),
            reason,
        };
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(err("empty socket path"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        let (host, port) = s.rsplit_once(':').ok_or_else(|| err("missing :PORT"))?;
        if host.is_empty() {
            return Err(err("missing host"));
        }
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return Err(err("IPv6 addresses must be written in brackets"));
        }
        port.parse::<u16>()
            .map_err(|_| err("port is not a number from 0 to 65535"))?;
        Ok(Endpoint::Tcp(s.to_string()))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => f.write_str(a),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        assert_eq!(
            "unix:filter.sock".parse::<Endpoint>().unwrap(),
            Endpoint::Unix("filter.sock".into())
        );
        assert_eq!(
            "127.0.0.1:2525".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp("127.0.0.1:2525".into())
        );
        assert!("[::1]:25".parse::<Endpoint>().is_ok());
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in ["unix:", "localhost", ":25", "host:99999", "::1:25"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn resolves_relative_unix_paths_only() {
        let base = Path::new("/data");
        assert_eq!(
            Endpoint::Unix("a.sock".into()).resolve(base),
            Endpoint::Unix("/data/a.sock".into())
        );
        assert_eq!(
            Endpoint::Unix("/run/a.sock".into()).resolve(base),
            Endpoint::Unix("/run/a.sock".into())
        );
        assert_eq!(
            Endpoint::Tcp("h:1".into()).resolve(base),
            Endpoint::Tcp("h:1".into())
        );
    }

    #[test]
    fn round_trips_through_json() {
        let e: Endpoint = serde_json::from_str("\"unix:/x.sock\"").unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"unix:/x.sock\"");
    }
}
