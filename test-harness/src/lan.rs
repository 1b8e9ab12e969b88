//! A host on the box's LAN, with its own TCP/IP stack (smoltcp).
//!
//! QEMU carries the frames of the box's second NIC over a unix datagram
//! socket, one Ethernet frame per datagram ([`FrameSocket`]); on the other
//! end [`LanHost`] is a machine with a static address that answers ARP and
//! opens TCP connections to the box, as a mail server or an admin's PC on
//! the customer's LAN would. Nothing touches the host's own network.

use std::os::fd::AsFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as NetInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use crate::error::{HarnessError, Result};

/// The largest Ethernet frame carried (1500 bytes of payload, header, VLAN tag).
pub const MAX_FRAME: usize = 1518;

/// Bytes buffered per direction of a TCP connection.
const TCP_BUFFER: usize = 64 * 1024;

/// The longest wait between two polls of the stack (its timers need ticks).
const MAX_IDLE: Duration = Duration::from_millis(50);

/// One end of a virtual Ethernet cable: frames as unix datagrams.
pub struct FrameSocket {
    socket: UnixDatagram,
    peer: PathBuf,
    frame: Vec<u8>,
}

impl FrameSocket {
    /// Binds `local` (removing a stale file) and sends to `peer`.
    pub fn bind(local: &Path, peer: &Path) -> Result<FrameSocket> {
        let _ = std::fs::remove_file(local);
        let socket = UnixDatagram::bind(local)
            .map_err(HarnessError::io(format!("binding {}", local.display())))?;
        socket
            .set_nonblocking(true)
            .map_err(HarnessError::io("LAN socket"))?;
        Ok(FrameSocket {
            socket,
            peer: peer.to_path_buf(),
            frame: vec![0; MAX_FRAME],
        })
    }

    /// Waits up to `timeout` for a frame to arrive.
    fn wait_readable(&self, timeout: Duration) {
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        // An interrupted or failed poll only means an earlier look.
        let _ = poll(&mut fds, timeout);
    }
}

/// A received frame, handed to the stack.
pub struct RxToken<'a>(&'a [u8]);

/// Permission to send one frame.
pub struct TxToken<'a> {
    socket: &'a UnixDatagram,
    peer: &'a Path,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        // A cable with nobody at the other end loses frames; so does this.
        let _ = self.socket.send_to(&frame, self.peer);
        r
    }
}

