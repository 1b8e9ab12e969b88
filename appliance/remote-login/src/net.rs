//! The blocking driver: connects, runs a dialogue of [`crate::pop3`] or
//! [`crate::imap`] over TCP and rustls, all before one deadline.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::dialogue::{Action, Failure, LineBuffer};
use crate::imap::Imap;
use crate::pop3::Pop3;
use crate::{Protocol, RemoteLoginError, RemoteServer, Security, TlsTrust};

/// Logs `user` in on `server` with `password` and logs out: `Ok(())` when
/// the server accepted the password. Connect, TLS and the whole dialogue
/// end within `timeout`, or it fails with `Timeout` (or `Unreachable`, when
/// the connection itself could not be made in time). Name resolution uses
/// the system's resolver, whose own timeouts apply.
pub fn verify(
    server: &RemoteServer,
    user: &str,
    password: &str,
    tls: &TlsTrust,
    timeout: Duration,
) -> Result<(), RemoteLoginError> {
    let deadline = Instant::now() + timeout;
    let mut d = Driver {
        server: format!("{}:{}", server.host, server.port),
        timeout,
        deadline,
    };
    let result = d.run(server, user, password, tls);
    match &result {
        Ok(()) => log::info!("remote login of {user:?} at {}: accepted", d.server),
        Err(e) => log::info!("remote login of {user:?} at {}: {e}", d.server),
    }
    result
}

struct Driver {
    server: String,
    timeout: Duration,
    deadline: Instant,
}

enum Machine {
    Pop3(Pop3),
    Imap(Imap),
}

impl Machine {
    fn on_line(&mut self, line: &[u8]) -> Result<Action, Failure> {
        match self {
            Machine::Pop3(m) => m.on_line(line),
            Machine::Imap(m) => m.on_line(line),
        }
    }

    fn tls_established(&mut self) -> Action {
        match self {
            Machine::Pop3(m) => m.tls_established(),
            Machine::Imap(m) => m.tls_established(),
        }
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }
}

impl Driver {
    fn run(
        &mut self,
        server: &RemoteServer,
        user: &str,
        password: &str,
        trust: &TlsTrust,
    ) -> Result<(), RemoteLoginError> {
        if server.security == Security::Plain && !trust.allow_plaintext {
            return Err(RemoteLoginError::InsecureRefused {
                server: self.server.clone(),
            });
        }
        let starttls = server.security == Security::StartTls;
        let mut machine = match server.protocol {
            Protocol::Pop3 => {
                Pop3::check_credentials(user, password).map_err(|f| self.failure(f))?;
                Machine::Pop3(Pop3::new(user, password, starttls))
            }
            Protocol::Imap => {
                Imap::check_credentials(user, password).map_err(|f| self.failure(f))?;
                Machine::Imap(Imap::new(user, password, starttls))
            }
        };
        let config = match server.security {
            Security::Plain => None,
            _ => Some(self.client_config(trust)?),
        };
        let tcp = self.connect(&server.host, server.port)?;
        let mut conn = Conn::Plain(tcp);
        if server.security == Security::Tls {
            conn = self.handshake(conn, config.clone(), &server.host)?;
        }
        let mut lines = LineBuffer::default();
        let mut action = Action::Read;
        loop {
            action = match action {
                Action::Read => {
                    let line = self.read_line(&mut conn, &mut lines)?;
                    machine.on_line(&line).map_err(|f| self.failure(f))?
                }
                Action::Send(bytes) => {
                    self.write(&mut conn, &bytes)?;
                    Action::Read
                }
                Action::StartTls => {
                    // Whatever came with the STARTTLS reply was sent in
                    // clear by whoever sits on the path: never read it as
                    // if it came under TLS (CVE-2011-0411).
                    if !lines.is_empty() {
                        return Err(self.failure(Failure::Protocol(
                            "the server sent data behind its STARTTLS reply, before TLS (an injection attempt?)".into(),
                        )));
                    }
                    lines = LineBuffer::default();
                    conn = self.handshake(conn, config.clone(), &server.host)?;
                    machine.tls_established()
                }
                Action::Accepted(logout) => {
                    // The verdict is in; a failed logout does not change it.
                    let _ = self.write(&mut conn, &logout);
                    return Ok(());
                }
            };
        }
    }

