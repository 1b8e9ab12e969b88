//! One SMTP connection: the I/O around the sans-I/O [`Session`].
//!
//! Replies are written when the session needs more input, so the replies to
//! pipelined commands go out together and always before we wait. Every read
//! has a time limit (one for commands, one per chunk of message text), and
//! the whole session a deadline; running out gives `421 4.4.2`. On shutdown
//! an idle session gets `421 4.3.0` at once, a session in the middle of a
//! message may finish it within [`SHUTDOWN_GRACE`]. Log lines carry the
//! session id and never message contents; connect and disconnect are debug
//! lines, and a session that did something gets one info line at its end
//! (see [`summary`](super::summary)).

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use model::api::EventKind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::filter::FilterLink;
use super::limits::ErrorPacer;
use super::summary::{summary, End};
use super::tls::Start;
use super::{queueing, Mode, Shared};
use crate::session::{Ask, Reply, Session, Step, Verdict};
use crate::tracking::event;

/// Bytes read from the client at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Writing replies to the client.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a session may last, whatever it does.
const SESSION_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// After shutdown began, how long a client may take to finish its message.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The other end of a connection.
#[derive(Clone, Debug)]
pub(crate) enum Peer {
    /// A TCP client.
    Tcp(SocketAddr),
    /// The manager on the inject socket.
    Local,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Local => f.write_str("inject socket"),
        }
    }
}

fn next_session_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("smtp#{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// What one read produced.
enum Input {
    Bytes(usize),
    Closed,
    Failed,
    TimedOut,
    ShutdownStarted,
}

/// A connection's state around its session.
struct Connection {
    sid: String,
    shared: Arc<Shared>,
    peer: Peer,
    mode: Mode,
    session: Session,
    filter: FilterLink,
    /// Queue id and sender of the open transaction, for tracking refusals.
    transaction: Option<(String, String)>,
    /// Recipients of the open transaction relayed without filtering.
    unfiltered: Vec<String>,
    shutting_down: bool,
    timed_out: bool,
    /// The error tarpit's state.
    pacer: ErrorPacer,
    /// The milter connection was opened (once, not again after STARTTLS).
    filter_opened: bool,
}

/// Serves one connection until the client quits, times out, or shutdown.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    shared: Arc<Shared>,
    peer: Peer,
    mode: Mode,
    shutdown: watch::Receiver<bool>,
) {
    serve_with(stream, shared, peer, mode, Start::default(), shutdown).await;
}

/// [`serve`], with STARTTLS and AUTH as `start` says.
pub(crate) async fn serve_with<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    shared: Arc<Shared>,
    peer: Peer,
    mode: Mode,
    start: Start,
    mut shutdown: watch::Receiver<bool>,
) {
    let sid = next_session_id();
    log::debug!("{sid}: connect from {peer}");
    let filter = FilterLink::new(
        shared.milter.clone(),
        mode,
        &peer,
        &shared.session.hostname,
        &sid,
    );
    let mut conn = Connection {
        session: Session::new(shared.session.clone()),
        sid,
        shared,
        peer,
        mode,
        filter,
        transaction: None,
        unfiltered: Vec::new(),
        shutting_down: false,
        timed_out: false,
        pacer: ErrorPacer::default(),
        filter_opened: false,
    };
    if start.offer {
        conn.session.offer_security(true);
    }
    if start.submission {
        conn.session.set_submission();
    }
    // Implicit TLS: the handshake first; the banner waits in the session's output.
    let mut end = if start.encrypted {
        End::StartTls
    } else {
        conn.run(&mut stream, &mut shutdown).await
    };
    if end == End::StartTls {
        end = match super::tls::handshake(&conn.shared, stream, &conn.sid).await {
            Some(mut tls) => {
                conn.session.tls_started();
                conn.run(&mut tls, &mut shutdown).await
            }
            None => End::ReadFailed,
        };
    }
    log::debug!("{}: disconnect: {end}", conn.sid);
    let session = &conn.session;
    let (level, line) = summary(
        &conn.sid,
        &conn.peer,
        session.helo_name(),
        session.activity(),
        end,
    );
    log::log!(level, "{line}");
    conn.filter.quit().await;
}

