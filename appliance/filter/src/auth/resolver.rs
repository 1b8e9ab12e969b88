//! The one DNS resolver of the filter's network checks (SPF, DKIM, DMARC,
//! ARC and block lists): mail-auth's, pointed at `FilterConfig.nameservers`
//! when given, else at the system's (`/etc/resolv.conf`, re-read when it
//! changes: on the box DHCP or the console rewrite it while the filter
//! runs, and a box without a network configuration must still start).

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use mail_auth::hickory_resolver::config::{
    NameServerConfig, ProtocolConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::MessageAuthenticator;

/// The system's resolver configuration.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Port of a nameserver given as a bare IP address.
const DNS_PORT: u16 = 53;

/// Longest wait for one DNS answer: a slow zone must not hold a message
/// long (the whole check is bounded again by [`super::AUTH_TIMEOUT`]).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// Tries per query; UDP loss gets one retry.
const QUERY_ATTEMPTS: usize = 2;

/// After the checks of a message ran out of time, the next messages skip
/// DNS for this long (reported `temperror`) instead of each waiting the
/// whole [`super::AUTH_TIMEOUT`] for servers that do not answer.
pub const DOWN_FOR: Duration = Duration::from_secs(60);

/// Why the resolver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    /// A `nameservers` entry is neither `IP` nor `IP:PORT`.
    #[error("invalid nameserver {0:?} (expected IP or IP:PORT)")]
    Nameserver(String),
    /// `/etc/resolv.conf` could not be read.
    #[error("reading the system's resolver configuration: {0}")]
    System(String),
    /// The last checks timed out: DNS is taken as down for a while.
    #[error("DNS did not answer lately; not asking again before {0:?} have passed")]
    Down(Duration),
}

/// The resolver, built on first use (and again when `resolv.conf` changed).
pub struct Resolver {
    /// Configured servers, checked at start; empty: the system's.
    explicit: Option<ResolverConfig>,
    /// The resolver in use and the `resolv.conf` time it was built from.
    current: Mutex<Option<(Option<SystemTime>, MessageAuthenticator)>>,
    /// Set when checks time out, see [`DOWN_FOR`].
    down_until: Mutex<Option<Instant>>,
}

impl Resolver {
    /// A resolver on `nameservers`, or on the system's when the list is
    /// empty; a malformed entry is refused now, the system's configuration
    /// is read only when needed.
    pub fn new(nameservers: &[String]) -> Result<Resolver, ResolverError> {
        let explicit = if nameservers.is_empty() {
            None
        } else {
            Some(explicit(nameservers)?)
        };
        Ok(Resolver {
            explicit,
            current: Mutex::new(None),
            down_until: Mutex::new(None),
        })
    }

    /// The authenticator to query with, unless DNS is taken as down or
    /// the system has no resolver configuration.
    pub fn get(&self) -> Result<MessageAuthenticator, ResolverError> {
        if let Some(until) = *lock(&self.down_until) {
            let now = Instant::now();
            if now < until {
                return Err(ResolverError::Down(until - now));
            }
        }
        let stamp = if self.explicit.is_some() {
            None
        } else {
            std::fs::metadata(RESOLV_CONF)
                .and_then(|m| m.modified())
                .ok()
        };
        let mut current = lock(&self.current);
        if let Some((built, resolver)) = current.as_ref() {
            if *built == stamp {
                return Ok(resolver.clone());
            }
        }
        let (config, mut opts) = match &self.explicit {
            Some(c) => (c.clone(), ResolverOpts::default()),
            None => read_system_conf().map_err(|e| ResolverError::System(e.to_string()))?,
        };
        opts.timeout = QUERY_TIMEOUT;
        opts.attempts = QUERY_ATTEMPTS;
        // Every name queried is absolute: never try it under a search domain.
        opts.ndots = 0;
        let resolver = MessageAuthenticator::new(config, opts)
            .map_err(|e| ResolverError::System(e.to_string()))?;
        *current = Some((stamp, resolver.clone()));
        Ok(resolver)
    }

    /// The checks of a message ran out of time: see [`DOWN_FOR`].
    pub fn timed_out(&self) {
        *lock(&self.down_until) = Some(Instant::now() + DOWN_FOR);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn explicit(nameservers: &[String]) -> Result<ResolverConfig, ResolverError> {
    let mut servers = Vec::with_capacity(nameservers.len() * 2);
    for server in nameservers {
        let addr = parse_server(server)?;
        servers.push(NameServerConfig::new(addr, ProtocolConfig::Udp));
        servers.push(NameServerConfig::new(addr, ProtocolConfig::Tcp));
    }
    Ok(ResolverConfig::from_parts(None, Vec::new(), servers))
}

/// `IP` or `IP:PORT` (`[v6]:port` for IPv6 with a port).
fn parse_server(server: &str) -> Result<SocketAddr, ResolverError> {
    let server = server.trim();
    server
        .parse::<SocketAddr>()
        .or_else(|_| {
            server
                .parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, DNS_PORT))
        })
        .map_err(|_| ResolverError::Nameserver(server.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_take_an_optional_port() {
        assert_eq!(
            parse_server("192.0.2.1").unwrap().to_string(),
            "192.0.2.1:53"
        );
        assert_eq!(parse_server("127.0.0.1:5353").unwrap().port(), 5353);
        assert_eq!(parse_server("[::1]:5353").unwrap().port(), 5353);
        assert_eq!(parse_server("::1").unwrap().port(), 53);
        assert!(matches!(
            parse_server("dns.example"),
            Err(ResolverError::Nameserver(s)) if s == "dns.example"
        ));
        assert!(Resolver::new(&["nonsense".into()]).is_err());
    }

    #[tokio::test]
    async fn a_timeout_takes_dns_down_for_a_while() {
        let r = Resolver::new(&["127.0.0.1:9".into()]).unwrap();
        assert!(r.get().is_ok());
        r.timed_out();
        assert!(matches!(r.get(), Err(ResolverError::Down(d)) if d <= DOWN_FOR));
    }
}
