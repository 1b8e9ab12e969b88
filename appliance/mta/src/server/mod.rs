//! The SMTP listeners: inbound (port 25), submission (587, same policy for
//! now) and the trusted inject socket where the manager hands back messages
//! released from quarantine.
//!
//! Connections are bounded: a session permit is taken *before* accepting
//! (mini-redis), so at most `max_connections` sessions run. When none is
//! free, one of [`OVERFLOW_REJECTS`] spare permits lets the listener accept
//! anyway just to answer `421 4.7.0` and close, so a client learns the box
//! is busy instead of hanging in the kernel's backlog. Permits also tell
//! shutdown when every session has ended. Limits per client IP, the
//! timeouts and the error tarpit are in [`limits`].

mod auth;
mod connection;
mod filter;
mod inherited;
pub(crate) mod limits;
mod outbound;
mod queueing;
mod summary;
#[cfg(test)]
mod tests;
pub(crate) mod tls;
mod verify;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use model::Endpoint;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use crate::directory::Directory;
use crate::error::MtaError;
use crate::queue::Committer;
use crate::session::SessionConfig;
use crate::tracking::Tracker;

pub(crate) use connection::{Peer, SHUTDOWN_GRACE};

/// Extra connections accepted only to be told `421 4.7.0` when all session permits are taken.
const OVERFLOW_REJECTS: usize = 16;
/// Concurrent sessions on the inject socket (the manager releasing messages).
const INJECT_SESSIONS: usize = 16;
/// Pause after a failed accept (e.g. out of file descriptors), doubling up to 1 s.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Everything a session needs, shared by all of them.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Session settings (host name, size and recipient limits).
    pub session: SessionConfig,
    /// The filter, if any.
    pub milter: Option<Endpoint>,
    /// Domains and users.
    pub directory: Arc<Directory>,
    /// Durable queueing.
    pub committer: Committer,
    /// Tracking events.
    pub tracker: Tracker,
    /// Tells the delivery scheduler about newly queued messages.
    pub queued: mpsc::UnboundedSender<String>,
    /// Per-client limits, timeouts and the error tarpit.
    pub limits: Arc<limits::Limits>,
    /// Verifies unknown recipients of our domains.
    pub callout: crate::callout::Callout,
    /// TLS (STARTTLS, port 465) and AUTH.
    pub security: tls::Security,
}

/// Whether a listener is the public one or the trusted inject socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Port 25/587: relay control, recipient checks, the milter.
    Inbound,
    /// The manager's re-injection: any valid recipient, no milter.
    Inject,
}

/// The bound listeners.
#[derive(Debug)]
pub(crate) struct Listeners {
    pub smtp: TcpListener,
    pub submission: Option<TcpListener>,
    /// Implicit TLS (465).
    pub smtps: Option<TcpListener>,
    pub inject: UnixListener,
}

/// Binds every listener of `config`, or takes the SMTP listeners the
/// supervisor passed (see [`inherited`]); the inject socket replaces a
/// stale file and is made accessible to the roles' group (0660).
pub(crate) async fn bind(config: &model::config::MtaConfig) -> Result<Listeners, MtaError> {
    let tcp = |address: String| async move {
        TcpListener::bind(&address)
            .await
            .map_err(|source| MtaError::Listen { address, source })
    };
    let (smtp, submission, smtps) = match inherited::take()? {
        Some(passed) => {
            let from_std = |l: std::net::TcpListener| {
                TcpListener::from_std(l).map_err(|source| MtaError::Listen {
                    address: inherited::LISTEN_FDS_ENV.into(),
                    source,
                })
            };
            let submission = passed.submission.map(from_std).transpose()?;
            let smtps = passed.smtps.map(from_std).transpose()?;
            (from_std(passed.smtp)?, submission, smtps)
        }
        None => {
            let smtp = tcp(config.smtp_listen.clone()).await?;
            let submission = match &config.submission_listen {
                Some(a) => Some(tcp(a.clone()).await?),
                None => None,
            };
            let smtps = match &config.smtps_listen {
                Some(a) => Some(tcp(a.clone()).await?),
                None => None,
            };
            (smtp, submission, smtps)
        }
    };
    let inject = bind_unix(&config.inject_socket)?;
    Ok(Listeners {
        smtp,
        submission,
        smtps,
        inject,
    })
}