impl Connection {
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        shutdown: &mut watch::Receiver<bool>,
    ) -> End {
        let deadline = Instant::now() + SESSION_DEADLINE;
        let mut buf = vec![0u8; READ_CHUNK];
        // The banner first: a slow filter must not delay it (health checks read it).
        if self.flush(stream).await.is_err() {
            return End::WriteFailed;
        }
        if !std::mem::replace(&mut self.filter_opened, true) {
            self.filter.open().await;
        }
        loop {
            match self.session.next_step() {
                Step::NeedInput => {
                    let tarpit = self.shared.limits.tarpit;
                    let sid = &self.sid;
                    if self
                        .pacer
                        .pace(&tarpit, &mut self.session, shutdown, sid)
                        .await
                    {
                        continue;
                    }
                    if let Err(e) = self.flush(stream).await {
                        log::info!("{}: write failed: {e}", self.sid);
                        return End::WriteFailed;
                    }
                    match self.read(stream, shutdown, deadline, &mut buf).await {
                        Input::Bytes(n) => self.session.feed(&buf[..n]),
                        Input::Closed => return End::ClientClosed,
                        Input::Failed => return End::ReadFailed,
                        Input::TimedOut => {
                            self.timed_out = true;
                            self.session
                                .close_with(Reply::new(421, "4.4.2", "timeout exceeded"))
                        }
                        Input::ShutdownStarted => self.begin_shutdown(),
                    }
                }
                Step::Ask(ask) => self.answer(ask).await,
                Step::StartTls => {
                    if let Err(e) = self.flush(stream).await {
                        log::info!("{}: write failed: {e}", self.sid);
                        return End::WriteFailed;
                    }
                    return End::StartTls;
                }
                Step::TransactionAborted => {
                    self.transaction = None;
                    self.unfiltered.clear();
                    self.filter.end_transaction().await;
                }
                Step::Close => {
                    let _ = self.flush(stream).await;
                    return if self.timed_out {
                        End::TimedOut
                    } else if self.shutting_down {
                        End::Shutdown
                    } else {
                        End::Quit
                    };
                }
            }
        }
    }

    /// Idle sessions end now; one receiving a message may finish it.
    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        self.session.shut_down();
        if !self.session.in_data() {
            self.session
                .close_with(Reply::new(421, "4.3.0", "shutting down, try again later"));
        }
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> std::io::Result<()> {
        let out = self.session.take_output();
        if out.is_empty() {
            return Ok(());
        }
        tokio::time::timeout(WRITE_TIMEOUT, async {
            stream.write_all(&out).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    async fn read<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        shutdown: &mut watch::Receiver<bool>,
        deadline: Instant,
        buf: &mut [u8],
    ) -> Input {
        let mut limit = if self.session.in_data() {
            self.shared.limits.data_timeout
        } else {
            self.shared.limits.command_timeout
        };
        if self.shutting_down {
            limit = limit.min(SHUTDOWN_GRACE);
        }
        let until = deadline.min(Instant::now() + limit);
        tokio::select! {
            r = tokio::time::timeout_at(until, stream.read(buf)) => match r {
                Ok(Ok(0)) => Input::Closed,
                Ok(Ok(n)) => Input::Bytes(n),
                Ok(Err(e)) => {
                    log::info!("{}: read failed: {e}", self.sid);
                    Input::Failed
                }
                Err(_) => {
                    log::info!("{}: timeout", self.sid);
                    Input::TimedOut
                }
            },
            _ = shutdown.wait_for(|s| *s), if !self.shutting_down => Input::ShutdownStarted,
        }
    }

    async fn answer(&mut self, ask: Ask) {
        match ask {
            Ask::Auth(credentials) => {
                let failures = self.session.auth_failures();
                let verdict =
                    super::auth::verify(&self.shared, credentials, &self.peer, failures, &self.sid)
                        .await;
                self.session.decide(verdict);
            }
            Ask::Helo { name } => {
                let verdict = self.filter.helo(&name).await;
                self.session.decide(verdict);
            }
            Ask::Mail { queue_id, sender } => {
                let refusal =
                    super::auth::submission_refusal(&self.shared, &self.peer, &self.session);
                let verdict = match refusal {
                    Some(r) => Verdict::Refuse(r),
                    None => {
                        let user = self.session.authenticated();
                        let grant = super::outbound::grant(&self.shared, &self.peer, user);
                        let grant = grant.map(|g| g.to_string());
                        self.filter.mail(&sender, grant.as_deref()).await
                    }
                };
                match &verdict {
                    Verdict::Accept => {
                        log::info!("{}: {queue_id}: from=<{sender}>", self.sid);
                        self.transaction = Some((queue_id, sender));
                    }
                    Verdict::Refuse(r) => {
                        log::info!("{}: MAIL from=<{sender}> refused: {r}", self.sid);
                        self.filter.end_transaction().await;
                    }
                }
                self.session.decide(verdict);
            }
            Ask::Rcpt { address } => {
                let verdict = self.check_recipient(&address).await;
                if let Verdict::Refuse(r) = &verdict {
                    self.track_refused_recipient(&address, r);
                }
                self.session.decide(verdict);
            }
            Ask::Message(mut txn) => {
                let user = self.session.authenticated();
                super::outbound::sign(&self.shared, &self.peer, user, &mut txn, &self.sid);
                let reply = queueing::accept_message(
                    &self.shared,
                    &mut self.filter,
                    &self.peer,
                    txn,
                    &std::mem::take(&mut self.unfiltered),
                    self.session.take_dsn(),
                    &self.sid,
                )
                .await;
                self.session.message_done(reply);
                self.transaction = None;
                self.filter.end_transaction().await;
            }
        }
    }

    /// Our relay and recipient policy first, then the filter.
    async fn check_recipient(&mut self, address: &str) -> Verdict {
        if self.mode == Mode::Inbound {
            let user = self.session.authenticated();
            match super::outbound::recipient(&self.shared, &self.peer, user, address, &self.sid) {
                crate::relay::Decision::Local => {}
                crate::relay::Decision::Relay => return self.filter.rcpt(address).await,
                crate::relay::Decision::Refuse(r) => return Verdict::Refuse(r),
            }
            match super::verify::inbound_recipient(&self.shared, address, &self.sid).await {
                super::verify::Route::Filter => {}
                super::verify::Route::Unfiltered => {
                    if !self.unfiltered.iter().any(|a| a == address) {
                        self.unfiltered.push(address.to_string());
                    }
                    return Verdict::Accept;
                }
                super::verify::Route::Refuse(r) => return Verdict::Refuse(r),
            }
        }
        self.filter.rcpt(address).await
    }

    fn track_refused_recipient(&self, address: &str, reply: &Reply) {
        let (id, sender) = self.transaction.clone().unwrap_or_default();
        log::info!("{}: {id}: rcpt <{address}> refused: {reply}", self.sid);
        let mut e = event(EventKind::Rejected, &id, &sender, &[address.to_string()]);
        e.detail = format!("recipient refused, client {}", self.peer);
        e.reply = Some(reply.to_string());
        self.shared.tracker.emit(e);
    }
}
