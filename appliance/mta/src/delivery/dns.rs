//! DNS for delivery (hickory-resolver): the MX hosts of a domain (RFC 5321
//! section 5.1) and the addresses of a host.
//!
//! A domain's MX records are tried by preference; without MX records the
//! domain itself is the host (the implicit MX); a null MX (RFC 7505) or a
//! domain that does not exist fails for good. Anything else that goes wrong
//! (timeouts, SERVFAIL) is temporary: the message waits in the queue.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, Protocol, ResolverConfig, ResolverOpts,
};
use hickory_resolver::error::{ResolveError, ResolveErrorKind};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::TokioAsyncResolver;
use model::config::DnsConfig;

/// The system's resolver configuration, re-read when it changes (on the
/// box DHCP or the console rewrite it while the mta runs).
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The DNS port used when a nameserver is given as a bare IP address.
const DNS_PORT: u16 = 53;
/// Limit of one query to one nameserver.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Queries per nameserver before giving up on it.
const QUERY_ATTEMPTS: usize = 2;

/// Why a name could not be turned into something to connect to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The destination can never receive mail: bounce (with this status).
    #[error("{reason}")]
    Permanent {
        /// RFC 3463 status, e.g. `5.1.2`.
        status: &'static str,
        /// For the bounce and tracking.
        reason: String,
    },
    /// DNS did not answer usefully this time: retry later.
    #[error("{0}")]
    Transient(String),
}

/// The resolver of the delivery workers.
pub struct Dns {
    nameservers: Vec<String>,
    /// Limit of one query ([`QUERY_TIMEOUT`]).
    timeout: Duration,
    /// The resolver in use and the `resolv.conf` time it was built from.
    current: Mutex<Option<(Option<SystemTime>, TokioAsyncResolver)>>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dns")
    }
}

impl Dns {
    /// The nameservers of `config`, or the system's (`/etc/resolv.conf`)
    /// when none are given. Nothing is read yet: a box without a network
    /// configuration still starts, and its mail waits.
    pub fn new(config: &DnsConfig) -> Dns {
        Dns {
            nameservers: config.nameservers.clone(),
            timeout: QUERY_TIMEOUT,
            current: Mutex::new(None),
        }
    }

    /// The resolver, built on first use and again when `resolv.conf` changed.
    fn resolver(&self) -> Result<TokioAsyncResolver, DnsError> {
        let stamp = if self.nameservers.is_empty() {
            std::fs::metadata(RESOLV_CONF)
                .and_then(|m| m.modified())
                .ok()
        } else {
            None
        };
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((built, resolver)) = current.as_ref() {
            if *built == stamp {
                return Ok(resolver.clone());
            }
        }
        let (config, mut opts) = if self.nameservers.is_empty() {
            hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                DnsError::Transient(format!("reading the system's resolver configuration: {e}"))
            })?
        } else {
            let config = explicit(&self.nameservers).map_err(DnsError::Transient)?;
            (config, ResolverOpts::default())
        };
        opts.timeout = self.timeout;
        opts.attempts = QUERY_ATTEMPTS;
        // Mail domains are absolute: never try them under a search domain.
        opts.ndots = 0;
        // Both families: an MX host reachable only over one must still work.
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        let resolver = TokioAsyncResolver::tokio(config, opts);
        *current = Some((stamp, resolver.clone()));
        Ok(resolver)
    }

    /// The hosts of `domain` with their preference, best first (see
    /// [`super::route::order`] for the order of ties).
    pub async fn mail_hosts(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsError> {
        let name = absolute(domain);
        match self.resolver()?.mx_lookup(name.as_str()).await {
            Ok(lookup) => {
                let mut hosts: Vec<(u16, String)> = lookup
                    .iter()
                    .map(|mx| (mx.preference(), relative(&mx.exchange().to_ascii())))
                    .collect();
                if hosts.iter().any(|(_, host)| host.is_empty()) {
                    return Err(DnsError::Permanent {
                        status: "5.1.10",
                        reason: format!("{domain} does not accept mail (null MX)"),
                    });
                }
                hosts.sort();
                Ok(hosts)
            }
            Err(e) if no_records(&e).is_some() => {
                if no_records(&e) == Some(ResponseCode::NXDomain) {
                    return Err(not_found(domain));
                }
                // No MX: the domain itself, if it has an address (RFC 5321 5.1).
                self.addresses(domain).await.map_err(|e| match e {
                    DnsError::Transient(t) => DnsError::Transient(t),
                    DnsError::Permanent { .. } => not_found(domain),
                })?;
                Ok(vec![(0, domain.to_string())])
            }
            Err(e) => Err(DnsError::Transient(format!("MX lookup for {domain}: {e}"))),
        }
    }

    /// The addresses of `host` (an IP literal is its own address).
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        match self.resolver()?.lookup_ip(absolute(bare).as_str()).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) if no_records(&e).is_some() => Err(DnsError::Permanent {
                status: "5.1.2",
                reason: format!("{bare} has no address record"),
            }),
            Err(e) => Err(DnsError::Transient(format!(
                "address lookup for {bare}: {e}"
            ))),
        }
    }
}

