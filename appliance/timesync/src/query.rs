//! Asking servers over UDP: a few samples from each, the best one kept.
//!
//! Samples to one server are [`SAMPLE_SPACING`] apart, as ntpd's and
//! chrony's initial bursts are: servers rate-limit closer packets (and may
//! answer them with a RATE kiss). Servers are asked in parallel, one thread
//! each, so a poll lasts about as long as the slowest server.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::packet::{Rejection, Request, Sample};
use crate::poll::Outcome;
use crate::server::ServerSpec;
use crate::timestamp::{unix_nanos, NtpTimestamp};

/// How long to wait for each reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Requests sent to each server per poll.
pub const SAMPLES: usize = 4;

/// The least time between two requests to the same server.
pub const SAMPLE_SPACING: Duration = Duration::from_secs(2);

/// The receive buffer: an NTP header with a MAC or a few extension fields.
/// Longer datagrams are truncated to it; only the header is read.
pub const MAX_REPLY: usize = 1024;

/// Why one sample failed.
enum Miss {
    /// No reply within [`REPLY_TIMEOUT`]: worth another try.
    Timeout,
    /// A kiss-o'-death: stop asking this server now.
    Kiss(crate::packet::Kiss),
    /// Refused, unsynchronised, a broken reply, a socket error: stop too.
    Fatal(String),
}

/// Asks each of `servers` in parallel; outcomes in the order given.
pub fn ask_all(servers: &[(usize, &ServerSpec)]) -> Vec<(usize, Outcome)> {
    thread::scope(|scope| {
        let running: Vec<_> = servers
            .iter()
            .map(|&(i, server)| {
                let thread = thread::Builder::new()
                    .name(format!("ntp-{i}"))
                    .spawn_scoped(scope, move || ask(server));
                (i, thread)
            })
            .collect();
        running
            .into_iter()
            .map(|(i, thread)| {
                let outcome = match thread {
                    Ok(t) => t
                        .join()
                        .unwrap_or_else(|_| Outcome::Failed("the query panicked".into())),
                    Err(e) => Outcome::Failed(format!("cannot start a thread: {e}")),
                };
                (i, outcome)
            })
            .collect()
    })
}

/// Asks `server` up to [`SAMPLES`] times and keeps the sample with the
/// lowest delay: the one least disturbed by queues on the way.
pub fn ask(server: &ServerSpec) -> Outcome {
    let socket = match server.resolve().and_then(connect) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let mut best: Option<Sample> = None;
    let mut last_send: Option<Instant> = None;
    for _ in 0..SAMPLES {
        if let Some(sent) = last_send {
            thread::sleep(SAMPLE_SPACING.saturating_sub(sent.elapsed()));
        }
        last_send = Some(Instant::now());
        match sample(&socket) {
            Ok(s) => {
                log::debug!(
                    "{server}: offset {} ns, delay {} ns, stratum {}",
                    s.offset,
                    s.delay,
                    s.stratum
                );
                if best.is_none_or(|b| s.delay < b.delay) {
                    best = Some(s);
                }
            }
            Err(Miss::Timeout) => log::debug!("{server}: no reply within {REPLY_TIMEOUT:?}"),
            Err(Miss::Kiss(kiss)) => return Outcome::Kissed(kiss),
            Err(Miss::Fatal(reason)) => return Outcome::Failed(reason),
        }
    }
    match best {
        Some(s) => Outcome::Answered(s),
        None => Outcome::Failed(format!(
            "no reply to {SAMPLES} requests within {REPLY_TIMEOUT:?} each"
        )),
    }
}

/// A UDP socket of the server's family, connected to it: only its packets
/// arrive, and an ICMP "port unreachable" ends the wait at once.
fn connect(server: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = match server {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => ([0u16; 8], 0).into(),
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect(server)?;
    Ok(socket)
}

/// One request and its reply. Packets that are not an answer to this
/// request (too short, another origin) are skipped until the timeout.
fn sample(socket: &UdpSocket) -> Result<Sample, Miss> {
    let fatal = |e: io::Error| match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            Miss::Fatal("connection refused: no NTP server on that port".into())
        }
        _ => Miss::Fatal(e.to_string()),
    };
    let cookie = getrandom::u64().map_err(|e| Miss::Fatal(format!("no random numbers: {e}")))?;
    let request = Request::new(cookie);
    let (t1, start) = (unix_nanos(SystemTime::now()), Instant::now());
    socket.send(&request.to_bytes()).map_err(fatal)?;
    let mut buf = [0u8; MAX_REPLY];
    loop {
        let left = REPLY_TIMEOUT.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(Miss::Timeout);
        }
        socket.set_read_timeout(Some(left)).map_err(fatal)?;
        let len = match socket.recv(&mut buf) {
            Ok(len) => len,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Miss::Timeout)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fatal(e)),
        };
        // Our receive time on the monotonic clock: immune to clock changes
        // by others during the exchange.
        let t4 = t1 + start.elapsed().as_nanos() as i128;
        let (sent, received) = (
            NtpTimestamp::from_unix_nanos(t1),
            NtpTimestamp::from_unix_nanos(t4),
        );
        match request.check(&buf[..len], sent, received) {
            Ok(s) => return Ok(s),
            Err(r @ (Rejection::Short(_) | Rejection::Origin)) => {
                log::debug!("ignored a packet: {r}")
            }
            Err(Rejection::Kiss(kiss)) => return Err(Miss::Kiss(kiss)),
            Err(r) => return Err(Miss::Fatal(r.to_string())),
        }
    }
}
