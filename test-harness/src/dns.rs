//! An authoritative DNS server for tests (hickory-server), on a loopback
//! UDP and TCP port: the MX, A, AAAA and TXT records a test needs, in one
//! zone rooted at `.`, so any name the test invents can be served.
//!
//! It runs on its own thread and runtime, so a test's runtime flavour and
//! blocking calls do not matter; dropping the value stops it. Names not
//! given answer NXDOMAIN, names given without the asked type answer NODATA
//! (with the zone's SOA, as resolvers expect).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::authority::{Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{A, AAAA, MX, SOA, TXT};
use hickory_server::proto::rr::{Name, RData, Record};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;
use tokio::sync::oneshot;

/// Time to live of every record: short, tests change nothing anyway.
const TTL: u32 = 60;
/// Longest character-string in a TXT record (RFC 1035 3.3).
const TXT_CHUNK: usize = 255;
/// Idle limit of a DNS-over-TCP connection.
const TCP_TIMEOUT: Duration = Duration::from_secs(5);

/// One resource record to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rr {
    /// `name A/AAAA address` (the type follows the address family).
    Address(String, IpAddr),
    /// `name MX preference exchange`; an exchange of `.` is a null MX.
    Mx(String, u16, String),
    /// `name TXT value`, split into 255-octet strings as needed (DKIM keys).
    Txt(String, String),
}

/// The running server.
pub struct DnsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A UDP socket and a TCP listener on one free loopback port. The kernel
/// picks the UDP port; its TCP twin may be taken by another test's
/// connection, so a few ports are tried.
fn bind_pair() -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener, SocketAddr)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let addr = udp.local_addr()?;
        match std::net::TcpListener::bind(addr) {
            Ok(tcp) => return Ok((udp, tcp, addr)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("tried at least once"))
}

impl DnsServer {
    /// Serves `records` on `127.0.0.1:<free port>` (UDP and TCP, same port).
    pub fn start(records: &[Rr]) -> anyhow::Result<DnsServer> {
        let catalog = catalog(records)?;
        let (udp, tcp, addr) = bind_pair()?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
            };
            runtime.block_on(async move {
                let mut server = ServerFuture::new(catalog);
                let registered = (|| {
                    server.register_socket(tokio::net::UdpSocket::from_std(udp)?);
                    server.register_listener(tokio::net::TcpListener::from_std(tcp)?, TCP_TIMEOUT);
                    Ok::<_, std::io::Error>(())
                })();
                let _ = ready_tx.send(registered.map_err(|e| e.to_string()));
                let _ = stopped.await;
                let _ = server.shutdown_gracefully().await;
            });
        });
        ready
            .recv()
            .map_err(|_| anyhow::anyhow!("DNS server thread died"))?
            .map_err(|e| anyhow::anyhow!("DNS server: {e}"))?;
        Ok(DnsServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where it listens: what `MtaConfig.dns.nameservers` gets.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One root zone holding `records` and its SOA.
fn catalog(records: &[Rr]) -> anyhow::Result<Catalog> {
    let root = Name::root();
    let mut zone = InMemoryAuthority::empty(root.clone(), ZoneType::Primary, false);
    let soa = SOA::new(
        Name::from_str("ns.test.")?,
        Name::from_str("hostmaster.test.")?,
        1,
        3600,
        600,
        86400,
        TTL,
    );
    zone.upsert_mut(Record::from_rdata(root.clone(), TTL, RData::SOA(soa)), 0);
    for rr in records {
        let (name, data) = match rr {
            Rr::Address(name, IpAddr::V4(ip)) => (name, RData::A(A(*ip))),
            Rr::Address(name, IpAddr::V6(ip)) => (name, RData::AAAA(AAAA(*ip))),
            Rr::Mx(name, preference, exchange) => {
                (name, RData::MX(MX::new(*preference, fqdn(exchange)?)))
            }
            Rr::Txt(name, value) => (name, RData::TXT(TXT::new(chunks(value)))),
        };
        zone.upsert_mut(Record::from_rdata(fqdn(name)?, TTL, data), 0);
    }
    let mut catalog = Catalog::new();
    catalog.upsert(root.into(), Box::new(Arc::new(zone)));
    Ok(catalog)
}

/// `name` as an absolute name (a trailing dot is added when missing).
fn fqdn(name: &str) -> anyhow::Result<Name> {
    let mut name = Name::from_str(name)?;
    name.set_fqdn(true);
    Ok(name)
}

fn chunks(value: &str) -> Vec<String> {
    let bytes = value.as_bytes();
    bytes
        .chunks(TXT_CHUNK)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}