impl Device for FrameSocket {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: NetInstant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let n = self.socket.recv(&mut self.frame).ok()?;
        Some((
            RxToken(&self.frame[..n]),
            TxToken {
                socket: &self.socket,
                peer: &self.peer,
            },
        ))
    }

    fn transmit(&mut self, _now: NetInstant) -> Option<TxToken<'_>> {
        Some(TxToken {
            socket: &self.socket,
            peer: &self.peer,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

/// A machine on the LAN: one address, TCP client connections.
pub struct LanHost {
    device: FrameSocket,
    iface: Interface,
    sockets: SocketSet<'static>,
    epoch: Instant,
    next_port: u16,
}

/// A TCP connection of a [`LanHost`].
#[derive(Clone, Copy, Debug)]
pub struct Connection(SocketHandle);

impl LanHost {
    /// A host with `mac` and `address` (e.g. `192.168.77.2/24`) on the cable
    /// `device`.
    pub fn new(mut device: FrameSocket, mac: [u8; 6], address: Ipv4Address, prefix: u8) -> LanHost {
        let epoch = Instant::now();
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        let mut iface = Interface::new(config, &mut device, NetInstant::ZERO);
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv4(address), prefix))
                .expect("one address fits");
        });
        LanHost {
            device,
            iface,
            sockets: SocketSet::new(Vec::new()),
            epoch,
            next_port: 49152,
        }
    }

    /// Opens a TCP connection to `remote`, retrying (ARP, a SYN refused
    /// while the box's service is not up yet) until `timeout`.
    pub fn connect(&mut self, remote: (Ipv4Address, u16), timeout: Duration) -> Result<Connection> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            let handle = self.open(remote)?;
            let attempt = (deadline - Instant::now()).min(Duration::from_secs(10));
            match self.run_until(attempt, |s| {
                let socket = s.get::<tcp::Socket>(handle);
                socket.may_send() || !socket.is_open()
            }) {
                true if self.socket(handle).may_send() => return Ok(Connection(handle)),
                true => last = "refused or reset".into(),
                false => last = "no answer (no ARP reply or SYN unanswered)".into(),
            }
            self.sockets.remove(handle);
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(HarnessError::Unexpected(format!(
            "the LAN host could not connect to {}:{} within {timeout:?}: {last}",
            remote.0, remote.1
        )))
    }

    /// Reads from `conn` until `needle` has arrived (or the peer closed, or
    /// `timeout`); returns everything read.
    pub fn read_until(
        &mut self,
        conn: Connection,
        needle: &str,
        timeout: Duration,
    ) -> Result<String> {
        let mut received = Vec::new();
        let deadline = Instant::now() + timeout;
        loop {
            let socket = self.socket(conn.0);
            if socket.can_recv() {
                socket
                    .recv(|data| {
                        received.extend_from_slice(data);
                        (data.len(), ())
                    })
                    .map_err(|e| HarnessError::Unexpected(format!("LAN TCP receive: {e}")))?;
                continue;
            }
            let text = String::from_utf8_lossy(&received).into_owned();
            if text.contains(needle) {
                return Ok(text);
            }
            if !socket.may_recv() || Instant::now() >= deadline {
                return Err(HarnessError::Unexpected(format!(
                    "the LAN host got {text:?}, not {needle:?}"
                )));
            }
            self.run_until(deadline - Instant::now(), |s| {
                let socket = s.get::<tcp::Socket>(conn.0);
                socket.can_recv() || !socket.may_recv()
            });
        }
    }

    /// Sends `data` on `conn`.
    pub fn send(&mut self, conn: Connection, data: &[u8], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut sent = 0;
        while sent < data.len() {
            let socket = self.socket(conn.0);
            if socket.can_send() {
                sent += socket
                    .send_slice(&data[sent..])
                    .map_err(|e| HarnessError::Unexpected(format!("LAN TCP send: {e}")))?;
            } else if !socket.may_send() || Instant::now() >= deadline {
                return Err(HarnessError::Unexpected(
                    "the LAN host's connection closed or stalled while sending".into(),
                ));
            }
            self.run_until(deadline.saturating_duration_since(Instant::now()), |s| {
                s.get::<tcp::Socket>(conn.0).can_send()
            });
        }
        Ok(())
    }

    /// Closes `conn` (FIN) and forgets it.
    pub fn close(&mut self, conn: Connection) {
        self.socket(conn.0).close();
        self.run_until(Duration::from_secs(2), |s| {
            !s.get::<tcp::Socket>(conn.0).is_open()
        });
        self.sockets.remove(conn.0);
    }

    /// Connects to an SMTP server at `remote`, reads its banner, says QUIT;
    /// returns the banner line.
    pub fn smtp_banner(&mut self, remote: (Ipv4Address, u16), timeout: Duration) -> Result<String> {
        let conn = self.connect(remote, timeout)?;
        let banner = self.read_until(conn, "\r\n", Duration::from_secs(30))?;
        self.send(conn, b"QUIT\r\n", Duration::from_secs(10))?;
        // The goodbye proves the server reads what this host sends.
        let bye = self.read_until(conn, "\r\n", Duration::from_secs(30))?;
        self.close(conn);
        if !bye.starts_with("221") {
            return Err(HarnessError::Unexpected(format!(
                "QUIT answered {bye:?} after the banner {banner:?}"
            )));
        }
        Ok(banner.trim_end().to_string())
    }

    fn open(&mut self, remote: (Ipv4Address, u16)) -> Result<SocketHandle> {
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
            tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        );
        let handle = self.sockets.add(socket);
        let port = self.next_port;
        self.next_port = if port == u16::MAX { 49152 } else { port + 1 };
        let cx = self.iface.context();
        self.sockets
            .get_mut::<tcp::Socket>(handle)
            .connect(cx, (IpAddress::Ipv4(remote.0), remote.1), port)
            .map_err(|e| HarnessError::Unexpected(format!("LAN TCP connect: {e}")))?;
        Ok(handle)
    }

    fn socket(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(handle)
    }

    fn now(&self) -> NetInstant {
        NetInstant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    /// Runs the stack until `done` holds or `timeout` passes; whether it held.
    fn run_until(&mut self, timeout: Duration, done: impl Fn(&SocketSet<'static>) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.now();
            self.iface.poll(now, &mut self.device, &mut self.sockets);
            if done(&self.sockets) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let delay = self
                .iface
                .poll_delay(self.now(), &self.sockets)
                .map_or(MAX_IDLE, |d| Duration::from_micros(d.total_micros()));
            self.device.wait_readable(delay.min(MAX_IDLE).min(left));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second smoltcp machine serving a banner, as the box's mta would.
    struct Server {
        device: FrameSocket,
        iface: Interface,
        sockets: SocketSet<'static>,
        handle: SocketHandle,
        epoch: Instant,
    }

    impl Server {
        fn new(device: FrameSocket) -> Server {
            let mut device = device;
            let config = Config::new(HardwareAddress::Ethernet(EthernetAddress([
                2, 0, 0, 0, 0, 9,
            ])));
            let mut iface = Interface::new(config, &mut device, NetInstant::ZERO);
            iface.update_ip_addrs(|a| {
                a.push(IpCidr::new(IpAddress::v4(192, 168, 77, 10), 24))
                    .unwrap();
            });
            let mut sockets = SocketSet::new(Vec::new());
            let mut socket = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; 4096]),
                tcp::SocketBuffer::new(vec![0; 4096]),
            );
            socket.listen(25).unwrap();
            let handle = sockets.add(socket);
            Server {
                device,
                iface,
                sockets,
                handle,
                epoch: Instant::now(),
            }
        }

        /// Serves one session: banner, then 221 to QUIT; runs until `stop`.
        fn serve(mut self, stop: &std::sync::atomic::AtomicBool) {
            let mut greeted = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let now = NetInstant::from_micros(self.epoch.elapsed().as_micros() as i64);
                self.iface.poll(now, &mut self.device, &mut self.sockets);
                let s = self.sockets.get_mut::<tcp::Socket>(self.handle);
                if s.may_send() && !greeted {
                    s.send_slice(b"220 box.test ESMTP\r\n").unwrap();
                    greeted = true;
                }
                if s.can_recv() {
                    let mut line = Vec::new();
                    s.recv(|d| {
                        line.extend_from_slice(d);
                        (d.len(), ())
                    })
                    .unwrap();
                    if line.starts_with(b"QUIT") {
                        s.send_slice(b"221 bye\r\n").unwrap();
                        s.close();
                    }
                }
                self.device.wait_readable(Duration::from_millis(5));
            }
        }
    }

    #[test]
    fn talks_tcp_over_a_frame_socket() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
        let host_side = FrameSocket::bind(&a, &b).unwrap();
        let server = Server::new(FrameSocket::bind(&b, &a).unwrap());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let serving = std::thread::spawn(move || server.serve(&flag));
        let mut host = LanHost::new(
            host_side,
            [2, 0, 0, 0, 0, 2],
            Ipv4Address::new(192, 168, 77, 2),
            24,
        );
        let banner = host
            .smtp_banner(
                (Ipv4Address::new(192, 168, 77, 10), 25),
                Duration::from_secs(15),
            )
            .unwrap();
        assert_eq!(banner, "220 box.test ESMTP");
        // Nobody listens on another port: refused, then given up.
        let err = host
            .connect(
                (Ipv4Address::new(192, 168, 77, 10), 26),
                Duration::from_secs(2),
            )
            .unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        serving.join().unwrap();
    }
}