fn bind_unix(path: &Path) -> Result<UnixListener, MtaError> {
    let err = |source| MtaError::Listen {
        address: format!("unix:{}", path.display()),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
    Ok(listener)
}

/// Session permits; shutdown waits until all are back.
#[derive(Debug)]
pub(crate) struct Permits {
    sessions: Arc<Semaphore>,
    overflow: Arc<Semaphore>,
    inject: Arc<Semaphore>,
    max_sessions: u32,
}

impl Permits {
    /// Room for `max_sessions` inbound sessions.
    pub fn new(max_sessions: usize) -> Arc<Permits> {
        Arc::new(Permits {
            sessions: Arc::new(Semaphore::new(max_sessions)),
            overflow: Arc::new(Semaphore::new(OVERFLOW_REJECTS)),
            inject: Arc::new(Semaphore::new(INJECT_SESSIONS)),
            max_sessions: max_sessions.try_into().unwrap_or(u32::MAX),
        })
    }

    /// Waits until every session has ended (all permits returned).
    pub async fn drained(&self) {
        let _ = self.sessions.acquire_many(self.max_sessions).await;
        let _ = self.overflow.acquire_many(OVERFLOW_REJECTS as u32).await;
        let _ = self.inject.acquire_many(INJECT_SESSIONS as u32).await;
    }
}

/// A permit for one accepted connection.
enum Slot {
    Session(OwnedSemaphorePermit),
    Reject(OwnedSemaphorePermit),
}

/// Accepts TCP connections until `shutdown` turns true.
pub(crate) async fn accept_tcp(
    listener: TcpListener,
    kind: tls::Listener,
    shared: Arc<Shared>,
    permits: Arc<Permits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = ACCEPT_BACKOFF;
    loop {
        let slot = tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s) => return,
            p = permits.sessions.clone().acquire_owned() => Slot::Session(p.expect("never closed")),
            p = permits.overflow.clone().acquire_owned() => Slot::Reject(p.expect("never closed")),
        };
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        let (stream, address) = match accepted {
            Ok(a) => {
                backoff = ACCEPT_BACKOFF;
                a
            }
            Err(e) => {
                log::warn!("accept failed: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // A session may have ended while we waited in accept with a spare permit.
        let slot = match slot {
            Slot::Reject(spare) => match permits.sessions.clone().try_acquire_owned() {
                Ok(p) => {
                    drop(spare);
                    Slot::Session(p)
                }
                Err(_) => Slot::Reject(spare),
            },
            session => session,
        };
        match slot {
            Slot::Session(permit) => match shared.limits.admit(address.ip()) {
                Ok(client) => {
                    let peer = Peer::Tcp(address);
                    let (shared, shutdown) = (shared.clone(), shutdown.clone());
                    tokio::spawn(async move {
                        tls::serve_tcp(stream, shared, peer, kind, shutdown).await;
                        drop((client, permit));
                    });
                }
                Err(refusal) => {
                    log::warn!("refusing {address}: {refusal}");
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        tls::refuse_tcp(stream, &shared, kind, refusal).await;
                        drop(permit);
                    });
                }
            },
            Slot::Reject(permit) => {
                log::warn!("too many connections: refusing {address}");
                let shared = shared.clone();
                tokio::spawn(async move {
                    tls::refuse_tcp(stream, &shared, kind, limits::Refusal::Overloaded).await;
                    drop(permit);
                });
            }
        }
    }
}

/// Accepts connections on the inject socket until `shutdown` turns true.
pub(crate) async fn accept_inject(
    listener: UnixListener,
    shared: Arc<Shared>,
    permits: Arc<Permits>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            p = permits.inject.clone().acquire_owned() => p.expect("never closed"),
        };
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                let (shared, shutdown) = (shared.clone(), shutdown.clone());
                tokio::spawn(async move {
                    connection::serve(stream, shared, Peer::Local, Mode::Inject, shutdown).await;
                    drop(permit);
                });
            }
            Err(e) => {
                log::warn!("inject socket accept failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}
