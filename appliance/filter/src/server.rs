//! Listeners and connections: unix sockets and TCP, one task per milter
//! connection, a bounded number of them, and a graceful stop.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use log::{debug, info, warn};
use miltr_server::Server;
use model::Endpoint;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Semaphore};
use tokio_util::compat::TokioAsyncReadCompatExt;

use crate::error::FilterError;
use crate::milter::{Context, FilterMilter};
use crate::timeout::IdleTimeout;

/// Most milter connections served at once (Postfix holds one per SMTP
/// session); further clients wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 512;

/// Largest milter packet accepted: Postfix and libmilter send body chunks of
/// at most 64 KiB; headers can be longer, as sendmail's `SMFIP_MDS_256K`.
pub const MAX_PACKET: usize = 256 * 1024;

/// A connection with no traffic for this long is closed. Longer than
/// Postfix's `smtpd_timeout` (300 s), the longest a client may idle between
/// commands while the milter connection stays open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// How long connections may go on after shutdown was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Mode of the unix sockets: the owner and its group (Postfix runs as
/// `postfix`; making the socket group-accessible lets a site add it).
pub const UNIX_SOCKET_MODE: u32 = 0o660;

/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Where the server is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Accepting and serving.
    Running,
    /// No more accepts; connections finish.
    Draining,
    /// Connections still open are cut.
    Aborting,
}

/// A bound listener.
pub enum Listener {
    /// A unix socket; the file is removed when serving ends.
    Unix(UnixListener, PathBuf),
    /// A TCP socket.
    Tcp(TcpListener),
}

impl Listener {
    /// Binds `endpoint`: a stale unix socket file is replaced (a live one is
    /// an error), the new one gets [`UNIX_SOCKET_MODE`].
    pub async fn bind(endpoint: &Endpoint) -> Result<Listener, FilterError> {
        let err = |source| FilterError::Listen {
            endpoint: endpoint.to_string(),
            source,
        };
        match endpoint {
            Endpoint::Unix(path) => {
                remove_stale(endpoint, path).await?;
                let l = UnixListener::bind(path).map_err(err)?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(UNIX_SOCKET_MODE))
                    .map_err(err)?;
                Ok(Listener::Unix(l, path.clone()))
            }
            Endpoint::Tcp(addr) => Ok(Listener::Tcp(TcpListener::bind(addr).await.map_err(err)?)),
        }
    }

    /// Where it listens, as people write it (`unix:PATH` or `HOST:PORT`).
    pub fn describe(&self) -> String {
        match self {
            Listener::Unix(_, p) => Endpoint::Unix(p.clone()).to_string(),
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp".into()),
        }
    }
}

/// Removes a socket file nobody listens on (left by a crash). Anything else
/// at that path is left alone: a live socket or a file that is no socket.
async fn remove_stale(endpoint: &Endpoint, path: &Path) -> Result<(), FilterError> {
    let Ok(meta) = tokio::fs::symlink_metadata(path).await else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(FilterError::NotASocket {
            endpoint: endpoint.to_string(),
        });
    }
    if tokio::net::UnixStream::connect(path).await.is_ok() {
        return Err(FilterError::InUse {
            endpoint: endpoint.to_string(),
        });
    }
    tokio::fs::remove_file(path)
        .await
        .map_err(|source| FilterError::Listen {
            endpoint: endpoint.to_string(),
            source,
        })
}

/// Accepts on `listener` until the phase leaves [`Phase::Running`]; each
/// connection takes a permit first, so at most [`MAX_CONNECTIONS`] run.
pub async fn accept_loop(
    listener: Listener,
    ctx: Arc<Context>,
    permits: Arc<Semaphore>,
    mut phase: watch::Receiver<Phase>,
) {
    let name = listener.describe();
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = phase.wait_for(|p| *p != Phase::Running) => break,
        };
        let accepted = tokio::select! {
            a = accept(&listener) => a,
            _ = phase.wait_for(|p| *p != Phase::Running) => break,
        };
        match accepted {
            Ok(conn) => {
                let (ctx, phase) = (Arc::clone(&ctx), phase.clone());
                tokio::spawn(async move {
                    conn.serve(ctx, phase).await;
                    drop(permit);
                });
            }
            Err(e) => {
                warn!("accept on {name}: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    if let Listener::Unix(_, path) = &listener {
        let _ = std::fs::remove_file(path);
    }
    debug!("stopped listening on {name}");
}

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream, String),
}

async fn accept(listener: &Listener) -> std::io::Result<Conn> {
    match listener {
        Listener::Unix(l, _) => Ok(Conn::Unix(l.accept().await?.0)),
        Listener::Tcp(l) => {
            let (s, peer) = l.accept().await?;
            // A milter exchange is many small request/answer packets: Nagle
            // plus delayed ACKs would add ~40 ms to each.
            s.set_nodelay(true)?;
            Ok(Conn::Tcp(s, peer.to_string()))
        }
    }
}

impl Conn {
    async fn serve(self, ctx: Arc<Context>, phase: watch::Receiver<Phase>) {
        let session = model::id::new_id();
        match self {
            Conn::Unix(s) => {
                debug!("{session}: milter connection on a unix socket");
                serve(s, session, ctx, phase).await
            }
            Conn::Tcp(s, peer) => {
                debug!("{session}: milter connection from {peer}");
                serve(s, session, ctx, phase).await
            }
        }
    }
}

async fn serve<S>(stream: S, session: String, ctx: Arc<Context>, mut phase: watch::Receiver<Phase>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut milter = FilterMilter::new(ctx, session.clone());
    let mut server = Server::new(&mut milter, false, MAX_PACKET);
    let io = IdleTimeout::new(stream, IDLE_TIMEOUT).compat();
    tokio::select! {
        r = server.handle_connection(io) => match r {
            Ok(()) => debug!("{session}: milter connection closed"),
            Err(e) => info!("{session}: milter connection ended: {e}"),
        },
        _ = phase.wait_for(|p| *p == Phase::Aborting) => {
            info!("{session}: milter connection cut at shutdown");
        }
    }
}