/// Resolvers from `IP` or `IP:PORT` strings, over UDP with TCP fallback.
fn explicit(nameservers: &[String]) -> Result<ResolverConfig, String> {
    let mut config = ResolverConfig::new();
    for server in nameservers {
        let addr = match server.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => server
                .parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, DNS_PORT))
                .map_err(|_| format!("invalid nameserver {server:?} (IP or IP:PORT)"))?,
        };
        config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
        config.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
    }
    Ok(config)
}

/// The response code of a "no records" answer: NXDOMAIN or NOERROR (NODATA).
fn no_records(e: &ResolveError) -> Option<ResponseCode> {
    match e.kind() {
        ResolveErrorKind::NoRecordsFound { response_code, .. } => Some(*response_code),
        _ => None,
    }
}

fn not_found(domain: &str) -> DnsError {
    DnsError::Permanent {
        status: "5.1.2",
        reason: format!("{domain}: host or domain name not found"),
    }
}

fn absolute(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// A name as people write it: without the root's trailing dot (`.` alone,
/// the null MX, becomes empty).
fn relative(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_harness::dns::{DnsServer, Rr};

    fn dns(server: &DnsServer) -> Dns {
        Dns::new(&DnsConfig {
            nameservers: vec![server.addr().to_string()],
        })
    }

    fn records() -> Vec<Rr> {
        let ip = |s: &str| s.parse().unwrap();
        vec![
            Rr::Mx("mx.test".into(), 20, "b.mx.test".into()),
            Rr::Mx("mx.test".into(), 10, "a.mx.test".into()),
            Rr::Address("a.mx.test".into(), ip("127.0.0.10")),
            Rr::Address("a.mx.test".into(), ip("::1")),
            Rr::Address("implicit.test".into(), ip("127.0.0.11")),
            Rr::Mx("null.test".into(), 0, ".".into()),
            Rr::Txt("nomail.test".into(), "v=spf1 -all".into()),
        ]
    }

    #[tokio::test]
    async fn mx_hosts_come_by_preference() {
        let server = DnsServer::start(&records()).unwrap();
        let hosts = dns(&server).mail_hosts("mx.test").await.unwrap();
        assert_eq!(hosts, [(10, "a.mx.test".into()), (20, "b.mx.test".into())]);
        let mut ips = dns(&server).addresses("a.mx.test").await.unwrap();
        ips.sort();
        assert_eq!(
            ips,
            [
                "127.0.0.10".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
    }

    #[tokio::test]
    async fn a_domain_without_mx_is_its_own_host() {
        let server = DnsServer::start(&records()).unwrap();
        let hosts = dns(&server).mail_hosts("implicit.test").await.unwrap();
        assert_eq!(hosts, [(0, "implicit.test".into())]);
    }

    #[tokio::test]
    async fn missing_domains_and_null_mx_fail_for_good() {
        let server = DnsServer::start(&records()).unwrap();
        let d = dns(&server);
        for (domain, status) in [
            ("nxdomain.test", "5.1.2"),
            ("nomail.test", "5.1.2"),
            ("null.test", "5.1.10"),
        ] {
            match d.mail_hosts(domain).await {
                Err(DnsError::Permanent { status: s, .. }) => assert_eq!(s, status, "{domain}"),
                other => panic!("{domain}: {other:?}"),
            }
        }
        assert!(matches!(
            d.addresses("b.mx.test").await,
            Err(DnsError::Permanent { .. })
        ));
        assert_eq!(
            d.addresses("[127.0.0.5]").await.unwrap(),
            ["127.0.0.5".parse::<IpAddr>().unwrap()]
        );
    }

    #[tokio::test]
    async fn an_unreachable_nameserver_is_temporary() {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut d = Dns::new(&DnsConfig {
            nameservers: vec![closed.to_string()],
        });
        d.timeout = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(60), d.mail_hosts("mx.test")).await;
        assert!(
            matches!(result, Ok(Err(DnsError::Transient(_)))),
            "{result:?} after {:?}",
            started.elapsed()
        );
        assert!(matches!(
            Dns::new(&DnsConfig {
                nameservers: vec!["not-an-ip".into()]
            })
            .mail_hosts("x.test")
            .await,
            Err(DnsError::Transient(_))
        ));
    }
}
