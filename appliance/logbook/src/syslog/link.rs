//! The connection to the syslog server: one datagram per message over UDP
//! (RFC 5426), octet-counted frames over TCP (RFC 6587), reconnecting with
//! backoff. The address is resolved again at every (re)connect, so a server
//! that moved in DNS is found again.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use model::config::{SyslogConfig, SyslogProtocol};

use super::backoff::Backoff;
use super::message::{datagram, octet_counted};
use crate::report::{to_stderr, Throttle};

/// Longest wait for a TCP connection to be accepted.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for a TCP write: a server that stops reading is treated as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends over UDP before a datagram is given up (the first send after an
/// ICMP "port unreachable" only reports that error).
const UDP_ATTEMPTS: u32 = 2;

/// The forwarder was told to stop (syslog turned off or reconfigured).
#[derive(Debug)]
pub struct Stopped;

/// A socket to the server.
enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

/// Delivers messages to one server, for as long as `stop` is held open.
pub struct Link {
    config: SyslogConfig,
    conn: Option<Conn>,
    backoff: Backoff,
    trouble: Throttle,
    stop: Receiver<()>,
}

impl Link {
    /// Nothing is connected before the first message.
    pub fn new(config: SyslogConfig, stop: Receiver<()>) -> Link {
        Link {
            config,
            conn: None,
            backoff: Backoff::default(),
            trouble: Throttle::default(),
            stop,
        }
    }

    /// Sends one message. Over TCP it is retried (reconnecting with backoff)
    /// until it is written or the link is stopped; over UDP it is given up
    /// after [`UDP_ATTEMPTS`], as UDP would lose it silently anyway.
    pub fn deliver(&mut self, message: &str) -> Result<(), Stopped> {
        let mut udp_attempts = 0;
        loop {
            let conn = match self.conn.take().filter(still_open) {
                Some(conn) => conn,
                None => match self.connect() {
                    Ok(conn) => conn,
                    Err(e) => {
                        self.report(&format!("cannot connect: {e}"));
                        let wait = self.backoff.failed();
                        self.wait(wait)?;
                        continue;
                    }
                },
            };
            match send(&conn, message) {
                Ok(()) => {
                    self.backoff.reset();
                    self.conn = Some(conn);
                    return Ok(());
                }
                Err(e) => self.report(&format!("cannot send: {e}")),
            }
            if matches!(conn, Conn::Udp(_)) {
                udp_attempts += 1;
                if udp_attempts >= UDP_ATTEMPTS {
                    return Ok(());
                }
            } else {
                // A server that accepts and drops us must not make us spin.
                let wait = self.backoff.failed();
                self.wait(wait)?;
            }
        }
    }

    fn connect(&self) -> io::Result<Conn> {
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in self.config.address.to_socket_addrs()? {
            match connect_to(addr, self.config.protocol) {
                Ok(conn) => return Ok(conn),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// Waits `wait`, unless told to stop meanwhile.
    fn wait(&self, wait: Duration) -> Result<(), Stopped> {
        match self.stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => Err(Stopped),
        }
    }

    fn report(&mut self, problem: &str) {
        if let Some(count) = self.trouble.fail(Instant::now()) {
            let address = &self.config.address;
            to_stderr(&format!(
                "remote syslog {address}: {problem} ({count} failure(s) since the last report)"
            ));
        }
    }
}

fn connect_to(addr: SocketAddr, protocol: SyslogProtocol) -> io::Result<Conn> {
    match protocol {
        SyslogProtocol::Udp => {
            let local = if addr.is_ipv4() {
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
            } else {
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
            };
            let socket = UdpSocket::bind(local)?;
            socket.connect(addr)?;
            Ok(Conn::Udp(socket))
        }
        SyslogProtocol::Tcp => {
            let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
            stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
            stream.set_nodelay(true)?;
            Ok(Conn::Tcp(stream))
        }
    }
}

fn send(conn: &Conn, message: &str) -> io::Result<()> {
    match conn {
        Conn::Udp(socket) => socket.send(datagram(message).as_bytes()).map(drop),
        Conn::Tcp(stream) => {
            let mut stream: &TcpStream = stream;
            stream.write_all(&octet_counted(message))
        }
    }
}

/// False when the server has closed a TCP connection. A syslog server never
/// sends, so a readable end of file (or an error) means it is gone; checking
/// before each write keeps the first message after a server restart from
/// being written into the dead connection and lost.
fn still_open(conn: &Conn) -> bool {
    let Conn::Tcp(stream) = conn else {
        return true;
    };
    let mut probe = [0u8; 64];
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let open = match (&*stream).read(&mut probe) {
        Ok(0) => false,
        // Whatever a server sends is of no use to us: discard it.
        Ok(_) => true,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    };
    open && stream.set_nonblocking(false).is_ok()
}