    fn client_config(&self, trust: &TlsTrust) -> Result<Arc<ClientConfig>, RemoteLoginError> {
        let mut roots = RootCertStore::empty();
        if !trust.only_extra_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(pem) = &trust.extra_roots_pem {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| self.tls(format!("bad trusted root PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| self.tls(format!("bad trusted root: {e}")))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    fn connect(&self, host: &str, port: u16) -> Result<TcpStream, RemoteLoginError> {
        let unreachable = |reason: String| RemoteLoginError::Unreachable {
            server: self.server.clone(),
            reason,
        };
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| unreachable(format!("cannot resolve {host}: {e}")))?;
        let mut last = format!("{host} has no address");
        for addr in addrs {
            let Some(left) = self.left() else {
                return Err(unreachable("connect timed out".into()));
            };
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => {
                    log::debug!("remote login: connect to {addr}: {e}");
                    last = e.to_string();
                }
            }
        }
        Err(unreachable(last))
    }

    fn handshake(
        &self,
        conn: Conn,
        config: Option<Arc<ClientConfig>>,
        host: &str,
    ) -> Result<Conn, RemoteLoginError> {
        let (Conn::Plain(mut tcp), Some(config)) = (conn, config) else {
            return Err(self.tls("TLS asked for twice".into()));
        };
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| self.tls(format!("{host:?} is not a valid host name")))?;
        let mut tls = ClientConnection::new(config, name).map_err(|e| self.tls(e.to_string()))?;
        while tls.is_handshaking() {
            self.arm(&tcp)?;
            match tls.complete_io(&mut tcp) {
                Ok((0, 0)) => return Err(self.tls("the server closed the connection".into())),
                Ok(_) => {}
                Err(e) => return Err(self.io_error(e, true)),
            }
        }
        Ok(Conn::Tls(Box::new(StreamOwned::new(tls, tcp))))
    }

    fn read_line(
        &self,
        conn: &mut Conn,
        lines: &mut LineBuffer,
    ) -> Result<Vec<u8>, RemoteLoginError> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(line) = lines.next_line().map_err(|f| self.failure(f))? {
                return Ok(line);
            }
            self.arm(conn.tcp())?;
            let n = match conn {
                Conn::Plain(s) => s.read(&mut buf),
                Conn::Tls(s) => s.read(&mut buf),
            }
            .map_err(|e| self.io_error(e, false))?;
            if n == 0 {
                return Err(
                    self.failure(Failure::Protocol("the server closed the connection".into()))
                );
            }
            lines.extend(&buf[..n]);
        }
    }

    fn write(&self, conn: &mut Conn, bytes: &[u8]) -> Result<(), RemoteLoginError> {
        self.arm(conn.tcp())?;
        match conn {
            Conn::Plain(s) => s.write_all(bytes).and_then(|()| s.flush()),
            Conn::Tls(s) => s.write_all(bytes).and_then(|()| s.flush()),
        }
        .map_err(|e| self.io_error(e, false))
    }

    /// Sets the socket's timeouts to what is left of the deadline.
    fn arm(&self, tcp: &TcpStream) -> Result<(), RemoteLoginError> {
        let left = self.left().ok_or_else(|| self.timed_out())?;
        tcp.set_read_timeout(Some(left))
            .and_then(|()| tcp.set_write_timeout(Some(left)))
            .map_err(|e| self.io_error(e, false))
    }

    fn left(&self) -> Option<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    fn io_error(&self, e: io::Error, handshaking: bool) -> RemoteLoginError {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return self.timed_out();
        }
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return self.tls(tls.to_string());
        }
        if handshaking {
            return self.tls(e.to_string());
        }
        self.failure(Failure::Protocol(format!("the connection broke: {e}")))
    }

    fn timed_out(&self) -> RemoteLoginError {
        RemoteLoginError::Timeout {
            server: self.server.clone(),
            timeout: self.timeout,
        }
    }

    fn tls(&self, reason: String) -> RemoteLoginError {
        RemoteLoginError::Tls {
            server: self.server.clone(),
            reason,
        }
    }

    fn failure(&self, f: Failure) -> RemoteLoginError {
        let server = self.server.clone();
        match f {
            Failure::Rejected => RemoteLoginError::Rejected,
            Failure::Temporary(detail) => RemoteLoginError::Temporary { server, detail },
            Failure::Protocol(detail) => RemoteLoginError::Protocol { server, detail },
        }
    }
}
