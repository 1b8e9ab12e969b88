//! TLS on the SMTP listeners: STARTTLS on 25 and 587 (RFC 3207), implicit
//! TLS on 465 (RFC 8314), with the box's certificate from the `tls` crate
//! (made on first start, reloaded when an upload replaces it).
//!
//! The session decides *when* (it answers 220 to STARTTLS and drops what
//! was pipelined behind it); this module does the handshake, with a time
//! limit, on whatever stream the connection runs on.

use std::sync::Arc;
use std::time::Duration;

use model::client::ApiClient;
use model::config::SystemConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::connection::{self, Peer};
use super::{Mode, Shared};

/// The longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What sessions need for TLS and AUTH.
#[derive(Clone)]
pub(crate) struct Security {
    /// The box's certificate; `None` when it could not be loaded (no TLS, no AUTH).
    pub acceptor: Option<TlsAcceptor>,
    /// The manager, which checks AUTH logins.
    pub api: ApiClient,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.acceptor.is_some())
            .finish_non_exhaustive()
    }
}

impl Security {
    /// Makes the certificate if it is missing and loads it. Without one the
    /// mta still takes mail (in clear, as most of the Internet may), so a
    /// failure is logged, not fatal.
    pub fn load(config: &SystemConfig, api: ApiClient) -> Security {
        let loaded = tls::ensure_certificate(&config.tls, &config.hostname)
            .and_then(|_| tls::ReloadingCert::load(&config.tls))
            .and_then(|cert| tls::server_config(Arc::new(cert)));
        let acceptor = match loaded {
            Ok(server) => Some(TlsAcceptor::from(server)),
            Err(e) => {
                log::error!("no TLS (STARTTLS, port 465 and AUTH are off): {e}");
                None
            }
        };
        Security { acceptor, api }
    }
}

/// Which public listener a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listener {
    /// Port 25: mail from the Internet; STARTTLS offered.
    Smtp,
    /// Port 587: submission (RFC 6409), STARTTLS offered; MAIL needs AUTH
    /// or a relay network.
    Submission,
    /// Port 465: submission with TLS from the first byte (RFC 8314).
    Implicit,
}

/// How a connection starts, as far as TLS is concerned.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Start {
    /// Offer STARTTLS and AUTH (a TCP listener, a certificate loaded).
    pub offer: bool,
    /// Implicit TLS: the handshake comes before the banner.
    pub encrypted: bool,
    /// A submission port: MAIL needs AUTH or a relay network.
    pub submission: bool,
}

/// Serves a TCP connection; with implicit TLS the connection does the
/// handshake first, and its banner is the first encrypted bytes.
pub(crate) async fn serve_tcp(
    stream: TcpStream,
    shared: Arc<Shared>,
    peer: Peer,
    listener: Listener,
    shutdown: watch::Receiver<bool>,
) {
    let start = Start {
        offer: shared.security.acceptor.is_some(),
        encrypted: listener == Listener::Implicit,
        submission: listener != Listener::Smtp,
    };
    connection::serve_with(stream, shared, peer, Mode::Inbound, start, shutdown).await;
}

/// Tells a client that is not served why, then closes; on the implicit-TLS
/// port the `421` goes inside TLS (RFC 8314 section 3.3), as clear text
/// would be garbage to the client's TLS layer.
pub(crate) async fn refuse_tcp(
    stream: TcpStream,
    shared: &Shared,
    listener: Listener,
    refusal: super::limits::Refusal,
) {
    if listener != Listener::Implicit {
        return super::limits::refuse(stream, refusal).await;
    }
    if let Some(tls) = handshake(shared, stream, "refused").await {
        super::limits::refuse(tls, refusal).await;
    }
}

/// The server side of a TLS handshake on `stream`; `None` (logged) when it
/// fails or takes longer than [`HANDSHAKE_TIMEOUT`].
pub(crate) async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    stream: S,
    sid: &str,
) -> Option<TlsStream<S>> {
    let Some(acceptor) = shared.security.acceptor.as_ref() else {
        log::warn!("{sid}: no certificate loaded: cannot start TLS");
        return None;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let (_, state) = tls.get_ref();
            let version = state.protocol_version().and_then(|v| v.as_str());
            let suite = state.negotiated_cipher_suite();
            log::info!(
                "{sid}: TLS established: {} {}",
                version.unwrap_or("?"),
                suite.and_then(|c| c.suite().as_str()).unwrap_or("?"),
            );
            Some(tls)
        }
        Ok(Err(e)) => {
            log::info!("{sid}: TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            log::info!("{sid}: TLS handshake timed out");
            None
        }
    }
}

/// The `with` of our `Received:` field: SMTP or ESMTP, plus `S` for TLS and
/// `A` for AUTH (RFC 3848), `UTF8SMTP` for SMTPUTF8 (RFC 6531 section
/// 4.3), so the message itself shows how it arrived.
pub(crate) fn received_protocol(txn: &crate::session::Transaction) -> String {
    if !txn.esmtp {
        return "SMTP".into();
    }
    let mut protocol = String::from(if txn.smtputf8 { "UTF8SMTP" } else { "ESMTP" });
    if txn.tls {
        protocol.push('S');
    }
    if txn.authenticated {
        protocol.push('A');
    }
    protocol
}
